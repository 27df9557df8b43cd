"""Every chart, image, Kubernetes and add-on version the program deploys, pinned in one place.

Stack files may override the chart/image versions and the Kubernetes minor through settings; these are the defaults
and the versions the committed key lists (render/data/*_keys.txt) and golden files were made from.
"""

from __future__ import annotations

from datetime import date

# zilliztech/milvus-helm charts/milvus/Chart.yaml
MILVUS_CHART = "5.0.19"
MILVUS_CHART_REPO = "https://zilliztech.github.io/milvus-helm/"
MILVUS_IMAGE_REPOSITORY = "milvusdb/milvus"
MILVUS_IMAGE_TAG = "v2.6.15"

# prometheus-community/helm-charts charts/kube-prometheus-stack/Chart.yaml
KUBE_PROMETHEUS_STACK_CHART = "88.5.3"
KUBE_PROMETHEUS_STACK_REPO = "https://prometheus-community.github.io/helm-charts"

# The topology Job runs the reconciler with this image and the same pymilvus as uv.lock.
RECONCILER_IMAGE = "python:3.11.14-slim-bookworm"
RECONCILER_PYMILVUS = "pymilvus==3.0.2"

# ------------------------------------------------------------------------------------------ Kubernetes on EKS

EKS_CALENDAR_SOURCE = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html#kubernetes-release-calendar"
EKS_END_OF_STANDARD_SUPPORT: dict[str, date] = {
    # Amazon EKS Kubernetes release calendar (awsdocs/amazon-eks-user-guide
    # latest/ug/versioning/kubernetes-versions.adoc at 01385604, "End of standard support" column).
    "1.29": date(2025, 3, 23),
    "1.30": date(2025, 7, 23),
    "1.31": date(2025, 11, 26),
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    # 1.35 was released on EKS on 2026-01-27; the calendar row (14 months of standard support) as mirrored by
    # https://endoflife.date/amazon-eks, the stored copy of the EKS page predating it.
    "1.35": date(2027, 3, 27),
}
"""The last day of standard support per minor. After it, a cluster with `supportType: STANDARD` is upgraded by EKS
itself; with EXTENDED it stays for 12 more months at extended-support prices."""

SUPPORT_WARNING_DAYS = 90
"""The plan warns this many days before a version's standard support ends."""

KUBERNETES_VERSION = "1.35"
"""The default minor: in standard support until 2027-03-27."""

# ------------------------------------------------------------------------------------------ EKS add-ons

ADDON_VERSIONS: dict[str, dict[str, str]] = {
    # EKS's default add-on versions for Kubernetes 1.35 as returned by
    # `aws eks describe-addon-versions --kubernetes-version 1.35` on 2026-10-02 (recorded in a public
    # infrastructure repository; the EKS user guide's per-version tables stop at 1.34, so these strings were not
    # confirmed against AWS documentation offline). aws-ebs-csi-driver is not versioned per Kubernetes minor;
    # v1.64.0-eksbuild.1 is the build recorded for 1.35 in the same kind of source.
    # Before changing the minor, check with: aws eks describe-addon-versions --kubernetes-version <minor>
    #   --addon-name <name> --query 'addons[].addonVersions[].addonVersion'
    "1.35": {
        "vpc-cni": "v1.22.4-eksbuild.3",
        "kube-proxy": "v1.35.3-eksbuild.29",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
        "coredns": "v1.13.2-eksbuild.31",
        "aws-ebs-csi-driver": "v1.64.0-eksbuild.1",
    },
}
"""Add-on versions per Kubernetes minor: a `pulumi up` never upgrades an add-on by itself. A minor without an entry
here is refused by validation."""


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _upgrade_hint(version: str, today: date) -> str:
    supported = [v for v, end in EKS_END_OF_STANDARD_SUPPORT.items()
                 if end >= today and v in ADDON_VERSIONS and _minor(v) > _minor(version)]
    if supported:
        return f"upgrade to {max(supported, key=_minor)}"
    return f"add the next minor and its add-on versions to stacks/versions.py (calendar: {EKS_CALENDAR_SOURCE})"


def support_problem(version: str, support_type: str, today: date) -> tuple[str, str] | None:
    """("error" | "warning", message) when `version` is past or near its end of standard support, else None."""
    end = EKS_END_OF_STANDARD_SUPPORT.get(version)
    if end is None:
        known = ", ".join(sorted(EKS_END_OF_STANDARD_SUPPORT))
        return "error", (f"{version} is not in the EKS release calendar kept in stacks/versions.py ({known}); "
                         f"use one of those or add its row from {EKS_CALENDAR_SOURCE}")
    if today > end:
        if support_type == "STANDARD":
            return "error", (f"{version} left EKS standard support on {end.isoformat()}; with supportType STANDARD "
                             f"EKS upgrades the control plane by itself and the program would try to set {version} "
                             f"again. {_upgrade_hint(version, today).capitalize()}, or set cluster.supportType: "
                             f"EXTENDED (extended-support price)")
        return "warning", f"{version} is in EKS extended support since {end.isoformat()} (extended-support price)"
    days = (end - today).days
    if days <= SUPPORT_WARNING_DAYS:
        return "warning", (f"{version} leaves EKS standard support on {end.isoformat()} ({days} days); "
                           f"{_upgrade_hint(version, today)}")
    return None
