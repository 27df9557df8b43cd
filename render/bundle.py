"""The bundle: every Kubernetes object a stack will make exist, computed once per run (a frozen dataclass whose
objects nobody mutates: components get copies through `owned` and `crds`).

settings → plan → values → the vendored charts rendered by Helm (post-renderer applied as Helm applies it) plus
the program's own objects. Everything downstream reads it: the capacity chain (quotas from the rendered pods), the
scheduling check (pods on the planned nodes), the components (they register these objects and install the charts
with these values), the offline plan and its artifacts.

Values a deploy learns only from AWS (the bucket's generated name, the IRSA role's ARN, generated passwords) are
placeholders here; they change no pod, no request and no placement. The components swap them for Pulumi outputs
(`deploy_time_values`), so what is checked is what Helm receives, up to those leaves.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from render import backup as rb
from render import karpenter as kp
from render import milvus_values as mv
from render import monitoring_objects as mon
from render import monitoring_values as kps
from render import quotas as nq
from render import topology_job as topo
from render import workloads as wl
from render.charts import render_chart, thaw
from render.dashboards import ksm_metric_labels_allowlist, render_capacity, render_overview
from render.helm_postrender import PRIORITY_VALUES, post_render
from render.rules import render_rules
from render.storage import gp3_storage_class_manifest
from render.naming import pool_labels, pool_tolerations, topology_object_name
from stacks import capacity as cap
from stacks import scheduling, versions
from stacks.catalog import load_catalog
from stacks.errors import Problem
from stacks.quantity import GIB
from stacks.settings import Settings
from stacks.sizing import Plan

# Placeholders for what only the deploy knows (see module docstring).
BUCKET = "deploy-time-milvus-bucket"
IRSA_ROLE_ARN = "arn:aws:iam::000000000000:role/deploy-time-milvus-s3"
PASSWORD = "deploy-time-password"
ETCD_PASSWORD = "deploy-time-etcd-password"
RECEIVER_SECRET = "deploy-time-receiver-secret-"
"""Prefix of the alert receivers' secret placeholders, one per receiver: `RECEIVER_SECRET + <receiver name>`."""
BACKUP_BUCKET = "deploy-time-backup-bucket"
BACKUP_ROLE_ARN = "arn:aws:iam::000000000000:role/deploy-time-milvus-backup"
RESTORE_ROLE_ARN = "arn:aws:iam::000000000000:role/deploy-time-milvus-restore"
CLUSTER_NAME = "deploy-time-cluster-name"
INTERRUPTION_QUEUE = "deploy-time-interruption-queue"
KARPENTER_NODE_ROLE = "deploy-time-karpenter-node-role"
KARPENTER_ROLE_ARN = "arn:aws:iam::000000000000:role/deploy-time-karpenter-controller"

PROGRAM = "program"
"""`source` of the objects the program writes itself (charts' objects carry the chart name)."""


@dataclass(frozen=True)
class BundleObject:
    source: str
    """The chart that renders it (`milvus`, `kube-prometheus-stack`) or `program`."""
    owner: str
    """The component that makes it exist: `milvus`, `monitoring`, `topology`, `quota:<namespace>`, `priorities`,
    `addons`."""
    obj: Mapping[str, Any]
    hook: bool = False
    crd: bool = False

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.obj["metadata"].get("namespace")

    @property
    def key(self) -> str:
        return f"{self.kind} {self.namespace or '-'}/{self.name}"


@dataclass(frozen=True)
class Bundle:
    milvus_values: Mapping[str, Any]
    monitoring_values: Mapping[str, Any] | None
    objects: tuple[BundleObject, ...]
    operated: tuple[Mapping[str, Any], ...]
    """What controllers will create from the bundle's custom resources (the Prometheus Operator's StatefulSets):
    not sent by us, but pods the quotas and the scheduling check must count."""
    capacity: cap.CapacityReport
    scheduling: scheduling.SchedulingReport
    problems: tuple[Problem, ...] = field(default=(), compare=False)
    karpenter_values: Mapping[str, Any] | None = None
    """The Karpenter controller chart's values (None when no pool uses Karpenter)."""

    def owned(self, owner: str, kind: str | None = None) -> tuple[dict[str, Any], ...]:
        """Copies of the program's own objects that `owner` registers (optionally one kind): a component may fill
        deploy-time leaves without touching the bundle."""
        return tuple(copy.deepcopy(dict(o.obj)) for o in self.objects
                     if o.source == PROGRAM and o.owner == owner and (kind is None or o.kind == kind))

    def crds(self, source: str) -> tuple[dict[str, Any], ...]:
        """Copies of the CRDs a chart ships in its crds/ folders (those the values enable)."""
        return tuple(copy.deepcopy(dict(o.obj)) for o in self.objects if o.source == source and o.crd)

    def of_source(self, source: str) -> tuple[BundleObject, ...]:
        return tuple(o for o in self.objects if o.source == source)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for o in self.objects:
            found[o.source] = found.get(o.source, 0) + 1
        return found


def deploy_time_values(values: Any, leaves: Mapping[str, Any]) -> Any:
    """`values` with every placeholder leaf replaced by what the deploy knows (a Pulumi Output is fine: Pulumi
    resolves outputs nested in inputs)."""
    if isinstance(values, Mapping):
        return {k: deploy_time_values(v, leaves) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [deploy_time_values(v, leaves) for v in values]
    if isinstance(values, str) and values in leaves:
        return leaves[values]
    return values


def _freeze(value: Any) -> Any:
    """Deep copy through JSON: plain dicts/lists nobody else holds (the bundle is never mutated after build)."""
    return json.loads(json.dumps(value))


# ------------------------------------------------------------------------------------------- program objects


def _program_objects(settings: Settings, plan: Plan) -> list[BundleObject]:
    s, m = settings, settings.milvus
    found: list[tuple[str, dict]] = []
    found.append(("milvus", mv.namespace_manifest(s)))
    found.append(("milvus", mv.root_secret_manifest(m.namespace, m.release_name, PASSWORD, ETCD_PASSWORD)))
    pods = mv.pods_per_component(s, plan.query_node_replicas, plan.streaming_node_replicas, plan.resource_groups)
    found += [("milvus", o) for o in mv.pdb_manifests(m.namespace, m.release_name, pods)]
    found += [("milvus", o) for o in mv.network_policy_manifests(s)]
    lb_service = mv.load_balancer_service_manifest(s)
    if lb_service:
        found.append(("milvus", lb_service))

    spec_json = json.dumps(topo.render_spec(s, plan), indent=2, sort_keys=True)
    script = topo.reconciler_source()
    requirements = "" if s.topology.reconciler_image else topo.reconciler_requirements()
    base = topology_object_name(m.release_name, topo.content_hash(spec_json, script, requirements))
    found.append(("topology", topo.configmap_manifest(base, m.namespace, spec_json, script, requirements)))
    found.append(("topology", topo.job_manifest(
        s, name=base, configmap=base, uri=f"http://{mv.endpoint(m.release_name, m.namespace)}",
        secret_name=mv.root_secret_name(m.release_name), secret_key=mv.ROOT_PASSWORD_KEY)))

    if m.backup.enabled:
        found += [("backup", o) for o in backup_objects(s)]

    found.append(("addons", gp3_storage_class_manifest(s.cluster.storage_reclaim_policy)))
    found += [("priorities", o) for o in nq.priority_class_manifests()]

    if s.monitoring.enabled:
        ns = s.monitoring.namespace
        ctx = mon.rule_context(s, plan)
        found += [("monitoring", o) for o in kps.namespace_manifests(s)]
        found += [("monitoring", o) for o in kps.network_policy_manifests(s)]
        found.append(("monitoring", mon.grafana_admin_secret_manifest(ns, PASSWORD)))
        receivers = kps.receiver_secret_values(s)
        if receivers:
            found.append(("monitoring", kps.receivers_secret_manifest(
                ns, {key: RECEIVER_SECRET + key for key in receivers})))
        found.append(("monitoring", kps.milvus_service_monitor(s)))
        found.append(("monitoring", kps.etcd_pod_monitor(s)))
        found.append(("monitoring", mon.prometheus_rule_manifest(ns, render_rules(s.monitoring.alerts, ctx))))
        planned_memory = {g.name: g.loading_memory_bytes for g in plan.groups}
        for key, dashboard in (("milvus-overview", render_overview(ctx)),
                               ("milvus-capacity", render_capacity(ctx, planned_memory))):
            found.append(("monitoring", mon.dashboard_configmap_manifest(ns, key, dashboard)))
    return [BundleObject(PROGRAM, owner, _freeze(obj)) for owner, obj in found]


def backup_objects(settings: Settings) -> list[dict[str, Any]]:
    """The scheduled backup's objects (render/backup.py): its config, the backup and restore service accounts and
    the CronJob. Bucket names and IRSA role ARNs are placeholders here (MilvusBackup swaps them)."""
    irsa = settings.service_account_binding == "irsa"
    release = settings.milvus.release_name
    return [
        rb.configmap_manifest(settings, bucket_name=BUCKET,
                              backup_bucket_name=BACKUP_BUCKET if settings.milvus.backup.destination == "bucket"
                              else BUCKET),
        rb.service_account_manifest(settings, rb.service_account_name(release), BACKUP_ROLE_ARN if irsa else None),
        rb.service_account_manifest(settings, rb.restore_service_account_name(release),
                                    RESTORE_ROLE_ARN if irsa else None),
        rb.cronjob_manifest(settings),
    ]


def _quota_objects(settings: Settings, report: cap.CapacityReport) -> list[BundleObject]:
    own_namespaces = {settings.milvus.namespace, settings.monitoring.namespace if settings.monitoring.enabled else ""}
    found = []
    for quota in report.quotas:
        owner = f"quota:{quota.namespace}"
        if quota.namespace not in own_namespaces:
            found.append(BundleObject(PROGRAM, owner, _freeze(nq.namespace_manifest(quota.namespace))))
        found.append(BundleObject(PROGRAM, owner, _freeze(nq.limit_range_manifest(settings, quota))))
        found.append(BundleObject(PROGRAM, owner, _freeze(nq.resource_quota_manifest(quota))))
    return found


# ------------------------------------------------------------------------------------------- charts


def milvus_values(settings: Settings, plan: Plan) -> dict[str, Any]:
    irsa = settings.milvus.object_storage == "s3" and settings.service_account_binding == "irsa"
    return mv.render_milvus_values(settings, query_node_replicas=plan.query_node_replicas,
                                   streaming_node_replicas=plan.streaming_node_replicas,
                                   resource_groups=plan.resource_groups, bucket_name=BUCKET,
                                   irsa_role_arn=IRSA_ROLE_ARN if irsa else None,
                                   group_zones=plan.group_zones(planned_zones(settings)))


def planned_zones(settings: Settings) -> tuple[str, ...]:
    """Stand-in zone names: the bundle is rendered before the cloud names the region's zones."""
    return tuple(f"zone-{i + 1}" for i in range(settings.network.az_count))


def zone_leaves(settings: Settings, plan: Plan, zones: tuple[str, ...]) -> dict[str, str]:
    """Deploy-time replacement (see `deploy_time_values`) of the group → zone map the bundle rendered with stand-in
    zone names by the same map over the region's real zones (`topology.zoneFailure: replicaPerZone`)."""
    stand_in = plan.group_zones(planned_zones(settings))
    return {mv.zones_annotation(stand_in): mv.zones_annotation(plan.group_zones(zones))} if stand_in else {}


def monitoring_values(settings: Settings, plan: Plan) -> dict[str, Any]:
    ctx = mon.rule_context(settings, plan)
    tolerations = pool_tolerations(settings.node_pools[settings.pool_for("monitoring")])
    return kps.render_kps_values(settings, tolerations, ksm_metric_labels_allowlist(ctx))


def _chart_objects(settings: Settings, pin: versions.ChartPin, values: Mapping[str, Any], release: str,
                   namespace: str, transform: Callable[[dict], dict] | None) -> list[BundleObject]:
    return [BundleObject(pin.name, pin.name, thaw(r.obj), hook=r.hook, crd=r.crd)
            for r in render_chart(pin, values, release=release, namespace=namespace, post_render=transform,
                                  kubernetes_version=settings.cluster.kubernetes_version)]


# ------------------------------------------------------------------------------------------- nodes


def pool_shapes(settings: Settings, plan: Plan, zones: tuple[str, ...]) -> tuple[scheduling.PoolShape, ...]:
    """The nodes each pool will have at its planned size, for the scheduling check (one shape per pool; the check
    tries every instance type the pool allows)."""
    catalog = load_catalog()
    shapes = []
    # replicaPerZone: Karpenter launches each group's query nodes in its group's zone, so the query pool's nodes
    # follow the groups (the check assigns a shape's zones round-robin over this sequence).
    pinned = tuple(zones[g.zone] for g in plan.groups if g.zone is not None for _ in range(g.nodes))
    for name, pool in settings.node_pools.items():
        planned = plan.pool(name)
        nodes = planned.desired_size if planned else pool.min_size
        # The kubelet's filesystem: the NVMe RAID0 on NVMe pools, else the root volume (the check subtracts what
        # the kubelet withholds).
        ephemeral = {t: catalog[t].nvme_bytes if pool.nvme else pool.root_volume_gb * GIB for t in pool.instance_types}
        shapes.append(scheduling.PoolShape(
            name=name, instance_types=tuple(pool.instance_types), nodes=nodes, max_nodes=pool.max_size,
            labels=pool_labels(name, pool), taints=tuple(pool_tolerations(pool)),
            zones=pinned if pinned and "queryNode" in pool.roles else zones,
            ephemeral_bytes_per_type=ephemeral, autoscaled=pool.provisioner == "karpenter"))
    return tuple(shapes)


def build(settings: Settings, plan: Plan) -> Bundle:
    """Render everything once; the bundle's `problems` hold every chart, capacity and scheduling break."""
    m = settings.milvus
    problems: list[Problem] = []
    zones = planned_zones(settings)
    values = milvus_values(settings, plan)
    objects = [*_chart_objects(settings, _pin(mv.CHART_NAME, m.chart_version, "milvus.chartVersion", problems),
                               values, m.release_name, m.namespace, post_render)]
    kps_values = None
    if settings.monitoring.enabled:
        kps_values = monitoring_values(settings, plan)
        pin = _pin(kps.RELEASE, settings.monitoring.chart_version, "monitoring.chartVersion", problems)
        objects += _chart_objects(settings, pin, kps_values, kps.RELEASE, settings.monitoring.namespace, None)
    karpenter_values = None
    if kp.karpenter_pools(settings):
        irsa = settings.service_account_binding == "irsa"
        karpenter_values = kp.controller_values(settings, CLUSTER_NAME, INTERRUPTION_QUEUE, pool_tolerations(
            settings.node_pools[settings.pool_for("system")]), irsa_role_arn=KARPENTER_ROLE_ARN if irsa else None)
        objects += _chart_objects(settings, versions.KARPENTER_CRD, {}, kp.CRD_RELEASE, kp.NAMESPACE, None)
        # The controller's release skips its chart's crds/: the karpenter-crd release owns them (and upgrades them).
        objects += [o for o in _chart_objects(settings, versions.KARPENTER, karpenter_values, kp.RELEASE,
                                              kp.NAMESPACE, None) if not o.crd]
        objects += [BundleObject(PROGRAM, "karpenter", _freeze(o))
                    for o in kp.manifests(settings, plan, zones, CLUSTER_NAME, KARPENTER_NODE_ROLE, {})]
    objects += _program_objects(settings, plan)

    catalog = load_catalog()
    # Node labels as EKS sets them (the kubelet's well-known labels too: DaemonSets select on kubernetes.io/os).
    pools = {name: ({**pool_labels(name, pool), "kubernetes.io/os": "linux",
                     "kubernetes.io/arch": catalog[pool.instance_types[0]].arch},
                    tuple(pool_tolerations(pool)), pool.max_size)
             for name, pool in settings.node_pools.items()}
    operated = wl.operated_statefulsets(o.obj for o in objects)
    inventory = wl.workloads([*(o.obj for o in objects if not o.crd), *operated], pools)
    report = cap.analyse(settings, plan, inventory)
    objects += _quota_objects(settings, report)

    placed = scheduling.check([*(o.obj for o in objects if not o.crd), *operated],
                              pool_shapes(settings, plan, zones), priorities=PRIORITY_VALUES)
    return Bundle(values, kps_values, tuple(objects), operated, report, placed,
                  (*problems, *report.problems, *placed.problems), karpenter_values)


def _pin(chart: str, version: str, key: str, problems: list[Problem]) -> versions.ChartPin:
    """The vendored archive of `chart` at `version` (a deploy reaches no chart repository); when it is not vendored,
    a problem naming the key, and the vendored version so the other checks still run."""
    try:
        return versions.chart_pin(chart, version)
    except LookupError as missing:
        problems.append(Problem(key, f"{missing}; or remove the key to use the pinned version"))
        return next(p for p in versions.CHARTS if p.name == chart)


def require(settings: Settings, plan: Plan) -> Bundle:
    """The bundle, checked before anything is registered: raises with every capacity and scheduling break at
    once, each naming the key to change."""
    from stacks.config import StackConfigError  # imports pulumi; the pure callers above do not need it

    bundle = build(settings, plan)
    if bundle.problems:
        raise StackConfigError(bundle.problems)
    return bundle
