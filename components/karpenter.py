"""Karpenter: the node autoscaler for every pool whose `provisioner` is `karpenter`. The controller's IAM role (bound
to its service account like every workload role: `cluster.serviceAccountBinding`), the interruption queue and its
EventBridge rules, a node role with an EKS access entry of type EC2_LINUX for the nodes it launches, the discovery
tags on the private subnets and the cluster security group, the vendored CRD and controller charts on the `system`
pool, and one EC2NodeClass + NodePool per pool. Decisions live in render/karpenter.py; the charts' values and the
NodePool/EC2NodeClass objects come from the bundle, where the scheduling check saw them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws
import pulumi_kubernetes as k8s

from components import aws
from components.kube import register
from components.options import inherited_dependencies
from components.workload_identity import WorkloadIdentity
from render import bundle as b
from render import karpenter as kp
from render.bundle import Bundle
from render.iam import assume_role_policy
from render.naming import Namer
from stacks.settings import Settings
from stacks.sizing import Plan
from stacks.versions import KARPENTER, KARPENTER_CRD

# The node role's managed policies (CFN: KarpenterNodeRole.ManagedPolicyArns).
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
HELM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class KarpenterArgs:
    settings: Settings
    plan: Plan
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    zones: tuple[str, ...]
    namer: Namer
    identity: WorkloadIdentity
    """How the controller's role reaches its service account (EksCluster.workload_identity)."""
    bundle: Bundle
    """The controller chart's values and the NodePool/EC2NodeClass objects (owner `karpenter`)."""


class Karpenter(pulumi.ComponentResource):
    node_role_arn: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    node_pools: list[pulumi.CustomResource]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:nodes:Karpenter", name, None, opts)
        s, namer = args.settings, args.namer
        child = pulumi.ResourceOptions(parent=self)
        tags = namer.tags("karpenter")
        caller = pulumi_aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = pulumi_aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        # Discovery tags: the EC2NodeClasses select subnets and security groups by them.
        for i, subnet in enumerate(args.private_subnet_ids):
            aws.Tag(f"{name}-subnet-{i}", {"resourceId": subnet, "key": kp.DISCOVERY_TAG, "value": args.cluster_name},
                    child)
        aws.Tag(f"{name}-cluster-sg", {"resourceId": args.cluster_security_group_id, "key": kp.DISCOVERY_TAG,
                                       "value": args.cluster_name}, child)

        node_role = aws.Role(f"{name}-node", {
            "assumeRolePolicy": assume_role_policy("ec2.amazonaws.com"), "tags": tags}, child)
        attached = [aws.RolePolicyAttachment(f"{name}-node-{arn.rsplit('/', 1)[1]}",
                                             {"role": node_role.name, "policyArn": arn}, child)
                    for arn in NODE_POLICIES]
        # Nodes Karpenter launches join with this role; managed node groups get their entries from EKS itself. The
        # cluster authenticates through the API (no aws-auth ConfigMap, which Karpenter's getting-started edits):
        # EC2_LINUX is the entry type for self-managed Linux nodes' role, EKS grants it the node permissions
        # (aws eks create-access-entry --type).
        access = aws.AccessEntry(f"{name}-node", {"clusterName": args.cluster_name, "principalArn": node_role.arn,
                                                  "type": "EC2_LINUX", "tags": tags}, child)

        queue = aws.Queue(f"{name}-interruption", {
            "name": namer.interruption_queue(), "messageRetentionSeconds": kp.QUEUE_RETENTION_SECONDS,
            "sqsManagedSseEnabled": True, "tags": tags}, child)
        aws.QueuePolicy(f"{name}-interruption", {"queueUrl": queue.url, "policy": queue.arn.apply(kp.queue_policy)},
                        child)
        for event in kp.INTERRUPTION_EVENTS:
            rule = aws.EventRule(f"{name}-{event}", {"eventPattern": kp.event_pattern(event), "tags": tags}, child)
            aws.EventTarget(f"{name}-{event}", {"rule": rule.name, "arn": queue.arn,
                                                "targetId": "KarpenterInterruptionQueueTarget"}, child)

        controller = aws.Role(f"{name}-controller", {
            "assumeRolePolicy": args.identity.trust_policy(kp.NAMESPACE, kp.SERVICE_ACCOUNT), "tags": tags}, child)
        policy = aws.RolePolicy(f"{name}-controller", {"role": controller.name, "policy": pulumi.Output.all(
            partition.partition, caller.account_id, args.cluster_name, node_role.arn, queue.arn).apply(
            lambda a: kp.controller_policy(a[0], s.region, a[1], a[2], a[3], a[4]))}, child)
        binding = args.identity.bind(f"{name}-controller", controller, kp.NAMESPACE, kp.SERVICE_ACCOUNT, tags, child)

        crds = k8s.helm.v3.Release(
            f"{name}-crd", name=kp.CRD_RELEASE, chart=KARPENTER_CRD.archive, namespace=kp.NAMESPACE, atomic=True,
            timeout=HELM_TIMEOUT_SECONDS, opts=pulumi.ResourceOptions(parent=self,
                                                                      depends_on=inherited_dependencies(opts)))
        release = k8s.helm.v3.Release(
            f"{name}-release", name=kp.RELEASE, chart=KARPENTER.archive, namespace=kp.NAMESPACE,
            # The CRDs belong to the karpenter-crd release, which (unlike a chart's crds/) Helm upgrades.
            skip_crds=True,
            values=b.deploy_time_values(args.bundle.karpenter_values, {
                b.CLUSTER_NAME: args.cluster_name, b.INTERRUPTION_QUEUE: queue.name,
                b.KARPENTER_ROLE_ARN: args.identity.annotated_role(controller)}),
            atomic=True, timeout=HELM_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds, policy, *binding, access, *attached,
                                                                 *inherited_dependencies(opts)]))

        # The bundle placed the pools' nodes in stand-in zones; the objects name the region's real ones.
        leaves = {b.CLUSTER_NAME: args.cluster_name, b.KARPENTER_NODE_ROLE: node_role.name,
                  **dict(zip(b.planned_zones(s), args.zones))}
        after_controller = pulumi.ResourceOptions(parent=self, depends_on=[release])
        classes = {}
        for manifest in args.bundle.owned("karpenter", "EC2NodeClass"):
            pool = manifest["metadata"]["name"]
            manifest["spec"]["tags"] = tags
            classes[pool] = register(f"{name}-class-{pool}", b.deploy_time_values(manifest, leaves), after_controller)
        self.node_pools = []
        for manifest in args.bundle.owned("karpenter", "NodePool"):
            pool = manifest["metadata"]["name"]
            node_class = manifest["spec"]["template"]["spec"]["nodeClassRef"]["name"]
            self.node_pools.append(register(
                f"{name}-pool-{pool}", b.deploy_time_values(manifest, leaves),
                pulumi.ResourceOptions(parent=self, depends_on=[release, classes[node_class]])))

        self.node_role_arn = node_role.arn
        self.queue_name = queue.name
        self.register_outputs({"nodeRoleArn": self.node_role_arn, "queueName": self.queue_name})

