"""How the program's workload roles reach their pods: one mechanism, `cluster.serviceAccountBinding`, for Milvus' S3
role, the backup and restore roles and the Karpenter controller's role. EksCluster builds it (it owns the cluster's
one IAM OIDC provider); each component keeps its own roles and asks this for their trust and binding.

The EKS add-ons (VPC CNI, EBS CSI driver) are not workload roles of the program: EKS binds their roles through the
add-on API (the Addon's `podIdentityAssociations`), with AWS-built clients that support Pod Identity, and the
VPC CNI must keep working on every running node, so they keep Pod Identity whatever this says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from components import aws
from render.iam import irsa_trust_policy, pod_identity_trust_policy


@dataclass(frozen=True)
class WorkloadIdentity:
    binding: Literal["irsa", "podIdentity"]
    cluster_name: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str] | None = None
    """The cluster's IAM OIDC provider (IRSA only): AWS keeps one provider per issuer URL, so every IRSA role
    trusts this one."""

    @property
    def irsa(self) -> bool:
        return self.binding == "irsa"

    def trust_policy(self, namespace: str, service_account: str) -> pulumi.Input[str]:
        """The role's trust: under IRSA, web identity from the cluster's issuer for this one service account; under
        Pod Identity, the EKS agent (the association names the service account)."""
        if self.irsa:
            return pulumi.Output.all(self.oidc_provider_arn, self.oidc_issuer).apply(
                lambda a: irsa_trust_policy(a[0], a[1], namespace, service_account))
        return pod_identity_trust_policy()

    def bind(self, name: str, role: aws.Role, namespace: str, service_account: str, tags: dict,
             opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """Pod Identity: the association of `role` with the service account. IRSA: nothing here, the service
        account's `eks.amazonaws.com/role-arn` annotation (rendered by the chart or the program) names the role."""
        if self.irsa:
            return []
        return [aws.PodIdentityAssociation(name, {
            "clusterName": self.cluster_name, "namespace": namespace, "serviceAccount": service_account,
            "roleArn": role.arn, "tags": tags}, opts)]

    def annotated_role(self, role: aws.Role) -> pulumi.Output[str] | None:
        """The role ARN the service account's IRSA annotation carries, or None under Pod Identity."""
        return role.arn if self.irsa else None
