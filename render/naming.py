"""Names, AWS tags and Kubernetes labels, derived in one place.

Precedence for tags and labels: user-supplied values first, then the project's, then the keys a component owns
(last wins), so a user can add metadata but never break a selector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    from stacks.settings import NodePoolSettings, Settings

PROJECT = "milvus-eks"
LABEL_PREFIX = "milvus-eks"
POOL_LABEL = f"{LABEL_PREFIX}/pool"
NVME_LABEL = f"{LABEL_PREFIX}/nvme"
ROLE_LABEL_PREFIX = f"role.{LABEL_PREFIX}/"


@dataclass(frozen=True)
class NameRule:
    """What AWS, Kubernetes or Helm accept for one kind of name."""

    what: str
    limit: int
    pattern: str
    """Anchored regular expression the whole name must match."""
    spelled: str
    """The pattern in words, for the error message."""

    def problem(self, name: str) -> str | None:
        if len(name) > self.limit:
            return f"is {len(name)} characters; {self.what} allows at most {self.limit}"
        if not re.fullmatch(self.pattern, name):
            return f"is not a valid {self.what} ({self.spelled})"
        return None


class NameRuleError(ValueError):
    def __init__(self, name: str, rule: NameRule, problem: str):
        self.name, self.rule, self.problem = name, rule, problem
        super().__init__(f"{rule.what} {name!r} {problem}")


_UNIQUE_SUFFIX = 26
"""The AWS provider appends a 26-character unique id to a `*_prefix` (terraform-provider-aws internal/create
naming.go, id.UniqueIDSuffixLength), so it accepts at most 63 - 26 = 37 characters for a node group's
`node_group_name_prefix` (internal/service/eks/node_group.go: StringLenBetween(0, 63-id.UniqueIDSuffixLength))
and a bucket's `bucket_prefix`; the launch template of a pool shares its node group's prefix."""
TAG_NAME = NameRule("Name tag", 256, r"[A-Za-z0-9 _.:/=+@-]*", "letters, digits, spaces and _.:/=+-@ (EC2 tag "
                    "value rules)")
EKS_CLUSTER = NameRule("EKS cluster name", 100, r"[0-9A-Za-z][A-Za-z0-9_-]*",
                       "letters, digits, '-' and '_', starting alphanumeric (EKS CreateCluster API)")
AWS_NAME_PREFIX = NameRule("node group and launch template name prefix", 63 - _UNIQUE_SUFFIX,
                           r"[A-Za-z0-9][A-Za-z0-9._-]*", "letters, digits, '.', '_' and '-'")
SQS_QUEUE = NameRule("SQS queue name", 80, r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_' (SQS CreateQueue API)")
BUCKET_PREFIX = NameRule("S3 bucket name prefix", 63 - _UNIQUE_SUFFIX, r"[a-z0-9][a-z0-9.-]*",
                         "lowercase letters, digits, '.' and '-' only, starting with a letter or digit "
                         "(S3 bucket naming rules)")
HELM_RELEASE = NameRule("Helm release name", 53, r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                        "lowercase letters, digits and '-'; Helm refuses release names over 53 characters")
K8S_LABEL_NAME = NameRule("Kubernetes object name", 63, r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                          "DNS-1123 label: lowercase letters, digits and '-', starting and ending alphanumeric; a "
                          "Job's name becomes its pods' job-name label, so at most 63")


def checked(name: str, rule: NameRule) -> str:
    problem = rule.problem(name)
    if problem:
        raise NameRuleError(name, rule, problem)
    return name


@dataclass(frozen=True)
class Namer:
    """Physical names of cloud resources: `<project>-<stack>-<parts>`, checked against AWS/Kubernetes limits."""

    stack: str

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.stack}"

    def name(self, *parts: str, rule: NameRule = TAG_NAME) -> str:
        return checked("-".join([self.prefix, *parts]), rule)

    def cluster_name(self) -> str:
        return self.name("eks", rule=EKS_CLUSTER)

    def pool_prefix(self, pool: str) -> str:
        """`name_prefix` of a pool's launch template and `node_group_name_prefix` of its node group."""
        return self.name(pool, "", rule=AWS_NAME_PREFIX)

    def bucket_prefix(self) -> str:
        return self.name("milvus", "", rule=BUCKET_PREFIX)

    def interruption_queue(self) -> str:
        """Karpenter's SQS interruption queue."""
        return self.name("karpenter", rule=SQS_QUEUE)

    def tags(self, component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), "Project": PROJECT, "Stack": self.stack, "Component": component}


def helm_release(name: str) -> str:
    return checked(name, HELM_RELEASE)


TOPOLOGY_DIGEST_LENGTH = 10


def topology_object_name(release: str, digest: str) -> str:
    """The topology Job and its ConfigMap share one name carrying the content digest."""
    return checked(f"{release}-topology-{digest}", K8S_LABEL_NAME)


@dataclass(frozen=True)
class PlannedName:
    what: str
    keys: tuple[str, ...]
    """The stack-file keys whose values are part of the name (the stack name is always checked apart)."""
    build: Callable[[], str]
    value: str = ""
    """The user's part of the name (the value at `keys[0]`), to say how short it must be."""


def planned_names(settings: Settings, stack: str, zones: tuple[str, ...] = ()) -> list[PlannedName]:
    """Every name the program builds from the stack name or the stack file, through the same helpers the
    components call, so validation checks each before anything is registered. `zones` default to the region's
    `a`, `b`, ... zones, which is what `choose_zones` picks."""
    namer = Namer(stack)
    zones = zones or tuple(f"{settings.region}{chr(ord('a') + i)}" for i in range(settings.network.az_count))
    names = [PlannedName("VPC Name tag", (), lambda: namer.name("vpc")),
             PlannedName("internet gateway Name tag", (), lambda: namer.name("igw")),
             PlannedName("public route table Name tag", (), lambda: namer.name("public")),
             PlannedName("EKS cluster name", (), namer.cluster_name),
             PlannedName("S3 bucket name prefix", (), namer.bucket_prefix),
             PlannedName("SQS queue name", (), namer.interruption_queue)]
    for zone in zones:
        for kind in ("public", "private", "nat"):
            names.append(PlannedName(f"{kind} subnet/NAT Name tag", (), lambda k=kind, z=zone: namer.name(k, z)))
    for pool in settings.node_pools:
        names.append(PlannedName("node group and launch template name prefix", (f"nodePools.{pool}",),
                                 lambda p=pool: namer.pool_prefix(p), pool))
    release = settings.milvus.release_name
    names.append(PlannedName("Helm release name", ("milvus.releaseName",), lambda: helm_release(release), release))
    names.append(PlannedName("topology Job and ConfigMap name", ("milvus.releaseName",),
                             lambda: topology_object_name(release, "0" * TOPOLOGY_DIGEST_LENGTH), release))
    return names


def k8s_labels(component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels for Kubernetes objects the program writes itself (never used as selectors, so no version)."""
    return {
        **(extra or {}),
        "app.kubernetes.io/part-of": PROJECT,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": component,
    }


def role_label(role: str) -> str:
    return f"{ROLE_LABEL_PREFIX}{role}"


def milvus_fullname(release: str) -> str:
    """The Milvus chart's `milvus.fullname` (default nameOverride/fullnameOverride): the release name if it contains
    "milvus", else `<release>-milvus`, cut to 63 characters (zilliztech/milvus-helm charts/milvus/templates/
    _helpers.tpl:14-25). Deployments, the proxy Service and the ConfigMap are named from it."""
    name = release if "milvus" in release else f"{release}-milvus"
    return name[:63].rstrip("-")


def pool_labels(name: str, pool: NodePoolSettings) -> dict[str, str]:
    """User labels first; the pool/role/NVMe labels that placement selects on are owned here and win."""
    return {
        **pool.labels,
        POOL_LABEL: name,
        NVME_LABEL: "true" if pool.nvme else "false",
        **{role_label(role): "true" for role in pool.roles},
    }


def pool_tolerations(pool: NodePoolSettings) -> list[dict[str, str]]:
    """Kubernetes tolerations matching the pool's taints (EKS spells effects NO_SCHEDULE, Kubernetes NoSchedule)."""
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": effects[t.effect]} for t in pool.taints]
