"""Names, AWS tags and Kubernetes labels, derived in one place.

Precedence for tags and labels: user-supplied values first, then the project's, then the keys a component owns
(last wins), so a user can add metadata but never break a selector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from stacks.settings import NodePoolSettings

PROJECT = "milvus-eks"
LABEL_PREFIX = "milvus-eks"
POOL_LABEL = f"{LABEL_PREFIX}/pool"
NVME_LABEL = f"{LABEL_PREFIX}/nvme"
ROLE_LABEL_PREFIX = f"role.{LABEL_PREFIX}/"


@dataclass(frozen=True)
class Namer:
    """Physical names of cloud resources: `<project>-<stack>-<parts>`, checked against AWS/Kubernetes limits."""

    stack: str

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.stack}"

    def name(self, *parts: str, limit: int = 63) -> str:
        name = "-".join([self.prefix, *parts])
        if len(name) > limit:
            raise ValueError(f"name {name!r} is {len(name)} characters; the limit is {limit}")
        return name

    def tags(self, component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), "Project": PROJECT, "Stack": self.stack, "Component": component}


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
