"""NamespaceQuota: a ResourceQuota and a LimitRange per guarded namespace, and the PriorityClasses every Milvus and
monitoring pod names. The objects come from the bundle (render/quotas.py over stacks/capacity.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.kube import register
from render.bundle import Bundle


class PriorityClasses(pulumi.ComponentResource):
    """Cluster-scoped; pods naming a class that does not exist are rejected, so releases depend on this."""

    def __init__(self, name: str, bundle: Bundle, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:quota:PriorityClasses", name, None, opts)
        for manifest in bundle.owned("priorities", "PriorityClass"):
            register(f"{name}-{manifest['metadata']['name']}", manifest, pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


@dataclass(frozen=True)
class NamespaceQuotaArgs:
    namespace_name: str
    bundle: Bundle
    namespace: pulumi.Resource | None
    """The Namespace resource that owns the quota (None: this component creates the namespace)."""


class NamespaceQuota(pulumi.ComponentResource):
    def __init__(self, name: str, args: NamespaceQuotaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:quota:NamespaceQuota", name, None, opts)
        owner = f"quota:{args.namespace_name}"
        namespace = args.namespace or register(f"{name}-ns", args.bundle.owned(owner, "Namespace")[0],
                                               pulumi.ResourceOptions(parent=self))
        limits = register(f"{name}-limits", args.bundle.owned(owner, "LimitRange")[0],
                          pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        quota = args.bundle.owned(owner, "ResourceQuota")[0]
        # After the LimitRange: once the quota exists, a pod without requests/limits is admitted only if the
        # LimitRange has filled them in.
        register(f"{name}-quota", quota, pulumi.ResourceOptions(parent=self, depends_on=[namespace, limits]))
        self.register_outputs({"hard": quota["spec"]["hard"]})
