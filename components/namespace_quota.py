"""NamespaceQuota: a ResourceQuota and a LimitRange per guarded namespace, from the capacity plan; and the
PriorityClasses every Milvus and monitoring pod names. The numbers come from stacks/capacity.py."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

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


class PriorityClasses(pulumi.ComponentResource):
    """Cluster-scoped; pods naming a class that does not exist are rejected, so releases depend on this."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:quota:PriorityClasses", name, None, opts)
        for m in priority_class_manifests():
            k8s.scheduling.v1.PriorityClass(
                f"{name}-{m['metadata']['name']}", metadata=m["metadata"], value=m["value"],
                global_default=m["globalDefault"], preemption_policy=m["preemptionPolicy"],
                description=m["description"], opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


@dataclass(frozen=True)
class NamespaceQuotaArgs:
    settings: Settings
    quota: NamespaceQuotaPlan
    namespace: pulumi.Resource | None
    """The Namespace resource that owns the quota (None: this component creates the namespace)."""


class NamespaceQuota(pulumi.ComponentResource):
    def __init__(self, name: str, args: NamespaceQuotaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:quota:NamespaceQuota", name, None, opts)
        namespace = args.namespace or k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": args.quota.namespace, "labels": k8s_labels("quota")},
            opts=pulumi.ResourceOptions(parent=self))
        limits = limit_range_manifest(args.settings, args.quota)
        limit_range = k8s.core.v1.LimitRange(f"{name}-limits", metadata=limits["metadata"], spec=limits["spec"],
                                             opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        quota = resource_quota_manifest(args.quota)
        # After the LimitRange: once the quota exists, a pod without requests/limits is admitted only if the
        # LimitRange has filled them in.
        k8s.core.v1.ResourceQuota(f"{name}-quota", metadata=quota["metadata"], spec=quota["spec"],
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, limit_range]))
        self.register_outputs({"hard": quota["spec"]["hard"]})
