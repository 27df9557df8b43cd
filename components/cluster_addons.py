"""ClusterAddons: the EKS add-ons that run as Deployments, and the gp3 default StorageClass, once nodes exist.

The node-level add-ons (VPC CNI, kube-proxy, Pod Identity agent) come before the node groups: components/node_addons.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import aws
from components.kube import register
from components.node_addons import addon_version
from render.bundle import Bundle
from render.iam import assume_role_policy
from render.naming import Namer
from render.storage import GP3_STORAGE_CLASS
from components.options import inherited_dependencies

ADDONS = ("coredns", "aws-ebs-csi-driver")
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    namer: Namer
    bundle: Bundle
    """The StorageClass this component registers (owner `addons`)."""
    identity_agent: pulumi.Resource
    """The Pod Identity agent add-on the EBS CSI controller authenticates through."""


class ClusterAddons(pulumi.ComponentResource):
    storage_class_name: str

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:cluster:ClusterAddons", name, None, opts)
        after = inherited_dependencies(opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.namer.tags("cluster-addons")

        csi_role = aws.Role(f"{name}-ebs-csi", {
            "assumeRolePolicy": assume_role_policy("pods.eks.amazonaws.com", True), "tags": tags}, child)
        csi_attach = aws.RolePolicyAttachment(f"{name}-ebs-csi", {"role": csi_role.name, "policyArn": EBS_CSI_POLICY},
                                              child)
        installed: dict[str, aws.Addon] = {}
        for addon in ADDONS:
            identity = ([{"roleArn": csi_role.arn, "serviceAccount": EBS_CSI_SERVICE_ACCOUNT}]
                        if addon == "aws-ebs-csi-driver" else None)
            # CoreDNS and the EBS CSI controller are Deployments: their add-ons only turn ACTIVE once nodes exist.
            # The EBS CSI driver authenticates through the pod identity agent.
            needs = [args.identity_agent, csi_attach] if addon == "aws-ebs-csi-driver" else []
            installed[addon] = aws.Addon(f"{name}-{addon}", {
                "clusterName": args.cluster_name, "addonName": addon,
                "addonVersion": addon_version(addon, args.kubernetes_version), "resolveConflictsOnCreate": "OVERWRITE",
                "resolveConflictsOnUpdate": "PRESERVE", "podIdentityAssociations": identity, "tags": tags,
            }, pulumi.ResourceOptions(parent=self, depends_on=[*after, *needs]))

        for manifest in args.bundle.owned("addons", "StorageClass"):
            register(f"{name}-{manifest['metadata']['name']}", manifest,
                     pulumi.ResourceOptions(parent=self, depends_on=[installed["aws-ebs-csi-driver"]]))
        self.storage_class_name = GP3_STORAGE_CLASS
        self.register_outputs({"addons": list(ADDONS), "storageClass": GP3_STORAGE_CLASS})
