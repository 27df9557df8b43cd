"""MilvusCluster: namespace, S3 bucket with a least-privilege role bound to Milvus' service account, the Milvus chart
in cluster mode, PodDisruptionBudgets, root credentials and NetworkPolicies. Decisions live in milvus_values.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import aws
from components.bucket import private_bucket
from components.kube import register
from components.options import inherited_dependencies
from components.workload_identity import WorkloadIdentity
from render import bundle as b, helm_postrender, milvus_values as mv
from render.bundle import Bundle
from render.naming import Namer, helm_release
from stacks.settings import Settings
from stacks.versions import chart_pin

# `pulumi up` waits for every Deployment/StatefulSet to be ready: fresh NVMe nodes, image pulls and etcd volumes take
# minutes; a failed install or upgrade is rolled back (atomic) rather than left half-applied.
HELM_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class MilvusClusterArgs:
    settings: Settings
    identity: WorkloadIdentity
    """How the S3 role reaches Milvus' service account (EksCluster.workload_identity)."""
    bundle: Bundle
    """The Helm values and the objects this component registers (owner `milvus`)."""
    namer: Namer
    zone_leaves: Mapping[str, str] = field(default_factory=dict)
    """Deploy-time values: the resource-group zone map over the region's real zones (render/bundle.py
    `zone_leaves`)."""


class MilvusCluster(pulumi.ComponentResource):
    endpoint: str
    namespace: str
    root_secret_name: str
    root_password: pulumi.Output[str]
    bucket_name: pulumi.Output[str] | None
    role_arn: pulumi.Output[str] | None
    release: k8s.helm.v3.Release
    namespace_resource: pulumi.CustomResource

    def __init__(self, name: str, args: MilvusClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:milvus:MilvusCluster", name, None, opts)
        s, m = args.settings, args.settings.milvus
        child = pulumi.ResourceOptions(parent=self)
        tags = args.namer.tags("milvus")
        namespace = register(f"{name}-ns", args.bundle.owned("milvus", "Namespace")[0], child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        # Milvus reads the Secret only at first boot (COMMON_SECURITY_DEFAULTROOTPASSWORD seeds the root user), so
        # a new value here would lock the topology Job out. Explicit keepers: only a different release identity (a
        # new Milvus that seeds itself) replaces it; rotation is `python -m tools.rotate_root_password`, which
        # changes Milvus first and then the live Secret, whose later edits Pulumi therefore ignores.
        password = random.RandomPassword(f"{name}-root-password", length=32, special=False,
                                         keepers=mv.root_password_keepers(m.namespace, m.release_name), opts=child)
        etcd_password = random.RandomPassword(f"{name}-etcd-password", length=32, special=False,
                                              keepers=mv.root_password_keepers(m.namespace, m.release_name),
                                              opts=child)
        secret_manifest = b.deploy_time_values(args.bundle.owned("milvus", "Secret")[0], {
            b.PASSWORD: password.result, b.ETCD_PASSWORD: etcd_password.result})
        secret = register(f"{name}-root", secret_manifest, pulumi.ResourceOptions.merge(
            in_ns, pulumi.ResourceOptions(ignore_changes=["stringData", "data"])))

        self.bucket_name = None
        self.bucket_arn: pulumi.Output[str] | None = None
        self.role_arn = None
        storage_ready: list[pulumi.Resource] = []
        irsa_role_arn: pulumi.Input[str] | None = None
        if m.object_storage == "s3":
            bucket, bucket_ready = private_bucket(self, name, args.namer.bucket_prefix(), m.bucket, tags)
            role, role_ready = self._role(name, args, bucket, tags)
            self.bucket_name, self.role_arn = bucket.bucket, role.arn
            self.bucket_arn = bucket.arn
            storage_ready = [*bucket_ready, *role_ready]
            irsa_role_arn = args.identity.annotated_role(role)

        values = b.deploy_time_values(args.bundle.milvus_values, {b.BUCKET: self.bucket_name,
                                                                    b.IRSA_ROLE_ARN: irsa_role_arn,
                                                                    **args.zone_leaves})
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=helm_release(m.release_name),
            # The vendored archive (a path relative to the project, so every machine records the same input).
            chart=chart_pin(mv.CHART_NAME, m.chart_version).archive,
            namespace=m.namespace,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=HELM_TIMEOUT_SECONDS,
            max_history=10,
            # The chart has no priorityClassName key for Milvus components; Helm pipes its manifests through this
            # (the bundle applied the same transform to what the checks saw).
            postrender=helm_postrender.SCRIPT,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, secret, *storage_ready,
                                                                 *inherited_dependencies(opts)]),
        )

        for manifest in args.bundle.owned("milvus", "PodDisruptionBudget"):
            register(f"{name}-pdb-{manifest['metadata']['name']}", manifest, in_ns)
        for manifest in args.bundle.owned("milvus", "NetworkPolicy"):
            register(f"{name}-netpol-{manifest['metadata']['name']}", manifest, in_ns)
        # The proxy's internal NLB (mv.load_balancer_service_manifest), once the proxies it selects exist.
        for manifest in args.bundle.owned("milvus", "Service"):
            register(f"{name}-nlb", manifest, pulumi.ResourceOptions(parent=self, depends_on=[self.release]))

        self.namespace = m.namespace
        self.namespace_resource = namespace
        self.endpoint = mv.endpoint(m.release_name, m.namespace)
        self.root_secret_name = mv.root_secret_name(m.release_name)
        self.root_password = pulumi.Output.secret(password.result)
        self.register_outputs({"endpoint": self.endpoint, "bucketName": self.bucket_name, "roleArn": self.role_arn,
                               "rootSecretName": self.root_secret_name})

    def _role(self, name: str, args: MilvusClusterArgs, bucket: aws.Bucket, tags: dict) -> tuple[aws.Role, list]:
        m = args.settings.milvus
        child = pulumi.ResourceOptions(parent=self)
        service_account = mv.service_account_name(m.release_name)
        role = aws.Role(f"{name}-s3", {
            "assumeRolePolicy": args.identity.trust_policy(m.namespace, service_account), "tags": tags}, child)
        ready: list[pulumi.Resource] = [
            aws.RolePolicy(f"{name}-s3", {"role": role.name, "policy": bucket.arn.apply(mv.bucket_access_policy)},
                           child),
            *args.identity.bind(f"{name}-s3", role, m.namespace, service_account, tags, child)]
        return role, ready
