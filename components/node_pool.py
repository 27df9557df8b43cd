"""NodePool: one EKS managed node group with its launch template (IMDSv2, encrypted gp3 root, NVMe RAID0)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import aws
from render.naming import Namer, pool_labels
from render.user_data import encode, render_nvme_user_data
from stacks.catalog import load_catalog
from stacks.settings import NodePoolSettings

AMI_TYPES = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


@dataclass(frozen=True)
class NodePoolArgs:
    pool_name: str
    settings: NodePoolSettings
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    desired_size: int
    min_size: int
    namer: Namer
    kubernetes_version: pulumi.Input[str]
    """The control plane's version: nodes follow it (EKS does not upgrade managed node groups by itself)."""
    dependencies: tuple[pulumi.Resource, ...] = ()
    """The node role's policy attachments and the node-level add-ons (VPC CNI, kube-proxy, Pod Identity agent):
    the group is created after them and destroyed before them, so a destroy never strips a live node's role."""


def scaling_config(min_size: int, desired_size: int, max_size: int) -> dict[str, int]:
    """All three sizes from the plan, sent together on every update.

    EKS validates each UpdateNodegroupConfig request on its own (min <= desired <= max), so a plan that raises the
    minimum above the group's current size is accepted when the desired size travels with it; ignoring the desired
    size would resend the old one and be refused ("Minimum capacity can't be greater than desired size"). No
    autoscaler owns these groups: the plan does.
    """
    if not 0 <= min_size <= desired_size <= max_size:
        raise ValueError(f"node-group sizes must satisfy min <= desired <= max, got {min_size}, {desired_size}, "
                         f"{max_size}")
    return {"desiredSize": desired_size, "minSize": min_size, "maxSize": max_size}


class NodePool(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:nodes:NodePool", name, None, opts)
        pool, namer = args.settings, args.namer
        child = pulumi.ResourceOptions(parent=self)
        tags = namer.tags("node-pool", {"NodePool": args.pool_name})
        arch = load_catalog()[pool.instance_types[0]].arch

        template = aws.LaunchTemplate(f"{name}-lt", {
            "namePrefix": namer.pool_prefix(args.pool_name),
            "updateDefaultVersion": True,
            "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required",
                                "httpPutResponseHopLimit": pool.metadata_hop_limit},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
                "volumeSize": pool.root_volume_gb, "volumeType": "gp3", "encrypted": "true",
                "deleteOnTermination": "true"}}],
            "userData": encode(render_nvme_user_data()) if pool.nvme else None,
            "tagSpecifications": [{"resourceType": kind, "tags": tags} for kind in ("instance", "volume")],
            "tags": tags,
        }, child)
        group = aws.NodeGroup(f"{name}-ng", {
            "clusterName": args.cluster_name,
            "nodeGroupNamePrefix": namer.pool_prefix(args.pool_name),
            "nodeRoleArn": args.node_role_arn,
            "subnetIds": args.subnet_ids,
            "instanceTypes": list(pool.instance_types),
            "capacityType": pool.capacity_type,
            "amiType": AMI_TYPES[arch],
            "version": args.kubernetes_version,
            "scalingConfig": scaling_config(args.min_size, args.desired_size, pool.max_size),
            "updateConfig": {"maxUnavailable": pool.max_unavailable},
            "labels": pool_labels(args.pool_name, pool),
            "taints": [{"key": t.key, "value": t.value or None, "effect": t.effect} for t in pool.taints],
            # The provider's number arrives as a float (1.0); EKS wants the version as an integer string.
            "launchTemplate": {"id": template.id, "version": template.latestVersion.apply(lambda v: str(int(v)))},
            "tags": tags,
        }, pulumi.ResourceOptions(parent=self, depends_on=list(args.dependencies)))
        self.node_group_name = group.nodeGroupName
        self.register_outputs({"nodeGroupName": self.node_group_name})
