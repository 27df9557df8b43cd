"""EksCluster: IAM roles, the EKS control plane with API access entries, and the Kubernetes provider."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws
import pulumi_kubernetes as k8s

from components import aws
from components.workload_identity import WorkloadIdentity
from render.iam import IRSA_AUDIENCE, assume_role_policy
from render.naming import Namer
from stacks.errors import Problem
from stacks.settings import ClusterSettings

CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
# No AmazonEKS_CNI_Policy here: the VPC CNI gets it through its own Pod Identity role (components/node_addons.py),
# so every pod on a node does not inherit the right to attach and detach network interfaces (EKS best practices,
# "Update the aws-node DaemonSet to use IRSA"/Pod Identity).
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    # Session Manager instead of SSH keys for node access.
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
OIDC_PROVIDER_BEFORE = ("milvus-oidc", "milvus", "milvus-eks:milvus:MilvusCluster")
"""(logical name, parent name, parent type) the IAM OIDC provider had when MilvusCluster("milvus") created it, the
only IRSA consumer then: the alias that keeps an existing stack's provider instead of replacing it."""


def principal_arn(caller_arn: str) -> str:
    """The IAM ARN an access entry names for the caller `sts get-caller-identity` reports.

    An assumed role reports `arn:aws:sts::<account>:assumed-role/<name>/<session>`; its access entry names
    `arn:aws:iam::<account>:role/<name>` (a role path is not in the caller ARN, so it is compared by name).
    """
    head, _, resource = caller_arn.partition(":assumed-role/")
    if not resource:
        return caller_arn
    partition, account = head.split(":")[1], head.split(":")[4]
    return f"arn:{partition}:iam::{account}:role/{resource.split('/')[0]}"


def deployer_is_admin(caller_arn: str, admin_principals: tuple[str, ...]) -> bool:
    caller = principal_arn(caller_arn)
    prefix, _, name = caller.rpartition("/")
    account_prefix = prefix.split("/")[0]
    for principal in admin_principals:
        if principal == caller:
            return True
        p_prefix, _, p_name = principal.rpartition("/")
        if p_prefix.split("/")[0] == account_prefix and p_name == name:
            return True
    return False


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig whose credentials come from `aws eks get-token` at use time: nothing long-lived is stored."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
    }, indent=2)


@dataclass(frozen=True)
class EksClusterArgs:
    settings: ClusterSettings
    region: str
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]
    namer: Namer
    service_account_binding: str
    """How workload roles reach their pods (Settings.service_account_binding); `irsa` creates the IAM OIDC
    provider every IRSA role trusts."""


class EksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str] | None
    workload_identity: WorkloadIdentity
    """The one binding of every workload role (components/workload_identity.py)."""
    version: pulumi.Output[str]
    provider: k8s.Provider
    security_group_id: pulumi.Output[str]
    """The security group EKS created for the cluster (control plane and managed nodes)."""
    cluster: aws.Cluster
    node_role_dependencies: list[aws.RolePolicyAttachment]
    """The node role's policy attachments: node groups wait for them, so a destroy removes nodes first."""

    @staticmethod
    def _require_deployer_admin(caller_arn: str, admin_principals: tuple[str, ...]) -> None:
        if deployer_is_admin(caller_arn, admin_principals):
            return
        from stacks.config import StackConfigError  # the error type of every stack-file problem

        problem = Problem("cluster.adminPrincipals",
                          f"the identity running Pulumi ({caller_arn}) is not listed, and the cluster grants admin "
                          f"only to the listed principals; add {principal_arn(caller_arn)} so the program can reach "
                          f"the Kubernetes API")
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(str(problem))
        else:
            raise StackConfigError([problem])

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:cluster:EksCluster", name, None, opts)
        s, namer = args.settings, args.namer
        child = pulumi.ResourceOptions(parent=self)
        tags = namer.tags("cluster")
        cluster_name = namer.cluster_name()

        cluster_role = aws.Role(f"{name}-cluster", {
            "assumeRolePolicy": assume_role_policy("eks.amazonaws.com", True), "tags": tags}, child)
        attachments = [aws.RolePolicyAttachment(f"{name}-cluster-{arn.rsplit('/', 1)[1]}",
                                                {"role": cluster_role.name, "policyArn": arn}, child)
                       for arn in CLUSTER_POLICIES]
        node_role = aws.Role(f"{name}-node", {
            "assumeRolePolicy": assume_role_policy("ec2.amazonaws.com"), "tags": tags}, child)
        node_attachments = [aws.RolePolicyAttachment(f"{name}-node-{arn.rsplit('/', 1)[1]}",
                                                     {"role": node_role.name, "policyArn": arn}, child)
                            for arn in NODE_POLICIES]

        encryption = None
        if s.secrets_encryption:
            key = aws.Key(f"{name}-secrets", {
                "description": f"{cluster_name} Kubernetes Secrets envelope encryption", "enableKeyRotation": True,
                "deletionWindowInDays": 30, "tags": tags}, child)
            encryption = {"provider": {"keyArn": key.arn}, "resources": ["secrets"]}

        self.cluster = aws.Cluster(f"{name}-eks", {
            "name": cluster_name,
            "version": s.kubernetes_version,
            "roleArn": cluster_role.arn,
            "vpcConfig": {
                "subnetIds": [*args.private_subnet_ids, *args.public_subnet_ids],
                "endpointPrivateAccess": s.endpoint.private_access,
                "endpointPublicAccess": s.endpoint.public_access,
                "publicAccessCidrs": list(s.endpoint.public_access_cidrs) if s.endpoint.public_access else None,
            },
            # Admin comes only from cluster.adminPrincipals: the creating identity keeps no hidden, permanent
            # admin entry. The flag only matters at creation, and changing it forces a new cluster
            # (terraform-provider-aws internal/service/eks/cluster.go: access_config
            # bootstrap_cluster_creator_admin_permissions ForceNew), so an existing cluster keeps its value
            # (ignore_changes below; README "Upgrade notes" says how to remove the creator's entry by hand).
            "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
            "enabledClusterLogTypes": list(s.log_types),
            "encryptionConfig": encryption,
            "deletionProtection": s.deletion_protection,
            "upgradePolicy": {"supportType": s.support_type},
            "tags": tags,
        }, pulumi.ResourceOptions(parent=self, depends_on=attachments, protect=s.deletion_protection,
                                  ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"]))
        self.security_group_id = self.cluster.vpcConfig["clusterSecurityGroupId"]

        # The EKS-created cluster security group admits only its own members: a self-hosted runner in (or peered
        # with) the VPC reaches the private endpoint through these rules (EKS user guide, "Cluster API server
        # endpoint": private access needs the control-plane security group to allow 443 from the source).
        for i, cidr in enumerate(s.endpoint.private_access_cidrs):
            aws.SecurityGroupIngressRule(f"{name}-api-{i}", {
                "securityGroupId": self.security_group_id, "cidrIpv4": cidr, "ipProtocol": "tcp", "fromPort": 443,
                "toPort": 443, "description": "Kubernetes API from cluster.endpoint.privateAccessCidrs", "tags": tags},
                child)

        admin_access = []
        for i, principal in enumerate(s.admin_principals):
            entry = aws.AccessEntry(f"{name}-admin-{i}", {
                "clusterName": self.cluster.name, "principalArn": principal, "type": "STANDARD", "tags": tags}, child)
            admin_access.append(aws.AccessPolicyAssociation(f"{name}-admin-{i}", {
                "clusterName": self.cluster.name, "principalArn": principal, "policyArn": ADMIN_POLICY,
                "accessScope": {"type": "cluster"}}, pulumi.ResourceOptions(parent=self, depends_on=[entry])))
        caller = pulumi_aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        caller.arn.apply(lambda arn: self._require_deployer_admin(arn, s.admin_principals))

        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificateAuthority["data"]
        ).apply(lambda a: render_kubeconfig(a[0], a[1], a[2], args.region)))
        # Every Kubernetes resource waits for the provider, and the provider for the admin access it authenticates
        # with.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=admin_access))
        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.node_role_arn = node_role.arn
        self.node_role_dependencies = node_attachments
        # IRSA trusts this issuer through an IAM OIDC provider. An account holds one provider per issuer URL (IAM API
        # CreateOpenIDConnectProvider, `Url`: "You cannot register the same provider multiple times in a single
        # Amazon Web Services account"; EntityAlreadyExists), so the cluster's owner creates it once for every IRSA
        # role (Milvus, backup and restore, Karpenter).
        self.oidc_issuer = self.cluster.identities[0]["oidcs"][0]["issuer"]
        self.oidc_provider_arn = None
        if args.service_account_binding == "irsa":
            old_name, old_parent, old_parent_type = OIDC_PROVIDER_BEFORE
            provider = aws.OpenIdConnectProvider(
                f"{name}-oidc", {"url": self.oidc_issuer, "clientIdLists": [IRSA_AUDIENCE], "tags": tags},
                pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(
                    name=old_name, parent=pulumi.create_urn(old_parent, old_parent_type))]))
            self.oidc_provider_arn = provider.arn
        self.workload_identity = WorkloadIdentity(args.service_account_binding, self.cluster.name, self.oidc_issuer,
                                                  self.oidc_provider_arn)
        self.version = self.cluster.version
        self.register_outputs({"name": self.name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig,
                               "nodeRoleArn": self.node_role_arn})
