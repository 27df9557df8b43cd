"""Every pod the stack runs, read from the values and manifests the program renders (pure).

The namespace quotas and the pool check (stacks/capacity.py) sum this inventory, so it is built from the same
rendered Helm values and Job manifest the program registers, not from a second copy of the numbers.

Counted: every Milvus Deployment (per resource group for query and streaming nodes), etcd, Pulsar v3 or MinIO when
chosen (Woodpecker is embedded in the streaming nodes: no pods of its own), the topology Job, the backup CronJob's
pod and a restore Job, and the
kube-prometheus-stack pods (operator, Prometheus and Alertmanager with their config-reloader sidecar and init
container, Grafana with its two sidecars and init-chown-data, kube-state-metrics, node-exporter on every node of every
pool at max size, and the admission-webhook patch Job, whose two hook Jobs run one after the other). Helm test pods
are not counted: Pulumi never runs `helm test`. Pulsar's two initialisation Jobs set no resources and are counted
at the LimitRange defaults.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from components import milvus_topology
from render import backup as rb, milvus_values as mv, monitoring_values as kps
from render.helm_postrender import priority_for
from render.naming import pool_tolerations
from stacks import capacity
from stacks.capacity import CapacityReport, Container, Workload, amounts
from stacks.quantity import parse_quantity
from stacks.settings import Settings
from stacks.sizing import Plan

# Kubernetes' Deployment default (RollingUpdate, maxSurge 25%, rounded up).
DEFAULT_SURGE = "25%"
PLANNED_BUCKET = "planned-bucket"  # the bucket name does not change any pod


def surge(strategy: Mapping[str, Any] | None, replicas: int) -> int:
    """Extra pods a Deployment runs during a rolling update."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", DEFAULT_SURGE)
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


def container(name: str, resources: Mapping[str, Any] | None) -> Container:
    resources = resources or {}
    return Container(name, amounts(resources.get("requests")), amounts(resources.get("limits")))


def _pool(values: Mapping[str, Any]) -> str:
    return values["nodeSelector"][mv.POOL_LABEL]


def milvus_workloads(settings: Settings, plan: Plan) -> list[Workload]:
    m = settings.milvus
    ns = m.namespace
    values = mv.render_milvus_values(settings, query_node_replicas=plan.query_node_replicas,
                                     streaming_node_replicas=plan.streaming_node_replicas,
                                     resource_groups=plan.resource_groups, bucket_name=PLANNED_BUCKET)
    name = mv.fullname(m.release_name)
    found = []
    for component, (label, _) in mv.COMPONENTS.items():
        block = values[component]
        replicas = block["replicas"]
        groups = plan.resource_groups if component in ("queryNode", "streamingNode") and plan.resource_groups \
            else ("",)
        # Without activeStandby the chart renders mixcoord with `Recreate` (T/mixcoord-deployment.yaml:18-26).
        strategy = block.get("strategy") or ({"type": "Recreate"} if component == "mixCoordinator" else None)
        for group in groups:
            found.append(Workload(
                ns, f"{name}-{label}{'-' + group if group else ''}", "Deployment", _pool(block), replicas,
                (container(label, block["resources"]),), max_surge=surge(strategy, replicas),
                # The proxy Service: an NLB allocates a node port for each of its ports (milvus, metrics).
                services_loadbalancers=1 if component == "proxy" and values["service"]["type"] == "LoadBalancer"
                else 0,
                services_nodeports=2 if component == "proxy" and values["service"]["type"] in
                ("LoadBalancer", "NodePort") else 0,
                priority_class=priority_for(mv.pod_labels(m.release_name, label))))
    etcd = values["etcd"]
    found.append(Workload(ns, f"{m.release_name}-etcd", "StatefulSet", _pool(etcd), etcd["replicaCount"],
                          (container("etcd", etcd["resources"]),), pvcs=1,
                          pvc_bytes=int(parse_quantity(etcd["persistence"]["size"])),
                          priority_class=etcd["priorityClassName"]))
    if values["pulsarv3"]["enabled"]:
        pulsar = values["pulsarv3"]
        for part in mv.PULSAR_REPLICAS:
            block = pulsar[part]
            volumes = [parse_quantity(v["size"]) for v in (block.get("volumes") or {}).values()]
            found.append(Workload(ns, f"{m.release_name}-pulsarv3-{part}", "StatefulSet", _pool(block),
                                  block["replicaCount"], (container(part, block["resources"]),), pvcs=len(volumes),
                                  pvc_bytes=int(sum(volumes)), priority_class=priority_for({})))
        pulsar_pool = _pool(pulsar["broker"])
        for job in ("pulsar-init", "bookie-init"):
            found.append(Workload(ns, f"{m.release_name}-pulsarv3-{job}", "Job", pulsar_pool, 1,
                                  (Container(job, {}, {}),), priority_class=priority_for({})))
    if values["minio"]["enabled"]:
        minio = values["minio"]
        found.append(Workload(ns, f"{m.release_name}-minio", "StatefulSet", _pool(minio), minio["replicas"],
                              (container("minio", minio["resources"]),), pvcs=1,
                              pvc_bytes=int(parse_quantity(minio["persistence"]["size"])),
                              priority_class=priority_for({})))
    job = milvus_topology.job_manifest(settings, name="topology", configmap="topology", uri="http://milvus:19530",
                                       secret_name="root", secret_key=mv.ROOT_PASSWORD_KEY)
    pod = job["spec"]["template"]["spec"]
    found.append(Workload(ns, f"{m.release_name}-topology", "Job", pod["nodeSelector"][mv.POOL_LABEL], 1,
                          tuple(container(c["name"], c.get("resources")) for c in pod["containers"]),
                          priority_class=pod.get("priorityClassName")))
    if m.backup.enabled:
        # The scheduled backup (concurrencyPolicy Forbid: one pod at a time) and a restore the runbook may start
        # while it runs; both must fit the namespace quota and the system pool.
        cronjob = rb.cronjob_manifest(settings)
        restore = rb.restore_job_manifest(settings, rb.RestoreOptions(backup="planned"))
        for job_name, pod in ((cronjob["metadata"]["name"], cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
                              (restore["metadata"]["name"], restore["spec"]["template"]["spec"])):
            found.append(Workload(ns, job_name, "Job", pod["nodeSelector"][mv.POOL_LABEL], 1,
                                  tuple(container(c["name"], c.get("resources")) for c in pod["containers"]),
                                  priority_class=pod.get("priorityClassName")))
    return found


def monitoring_workloads(settings: Settings) -> list[Workload]:
    if not settings.monitoring.enabled:
        return []
    ns = settings.monitoring.namespace
    tolerations = pool_tolerations(settings.node_pools[settings.pool_for("monitoring")])
    values = kps.render_kps_values(settings, tolerations, ())
    operator, prom = values["prometheusOperator"], values["prometheus"]["prometheusSpec"]
    am, grafana, ksm = values["alertmanager"]["alertmanagerSpec"], values["grafana"], values["kube-state-metrics"]
    exporter = values["prometheus-node-exporter"]
    reloader = operator["prometheusConfigReloader"]["resources"]
    storage = prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    grafana_pvc = grafana["persistence"]["enabled"]
    nodes = sum(p.max_size for p in settings.node_pools.values())
    sidecars = [c for c in ("dashboards", "datasources")
                # kube-prometheus-stack turns both on (K:1536-1598); ours sets dashboards explicitly.
                if grafana["sidecar"].get(c, {}).get("enabled", True)]
    return [
        Workload(ns, "kps-operator", "Deployment", _pool(operator), 1, (container("operator", operator["resources"]),),
                 max_surge=surge(None, 1), priority_class=operator["priorityClassName"]),
        Workload(ns, "prometheus-kps-prometheus", "StatefulSet", _pool(prom), prom["replicas"],
                 (container("prometheus", prom["resources"]), container("config-reloader", reloader)),
                 (container("init-config-reloader", reloader),), pvcs=1, pvc_bytes=int(parse_quantity(storage)),
                 priority_class=prom["priorityClassName"]),
        Workload(ns, "alertmanager-kps-alertmanager", "StatefulSet", _pool(am), am.get("replicas", 1),
                 (container("alertmanager", am["resources"]), container("config-reloader", reloader)),
                 (container("init-config-reloader", reloader),), priority_class=am["priorityClassName"]),
        Workload(ns, "kps-grafana", "Deployment", _pool(grafana), grafana.get("replicas", 1),
                 (container("grafana", grafana["resources"]),
                  *(container(f"grafana-sc-{c}", grafana["sidecar"]["resources"]) for c in sidecars)),
                 (container("init-chown-data", grafana["initChownData"]["resources"]),) if grafana_pvc else (),
                 max_surge=surge(None, grafana.get("replicas", 1)), pvcs=1 if grafana_pvc else 0,
                 pvc_bytes=int(parse_quantity(grafana["persistence"]["size"])) if grafana_pvc else 0,
                 pvc_per_replica=False, priority_class=grafana["priorityClassName"]),
        Workload(ns, "kps-kube-state-metrics", "Deployment", _pool(ksm), 1,
                 (container("kube-state-metrics", ksm["resources"]),), max_surge=surge(None, 1),
                 priority_class=ksm["priorityClassName"]),
        Workload(ns, "kps-prometheus-node-exporter", "DaemonSet", None, nodes,
                 (container("node-exporter", exporter["resources"]),), priority_class=exporter["priorityClassName"]),
        Workload(ns, "kps-admission-patch", "Job", _pool(operator["admissionWebhooks"]["patch"]), 1,
                 (container("create", operator["admissionWebhooks"]["patch"]["resources"]),),
                 priority_class=operator["admissionWebhooks"]["patch"]["priorityClassName"]),
    ]


def inventory(settings: Settings, plan: Plan) -> tuple[Workload, ...]:
    return (*milvus_workloads(settings, plan), *monitoring_workloads(settings))


def capacity_report(settings: Settings, plan: Plan) -> CapacityReport:
    return capacity.analyse(settings, plan, inventory(settings, plan))


def require_capacity(settings: Settings, plan: Plan) -> CapacityReport:
    """The capacity chain, checked before anything is registered: raises with every break at once."""
    from stacks.config import StackConfigError  # imports pulumi; the pure callers above do not need it

    report = capacity_report(settings, plan)
    if report.problems:
        raise StackConfigError(report.problems)
    return report

