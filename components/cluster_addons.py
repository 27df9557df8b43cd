"""ClusterAddons: the EKS add-ons that run as Deployments, and the gp3 default StorageClass, once nodes exist.

The node-level add-ons (VPC CNI, kube-proxy, Pod Identity agent) come before the node groups: components/node_addons.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.node_addons import addon_version
from render.iam import assume_role_policy
from render.naming import Namer, k8s_labels
from components.options import inherited_dependencies

ADDONS = ("coredns", "aws-ebs-csi-driver")
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
GP3_STORAGE_CLASS = "gp3"


def gp3_storage_class_manifest(reclaim_policy: str = "Retain") -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": GP3_STORAGE_CLASS, "labels": k8s_labels("storage"),
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true", "fsType": "ext4"},
        "reclaimPolicy": reclaim_policy,
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    namer: Namer
    reclaim_policy: str
    """`cluster.storageReclaimPolicy`: what happens to a gp3 volume when its claim (or the stack) goes."""
    identity_agent: pulumi.Resource
    """The Pod Identity agent add-on the EBS CSI controller authenticates through."""


class ClusterAddons(pulumi.ComponentResource):
    storage_class_name: str

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:cluster:ClusterAddons", name, None, opts)
        after = inherited_dependencies(opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.namer.tags("cluster-addons")

        csi_role = aws.iam.Role(f"{name}-ebs-csi", assume_role_policy=assume_role_policy("pods.eks.amazonaws.com", True),
                                tags=tags, opts=child)
        csi_attach = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=csi_role.name, policy_arn=EBS_CSI_POLICY,
                                                  opts=child)
        installed: dict[str, aws.eks.Addon] = {}
        for addon in ADDONS:
            identity = ([{"role_arn": csi_role.arn, "service_account": EBS_CSI_SERVICE_ACCOUNT}]
                        if addon == "aws-ebs-csi-driver" else None)
            # CoreDNS and the EBS CSI controller are Deployments: their add-ons only turn ACTIVE once nodes exist.
            # The EBS CSI driver authenticates through the pod identity agent.
            needs = [args.identity_agent, csi_attach] if addon == "aws-ebs-csi-driver" else []
            installed[addon] = aws.eks.Addon(
                f"{name}-{addon}", cluster_name=args.cluster_name, addon_name=addon,
                addon_version=addon_version(addon, args.kubernetes_version), resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE", pod_identity_associations=identity, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *needs]))

        manifest = gp3_storage_class_manifest(args.reclaim_policy)
        k8s.storage.v1.StorageClass(
            f"{name}-gp3", metadata=manifest["metadata"], provisioner=manifest["provisioner"],
            parameters=manifest["parameters"], reclaim_policy=manifest["reclaimPolicy"],
            volume_binding_mode=manifest["volumeBindingMode"], allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[installed["aws-ebs-csi-driver"]]))
        self.storage_class_name = GP3_STORAGE_CLASS
        self.reclaim_policy = args.reclaim_policy
        self.register_outputs({"addons": list(ADDONS), "storageClass": GP3_STORAGE_CLASS,
                               "reclaimPolicy": args.reclaim_policy})
