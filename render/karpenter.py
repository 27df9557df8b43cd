"""Everything the Karpenter component decides, as pure data: the NodePool and EC2NodeClass objects of each pool whose
`provisioner` is `karpenter`, the controller's Helm values, its IAM policy, and the interruption queue's policy and
event rules. No Pulumi here: tests validate these objects against the CRD schemas in the vendored chart.

Facts cite aws/karpenter-provider-aws @ 692ccdd0 (the `chore: Release v1.14.0` commit the vendored charts are
packaged from): `CRD:` = pkg/apis/crds/, `CFN:` = website/content/en/docs/getting-started/getting-started-with-karpenter/
cloudformation.yaml (the controller policy and the interruption queue the project documents), `DOC:` =
website/content/en/docs/concepts/.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from render.iam import IRSA_ANNOTATION
from render.naming import pool_labels
from render.user_data import render_sysctl_user_data
from stacks.catalog import load_catalog
from stacks.settings import NodePoolSettings, Settings
from stacks.sizing import Plan

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
DISCOVERY_TAG = "karpenter.sh/discovery"
"""Subnets and security groups the EC2NodeClasses select (tagged by the component with the cluster name)."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
RELEASE = "karpenter"
BINDING_ANNOTATION = "milvus-eks/service-account-binding"
CRD_RELEASE = "karpenter-crd"

# An AL2023 EKS-optimised AMI release, pinned: `@latest` drifts every node whenever AWS publishes an AMI
# (CRD: karpenter.k8s.aws_ec2nodeclasses.yaml, amiSelectorTerms.alias). v20260520 is the AL2023 release Karpenter's
# own AMI e2e suite launches (test/suites/ami/suite_test.go:96). Bumping it drifts the nodes, which the budgets
# below replace one at a time.
AMI_ALIAS = "al2023@v20260520"

# The event types Karpenter reacts to (CFN: ScheduledChangeRule, SpotInterruptionRule, RebalanceRule,
# InstanceStateChangeRule, CapacityReservationInterruptionRule).
INTERRUPTION_EVENTS: dict[str, tuple[str, str]] = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
QUEUE_RETENTION_SECONDS = 300  # CFN: KarpenterInterruptionQueue.MessageRetentionPeriod

# Pools whose pods hold loaded segments (query nodes: minutes to reload) or state (etcd members, the streaming nodes'
# WAL, the coordinator) are never consolidated while in use and never replaced more than one node at a time.
SERVING_ROLES = frozenset({"queryNode", "streamingNode", "messageQueue", "etcd", "mixCoordinator", "minio"})
ONE_AT_A_TIME_BUDGET = {"nodes": "1"}
# Expiration is forceful and "NodePool Disruption Budgets do not prevent Karpenter from terminating expired nodes"
# (DOC: disruption.md:196-213, 317): serving nodes never expire; AMI updates reach them through drift, which the
# budget limits. No `karpenter.sh/do-not-disrupt` on query nodes: it would exclude their nodes from drift
# (disruption.md:408), so an AMI bump would never reach them.
SERVING_EXPIRE_AFTER = "Never"
EMPTY_NODE_GRACE = "5m"


def karpenter_pools(settings: Settings) -> dict[str, NodePoolSettings]:
    return {name: pool for name, pool in settings.node_pools.items() if pool.provisioner == "karpenter"}


def _taint(t) -> dict[str, str]:
    effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    return {"key": t.key, **({"value": t.value} if t.value else {}), "effect": effect[t.effect]}


def node_class_name(pool: str) -> str:
    return pool


def serving(pool: NodePoolSettings) -> bool:
    return bool(SERVING_ROLES & set(pool.roles))


def node_pool_manifest(name: str, pool: NodePoolSettings, zones: tuple[str, ...] | list[str],
                       planned_nodes: int) -> dict[str, Any]:
    """A karpenter.sh/v1 NodePool: the pool's instance types, capacity type, zones, labels and taints; limits from
    `maxSize` × the largest listed type; and disruption rules that never take more than one serving node at once.

    `planned_nodes` is what the plan expects the pool to run; the annotation lets the cost report price it."""
    catalog = load_catalog()
    biggest_cpu = max(catalog[t].vcpu for t in pool.instance_types)
    biggest_memory = max(catalog[t].memory_mib for t in pool.instance_types)
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [pool.capacity_type.lower().replace(
            "_", "-")]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": sorted({catalog[t].arch for t in
                                                                          pool.instance_types})},
    ]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class_name(name)},
        "requirements": requirements,
        "taints": [_taint(t) for t in pool.taints],
    }
    if serving(pool):
        template_spec["expireAfter"] = SERVING_EXPIRE_AFTER
    disruption: dict[str, Any] = {
        # Serving nodes are only removed when empty; others (system-like pools) may be consolidated when underused.
        "consolidationPolicy": "WhenEmpty" if serving(pool) else "WhenEmptyOrUnderutilized",
        "consolidateAfter": EMPTY_NODE_GRACE,
        # Drift (an AMI bump), emptiness and consolidation together never take more than `maxUnavailable` nodes.
        "budgets": [ONE_AT_A_TIME_BUDGET] if serving(pool) else [{"nodes": str(pool.max_unavailable)}],
    }
    return {
        "apiVersion": NODEPOOL_API, "kind": "NodePool",
        "metadata": {"name": name, "annotations": {PLANNED_NODES_ANNOTATION: str(planned_nodes)}},
        "spec": {
            "template": {"metadata": {"labels": pool_labels(name, pool)}, "spec": template_spec},
            "disruption": disruption,
            "limits": {"cpu": str(biggest_cpu * pool.max_size), "memory": f"{biggest_memory * pool.max_size}Mi",
                       "nodes": str(pool.max_size)},
        },
    }


PLANNED_NODES_ANNOTATION = "milvus-eks/planned-nodes"


def ec2_node_class_manifest(name: str, pool: NodePoolSettings, cluster_name: str, node_role: str,
                            tags: Mapping[str, str]) -> dict[str, Any]:
    """A karpenter.k8s.aws/v1 EC2NodeClass: AL2023 pinned alias, IMDSv2 only with the pool's hop limit, an encrypted
    gp3 root volume, subnets and security groups by the discovery tag, and for NVMe pools the instance store in
    RAID0 under kubelet and containerd (so emptyDirs, Milvus' local data, live on NVMe) plus `fs.aio-max-nr`."""
    spec: dict[str, Any] = {
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "role": node_role,
        "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
        "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": pool.metadata_hop_limit, "httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {
            "volumeSize": f"{pool.root_volume_gb}Gi", "volumeType": "gp3", "encrypted": True,
            "deleteOnTermination": True}}],
        "tags": dict(tags),
    }
    if pool.nvme:
        spec["instanceStorePolicy"] = "RAID0"
        # Karpenter merges this MIME part in front of its own NodeConfig (DOC: nodeclasses.md, spec.userData); the
        # RAID0 itself comes from instanceStorePolicy.
        spec["userData"] = render_sysctl_user_data()
    return {"apiVersion": NODECLASS_API, "kind": "EC2NodeClass", "metadata": {"name": node_class_name(name)},
            "spec": spec}


def manifests(settings: Settings, plan: Plan, zones: tuple[str, ...] | list[str], cluster_name: str,
              node_role: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every Karpenter object of the stack, EC2NodeClasses first (a NodePool refers to its class by name)."""
    pools = karpenter_pools(settings)
    classes = [ec2_node_class_manifest(n, p, cluster_name, node_role, tags) for n, p in pools.items()]
    node_pools = [node_pool_manifest(n, p, zones, plan.pool(n).desired_size) for n, p in pools.items()]
    return [*classes, *node_pools]


# ---------------------------------------------------------------------------------------------- controller


def controller_values(settings: Settings, cluster_name: str, queue_name: str, tolerations: list[dict],
                      irsa_role_arn: str | None = None) -> dict:
    """The karpenter chart's values: the cluster and interruption queue it serves, on the `system` pool (a managed
    node group: the controller must not run on nodes it manages), and under IRSA the controller role's annotation
    on its service account (`serviceAccount.annotations`: charts/karpenter/values.yaml:18-25 of the vendored 1.14.0
    archive, rendered by templates/serviceaccount.yaml; the chart's README installs with
    `--set serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=...`)."""
    from render.naming import POOL_LABEL

    account: dict[str, Any] = {"create": True, "name": SERVICE_ACCOUNT}
    if irsa_role_arn:
        account["annotations"] = {IRSA_ANNOTATION: irsa_role_arn}
    return {
        "settings": {"clusterName": cluster_name, "interruptionQueue": queue_name},
        "serviceAccount": account,
        # The binding's credentials reach a pod only when it is created (EKS' pod identity webhook injects the
        # web-identity token or the agent's endpoint at admission), and a service-account annotation does not roll
        # the Deployment: naming the binding in the pod template makes a change of binding replace the pods.
        "podAnnotations": {BINDING_ANNOTATION: settings.service_account_binding},
        "nodeSelector": {POOL_LABEL: settings.pool_for("system")},
        "tolerations": tolerations,
        "replicas": 2,
        "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                     "limits": {"cpu": "1", "memory": "1Gi"}}},
    }


def controller_policy(partition: str, region: str, account: str, cluster_name: str, node_role_arn: str,
                      queue_arn: str) -> str:
    """The controller's permissions, statement for statement as CFN's NodeLifecyclePolicy, IAMIntegrationPolicy,
    EKSIntegrationPolicy, InterruptionPolicy and ResourceDiscoveryPolicy (ZonalShiftPolicy left out: no zonal shift
    is configured)."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    request_owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
                     "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    created = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                 "launch-template", "spot-instances-request")]
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    statements = [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*", f"{ec2}:*:placement-group/*"],
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Resource": f"{ec2}:*:launch-template/*", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Condition": {"StringEquals": owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow", "Resource": created,
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
         "Condition": {"StringEquals": request_owned,
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Resource": created,
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {**request_owned,
                                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Resource": f"{ec2}:*:instance/*",
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                                     "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow",
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Condition": {"StringEquals": owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Resource": node_role_arn, "Action": "iam:PassRole",
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Resource": profile,
         "Action": ["iam:CreateInstanceProfile"],
         "Condition": {"StringEquals": {**request_owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Resource": profile,
         "Action": ["iam:TagInstanceProfile"],
         "Condition": {"StringEquals": {**owned, "aws:ResourceTag/topology.kubernetes.io/region": region,
                                        **request_owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                      "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow", "Resource": profile,
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Condition": {"StringEquals": {**owned, "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow",
         "Resource": f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}", "Action": "eks:DescribeCluster"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*", "Action": "ssm:GetParameter"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
        {"Sid": "AllowUnscopedInstanceProfileListAction", "Effect": "Allow", "Resource": "*",
         "Action": "iam:ListInstanceProfiles"},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Resource": profile,
         "Action": "iam:GetInstanceProfile"},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def queue_policy(queue_arn: str) -> str:
    """CFN: KarpenterInterruptionQueuePolicy: EventBridge (and SQS) may send; nothing over plain HTTP."""
    return json.dumps({"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
         "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Sid": "DenyHTTP", "Effect": "Deny", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Principal": "*"},
    ]})


def event_pattern(event: str) -> str:
    source, detail_type = INTERRUPTION_EVENTS[event]
    return json.dumps({"source": [source], "detail-type": [detail_type]})


def planned_capacity(pool: NodePoolSettings, nodes: int) -> tuple[int, int]:
    """(vCPU, MiB) the NodePool's limits allow at `nodes` nodes of its largest type (tests compare with the plan)."""
    catalog = load_catalog()
    return (max(catalog[t].vcpu for t in pool.instance_types) * nodes,
            max(catalog[t].memory_mib for t in pool.instance_types) * nodes)


