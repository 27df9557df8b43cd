"""The policy pack's rules as pure functions over resources (type, name, URN, input properties, dependencies).

`policy/__main__.py` wraps them for CrossGuard (`pulumi preview --policy-pack policy`); the tests call them on the
resources the program registers under mocks. Each returns the violations it finds: an empty list passes.

CrossGuard hands policies secret values in plain text with no mark (pulumi/pulumi-policy#163, #241), so the
plain-text-secret rule judges by key name and value, never by secretness.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE_CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
KARPENTER_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
WORKLOADS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
DEFAULT_PROTECTED_STACKS = ("prod",)
DEFAULT_WORKLOAD_NAMESPACES = ("milvus", "monitoring")

# Chart components that run pods, with the condition (over the release values) under which they do.
# Keys of Milvus chart 5.0.19 and kube-prometheus-stack 88.5.3 (render/data/*_keys.txt list every key).
HELM_COMPONENTS: dict[str, tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...]] = {
    "milvus": (
        ("mixCoordinator", lambda v: _get(v, "mixCoordinator.enabled", True) is not False),
        ("proxy", lambda v: _get(v, "proxy.enabled", True) is not False),
        ("queryNode", lambda v: _get(v, "queryNode.enabled", True) is not False),
        ("dataNode", lambda v: _get(v, "dataNode.enabled", True) is not False),
        ("streamingNode", lambda v: _get(v, "streaming.enabled", True) is not False),
        ("etcd", lambda v: _get(v, "etcd.enabled", True) is not False),
        # Embedded Woodpecker runs inside the streaming nodes; only the external one is its own StatefulSet.
        ("woodpecker", lambda v: _get(v, "woodpecker.enabled", False) is True
         and _get(v, "streaming.woodpecker.embedded", True) is False),
        ("minio", lambda v: _get(v, "minio.enabled", True) is not False),
    ),
    "kube-prometheus-stack": (
        ("prometheus.prometheusSpec", lambda v: _get(v, "prometheus.enabled", True) is not False),
        ("alertmanager.alertmanagerSpec", lambda v: _get(v, "alertmanager.enabled", True) is not False),
        ("grafana", lambda v: _get(v, "grafana.enabled", True) is not False),
        ("prometheusOperator", lambda v: _get(v, "prometheusOperator.enabled", True) is not False),
        ("kube-state-metrics", lambda v: _get(v, "kubeStateMetrics.enabled", True) is not False),
        ("prometheus-node-exporter", lambda v: _get(v, "nodeExporter.enabled", True) is not False),
    ),
}

# Key names (lowercase, without '-' and '_') whose value is a credential.
SECRET_KEY_NAMES = frozenset({
    "password", "adminpassword", "rootpassword", "masterpassword", "secretkey", "accesskey", "secretaccesskey",
    "apikey", "token", "authtoken", "privatekey", "clientsecret",
})
# Resources whose purpose is holding a secret (kept encrypted in state when the program marks it secret).
SECRET_HOLDERS = ("kubernetes:core/v1:Secret", "random:", "pulumi:providers:", "aws:secretsmanager/")


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    """URNs this resource's inputs refer to."""
    parent: str = ""


@dataclass(frozen=True)
class Violation:
    message: str
    urn: str | None = field(default=None)


def _get(value: Any, path: str, default: Any = None) -> Any:
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::…` → stack."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1] if urn.startswith("urn:pulumi:") else ""


# ------------------------------------------------------------------------------------------------ S3


def _attached(bucket: Res, resources: Iterable[Res], type_: str) -> list[Res]:
    """Resources of `type_` that configure `bucket`: they depend on it, or name it."""
    names = {v for v in (bucket.props.get("bucket"), bucket.props.get("id")) if isinstance(v, str)}
    return [r for r in resources if r.type == type_
            and (bucket.urn in r.dependencies or r.props.get("bucket") in names)]


def s3_public_access_blocked(resources: list[Res]) -> list[Violation]:
    found = []
    for bucket in (r for r in resources if r.type == BUCKET):
        blocks = _attached(bucket, resources, PUBLIC_ACCESS_BLOCK)
        if not blocks:
            found.append(Violation(f"bucket {bucket.name} has no BucketPublicAccessBlock", bucket.urn))
        for block in blocks:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.props.get(flag) is not True]
            if off:
                found.append(Violation(f"public access block {block.name} of bucket {bucket.name} leaves "
                                       f"{', '.join(off)} not true; set all four to true", block.urn))
    return found


def s3_encrypted(resources: list[Res]) -> list[Violation]:
    found = []
    for bucket in (r for r in resources if r.type == BUCKET):
        configs = _attached(bucket, resources, SSE_CONFIGURATION)
        rules = [rule for c in configs for rule in c.props.get("rules") or []]
        inline = _get(bucket.props, "serverSideEncryptionConfiguration.rule")
        if inline:
            rules.append(inline)
        algorithms = [_get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") for rule in rules]
        if not any(a in SSE_ALGORITHMS for a in algorithms):
            found.append(Violation(f"bucket {bucket.name} has no default server-side encryption "
                                   f"(BucketServerSideEncryptionConfiguration with one of {', '.join(SSE_ALGORITHMS)})",
                                   bucket.urn))
    return found


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    flag = _get(condition, "Bool.aws:SecureTransport")
    actions = statement.get("Action")
    actions = [actions] if isinstance(actions, str) else actions or []
    principal = statement.get("Principal")
    return (statement.get("Effect") == "Deny" and str(flag).lower() == "false" and "s3:*" in actions
            and principal in ("*", {"AWS": "*"}))


def s3_tls_only(resources: list[Res]) -> list[Violation]:
    found = []
    for bucket in (r for r in resources if r.type == BUCKET):
        ok = False
        for policy in _attached(bucket, resources, BUCKET_POLICY):
            document = policy.props.get("policy")
            if isinstance(document, str):
                try:
                    document = json.loads(document)
                except ValueError:
                    continue
            statements = (document or {}).get("Statement") or []
            statements = [statements] if isinstance(statements, Mapping) else statements
            ok = ok or any(_denies_insecure_transport(s) for s in statements)
        if not ok:
            found.append(Violation(f"bucket {bucket.name} has no bucket policy denying s3:* to every principal "
                                   f"when aws:SecureTransport is false", bucket.urn))
    return found


# ------------------------------------------------------------------------------------------------ EC2 / EKS


def imdsv2_required(resource: Res) -> list[Violation]:
    if resource.type == KARPENTER_NODE_CLASS:
        # Karpenter's CRD defaults metadataOptions to httpTokens "required" (karpenter.k8s.aws_ec2nodeclasses.yaml),
        # so only an explicit other value is a violation.
        tokens = _get(resource.props, "spec.metadataOptions.httpTokens", "required")
        if tokens != "required":
            return [Violation(f"{resource.name}: spec.metadataOptions.httpTokens is {tokens!r}; set \"required\" "
                              f"(IMDSv2) so a pod cannot read the node's credentials with a plain GET", resource.urn)]
        return []
    if resource.type not in (LAUNCH_TEMPLATE, EC2_INSTANCE):
        return []
    tokens = _get(resource.props, "metadataOptions.httpTokens")
    if tokens != "required":
        return [Violation(f"{resource.name}: metadataOptions.httpTokens is {tokens!r}; set \"required\" (IMDSv2) "
                          f"so a pod cannot read the node's credentials with a plain GET", resource.urn)]
    return []


def eks_endpoint_not_public(resource: Res, protected_stacks: Iterable[str] = DEFAULT_PROTECTED_STACKS) -> list[Violation]:
    """A protected cluster — its stack is listed in `protectedStacks`, or it has deletion protection on — may have
    a public API endpoint only with an allow-list that does not include 0.0.0.0/0 (EKS reads an empty list as
    0.0.0.0/0)."""
    if resource.type != EKS_CLUSTER:
        return []
    protected = stack_of(resource.urn) in set(protected_stacks) or resource.props.get("deletionProtection") is True
    vpc = resource.props.get("vpcConfig") or {}
    if not protected or vpc.get("endpointPublicAccess") is False:
        return []
    cidrs = vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]
    if "0.0.0.0/0" in cidrs:
        return [Violation(f"cluster {resource.name} (stack {stack_of(resource.urn)}) has a public API endpoint open "
                          f"to 0.0.0.0/0; list the allowed CIDRs in publicAccessCidrs or turn public access off",
                          resource.urn)]
    return []


def _user_data_text(template: Res) -> str:
    data = template.props.get("userData") or ""
    try:
        return base64.b64decode(data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return str(data)


def nvme_pools_use_nvme_types(resources: list[Res], has_nvme: Callable[[str], bool | None]) -> list[Violation]:
    """A node group whose launch template builds a RAID0 over the instance store must only launch types that have
    one: otherwise nodeadm finds no disk and kubelet lands on the root volume. `has_nvme(type)` answers from the
    instance-type catalog (None for a type the catalog does not know)."""
    found = []
    raid_templates = {t.urn: t for t in resources if t.type == LAUNCH_TEMPLATE and "RAID0" in _user_data_text(t)}
    for group in (r for r in resources if r.type == NODE_GROUP):
        templates = [u for u in group.dependencies if u in raid_templates]
        if not templates:
            templates = [t.urn for t in raid_templates.values() if t.parent and t.parent == group.parent]
        if not templates:
            continue
        bad = [t for t in group.props.get("instanceTypes") or [] if not has_nvme(t)]
        if bad:
            found.append(Violation(f"node group {group.name} uses a RAID0 instance-store launch template but "
                                   f"{', '.join(bad)} has no local NVMe; use NVMe types (e.g. r6id, m6id, i4i)",
                                   group.urn))
    return found


# ------------------------------------------------------------------------------------------------ Kubernetes


def _resources_missing(resources: Any) -> list[str]:
    missing = []
    for kind in ("requests", "limits"):
        for name in ("cpu", "memory"):
            if not _get(resources or {}, f"{kind}.{name}"):
                missing.append(f"{kind}.{name}")
    return missing


def containers_have_resources(resource: Res,
                              namespaces: Iterable[str] = DEFAULT_WORKLOAD_NAMESPACES) -> list[Violation]:
    """Every container of a workload the program writes in a watched namespace sets cpu and memory requests and
    limits (the quota admits nothing without them, and the planner's arithmetic assumes them)."""
    path = WORKLOADS.get(resource.type)
    if path is None or _get(resource.props, "metadata.namespace") not in set(namespaces):
        return []
    pod = _get(resource.props, ".".join(path)) or {}
    found = []
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        missing = _resources_missing(container.get("resources"))
        if missing:
            found.append(Violation(f"{resource.name}: container {container.get('name')} has no "
                                   f"{', '.join(missing)}", resource.urn))
    return found


def _chart_name(chart: str) -> str:
    """`milvus`, `repo/milvus` or a local archive `charts/milvus-5.0.19.tgz` (what the project installs) → `milvus`."""
    name = chart.rsplit("/", 1)[-1]
    return re.sub(r"-\d+\.\d+\.\d+[^/]*\.tgz$", "", name)


def helm_components_have_resources(resource: Res,
                                   namespaces: Iterable[str] = DEFAULT_WORKLOAD_NAMESPACES) -> list[Violation]:
    """For the charts this project installs, every component that runs pods sets cpu/memory requests and limits
    in the release values (a chart default of `resources: {}` means unbounded pods)."""
    if resource.type != HELM_RELEASE or resource.props.get("namespace") not in set(namespaces):
        return []
    components = HELM_COMPONENTS.get(_chart_name(str(resource.props.get("chart", ""))))
    if components is None:
        return []
    values = resource.props.get("values") or {}
    found = []
    for path, runs in components:
        if not runs(values):
            continue
        missing = _resources_missing(_get(values, f"{path}.resources"))
        if missing:
            found.append(Violation(f"release {resource.props.get('name') or resource.name}: {path}.resources has no "
                                   f"{', '.join(missing)}", resource.urn))
    return found


# ------------------------------------------------------------------------------------------------ secrets


def _secret_like(props: Any, path: str = "") -> Iterator[str]:
    if isinstance(props, Mapping):
        for key, value in props.items():
            here = f"{path}.{key}" if path else str(key)
            normalized = re.sub(r"[-_]", "", str(key)).lower()
            if normalized in SECRET_KEY_NAMES and isinstance(value, str) and value:
                yield here
            else:
                yield from _secret_like(value, here)
    elif isinstance(props, list):
        for i, value in enumerate(props):
            yield from _secret_like(value, f"{path}[{i}]")


def no_plaintext_secrets(resources: list[Res]) -> list[Violation]:
    """No resource input named like a credential (password, secretKey, accessKey, token, …) carries a literal
    value, except in resources that exist to hold secrets (Kubernetes Secrets, pulumi-random). Pass credentials
    through a Kubernetes Secret (e.g. Grafana `admin.existingSecret`) or an IAM role instead."""
    found = []
    for r in resources:
        if r.type.startswith(SECRET_HOLDERS):
            continue
        for path in _secret_like(r.props):
            found.append(Violation(f"{r.type} {r.name}: input {path} holds a credential in plain text; reference a "
                                   f"Kubernetes Secret or use an IAM role", r.urn))
    return found


STACK_POLICIES = ("s3-public-access-blocked", "s3-encrypted", "s3-tls-only", "nvme-pools-use-nvme-types",
                  "no-plaintext-secrets")
RESOURCE_POLICIES = ("imdsv2-required", "eks-endpoint-not-public", "containers-have-resources",
                     "helm-components-have-resources")
