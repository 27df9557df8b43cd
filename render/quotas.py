"""ResourceQuota, LimitRange and PriorityClass objects from the capacity plan (pure; numbers from
stacks/capacity.py)."""

from __future__ import annotations

from render.helm_postrender import PRIORITY_VALUES
from render.naming import k8s_labels
from stacks.capacity import NamespaceQuotaPlan, quantity
from stacks.quantity import MIB
from stacks.settings import ResourceList, Settings

QUOTA_NAME = "milvus-eks-plan"
LIMIT_RANGE_NAME = "milvus-eks-defaults"


def _resource_list(values: ResourceList) -> dict[str, str]:
    return {k: v for k, v in (("cpu", values.cpu), ("memory", values.memory),
                              ("ephemeral-storage", values.ephemeral_storage)) if v is not None}


def resource_quota_manifest(quota: NamespaceQuotaPlan) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": quota.namespace, "labels": k8s_labels("quota")},
            "spec": {"hard": quota.manifest_hard()}}


def limit_range_manifest(settings: Settings, quota: NamespaceQuotaPlan) -> dict:
    """Defaults for containers that set nothing (the quota makes requests and limits mandatory), and a max no
    container may exceed: the largest node in the cluster."""
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": LIMIT_RANGE_NAME, "namespace": quota.namespace, "labels": k8s_labels("quota")},
            "spec": {"limits": [{
                "type": "Container",
                "defaultRequest": _resource_list(settings.quotas.default_request),
                "default": _resource_list(settings.quotas.default_limit),
                "max": {"cpu": quantity("limits.cpu", quota.max_cpu),
                        "memory": f"{quota.max_memory // MIB}Mi"},
            }]}}


def priority_class_manifests() -> list[dict]:
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": name, "labels": k8s_labels("quota")},
             "value": value, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority",
             "description": f"milvus-eks: {name.removeprefix('milvus-eks-')} pods"}
            for name, value in PRIORITY_VALUES.items()]


def namespace_manifest(namespace: str) -> dict:
    """A guarded namespace that no other component creates."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": k8s_labels("quota")}}
