"""NodeAddons: the EKS add-ons a node needs before it can turn Ready (VPC CNI, kube-proxy, Pod Identity agent).

They are DaemonSets, so EKS reports them ACTIVE without nodes, and they are installed before the node groups: the
node role carries no CNI policy, so a node only gets pod IPs once the managed VPC CNI runs with its own Pod Identity
role (EKS user guide, "IAM roles for Amazon EKS add-ons": the VPC CNI calls AWS APIs and is granted them through a
Pod Identity association on its service account).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from components import aws
from render.iam import assume_role_policy
from render.naming import Namer
from stacks import versions

NODE_ADDONS = ("eks-pod-identity-agent", "kube-proxy", "vpc-cni")
VPC_CNI_SERVICE_ACCOUNT = "aws-node"
VPC_CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
# The VPC CNI enforces NetworkPolicies only when its network-policy agent is switched on
# (EKS user guide, "Limit pod traffic with Kubernetes network policies").
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}
ADDON_PREFIX = "addons"
"""Add-on resources keep the logical names they had under ClusterAddons (`addons-<name>`)."""


def addon_version(addon: str, kubernetes_version: str) -> str:
    """The pinned version (validation refuses a minor without pins)."""
    return versions.ADDON_VERSIONS[kubernetes_version][addon]


@dataclass(frozen=True)
class NodeAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    namer: Namer


class NodeAddons(pulumi.ComponentResource):
    addons: dict[str, aws.Addon]

    def __init__(self, name: str, args: NodeAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:cluster:NodeAddons", name, None, opts)
        tags = args.namer.tags("cluster-addons")
        # These add-ons were children of ClusterAddons("addons") before they moved here.
        moved = [pulumi.Alias(parent=pulumi.create_urn(ADDON_PREFIX, "milvus-eks:cluster:ClusterAddons"))]
        child = pulumi.ResourceOptions(parent=self)
        cni_role = aws.Role(f"{ADDON_PREFIX}-vpc-cni", {
            "assumeRolePolicy": assume_role_policy("pods.eks.amazonaws.com", True), "tags": tags}, child)
        cni_attach = aws.RolePolicyAttachment(f"{ADDON_PREFIX}-vpc-cni",
                                              {"role": cni_role.name, "policyArn": VPC_CNI_POLICY}, child)
        self.addons = {}
        for addon in NODE_ADDONS:
            identity = ([{"roleArn": cni_role.arn, "serviceAccount": VPC_CNI_SERVICE_ACCOUNT}]
                        if addon == "vpc-cni" else None)
            # The CNI's credentials come through the Pod Identity agent.
            needs = [self.addons["eks-pod-identity-agent"], cni_attach] if addon == "vpc-cni" else []
            self.addons[addon] = aws.Addon(f"{ADDON_PREFIX}-{addon}", {
                "clusterName": args.cluster_name, "addonName": addon,
                "addonVersion": addon_version(addon, args.kubernetes_version), "resolveConflictsOnCreate": "OVERWRITE",
                "configurationValues": (json.dumps(ADDON_CONFIGURATION[addon]) if addon in ADDON_CONFIGURATION
                                        else None),
                "resolveConflictsOnUpdate": "PRESERVE", "podIdentityAssociations": identity, "tags": tags,
            }, pulumi.ResourceOptions(parent=self, depends_on=needs, aliases=moved))
        self.register_outputs({"addons": list(NODE_ADDONS)})
