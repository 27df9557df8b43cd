"""NodePool: one EKS managed node group with its launch template (IMDSv2, encrypted gp3 root, NVMe RAID0)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

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
    return {"desired_size": desired_size, "min_size": min_size, "max_size": max_size}


class NodePool(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:nodes:NodePool", name, None, opts)
        pool, namer = args.settings, args.namer
        child = pulumi.ResourceOptions(parent=self)
        tags = namer.tags("node-pool", {"NodePool": args.pool_name})
        arch = load_catalog()[pool.instance_types[0]].arch

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name_prefix=namer.pool_prefix(args.pool_name),
            update_default_version=True,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": pool.metadata_hop_limit},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": pool.root_volume_gb, "volume_type": "gp3", "encrypted": "true",
                "delete_on_termination": "true"}}],
            user_data=encode(render_nvme_user_data()) if pool.nvme else None,
            tag_specifications=[{"resource_type": kind, "tags": tags} for kind in ("instance", "volume")],
            tags=tags,
            opts=child,
        )
        group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_group_name_prefix=namer.pool_prefix(args.pool_name),
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            instance_types=list(pool.instance_types),
            capacity_type=pool.capacity_type,
            ami_type=AMI_TYPES[arch],
            version=args.kubernetes_version,
            scaling_config=scaling_config(args.min_size, args.desired_size, pool.max_size),
            update_config={"max_unavailable": pool.max_unavailable},
            labels=pool_labels(args.pool_name, pool),
            taints=[{"key": t.key, "value": t.value or None, "effect": t.effect} for t in pool.taints],
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.dependencies)),
        )
        self.node_group_name = group.node_group_name
        self.register_outputs({"nodeGroupName": self.node_group_name})
