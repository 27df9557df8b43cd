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

import math
from typing import Any, Iterable, Mapping

from render.naming import POOL_LABEL
from stacks.capacity import Container, Workload, amounts
from stacks.quantity import parse_quantity

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
DEFAULT_SURGE = "25%"
TEST_HOOKS = ("test", "test-success", "test-failure")


def surge(strategy: Mapping[str, Any] | None, replicas: int) -> int:
    """Extra pods a Deployment runs during a rolling update (percentages round up, as the controller does)."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", DEFAULT_SURGE)
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


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
    """Every NoSchedule/NoExecute taint is matched by a toleration (operator Exists with no key matches all)."""
    for taint in taints:
        if taint.get("effect") == "PreferNoSchedule":
            continue
        if not any(_matches(t, taint) for t in tolerations):
            return False
    return True


def _matches(toleration: Mapping[str, Any], taint: Mapping[str, str]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", "")


def _selects(node_selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in node_selector.items())


def workloads(objects: Iterable[Mapping[str, Any]], pools: Mapping[str, tuple[Mapping[str, str],
                                                                            tuple[Mapping[str, str], ...], int]],
              ) -> tuple[Workload, ...]:
    """Workloads for the capacity chain. `pools` maps a pool name to (node labels, Kubernetes taints, max size)."""
    objects = [o for o in objects if not is_test_hook(o)]
    claims = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o
              for o in objects if o.get("kind") == "PersistentVolumeClaim"}
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
            replicas = spec.get("replicas", 1)
            templates = spec.get("volumeClaimTemplates") or ()
            found.append(Workload(namespace, meta["name"], kind, pool, replicas, **common, pvcs=len(templates),
                                  pvc_bytes=int(sum(parse_quantity(t["spec"]["resources"]["requests"]["storage"])
                                                    for t in templates))))
        else:
            replicas = spec.get("replicas", 1)
            own = [claims[(namespace, v["persistentVolumeClaim"]["claimName"])] for v in pod.get("volumes") or ()
                   if "persistentVolumeClaim" in v
                   and (namespace, v["persistentVolumeClaim"]["claimName"]) in claims]
            found.append(Workload(namespace, meta["name"], kind, pool, replicas, **common,
                                  max_surge=surge(spec.get("strategy"), replicas), pvcs=len(own),
                                  pvc_bytes=int(sum(parse_quantity(c["spec"]["resources"]["requests"]["storage"])
                                                    for c in own)), pvc_per_replica=False))
    return tuple(found)
