"""The pod inventory, read from the rendered objects (charts rendered by Helm, plus the program's own): what the
API server will receive, not a model of what the charts might create.

Rules followed (the Kubernetes controllers' own):
- Deployments surge by `strategy.rollingUpdate.maxSurge` (default 25 %, rounded up; `Recreate` never surges);
  StatefulSets and DaemonSets replace pods in place (no surge);
- a DaemonSet runs one pod on every node it may run on; the count here is every node of every pool at max size
  that its nodeSelector and tolerations admit (the quota must admit the largest cluster);
- Jobs count once while they run; Helm hooks that are Jobs run during installs and upgrades, so they count too;
  Helm test hooks never run under Pulumi (it does not run `helm test`) and are left out;
- a StatefulSet's volumeClaimTemplates are claims per replica; a pod's own `persistentVolumeClaim` volume is a
  claim of the namespace only if the bundle holds that PersistentVolumeClaim.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from render.naming import POOL_LABEL
from stacks.capacity import Container, Workload, amounts
from stacks.quantity import parse_quantity
from stacks.scheduling import fenceposts, tolerates_taint

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
TEST_HOOKS = ("test", "test-success", "test-failure")


def surge(strategy: Mapping[str, Any] | None, replicas: int) -> int:
    """Extra pods a Deployment runs during a rolling update, as the Deployment controller resolves them
    (stacks/scheduling.py `fenceposts`); `Recreate` never surges."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0
    return fenceposts(strategy, replicas)[0]


def is_test_hook(obj: Mapping[str, Any]) -> bool:
    hooks = ((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return any(h.strip() in TEST_HOOKS for h in hooks.split(","))


def pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("template") or {}


def _containers(items: Iterable[Mapping[str, Any]] | None) -> tuple[Container, ...]:
    return tuple(Container(c["name"], amounts((c.get("resources") or {}).get("requests")),
                           amounts((c.get("resources") or {}).get("limits"))) for c in items or ())


def tolerates(tolerations: Iterable[Mapping[str, Any]], taints: Iterable[Mapping[str, str]]) -> bool:
    """Every NoSchedule/NoExecute taint is tolerated (the scheduling check's Toleration.ToleratesTaint)."""
    tolerations = list(tolerations)
    return all(tolerates_taint(tolerations, taint) for taint in taints if taint.get("effect") != "PreferNoSchedule")


def _selects(node_selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in node_selector.items())


def workloads(objects: Iterable[Mapping[str, Any]], pools: Mapping[str, tuple[Mapping[str, str],
                                                                            tuple[Mapping[str, str], ...], int]],
              ) -> tuple[Workload, ...]:
    """Workloads for the capacity chain. `pools` maps a pool name to (node labels, Kubernetes taints, max size)."""
    objects = [o for o in objects if not is_test_hook(o)]
    claims = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o
              for o in objects if o.get("kind") == "PersistentVolumeClaim"}
    # An autoscaled workload counts at its HorizontalPodAutoscaler's maximum: the quota must admit every pod the HPA
    # may add (the Milvus chart's proxy HPA leaves the Deployment without a replica count).
    autoscaled = {(o["metadata"].get("namespace", "default"), (o.get("spec") or {}).get("scaleTargetRef", {})
                   .get("kind"), (o.get("spec") or {}).get("scaleTargetRef", {}).get("name")):
                  int(o["spec"]["maxReplicas"]) for o in objects if o.get("kind") == "HorizontalPodAutoscaler"}
    found: list[Workload] = []
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        if kind == "Service":
            service_type = (obj.get("spec") or {}).get("type", "ClusterIP")
            ports = len((obj.get("spec") or {}).get("ports") or ())
            if service_type in ("LoadBalancer", "NodePort"):
                found.append(Workload(namespace, meta["name"], "Service", None, 0, (),
                                      services_loadbalancers=int(service_type == "LoadBalancer"),
                                      services_nodeports=ports))
            continue
        if kind not in POD_KINDS:
            continue
        template = pod_template(obj)
        pod = template.get("spec") or {}
        spec = obj.get("spec") or {}
        selector = pod.get("nodeSelector") or {}
        pool = selector.get(POOL_LABEL)
        containers, init = _containers(pod.get("containers")), _containers(pod.get("initContainers"))
        common = {"containers": containers, "init_containers": init,
                  "priority_class": pod.get("priorityClassName")}
        if kind == "DaemonSet":
            nodes = sum(size for labels, taints, size in pools.values()
                        if _selects(selector, labels) and tolerates(pod.get("tolerations") or (), taints))
            found.append(Workload(namespace, meta["name"], kind, None, nodes, **common))
        elif kind in ("Job", "CronJob"):
            found.append(Workload(namespace, meta["name"], kind, pool, 1, **common))
        elif kind == "StatefulSet":
            replicas = autoscaled.get((namespace, kind, meta["name"]), spec.get("replicas", 1))
            templates = spec.get("volumeClaimTemplates") or ()
            found.append(Workload(namespace, meta["name"], kind, pool, replicas, **common, pvcs=len(templates),
                                  pvc_bytes=int(sum(parse_quantity(t["spec"]["resources"]["requests"]["storage"])
                                                    for t in templates))))
        else:
            replicas = autoscaled.get((namespace, kind, meta["name"]), spec.get("replicas", 1))
            own = [claims[(namespace, v["persistentVolumeClaim"]["claimName"])] for v in pod.get("volumes") or ()
                   if "persistentVolumeClaim" in v
                   and (namespace, v["persistentVolumeClaim"]["claimName"]) in claims]
            found.append(Workload(namespace, meta["name"], kind, pool, replicas, **common,
                                  max_surge=surge(spec.get("strategy"), replicas), pvcs=len(own),
                                  pvc_bytes=int(sum(parse_quantity(c["spec"]["resources"]["requests"]["storage"])
                                                    for c in own)), pvc_per_replica=False))
    return tuple(found)


# The Prometheus Operator turns each Prometheus and Alertmanager custom resource into a StatefulSet
# (prometheus-operator pkg/prometheus/server/statefulset.go and pkg/alertmanager/statefulset.go, operator v0.93):
# `prometheus-<name>` (`-shard-<n>` beyond the first shard) / `alertmanager-<name>`, `spec.replicas` pods each, the
# CR's placement fields copied to the pod, the main container with `spec.resources`, a config-reloader sidecar and
# init container with the resources the operator's `--config-reloader-*` flags set, `spec.storage.volumeClaimTemplate`
# as the claim template, Parallel pod management. Those pods are invisible in the chart's output; without them the
# quotas and the scheduling check would miss Prometheus and Alertmanager.
OPERATED = {"Prometheus": ("prometheus", "prometheus"), "Alertmanager": ("alertmanager", "alertmanager")}
RELOADER_FLAGS = {"--config-reloader-cpu-request": ("requests", "cpu"),
                  "--config-reloader-cpu-limit": ("limits", "cpu"),
                  "--config-reloader-memory-request": ("requests", "memory"),
                  "--config-reloader-memory-limit": ("limits", "memory")}
PLACEMENT_FIELDS = ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName",
                    "securityContext")


def _reloader_resources(objects: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in pod_template(obj).get("spec", {}).get("containers") or ():
            for arg in container.get("args") or ():
                flag, _, value = str(arg).partition("=")
                if flag in RELOADER_FLAGS:
                    side, resource = RELOADER_FLAGS[flag]
                    resources.setdefault(side, {})[resource] = value
    return resources


def operated_statefulsets(objects: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The StatefulSets the Prometheus Operator will create for the bundle's Prometheus/Alertmanager resources."""
    objects = list(objects)
    reloader = _reloader_resources(objects)
    found = []
    for obj in objects:
        if obj.get("kind") not in OPERATED or not str(obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
            continue
        app, main = OPERATED[obj["kind"]]
        spec, name = obj.get("spec") or {}, obj["metadata"]["name"]
        shards = int(spec.get("shards") or 1) if obj["kind"] == "Prometheus" else 1
        claim = (spec.get("storage") or {}).get("volumeClaimTemplate")
        for shard in range(shards):
            labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name, app: name,
                      "operator.prometheus.io/name": name, "operator.prometheus.io/shard": str(shard)}
            pod = {key: spec[key] for key in PLACEMENT_FIELDS if key in spec}
            pod["containers"] = [{"name": main, "resources": spec.get("resources") or {}},
                                 {"name": "config-reloader", "resources": reloader}]
            pod["initContainers"] = [{"name": "init-config-reloader", "resources": reloader}]
            found.append({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": f"{app}-{name}{f'-shard-{shard}' if shard else ''}",
                             "namespace": obj["metadata"].get("namespace", "default")},
                "spec": {"replicas": int(spec.get("replicas", 1)), "podManagementPolicy": "Parallel",
                         "updateStrategy": {"type": "RollingUpdate"},
                         "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": pod},
                         **({"volumeClaimTemplates": [{"metadata": {"name": f"{app}-{name}-db"}, **claim}]}
                            if claim else {})},
            })
    return tuple(found)
