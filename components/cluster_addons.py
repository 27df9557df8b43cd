"""ClusterAddons: the EKS add-ons and the gp3 default StorageClass, installed once nodes can run them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.kube import register
from render.bundle import Bundle
from render.iam import assume_role_policy
from render.naming import Namer, k8s_labels
from components.options import inherited_dependencies

ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
GP3_STORAGE_CLASS = "gp3"
# The VPC CNI enforces NetworkPolicies only when its network-policy agent is switched on
# (EKS user guide, "Limit pod traffic with Kubernetes network policies").
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}


def gp3_storage_class_manifest() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": GP3_STORAGE_CLASS, "labels": k8s_labels("storage"),
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true", "fsType": "ext4"},
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    namer: Namer
    bundle: Bundle
    """The StorageClass this component registers (owner `addons`)."""


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
            version = aws.eks.get_addon_version_output(addon_name=addon, kubernetes_version=args.kubernetes_version,
                                                       most_recent=True)
            identity = ([{"role_arn": csi_role.arn, "service_account": EBS_CSI_SERVICE_ACCOUNT}]
                        if addon == "aws-ebs-csi-driver" else None)
            # CoreDNS and the EBS CSI controller are Deployments: their add-ons only turn ACTIVE once nodes exist.
            # The EBS CSI driver authenticates through the pod identity agent.
            needs = [installed["eks-pod-identity-agent"], csi_attach] if addon == "aws-ebs-csi-driver" else []
            installed[addon] = aws.eks.Addon(
                f"{name}-{addon}", cluster_name=args.cluster_name, addon_name=addon,
                addon_version=version.version, resolve_conflicts_on_create="OVERWRITE",
                configuration_values=json.dumps(ADDON_CONFIGURATION[addon]) if addon in ADDON_CONFIGURATION else None,
                resolve_conflicts_on_update="PRESERVE", pod_identity_associations=identity, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *needs]))

        for manifest in args.bundle.owned("addons", "StorageClass"):
            register(f"{name}-{manifest['metadata']['name']}", manifest,
                     pulumi.ResourceOptions(parent=self, depends_on=[installed["aws-ebs-csi-driver"]]))
        self.storage_class_name = GP3_STORAGE_CLASS
        self.register_outputs({"addons": list(ADDONS), "storageClass": GP3_STORAGE_CLASS})
