"""What scales on its own stays bounded consistently at every step of a stack's life (v1, the grown v2, v1 again;
tests/unit/lifecycle_steps.py): the Karpenter NodePools' limits cover the plan's maximum nodes, the proxy HPA's
bounds are the stack file's, and each namespace's ResourceQuota admits every pod the autoscalers may run.

Every needed total is recounted here from the rendered bundle objects (the Deployments, StatefulSets, Jobs, HPAs,
NodePools and LimitRanges Kubernetes and Karpenter will receive) with the Kubernetes and Karpenter rules, not with
the project's capacity code.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Iterable, Mapping

import pytest

from stacks.catalog import load_catalog
from stacks.quantity import parse_quantity
from stacks.stack_file import read_stack_file
from tests.unit.lifecycle_steps import GROWN, Step, steps
from tools.offline import Graph, stack_file

POOL_LABEL = "milvus-eks/pool"
ZONE_LABEL = "topology.kubernetes.io/zone"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CASES = [("prod", 0), ("prod", 1), ("prod", 2), ("dev", 0), ("dev", 1), ("dev", 2)]


@pytest.fixture(scope="module")
def lifecycles(tmp_path_factory) -> dict[str, tuple[Step, Step, Step]]:
    scratch = tmp_path_factory.mktemp("lifecycle")
    return {stack: steps(stack, scratch) for stack in ("prod", "dev")}


def _step(lifecycles, stack: str, index: int) -> Step:
    return lifecycles[stack][index]


def _source_file(stack: str, index: int):
    return GROWN[stack] if index == 1 else stack_file(stack)


def _of(objects: Iterable[Mapping], kind: str) -> list[Mapping]:
    return [o for o in objects if o.get("kind") == kind]


# ------------------------------------------------------------------------------------------ Karpenter limits


def _types(node_pool: Mapping) -> list[str]:
    (types,) = [r["values"] for r in node_pool["spec"]["template"]["spec"]["requirements"]
                if r["key"] == INSTANCE_TYPE_LABEL]
    return types


@pytest.mark.parametrize("stack,index", CASES)
def test_karpenter_limits_cover_the_plans_maximum_and_no_more(lifecycles, stack, index):
    """A NodePool's `spec.limits` bound the sum over its nodes of each instance type's resources: Karpenter "limits
    instance types when scheduling to those that will not exceed the specified limits", cpu 1000 meaning "a total of
    1000 CPU cores across all instances" (aws/karpenter-provider-aws website/content/en/docs/concepts/nodepools.md
    "spec.limits", tasks/set-resource-limits.md); `limits.nodes` caps the node count (vendored
    charts/karpenter-crd-1.14.0.tgz templates/karpenter.sh_nodepools.yaml:179-180).

    Bound asserted, for the plan's maximum node count N of the pool and the largest type it allows:
    N × that type's vCPUs ≤ limits.cpu ≤ N × that type's vCPUs, and the same for memory (EC2 memory; Karpenter's
    own capacity figure is lower by its VM overhead, so the lower bound is safe). Lower: with less, Karpenter stops
    short of the plan's maximum whenever it picks the largest type. Upper: `limits.nodes` stops the pool at N anyway,
    so more CPU or memory could never be used; it would only hide a wrong node limit, and let the pool outgrow the
    plan if the node limit were ever dropped."""
    step = _step(lifecycles, stack, index)
    node_pools = {o["metadata"]["name"]: o for o in _of(step.objects, "NodePool")}
    pools = step.document["plan"]["pools"]
    karpenter = {name for name, p in read_stack_file(_source_file(stack, index))["milvus-eks:nodePools"].items()
                 if p.get("provisioner") == "karpenter"}
    assert set(node_pools) == karpenter
    if stack == "prod":
        assert karpenter == {"query", "streaming", "coord"}
    catalog = load_catalog()
    for name, node_pool in node_pools.items():
        limits, maximum = node_pool["spec"]["limits"], pools[name]["max"]
        planned = int(node_pool["metadata"]["annotations"]["milvus-eks/planned-nodes"])
        assert planned == pools[name]["desired"] <= maximum == int(limits["nodes"]), name
        cpu = maximum * max(catalog[t].vcpu for t in _types(node_pool))
        memory = maximum * max(catalog[t].memory_mib for t in _types(node_pool))
        assert cpu <= parse_quantity(limits["cpu"]) <= cpu, (name, limits)
        assert memory * 2**20 <= parse_quantity(limits["memory"]) <= memory * 2**20, (name, limits)


@pytest.mark.parametrize("stack,index", [c for c in CASES if c[0] == "prod"])
def test_query_pods_fit_their_node_pool_at_every_step(lifecycles, stack, index):
    """One query node per node (required anti-affinity on the hostname), each group pinned to a zone the NodePool
    offers: the query Deployments' replicas, plus one surge node per Deployment, are nodes Karpenter must be allowed
    to launch there."""
    step = _step(lifecycles, stack, index)
    (query_pool,) = [o for o in _of(step.objects, "NodePool") if o["metadata"]["name"] == "query"]
    (zones,) = [r["values"] for r in query_pool["spec"]["template"]["spec"]["requirements"] if r["key"] == ZONE_LABEL]
    query = [o for o in _of(step.objects, "Deployment") if o["metadata"]["name"].startswith("milvus-querynode")]
    for deployment in query:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"][POOL_LABEL] == "query" and pod["nodeSelector"][ZONE_LABEL] in zones
        (anti,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti["topologyKey"] == "kubernetes.io/hostname"
        # Surge first, never below the replicas: the surge pod's new node is where the replaced pod's segments go
        # during its graceful stop (render/milvus_values.py rollout_strategy).
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # Every group rolling at once needs one node beyond the planned ones per Deployment, within the node limit.
    planned = sum(d["spec"]["replicas"] for d in query)
    assert planned == step.document["plan"]["queryNodes"]
    assert planned + len(query) <= int(query_pool["spec"]["limits"]["nodes"])


@pytest.mark.parametrize("stack,index", [c for c in CASES if c[0] == "prod"])
def test_karpenter_limits_hold_every_pod_placed_on_the_pool_at_its_maximum(lifecycles, stack, index):
    """The pods a Karpenter pool must run at their most (autoscaled Deployments at the HPA maximum, every rollout
    surging at once, StatefulSets, Jobs, and each DaemonSet once per node the limit allows) request no more CPU or
    memory than the NodePool's limits: otherwise Karpenter would stop launching before they all had a node."""
    step = _step(lifecycles, stack, index)
    for node_pool in _of(step.objects, "NodePool"):
        name, limits = node_pool["metadata"]["name"], node_pool["spec"]["limits"]
        cpu = memory = Decimal(0)
        for namespace in {o["metadata"].get("namespace") for o in step.objects if o.get("kind") in
                          ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")}:
            used = _needed(step, namespace, pool=name)[0]
            cpu, memory = cpu + used["requests.cpu"], memory + used["requests.memory"]
        assert 0 < cpu <= parse_quantity(limits["cpu"]), (name, cpu, limits)
        assert 0 < memory <= parse_quantity(limits["memory"]), (name, memory, limits)


# ------------------------------------------------------------------------------------------ the proxy HPA


@pytest.mark.parametrize("stack,index", CASES)
def test_proxy_hpa_bounds_come_from_the_stack_file(lifecycles, stack, index):
    step = _step(lifecycles, stack, index)
    proxy = ((read_stack_file(_source_file(stack, index)).get("milvus-eks:milvus") or {}).get("components") or {}).get(
        "proxy") or {}
    scaling = proxy.get("autoscaling") or {}
    hpas = _of(step.objects, "HorizontalPodAutoscaler")
    (deployment,) = [o for o in _of(step.objects, "Deployment") if o["metadata"]["name"].endswith("-proxy")]
    if not scaling.get("enabled"):
        assert stack == "dev" and hpas == [] and deployment["spec"]["replicas"] >= 1
        return
    (hpa,) = hpas
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (scaling["minReplicas"], scaling["maxReplicas"])
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": scaling["cpuUtilization"]}
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": deployment["metadata"]["name"]}
    # The Deployment leaves its replica count to the HPA, so a Helm upgrade never resets what the HPA scaled to.
    assert "replicas" not in deployment["spec"]


# ------------------------------------------------------------------------------------------ quotas


COMPUTE = ("cpu", "memory", "ephemeral-storage")
QUOTA_KEYS = ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "requests.ephemeral-storage",
              "limits.ephemeral-storage", "pods")
TEST_HOOKS = {"test", "test-success", "test-failure"}


def _template(obj: Mapping) -> Mapping:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _container(c: Mapping, defaults: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Decimal]]:
    """After LimitRanger admission: missing limits from `default`; missing requests from the container's own limit,
    else `defaultRequest`."""
    resources = c.get("resources") or {}
    limits = {r: parse_quantity(v) for r, v in {**defaults.get("default", {}), **(resources.get("limits") or {})}
              .items() if r in COMPUTE}
    own = {r: parse_quantity(v) for r, v in (resources.get("requests") or {}).items() if r in COMPUTE}
    requests = {r: own.get(r, parse_quantity((resources.get("limits") or {}).get(r)) if r in (resources.get("limits")
                                                                                               or {}) else
                          parse_quantity(defaults["defaultRequest"][r]) if r in defaults.get("defaultRequest", {})
                          else Decimal(0)) for r in COMPUTE}
    return {"requests": requests, "limits": {r: limits.get(r, Decimal(0)) for r in COMPUTE}}


def _pod(template: Mapping, defaults) -> dict[str, Decimal]:
    """A pod's quota charge: per resource, max(sum of its containers, its largest init container)."""
    main = [_container(c, defaults) for c in template.get("containers") or ()]
    init = [_container(c, defaults) for c in template.get("initContainers") or ()]
    charge = {}
    for side in ("requests", "limits"):
        for r in COMPUTE:
            charge[f"{side}.{r}"] = max([sum((c[side][r] for c in main), Decimal(0)), *(c[side][r] for c in init)])
    return charge


def _surge(strategy: Mapping | None, pods: int) -> int:
    """Deployment controller: maxSurge an int or a percentage rounded up (default 25 %); Recreate never surges."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    return math.ceil(pods * int(value[:-1]) / 100) if isinstance(value, str) else int(value)


def _tolerated(tolerations: list[Mapping], taint: Mapping) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value") == taint.get("value"):
            return True
    return False


def _nodes(graph: Graph, objects: list[Mapping]) -> list[tuple[Mapping[str, str], list[Mapping], int]]:
    """(labels, taints, most nodes) of every pool: managed node groups at maxSize, Karpenter NodePools at their
    node limit (the most nodes Karpenter launches, each running every DaemonSet that tolerates it)."""
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    found = []
    for group in graph.of_type(NODE_GROUP):
        taints = [{**t, "effect": effects[t["effect"]]} for t in group.inputs.get("taints") or ()]
        found.append(({**group.inputs["labels"], "kubernetes.io/os": "linux"}, taints,
                      int(group.inputs["scalingConfig"]["maxSize"])))
    for pool in _of(objects, "NodePool"):
        template = pool["spec"]["template"]
        found.append(({**template["metadata"]["labels"], "kubernetes.io/os": "linux"}, template["spec"]["taints"],
                      int(pool["spec"]["limits"]["nodes"])))
    return found


def _needed(step: Step, namespace: str, pool: str | None = None) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(most the namespace runs: every Deployment at its HPA's maximum plus its rollout surge, every StatefulSet,
    every DaemonSet on every node it may run on, running Jobs; the part the HPAs alone add over their minimum).
    With `pool`, only what runs on that pool's nodes."""
    objects = [*step.objects, *map(dict, step.graph.program["bundle"].operated)]
    # Namespaces without a LimitRange (kube-system, node-exporter's) get no defaults: a container counts what it sets.
    ranges = [o["spec"]["limits"][0] for o in _of(objects, "LimitRange") if o["metadata"]["namespace"] == namespace]
    defaults = ranges[0] if ranges else {}
    hpas = {(o["spec"]["scaleTargetRef"]["kind"], o["spec"]["scaleTargetRef"]["name"]): o["spec"]
            for o in _of(objects, "HorizontalPodAutoscaler") if o["metadata"]["namespace"] == namespace}
    nodes = [n for n in _nodes(step.graph, step.objects) if pool is None or n[0].get(POOL_LABEL) == pool]
    total = {k: Decimal(0) for k in QUOTA_KEYS}
    autoscaled = {k: Decimal(0) for k in QUOTA_KEYS}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob") or \
                meta.get("namespace") != namespace:
            continue
        hooks = {h.strip() for h in (meta.get("annotations") or {}).get("helm.sh/hook", "").split(",")}
        if hooks & TEST_HOOKS:
            continue  # `helm test` never runs under Pulumi
        template = _template(obj)
        if pool is not None and obj["kind"] != "DaemonSet" and (template.get("nodeSelector") or {}).get(
                POOL_LABEL) != pool:
            continue
        if obj["kind"] == "DaemonSet":
            selector = template.get("nodeSelector") or {}
            pods = sum(n for labels, taints, n in nodes if all(labels.get(k) == v for k, v in selector.items())
                       and all(_tolerated(template.get("tolerations") or [], t) for t in taints
                               if t["effect"] != "PreferNoSchedule"))
        elif obj["kind"] in ("Job", "CronJob"):
            pods = 1
        else:
            hpa = hpas.get((obj["kind"], meta["name"]))
            pods = hpa["maxReplicas"] if hpa else int(obj["spec"].get("replicas", 1))
            if obj["kind"] == "Deployment":
                pods += _surge(obj["spec"].get("strategy"), pods)
            if hpa:
                extra = hpa["maxReplicas"] - hpa["minReplicas"]
                extra += _surge(obj["spec"].get("strategy"), hpa["maxReplicas"]) - _surge(
                    obj["spec"].get("strategy"), hpa["minReplicas"])
                for key, value in {**_pod(template, defaults), "pods": Decimal(1)}.items():
                    autoscaled[key] += value * extra
        for key, value in {**_pod(template, defaults), "pods": Decimal(1)}.items():
            total[key] += value * pods
    return total, autoscaled


@pytest.mark.parametrize("stack,index", CASES)
def test_quotas_admit_every_autoscaled_maximum_with_their_headroom(lifecycles, stack, index):
    """The quota promises `quotas.headroom` over everything the namespace may run (README, "Quotas"): so it must be at
    least (1 + headroom) × the recount, in which autoscaled Deployments stand at their HPA maximum plus surge. If the
    autoscaled part were left out, the quota would fall short of that figure by (1 + headroom) × that part."""
    step = _step(lifecycles, stack, index)
    config = read_stack_file(_source_file(stack, index))
    # The stack file's value, or the settings default when it sets none (dev).
    headroom = Decimal(str(step.graph.program["settings"].quotas.headroom))
    assert "headroom" not in (config.get("milvus-eks:quotas") or {}) or Decimal(str(
        config["milvus-eks:quotas"]["headroom"])) == headroom
    assert not (config.get("milvus-eks:quotas") or {}).get("pinned"), "a pinned key has no headroom to check"
    quotas = {o["metadata"]["namespace"]: o["spec"]["hard"] for o in _of(step.objects, "ResourceQuota")}
    assert set(quotas) == {"milvus", "monitoring"}
    for namespace, hard in quotas.items():
        needed, autoscaled = _needed(step, namespace)
        for key in QUOTA_KEYS:
            assert parse_quantity(hard[key]) >= needed[key] * (1 + headroom), (namespace, key, hard[key],
                                                                               needed[key])
        if namespace == "milvus" and stack == "prod":
            # The proxies' HPA really adds pods the quota has to hold (6 proxies more than its minimum, with their
            # requests): without them the check above would be weaker than it looks.
            assert autoscaled["pods"] >= 6 and autoscaled["requests.cpu"] > 0, autoscaled
        else:
            assert all(v == 0 for v in autoscaled.values()), (namespace, autoscaled)


def test_no_guarded_namespace_runs_pods_on_every_karpenter_node(lifecycles):
    # Pods that Karpenter's own nodes bring (DaemonSets) are charged to a guarded namespace only if they run there;
    # none do (node-exporter has a namespace of its own), so a NodePool's growth never eats into the Milvus quota.
    for stack, index in CASES:
        step = _step(lifecycles, stack, index)
        guarded = {o["metadata"]["namespace"] for o in _of(step.objects, "ResourceQuota")}
        assert not [o["metadata"]["name"] for o in _of(step.objects, "DaemonSet")
                    if o["metadata"].get("namespace") in guarded]


def test_a_quota_missing_the_autoscaled_pods_fails_the_check(lifecycles):
    # The control: a milvus quota for prod v2 computed with the proxies at their HPA minimum (headroom applied, every
    # value rounded up to a whole millicore, MiB or pod, as quotas are written) falls short of the check above.
    step = _step(lifecycles, "prod", 1)
    needed, autoscaled = _needed(step, "milvus")
    headroom = Decimal(str(step.graph.program["settings"].quotas.headroom))
    unit = {"requests.cpu": Decimal("0.001"), "limits.cpu": Decimal("0.001"), "pods": Decimal(1)}
    short = {k: math.ceil((needed[k] - autoscaled[k]) * (1 + headroom) / unit.get(k, Decimal(2**20))) *
             unit.get(k, Decimal(2**20)) for k in QUOTA_KEYS}
    assert [k for k in QUOTA_KEYS if short[k] < needed[k] * (1 + headroom)] == list(QUOTA_KEYS)
