"""Every chart, image, Kubernetes and EKS add-on version the program deploys, pinned in one place.

The charts are vendored as Helm-packaged archives under charts/ (how they were built and how to bump one:
charts/README.md). The Helm Releases install these archives and the offline render reads the same bytes, so each
pin records the archive, its digest and the upstream commit it was packaged from; tests/unit/test_charts.py
recomputes the digests. The committed key lists (render/data/*_keys.txt) and golden files were made from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ChartSource:
    """Where a chart's files came from: a GitHub repository, the commit, the chart's folder in it."""
    repository: str
    commit: str
    path: str


@dataclass(frozen=True)
class Subchart:
    """A dependency packaged into the archive from a source other than its parent's."""
    name: str
    version: str
    source: ChartSource


@dataclass(frozen=True)
class ChartPin:
    name: str
    version: str
    archive: str
    """Path of the .tgz relative to the project root; also the `chart=` the Helm Release installs."""
    sha256: str
    source: ChartSource
    subcharts: tuple[Subchart, ...] = ()


# Packaged with its subchart archives as committed in charts/milvus/charts/ (etcd 8.12.0, minio 8.0.17,
# pulsarv2 2.7.8, pulsar 3.3.0, kafka 15.5.1, tei 1.6.0). appVersion 2.6.15.
MILVUS = ChartPin(
    name="milvus", version="5.0.19", archive="charts/milvus-5.0.19.tgz",
    sha256="cb2fbfad9caf26b3aea9c302f80e045359b27bf39ca5c3ecfdbee6010df2212e",
    source=ChartSource("zilliztech/milvus-helm", "98324768aeb70ebfea91f9968853e0fa29838639", "charts/milvus"))

# Every dependency Chart.yaml declares is packaged (Helm refuses to install a chart with one missing, enabled or
# not); `crds` 0.0.0 is in the chart's own tree. prometheus-windows-exporter is declared as `0.12.*`: 0.12.8 is the
# newest 0.12 release and the one in the same tree as kube-prometheus-stack 88.5.3.
_PROMETHEUS_COMMUNITY = "prometheus-community/helm-charts"
KUBE_PROMETHEUS_STACK = ChartPin(
    name="kube-prometheus-stack", version="88.5.3", archive="charts/kube-prometheus-stack-88.5.3.tgz",
    sha256="a878c3c86998645b40e5b7e04b2b940374daa4246f59d7c2780ec5653e8fe960",
    source=ChartSource(_PROMETHEUS_COMMUNITY, "ea930baeebeba39f56d6b44e351f23b2a072a600",
                       "charts/kube-prometheus-stack"),
    subcharts=(
        Subchart("kube-state-metrics", "8.4.0", ChartSource(
            _PROMETHEUS_COMMUNITY, "1982f1c5828920f5d4ea5d04956169e81f8c5129", "charts/kube-state-metrics")),
        Subchart("prometheus-node-exporter", "4.56.1", ChartSource(
            _PROMETHEUS_COMMUNITY, "8b8e639cac80a3001412f187060068978f649a55", "charts/prometheus-node-exporter")),
        Subchart("grafana", "12.11.1", ChartSource(
            "grafana-community/helm-charts", "864f7794683680e5100a38670e103c4fa6e37e29", "charts/grafana")),
        Subchart("prometheus-windows-exporter", "0.12.8", ChartSource(
            _PROMETHEUS_COMMUNITY, "43a82e944bf3ca3aab1703613ca5cf09851b23ec", "charts/prometheus-windows-exporter")),
    ))

# Karpenter: both charts Helm-packaged (helm-python-sdk 0.2.2 `package`) from aws/karpenter-provider-aws at the
# `chore: Release v1.14.0` commit, whose chart tree is the v1.14.0 tag's with the release version stamped in; the
# CRD symlinks under charts/karpenter/crds/ resolved to pkg/apis/crds/. Karpenter 1.14 supports Kubernetes
# 1.30-1.36 (website/content/en/docs/upgrading/compatibility.md).
_KARPENTER_SOURCE = "aws/karpenter-provider-aws"
_KARPENTER_COMMIT = "692ccdd0629e488300821443f0fa0bc3c3e08047"
KARPENTER = ChartPin(
    name="karpenter", version="1.14.0", archive="charts/karpenter-1.14.0.tgz",
    sha256="cb75ff3e9751bd1ebca3de466646925d31f38add688aa1f6593c66f369843e17",
    source=ChartSource(_KARPENTER_SOURCE, _KARPENTER_COMMIT, "charts/karpenter"))
KARPENTER_CRD = ChartPin(
    name="karpenter-crd", version="1.14.0", archive="charts/karpenter-crd-1.14.0.tgz",
    sha256="d249d268213e3d04d78db81c5e8647a2ebdf8d547c8574d2d6dda45f70fa0b4e",
    source=ChartSource(_KARPENTER_SOURCE, _KARPENTER_COMMIT, "charts/karpenter-crd"))

CHARTS = (MILVUS, KUBE_PROMETHEUS_STACK, KARPENTER_CRD, KARPENTER)

MILVUS_CHART = MILVUS.version
MILVUS_IMAGE_REPOSITORY = "milvusdb/milvus"
MILVUS_IMAGE_TAG = "v2.6.15"

KUBE_PROMETHEUS_STACK_CHART = KUBE_PROMETHEUS_STACK.version

# The topology Job runs the reconciler with this image, pinned by digest: the multi-platform index of
# python:3.11.15-slim-bookworm as docker-library/repo-info records it (repos/python/remote/3.11.15-slim-bookworm.md
# @ 3effc3ea). The packages come from topology/requirements.txt (uv.lock's pymilvus, hash-pinned).
RECONCILER_IMAGE = ("python:3.11.15-slim-bookworm"
                    "@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3")
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


def chart_pin(name: str, version: str) -> ChartPin:
    """The vendored chart `name` at `version`; LookupError names the versions that are vendored."""
    for pin in CHARTS:
        if pin.name == name and pin.version == version:
            return pin
    vendored = ", ".join(p.version for p in CHARTS if p.name == name) or "none"
    raise LookupError(f"chart {name} {version} is not vendored in charts/ (vendored: {vendored}); "
                      f"see charts/README.md to add it")


# zilliztech/milvus-backup: newest release (tag v0.5.16, 2026-05-29). Its README's compatibility table: backups from
# Milvus 2.2+, restores into 2.4+, a 2.6 backup restores only into 2.6. The release workflow
# (.github/workflows/release.yaml) pushes `milvusdb/milvus-backup:<git describe>` = the tag. No digest is pinned:
# none could be read offline; pin `@sha256:` here once `docker buildx imagetools inspect` has been run.
MILVUS_BACKUP_VERSION = "v0.5.16"
MILVUS_BACKUP_IMAGE = f"milvusdb/milvus-backup:{MILVUS_BACKUP_VERSION}"
