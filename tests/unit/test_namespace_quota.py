"""The ResourceQuota of each guarded namespace equals an independent recount of what the cluster will run, read
from the rendered objects of the bundle (not through render/workloads.py or stacks/capacity.py), plus surge and
headroom; the post-renderer gives the chart's pods their PriorityClass."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import yaml

from render import helm_postrender
from stacks.quantity import parse_quantity
from tests.unit.test_milvus_values import settings_for
from tools.offline import ROOT, Graph

RELEASE = "kubernetes:helm.sh/v3:Release"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
KEYS = ("cpu", "memory", "ephemeral-storage")


def _q(v) -> Decimal:
    return parse_quantity(v)


class Counter:
    def __init__(self, defaults_request: dict, defaults_limit: dict):
        self.request, self.limit = defaults_request, defaults_limit
        self.total = {f"{side}.{k}": Decimal(0) for side in ("requests", "limits") for k in KEYS}
        self.total.update(pods=Decimal(0), pvcs=Decimal(0), storage=Decimal(0))

    def pod(self, containers: list[dict], count: int, init: list[dict] = ()) -> None:
        def filled(res: dict) -> tuple[dict, dict]:
            lim = {**self.limit, **res.get("limits", {})}
            req = {**{k: v for k, v in self.request.items() if k not in res.get("limits", {})},
                   **res.get("limits", {}), **res.get("requests", {})}
            return req, lim
        for side, i in (("requests", 0), ("limits", 1)):
            for k in KEYS:
                main = sum(_q(filled(c)[i].get(k, 0)) for c in containers)
                first = max([_q(filled(c)[i].get(k, 0)) for c in init], default=Decimal(0))
                self.total[f"{side}.{k}"] += max(main, first) * count
        self.total["pods"] += count


def _surge(spec: dict) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    replicas = int(spec.get("replicas", 1))
    return -(-replicas * int(value[:-1]) // 100) if isinstance(value, str) else int(value)


def _expected(graph: Graph, namespace: str) -> dict[str, Decimal]:
    """Recounted here from the rendered objects (and the operator's StatefulSets), with this file's own arithmetic."""
    bundle = graph.program["bundle"]
    limit_range = next(r for r in graph.of_type(LIMITS) if r.inputs["metadata"]["namespace"] == namespace)
    spec = limit_range.inputs["spec"]["limits"][0]
    c = Counter(spec["defaultRequest"], spec["default"])
    lbs = nodeports = 0
    nodes = sum(int(ng.inputs["scalingConfig"]["maxSize"]) for ng in graph.of_type("aws:eks/nodeGroup:NodeGroup"))
    nodes += sum(int(np.inputs["spec"]["limits"]["nodes"]) for np in graph.of_type("kubernetes:karpenter.sh/v1:NodePool"))
    objects = [o.obj for o in bundle.objects if not o.crd] + list(bundle.operated)
    # An autoscaled Deployment counts at its HPA's maximum.
    hpa_max = {o["spec"]["scaleTargetRef"]["name"]: int(o["spec"]["maxReplicas"]) for o in objects
               if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"].get("namespace") == namespace}
    for obj in objects:
        if obj["metadata"].get("namespace") != namespace:
            continue
        kind, spec_ = obj["kind"], obj.get("spec") or {}
        if kind == "Service" and spec_.get("type") in ("LoadBalancer", "NodePort"):
            lbs += spec_["type"] == "LoadBalancer"
            nodeports += len(spec_.get("ports") or [])
        if kind == "PersistentVolumeClaim":
            c.total["pvcs"] += 1
            c.total["storage"] += _q(spec_["resources"]["requests"]["storage"])
        if kind not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
            continue
        if "test" in (obj["metadata"].get("annotations") or {}).get("helm.sh/hook", ""):
            continue
        # A CronJob runs one Job at a time here (concurrencyPolicy Forbid): one pod of its template.
        pod = (spec_["jobTemplate"]["spec"] if kind == "CronJob" else spec_)["template"]["spec"]
        count = {"Deployment": hpa_max.get(obj["metadata"]["name"], int(spec_.get("replicas", 1))) + _surge(spec_), "StatefulSet": int(spec_.get("replicas", 1)),
                 "DaemonSet": nodes, "Job": 1, "CronJob": 1}[kind]
        c.pod([x.get("resources", {}) for x in pod["containers"]], count,
              [x.get("resources", {}) for x in pod.get("initContainers") or []])
        for claim in spec_.get("volumeClaimTemplates") or []:
            c.total["pvcs"] += int(spec_.get("replicas", 1))
            c.total["storage"] += _q(claim["spec"]["resources"]["requests"]["storage"]) * int(spec_.get("replicas", 1))
    return {**{k: v for k, v in c.total.items() if "." in k}, "pods": c.total["pods"],
            "persistentvolumeclaims": c.total["pvcs"], "requests.storage": c.total["storage"],
            "services.loadbalancers": Decimal(lbs), "services.nodeports": Decimal(nodeports)}


def _round_up(key: str, value: Decimal) -> Decimal:
    unit = {"cpu": Decimal("0.001"), "memory": 2**20, "ephemeral-storage": 2**20}.get(key.split(".")[-1])
    if key == "requests.storage":
        unit = 2**30
    unit = Decimal(unit or 1)
    return Decimal(math.ceil(value / unit)) * unit


def test_each_guarded_namespace_gets_a_quota_equal_to_an_independent_recount(graph: Graph):
    s = settings_for(graph.stack)
    quotas = {r.inputs["metadata"]["namespace"]: r for r in graph.of_type(QUOTA)}
    assert set(quotas) == {s.milvus.namespace, s.monitoring.namespace}
    assert {r.inputs["metadata"]["namespace"] for r in graph.of_type(LIMITS)} == set(quotas)
    factor = 1 + Decimal(str(s.quotas.headroom))
    for namespace, quota in quotas.items():
        hard = {k: _q(v) for k, v in quota.inputs["spec"]["hard"].items()}
        expected = _expected(graph, namespace)
        assert set(hard) == set(expected)
        for key, needed in expected.items():
            assert hard[key] == _round_up(key, needed * factor), (namespace, key, hard[key], needed)
            assert hard[key] >= needed * factor


def test_quota_waits_for_its_namespace_and_limit_range(graph: Graph):
    for quota in graph.of_type(QUOTA):
        deps = {graph.by_urn(u).type for u in quota.depends_on if graph.by_urn(u)}
        assert {"kubernetes:core/v1:Namespace", LIMITS} <= deps


def test_releases_wait_for_the_priority_classes_and_use_them(graph: Graph):
    classes = {r.inputs["metadata"]["name"] for r in graph.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
    assert classes == set(helm_postrender.PRIORITY_VALUES)
    milvus = graph.one(RELEASE, "milvus-release")
    # Relative to the project root (where Pulumi runs the provider and so Helm): the same input on every machine.
    assert milvus.inputs["postrender"] == "render/helm_postrender.py"
    assert (Path(__file__).resolve().parents[2] / milvus.inputs["postrender"]).resolve() == \
        Path(helm_postrender.__file__).resolve()
    assert milvus.inputs["values"]["etcd"]["priorityClassName"] in classes
    kps = graph.one(RELEASE, "monitoring-kps").inputs["values"]
    for block in (kps["prometheus"]["prometheusSpec"], kps["alertmanager"]["alertmanagerSpec"], kps["grafana"],
                  kps["kube-state-metrics"], kps["prometheus-node-exporter"], kps["prometheusOperator"],
                  kps["prometheusOperator"]["admissionWebhooks"]["patch"]):
        assert block["priorityClassName"] == helm_postrender.MONITORING
    job = graph.one("kubernetes:batch/v1:Job")
    assert job.inputs["spec"]["template"]["spec"]["priorityClassName"] == helm_postrender.SERVING


CHART_OUTPUT = """---
# Source: milvus/templates/querynode-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: milvus-querynode-rga
  labels: {app.kubernetes.io/name: milvus, app.kubernetes.io/instance: milvus, component: querynode}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: milvus, app.kubernetes.io/instance: milvus, component: querynode,
                  milvus.io/resource-group: rga}
  template:
    metadata:
      labels: {app.kubernetes.io/name: milvus, app.kubernetes.io/instance: milvus, component: querynode,
               milvus.io/resource-group: rga}
    spec:
      containers: [{name: querynode, image: "milvusdb/milvus:v2.6.15"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: milvus-mixcoord}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: milvus, app.kubernetes.io/instance: milvus, component: mixcoord}
    spec:
      containers: [{name: mixcoord, image: "milvusdb/milvus:v2.6.15"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: milvus-etcd}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: etcd, app.kubernetes.io/instance: milvus}
    spec:
      priorityClassName: already-set
      containers: [{name: etcd, image: "milvusdb/etcd:3.5.25-r1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: milvus}
data: {default.yaml: "enabled: 'true'"}
"""


def test_post_renderer_sets_the_class_by_component_and_passes_everything_else_through():
    script = Path(helm_postrender.__file__)
    assert script.stat().st_mode & 0o111, "Helm executes the post-renderer: it must be executable"
    done = subprocess.run([sys.executable, str(script)], input=CHART_OUTPUT, capture_output=True, text=True,
                          check=True)
    docs = list(yaml.safe_load_all(done.stdout))
    assert [d["kind"] for d in docs] == ["Deployment", "Deployment", "StatefulSet", "ConfigMap"]
    assert docs[0]["spec"]["template"]["spec"]["priorityClassName"] == helm_postrender.SERVING
    assert docs[1]["spec"]["template"]["spec"]["priorityClassName"] == helm_postrender.CONTROL
    assert docs[2]["spec"]["template"]["spec"]["priorityClassName"] == "already-set"
    assert docs[3] == yaml.safe_load(CHART_OUTPUT.split("---")[-1])
    assert docs[0]["spec"]["replicas"] == 2 and docs[0]["metadata"]["name"] == "milvus-querynode-rga"
