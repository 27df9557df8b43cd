"""milvus-eks: settings → plan → bundle → components → exports."""

import pulumi
import pulumi_aws as aws

from components import outputs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.eks_cluster import EksCluster, EksClusterArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.milvus_backup import MilvusBackup, MilvusBackupArgs
from components.milvus_cluster import MilvusCluster, MilvusClusterArgs
from components.milvus_topology import MilvusTopology, MilvusTopologyArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.namespace_quota import NamespaceQuota, NamespaceQuotaArgs, PriorityClasses
from render.naming import PROJECT, Namer
from components.network import Network, NetworkArgs, choose_zones
from components.node_addons import NodeAddons, NodeAddonsArgs
from components.node_pool import NodePool, NodePoolArgs
from render import bundle as rendered
from render.karpenter import karpenter_pools
from stacks import sizing
from stacks.config import aws_provider_args, load_from_pulumi

settings = load_from_pulumi()
plan = sizing.plan(settings)
# Every object rendered (charts by Helm, the program's own), quotas derived, pods placed on the planned nodes;
# raises with every problem before anything is registered.
bundle = rendered.require(settings, plan)
namer = Namer(pulumi.get_stack())

aws_provider = aws.Provider("aws", **aws_provider_args(settings),
                            default_tags={"tags": {"ManagedBy": "pulumi", "Project": PROJECT}})
aws_opts = pulumi.ResourceOptions(providers={"aws": aws_provider})
zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=aws_provider)).names
zone_names = choose_zones(zones, settings.network.az_count)

network = Network("network", NetworkArgs(settings.network, zone_names, namer), aws_opts)
cluster = EksCluster("cluster", EksClusterArgs(settings.cluster, settings.region, network.private_subnet_ids,
                                               network.public_subnet_ids, namer, settings.service_account_binding),
                     aws_opts)
node_addons = NodeAddons("node-addons", NodeAddonsArgs(cluster.name, settings.cluster.kubernetes_version, namer),
                         aws_opts)
pools = {
    name: NodePool(f"pool-{name}", NodePoolArgs(
        pool_name=name, settings=pool, cluster_name=cluster.name, node_role_arn=cluster.node_role_arn,
        subnet_ids=network.private_subnet_ids, desired_size=plan.pool(name).desired_size,
        min_size=plan.pool(name).min_size, namer=namer, kubernetes_version=cluster.version,
        dependencies=(*cluster.node_role_dependencies, *node_addons.addons.values())), aws_opts)
    for name, pool in settings.node_pools.items() if pool.provisioner == "managedNodeGroup"
}
addons = ClusterAddons("addons", ClusterAddonsArgs(cluster.name, settings.cluster.kubernetes_version, namer, bundle,
                                                   node_addons.addons["eks-pod-identity-agent"]),
                       pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider},
                                              depends_on=list(pools.values())))
karpenter = (Karpenter("karpenter", KarpenterArgs(
    settings, plan, cluster.name, cluster.security_group_id, network.private_subnet_ids,
    zone_names, namer, cluster.workload_identity, bundle),
    pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider}, depends_on=[addons]))
             if karpenter_pools(settings) else None)
nodes_ready = [addons, *([karpenter] if karpenter else [])]
priorities = PriorityClasses("priorities", bundle,
                             pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}, depends_on=[addons]))
milvus = MilvusCluster("milvus", MilvusClusterArgs(settings=settings, identity=cluster.workload_identity,
                                                   bundle=bundle, namer=namer,
                                                   zone_leaves=rendered.zone_leaves(settings, plan, zone_names)),
                       pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider},
                                              depends_on=[*nodes_ready, priorities]))
backup = (MilvusBackup("backup", MilvusBackupArgs(
              settings=settings, bundle=bundle, identity=cluster.workload_identity,
              milvus_bucket_name=milvus.bucket_name, milvus_bucket_arn=milvus.bucket_arn, namer=namer,
              namespace=milvus.namespace_resource),
                       pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider}))
          if settings.milvus.backup.enabled else None)
monitoring = (Monitoring("monitoring", MonitoringArgs(settings, bundle),
                         pulumi.ResourceOptions(providers={"kubernetes": cluster.provider},
                                                depends_on=[*nodes_ready, priorities]))
              if settings.monitoring.enabled else None)
namespaces = {milvus.namespace: milvus.namespace_resource,
              **({monitoring.namespace: monitoring.namespace_resource} if monitoring else {})}
quotas = [NamespaceQuota(f"quota-{q.namespace}", NamespaceQuotaArgs(q.namespace, bundle, namespaces.get(q.namespace)),
                         pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}))
          for q in bundle.capacity.quotas]
topology = MilvusTopology("topology", MilvusTopologyArgs(bundle, milvus.release),
                          pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}))

pulumi.export(outputs.CLUSTER_NAME, cluster.name)
pulumi.export(outputs.CLUSTER_ENDPOINT, cluster.endpoint)
pulumi.export(outputs.KUBECONFIG, cluster.kubeconfig)
pulumi.export(outputs.NODE_POOLS, {**{name: pool.node_group_name for name, pool in pools.items()},
                                   **{name: f"karpenter:{name}" for name in karpenter_pools(settings)}})
pulumi.export(outputs.VPC_ID, network.vpc_id)
pulumi.export(outputs.MILVUS_ENDPOINT, milvus.endpoint)
pulumi.export(outputs.MILVUS_BUCKET, milvus.bucket_name)
pulumi.export(outputs.MILVUS_ROLE_ARN, milvus.role_arn)
pulumi.export(outputs.MILVUS_ROOT_SECRET, milvus.root_secret_name)
pulumi.export(outputs.MILVUS_ROOT_PASSWORD, milvus.root_password)
pulumi.export(outputs.PLAN, plan.summary())
pulumi.export(outputs.CAPACITY, bundle.capacity.summary())
pulumi.export(outputs.SCHEDULING, bundle.scheduling.summary())
if backup is not None:
    pulumi.export(outputs.MILVUS_BACKUP, {"cronJob": f"{milvus.namespace}/{backup.cronjob_name}",
                                          "bucket": backup.backup_bucket_name, "prefix": settings.milvus.backup.prefix})
if monitoring is not None:
    pulumi.export(outputs.GRAFANA_ADMIN_SECRET, f"{monitoring.namespace}/{monitoring.grafana_admin_secret}")
