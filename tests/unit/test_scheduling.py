"""The scheduling check: each rule broken by a minimal hand-written pod/pool set must produce the named failure, the
shipped dev shape (3d704d9) must show the query-node rollout stall and the m6id.xlarge misfit, and a property that
holds for any greedy placement must hold here."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from render.helm_postrender import CONTROL, PRIORITY_VALUES, SERVING
from stacks import scheduling
from stacks.catalog import load_catalog
from stacks.quantity import GIB, MIB
from stacks.scheduling import PoolShape, check, fenceposts

POOL_LABEL = "milvus-eks/pool"
SURGE_ONLY = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
NO_RESERVE = {"cpu": 0, "memory": 0, "pods": 0}


def pool(name: str = "p", types: tuple[str, ...] = ("m7i.2xlarge",), nodes: int = 3, max_nodes: int = 6,
         taints: tuple = (), zones: tuple[str, ...] = ("a", "b", "c"), disk_gb: int = 100, labels=None) -> PoolShape:
    return PoolShape(name=name, instance_types=types, nodes=nodes, max_nodes=max_nodes,
                     labels={POOL_LABEL: name, **(labels or {})}, taints=taints, zones=zones,
                     ephemeral_bytes_per_type={t: disk_gb * 10**9 for t in types})


def workload(name: str, cpu: str = "100m", memory: str = "128Mi", disk: str | None = None, *, kind: str = "Deployment",
             replicas: int = 1, pool_name: str | None = "p", labels: dict | None = None, namespace: str = "ns",
             tolerations: list | None = None, affinity: dict | None = None, spread: list | None = None,
             strategy: dict | None = None, priority: str | None = None, init: list | None = None,
             node_selector: dict | None = None, claims: bool = False) -> dict:
    requests = {"cpu": cpu, "memory": memory, **({"ephemeral-storage": disk} if disk else {})}
    pod: dict = {"containers": [{"name": "main", "image": "x", "resources": {"requests": requests}}]}
    selector = node_selector if node_selector is not None else ({POOL_LABEL: pool_name} if pool_name else {})
    if selector:
        pod["nodeSelector"] = selector
    for key, value in (("tolerations", tolerations), ("affinity", affinity), ("topologySpreadConstraints", spread),
                       ("priorityClassName", priority), ("initContainers", init)):
        if value:
            pod[key] = value
    spec: dict = {"template": {"metadata": {"labels": labels or {"app": name}}, "spec": pod}}
    if kind in ("Deployment", "StatefulSet"):
        spec["replicas"] = replicas
    if strategy:
        spec["updateStrategy" if kind in ("StatefulSet", "DaemonSet") else "strategy"] = strategy
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {
            "storage": "10Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def anti_affinity(labels: dict, key: str = "kubernetes.io/hostname") -> dict:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": key, "labelSelector": {"matchLabels": labels}}]}}


def keys(report) -> list[str]:
    return [p.path for p in report.problems]


def text(report) -> str:
    return "\n".join(str(p) for p in report.problems)


# ---------------------------------------------------------------------------------------------- units


def test_pod_requests_are_containers_or_the_largest_init_container_and_limits_stand_in_for_requests():
    obj = workload("w", cpu="1", memory="1Gi", init=[
        {"name": "big-init", "resources": {"requests": {"cpu": "3"}}},
        {"name": "sidecar", "restartPolicy": "Always", "resources": {"limits": {"memory": "2Gi"}}}])
    t = scheduling._template(obj)
    # cpu: init 3 > containers 1 (+ sidecar 0); memory: containers 1Gi + sidecar 2Gi (its limit defaults its request)
    assert t.requests == (3000, 3 * GIB, 0)


@pytest.mark.parametrize("strategy,replicas,expected", [
    ({}, 4, (1, 1)),  # 25 % / 25 %
    ({}, 1, (1, 0)),  # surge rounds up, unavailable down
    ({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}, 3, (0, 1)),  # both zero → one unavailable
    ({"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}, 3, (2, 0)),
])
def test_fenceposts_round_like_the_deployment_controller(strategy, replicas, expected):
    assert fenceposts(strategy, replicas) == expected


def test_ephemeral_allocatable_withholds_kube_reserved_and_the_eviction_threshold():
    assert scheduling.ephemeral_allocatable(100 * 10**9) == 100 * 10**9 - GIB - 10 * 10**9


def test_a_feasible_set_reports_placements_free_room_and_headroom():
    report = check([workload("web", cpu="1", replicas=2, strategy=SURGE_ONLY),
                    workload("agent", cpu="100m", kind="DaemonSet", pool_name=None)], [pool(nodes=2)],
                   node_reserve=NO_RESERVE)
    assert report.problems == ()
    s = report.scenario("baseline")
    assert sorted(s.placements.values()).count("p-1") + sorted(s.placements.values()).count("p-2") == 4
    assert {r.workload: r.headroom for r in s.rollouts} == {"Deployment ns/web": 2}
    alloc = load_catalog()["m7i.2xlarge"].alloc_millicpu
    assert sum(s.free[n.name]["cpu"] for n in s.nodes) == 2 * alloc - 2 * 1000 - 2 * 100
    summary = report.summary()
    assert summary["scenarios"]["baseline"]["feasible"] is True
    assert summary["scenarios"]["baseline"]["nodesUsed"] == 1  # the reported placement is first fit: both on p-1
    assert summary["scenarios"]["baseline"]["rollouts"]["Deployment ns/web"]["headroom"] == 2
    assert "scenario baseline" in report.text()


# ---------------------------------------------------------------------------------------------- each rule broken


def test_node_selector_that_matches_no_pool_is_named():
    report = check([workload("lost", pool_name="nowhere")], [pool()])
    assert keys(report) == ["nodePools"]
    assert "Deployment ns/lost fits no pool" in text(report) and "didn't match Pod's node affinity/selector" in \
        text(report)


def test_untolerated_taint_is_named():
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    report = check([workload("app")], [pool(taints=(taint,))])
    assert keys(report) == ["nodePools"] and "untolerated taint {dedicated: db}" in text(report)
    tolerated = check([workload("app", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                                      "effect": "NoSchedule"}])], [pool(taints=(taint,))])
    assert tolerated.problems == ()
    prefer = {"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}
    assert check([workload("app")], [pool(taints=(prefer,))]).problems == ()


def test_required_node_affinity_is_honoured():
    def affinity(op: str, values: list[str]) -> dict:
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": op, "values": values}]}]}}}

    ok = check([workload("app", affinity=affinity("In", ["m7i.2xlarge"]))], [pool()])
    refused = check([workload("app", affinity=affinity("NotIn", ["m7i.2xlarge"]))], [pool()])
    assert ok.problems == ()
    assert keys(refused) == ["nodePools"] and "didn't match Pod's node affinity/selector" in text(refused)
    gt = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "generation", "operator": "Gt", "values": ["6"]}]}]}}}
    assert check([workload("app", affinity=gt)], [pool(labels={"generation": "7"})]).problems == ()
    assert keys(check([workload("app", affinity=gt)], [pool(labels={"generation": "5"})])) == ["nodePools"]


def test_hostname_anti_affinity_with_more_replicas_than_nodes():
    labels = {"app": "qn"}
    report = check([workload("qn", replicas=4, labels=labels, affinity=anti_affinity(labels))], [pool(nodes=3)])
    assert keys(report)[0] == "nodePools.p.minSize"
    assert "stays Pending on pool 'p' (3 × m7i.2xlarge) in every creation order" in text(report)
    assert "3 didn't match pod anti-affinity rules" in text(report)
    assert "raise nodePools.p.minSize to 4" in text(report)
    beyond = check([workload("qn", replicas=5, labels=labels, affinity=anti_affinity(labels))],
                   [pool(nodes=3, max_nodes=4)])
    assert keys(beyond)[0] == "nodePools.p.maxSize" and "even 4 nodes would not help" in text(beyond)
    # Three fit, but the default strategy (25 %: surge 1, unavailable 0 for three replicas) needs a fourth node.
    default = check([workload("qn", replicas=3, labels=labels, affinity=anti_affinity(labels))], [pool(nodes=3)])
    assert "RollingUpdate maxSurge 1 / maxUnavailable 0" in text(default) and "cannot roll" in text(default)
    retire = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert check([workload("qn", replicas=3, labels=labels, affinity=anti_affinity(labels), strategy=retire)],
                 [pool(nodes=3)]).problems == ()


def test_anti_affinity_is_symmetric_and_zone_scoped():
    # `loner` refuses to share a zone with `other`; `other` itself says nothing, yet cannot join loner's zone.
    loner = workload("loner", labels={"app": "loner"}, affinity=anti_affinity({"app": "other"},
                                                                               "topology.kubernetes.io/zone"))
    other = workload("other", replicas=2, labels={"app": "other"})
    report = check([loner, other], [pool(nodes=2, zones=("a", "b"))])
    assert report.problems  # two zones, three pods: in some order loner or an `other` finds every zone taken
    assert check([loner, workload("other", labels={"app": "other"})], [pool(nodes=2, zones=("a", "b"))]).problems == ()


def test_topology_spread_do_not_schedule_with_too_few_zones():
    labels = {"app": "s"}
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
               "minDomains": 3, "labelSelector": {"matchLabels": labels}}]
    two_zones = check([workload("s", replicas=3, labels=labels, spread=spread)], [pool(nodes=2, zones=("a", "b"))])
    assert keys(two_zones) == ["network.azCount"]  # the pool spans two zones, however many nodes it gets
    assert "didn't match pod topology spread constraints" in text(two_zones)
    assert "spread the pool over more zones (network.azCount)" in text(two_zones)
    three_zones = check([workload("s", replicas=3, labels=labels, spread=spread)], [pool(nodes=3)])
    assert three_zones.problems == ()
    anyway = [{**spread[0], "whenUnsatisfiable": "ScheduleAnyway"}]
    assert check([workload("s", replicas=3, labels=labels, spread=anyway)],
                 [pool(nodes=2, zones=("a", "b"))]).problems == ()


def test_spread_domains_follow_the_node_affinity_policy():
    # The pods select pool p (zones a, b); pool q sits in zone c. By default only p's zones are domains.
    labels = {"app": "s"}
    spread = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
              "labelSelector": {"matchLabels": labels}}
    pools = [pool(nodes=2, zones=("a", "b")), pool("q", nodes=1, zones=("c",))]
    assert check([workload("s", replicas=3, labels=labels, spread=[spread])], pools).problems == ()
    ignoring = check([workload("s", replicas=3, labels=labels, spread=[{**spread, "nodeAffinityPolicy": "Ignore"}])],
                     pools)
    assert "didn't match pod topology spread constraints" in text(ignoring)  # empty zone c caps a and b at one each


@pytest.mark.parametrize("resource,kwargs", [
    ("cpu", {"cpu": "9"}), ("memory", {"memory": "40Gi"}), ("ephemeral-storage", {"disk": "95Gi"})])
def test_a_pod_larger_than_any_node_names_the_type_resource_and_both_numbers(resource, kwargs):
    report = check([workload("big", **kwargs)], [pool()])
    assert keys(report) == ["nodePools.p.instanceTypes[0]"]
    message = text(report)
    assert f"m7i.2xlarge: pod Deployment ns/big needs" in message and f" {resource} but a node has" in message
    assert "remove the type or lower the requests of Deployment ns/big" in message


def test_pod_count_overflow():
    # m7i.large takes 29 pods; the add-on DaemonSets use 4 slots, leaving 25 per node.
    report = check([workload("many", cpu="1m", memory="1Mi", replicas=26)], [pool(types=("m7i.large",), nodes=1)])
    assert keys(report) == ["nodePools.p.minSize"] and "Too many pods" in text(report)
    assert check([workload("many", cpu="1m", memory="1Mi", replicas=25)],
                 [pool(types=("m7i.large",), nodes=1)]).problems == ()


def test_total_cpu_overflow_asks_for_more_nodes():
    report = check([workload("w", cpu="3", replicas=6)], [pool(nodes=2)])  # 7.41 cores free per node: 2 each
    assert keys(report) == ["nodePools.p.minSize"] and "Insufficient cpu" in text(report)
    assert "raise nodePools.p.minSize to 3" in text(report)


def test_a_second_instance_type_where_the_pod_fits_on_none():
    report = check([workload("big", cpu="5")], [pool(types=("m7i.2xlarge", "m7i.xlarge"))])
    assert [s.name for s in report.scenarios] == ["baseline", "p=m7i.xlarge"]
    assert report.scenario("baseline").feasible and not report.scenario("p=m7i.xlarge").feasible
    assert keys(report) == ["nodePools.p.instanceTypes[1]"]
    assert "m7i.xlarge: pod Deployment ns/big needs 5000m cpu but a node has 3420m allocatable" in text(report)


def test_daemonsets_take_every_node_they_tolerate_and_only_those():
    taint = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    ds = workload("agent", kind="DaemonSet", pool_name=None, cpu="100m")
    everywhere = workload("exporter", kind="DaemonSet", pool_name=None, cpu="50m", tolerations=[{"operator": "Exists"}])
    report = check([ds, everywhere], [pool("open", nodes=2), pool("tainted", nodes=2, taints=(taint,))])
    placed = report.scenario("baseline").placements
    assert sorted(p for p in placed if p.startswith("ns/agent@")) == ["ns/agent@open-1", "ns/agent@open-2"]
    assert len([p for p in placed if p.startswith("ns/exporter@")]) == 4


def test_a_daemonset_pod_without_room_names_the_node_and_the_type():
    report = check([workload("agent", kind="DaemonSet", pool_name=None, cpu="9")], [pool(nodes=1)])
    assert [str(p) for p in report.problems] == [
        "milvus-eks:nodePools.p.instanceTypes[0]: m7i.2xlarge: DaemonSet ns/agent has no room on node p-1 (cpu: needs "
        "9000m cpu, 128Mi memory); lower the requests of DaemonSet ns/agent or use a larger instance type"]
    assert report.scenario("baseline").daemons_pending == ("ns/agent@p-1",)
    assert not report.scenario("baseline").feasible


def test_bundle_daemonsets_share_the_daemonset_budget():
    # A pod sized to a node minus the budget still fits next to a DaemonSet inside the budget, not next to one above.
    alloc = load_catalog()["m7i.2xlarge"].alloc_millicpu
    fill = workload("fill", cpu=f"{alloc - 500}m", memory="1Gi", strategy={"type": "Recreate"})
    small = workload("exporter", kind="DaemonSet", pool_name=None, cpu="50m")
    large = workload("exporter", kind="DaemonSet", pool_name=None, cpu="600m")
    assert check([fill, small], [pool(nodes=1)]).problems == ()
    assert keys(check([fill, large], [pool(nodes=1)])) == ["nodePools.p.instanceTypes[0]"]


def test_rollout_stalls_with_max_surge_1_max_unavailable_0_when_no_node_has_room():
    labels = {"app": "qn"}
    full = workload("qn", cpu="7", labels=labels, strategy=SURGE_ONLY, affinity=anti_affinity(labels))
    report = check([full], [pool(nodes=1)])
    assert keys(report) == ["nodePools.p.minSize"]
    assert "Deployment ns/qn cannot roll on pool 'p' (1 × m7i.2xlarge): RollingUpdate maxSurge 1 / maxUnavailable 0" \
           in text(report)
    assert "raise nodePools.p.minSize to 2" in text(report)
    rollout = report.scenario("baseline").rollouts[0]
    assert (rollout.headroom, rollout.progresses) == (0, False)
    retire_first = workload("qn", cpu="7", labels=labels, affinity=anti_affinity(labels),
                            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    assert check([retire_first], [pool(nodes=1)]).problems == ()
    assert check([workload("qn", cpu="7", strategy={"type": "Recreate"})], [pool(nodes=1)]).problems == ()


def test_on_an_autoscaled_pool_below_its_maximum_a_surge_pod_gets_a_new_node():
    labels = {"app": "qn"}
    full = workload("qn", cpu="7", labels=labels, strategy=SURGE_ONLY, affinity=anti_affinity(labels))
    grows = PoolShape(**{**pool(nodes=1, max_nodes=2).__dict__, "autoscaled": True})
    report = check([full], [grows])
    rollout = report.scenario("baseline").rollouts[0]
    assert report.problems == ()
    assert (rollout.headroom, rollout.progresses) == (0, True)
    assert "gets a new node: pool 'p' is autoscaled (Karpenter)" in rollout.reason
    assert "headroom 0 ok (its surge pod gets a new node" in report.text()
    # At its maximum the autoscaler may not launch another node; a pod no fresh node can hold gets none either.
    at_max = PoolShape(**{**grows.__dict__, "max_nodes": 1})
    assert "cannot roll" in text(check([full], [at_max]))
    too_big = workload("qn", cpu="9", labels=labels, strategy=SURGE_ONLY)
    assert not check([too_big], [grows]).scenario("baseline").rollouts[0].progresses


def test_a_surge_pod_of_higher_priority_rolls_by_preempting_pods_that_start_elsewhere():
    high = workload("qn", cpu="6", strategy=SURGE_ONLY, priority="high")
    low = workload("side", cpu="2", replicas=2, priority="low", strategy={"type": "Recreate"})
    priorities = {"high": 10, "low": 1}
    # qn fills one node; the side pods spread over the other two, leaving 5.41 cores free on each: no room for a
    # second qn, but evicting one side pod makes room, and that pod fits beside the other.
    report = check([high, low], [pool(nodes=3)], priorities=priorities)
    rollout = next(r for r in report.scenario("baseline").rollouts if r.workload == "Deployment ns/qn")
    assert rollout.progresses and rollout.headroom == 0 and "preempts" in rollout.reason
    assert "cannot roll" in text(check([high, low], [pool(nodes=3)]))  # without priorities: a stall


def test_statefulset_recreate_must_fit_in_its_volume_zone():
    s = workload("db", kind="StatefulSet", replicas=2, claims=True)
    report = check([s], [pool(nodes=2, zones=("a", "b"))])
    rollout = report.scenario("baseline").rollouts[0]
    assert rollout.progresses and rollout.strategy == "RollingUpdate (one pod at a time)"
    on_delete = check([workload("db", kind="StatefulSet", strategy={"type": "OnDelete"})], [pool()])
    assert on_delete.scenario("baseline").rollouts[0].strategy == "OnDelete"


def test_creation_order_dependence_names_the_pending_pod_and_the_order():
    # One big pod that needs an empty node, and small pods that the scheduler spreads onto every node first.
    big = workload("big", cpu="7", strategy={"type": "Recreate"})
    small = workload("small", cpu="500m", replicas=3, strategy={"type": "Recreate"})
    report = check([small, big], [pool(nodes=3)])
    message = text(report)
    assert keys(report) == ["nodePools.p.minSize"]
    assert "first install depends on creation order: Deployment ns/big" in message
    assert "stays Pending on pool 'p' (3 × m7i.2xlarge) when pods are created smallest first" in message
    assert "it starts when created largest first, first fit" in message
    pending = report.scenario("baseline").orders
    assert pending["largest first, first fit"] == () and pending["smallest first"] == ("ns/big[0]",)
    # A higher priority puts it first when all pods arrive together and lets it preempt when it arrives last.
    prioritized = check([small, workload("big", cpu="7", priority="high", strategy={"type": "Recreate"})],
                        [pool(nodes=3)], priorities={"high": 5})
    assert prioritized.problems == ()


def test_jobs_must_fit_but_do_not_hold_their_room():
    job = {"kind": "Job", "metadata": {"name": "once", "namespace": "ns"},
           "spec": {"template": {"metadata": {"labels": {"job": "once"}}, "spec": {
               "nodeSelector": {POOL_LABEL: "p"}, "containers": [{"name": "c", "resources": {"requests": {
                   "cpu": "3"}}}]}}}}
    fill = workload("w", cpu="3", strategy=SURGE_ONLY)
    report = check([job, fill], [pool(nodes=1)])
    assert report.problems == ()  # 7.41 free: the job's 3 and w's 3 fit together; w then has room for its surge
    assert "ns/once[0]" not in report.scenario("baseline").placements
    too_big = check([{**job, "spec": {**job["spec"], "parallelism": 2}}, fill], [pool(nodes=1)])
    assert "Job ns/once" in text(too_big)


def test_other_objects_are_ignored_and_the_result_does_not_depend_on_object_order():
    objects = [workload("a", cpu="2", replicas=3), {"kind": "Service", "metadata": {"name": "s"}},
               workload("b", cpu="3", replicas=2)]
    assert check(objects, [pool()]).summary() == check(objects, [pool()]).summary()
    assert check(objects, [pool()]).problems == check(list(reversed(objects)), [pool()]).problems == ()


# ---------------------------------------------------------------------------------------------- the shipped dev shape

MILVUS_TAINT = {"key": POOL_LABEL, "value": "milvus", "effect": "NoSchedule"}
MILVUS_TOLERATION = [{"key": POOL_LABEL, "operator": "Equal", "value": "milvus", "effect": "NoSchedule"}]


def milvus_labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": component}


def dev_objects() -> list[dict]:
    """The 3d704d9 dev stack's milvus pool, by hand: requests from render/milvus_values.py DEFAULT_RESOURCES and the
    query node sized to an m6id.2xlarge (7910m − 500m, 29317Mi − 1536Mi, 345Gi of NVMe), priority classes as the
    post-renderer sets them, strategies as render/milvus_values.py writes them for one query node."""
    common = {"pool_name": "milvus", "namespace": "milvus", "tolerations": MILVUS_TOLERATION}
    qn = milvus_labels("querynode")
    return [
        workload("milvus-etcd", "500m", "2Gi", "1Gi", kind="StatefulSet", replicas=3, claims=True, priority=CONTROL,
                 labels={"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": "milvus"}, **common),
        workload("milvus-mixcoord", "500m", "2Gi", "1Gi", labels=milvus_labels("mixcoord"), priority=CONTROL,
                 strategy={"type": "Recreate"}, **common),
        workload("milvus-streamingnode", "1", "4Gi", "5Gi", labels=milvus_labels("streamingnode"), priority=CONTROL,
                 strategy=SURGE_ONLY, **common),
        workload("milvus-proxy", "500m", "1Gi", "1Gi", labels=milvus_labels("proxy"), priority=SERVING,
                 strategy=SURGE_ONLY, **common),
        workload("milvus-datanode", "1", "4Gi", "5Gi", labels=milvus_labels("datanode"), priority=SERVING,
                 strategy=SURGE_ONLY, **common),
        workload("milvus-querynode", "7410m", "27781Mi", "345Gi", labels=qn, priority=SERVING, strategy=SURGE_ONLY,
                 affinity=anti_affinity(qn), **common),
        workload("node-exporter", "50m", "64Mi", kind="DaemonSet", pool_name=None, namespace="monitoring",
                 tolerations=[{"operator": "Exists"}]),
    ]


DEV_POOL = PoolShape(name="milvus", instance_types=("m6id.2xlarge", "m6id.xlarge"), nodes=3, max_nodes=6,
                     labels={POOL_LABEL: "milvus", "milvus-eks/nvme": "true"}, taints=(MILVUS_TAINT,),
                     zones=("us-west-2a", "us-west-2b"),
                     ephemeral_bytes_per_type={"m6id.2xlarge": 474 * 10**9, "m6id.xlarge": 237 * 10**9})


def test_the_shipped_dev_shape_reports_the_query_node_rollout_stall_and_the_xlarge_misfit():
    report = check(dev_objects(), [DEV_POOL], priorities=PRIORITY_VALUES)
    message = text(report)
    # More nodes do not help (the scheduler spreads the small pods over every node), so the key is the pool's type.
    assert ("nodePools.milvus.instanceTypes[0]: Deployment milvus/milvus-querynode cannot roll on pool 'milvus' "
            "(3 × m6id.2xlarge): RollingUpdate maxSurge 1 / maxUnavailable 0 needs room for one more pod") in message
    assert "even 6 nodes (nodePools.milvus.maxSize) would not help" in message
    assert "or let it retire a pod first (maxUnavailable ≥ 1)" in message
    assert ("nodePools.milvus.instanceTypes[1]: m6id.xlarge: pod Deployment milvus/milvus-querynode needs 7410m cpu "
            "but a node has 3420m allocatable after DaemonSets") in message
    assert "needs 27781Mi memory" in message and "needs 345Gi ephemeral-storage" in message
    assert "lower milvus.components.queryNode.resources" in message
    # Priorities put etcd, mixcoord and the streaming node ahead of it: it then finds no empty node.
    assert "first install depends on creation order: Deployment milvus/milvus-querynode" in message
    baseline = report.scenario("baseline")
    assert not baseline.feasible
    assert {r.workload: r.headroom for r in baseline.rollouts}["Deployment milvus/milvus-querynode"] == 0


def test_the_dev_shape_passes_once_the_query_node_retires_first_and_leads_the_priorities():
    objects = dev_objects()
    qn = objects[5]["spec"]
    qn["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    qn["template"]["spec"]["priorityClassName"] = "query"
    only_2xlarge = PoolShape(**{**DEV_POOL.__dict__, "instance_types": ("m6id.2xlarge",)})
    report = check(objects, [only_2xlarge], priorities={**PRIORITY_VALUES, "query": 2_000_000})
    assert report.problems == ()


# ---------------------------------------------------------------------------------------------- properties

NODE = load_catalog()["m7i.2xlarge"]
FREE = (NODE.alloc_millicpu - 500, NODE.alloc_memory_bytes - 1536 * MIB)


@hsettings(max_examples=40, deadline=None)
@given(nodes=st.integers(1, 4), pods=st.lists(st.tuples(st.integers(1, FREE[0] // 2),
                                                        st.integers(1, FREE[1] // 2 // MIB)), min_size=1, max_size=12))
def test_small_pods_within_half_the_cluster_always_start_and_roll(nodes, pods):
    """Any greedy placement leaves a pod Pending only if every node is more than half full in some resource, since
    each pod takes at most half a node: the pods already placed then sum to more than half the node count, counted
    in nodes' worth of cpu plus nodes' worth of memory. So when all pods together stay within half the node count,
    no order can strand one, and a surge pod (one more such pod) always finds room too."""
    used = sum(c for c, _ in pods) / FREE[0] + sum(m * MIB for _, m in pods) / FREE[1]
    objects = [workload(f"w{k}", cpu=f"{c}m", memory=f"{m}Mi", strategy=SURGE_ONLY) for k, (c, m) in enumerate(pods)]
    report = check(objects, [pool(nodes=nodes)])
    if used * 2 <= nodes:
        assert report.problems == ()
    if sum(c for c, _ in pods) > nodes * FREE[0]:
        assert report.problems  # pigeonhole: more cpu requested than the nodes have


def prod_shaped() -> tuple[list[dict], list[PoolShape]]:
    """The prod stack's shape: 5 pools, 21 nodes, 32 pods plus a node-exporter on every node."""
    def tainted(name: str) -> tuple:
        return ({"key": POOL_LABEL, "value": name, "effect": "NoSchedule"},)

    def tol(name: str) -> list:
        return [{"key": POOL_LABEL, "operator": "Equal", "value": name, "effect": "NoSchedule"}]

    zones = ("us-west-2a", "us-west-2b", "us-west-2c")
    pools = [pool("system", ("m7i.xlarge",), 3, 4, zones=zones), pool("monitoring", ("m7i.2xlarge",), 2, 3,
                                                                        taints=tainted("monitoring"), zones=zones),
             pool("query", ("r6id.4xlarge",), 10, 24, taints=tainted("query"), zones=zones, disk_gb=950),
             pool("streaming", ("m6id.2xlarge",), 3, 9, taints=tainted("streaming"), zones=zones, disk_gb=474),
             pool("coord", ("m7i.2xlarge",), 3, 6, taints=tainted("coord"), zones=zones)]
    objects = [workload("node-exporter", "50m", "64Mi", kind="DaemonSet", pool_name=None, namespace="monitoring",
                        tolerations=[{"operator": "Exists"}])]
    for group in ("rga", "rgb"):
        labels = {**milvus_labels("querynode"), "milvus.io/resource-group": group}
        spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                   "labelSelector": {"matchLabels": milvus_labels("querynode")},
                   "matchLabelKeys": ["milvus.io/resource-group"]}]
        objects.append(workload(f"milvus-querynode-{group}", "15390m", "116775Mi", "722Gi", replicas=5,
                                labels=labels, pool_name="query", tolerations=tol("query"), spread=spread,
                                affinity=anti_affinity(milvus_labels("querynode")), priority=SERVING,
                                strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0,
                                                                                     "maxUnavailable": 1}}))
        objects.append(workload(f"milvus-streamingnode-{group}", "1", "4Gi", "5Gi", replicas=3, pool_name="streaming",
                                tolerations=tol("streaming"), labels={**milvus_labels("streamingnode"),
                                                                      "milvus.io/resource-group": group},
                                priority=CONTROL, strategy=SURGE_ONLY))
    objects += [
        workload("milvus-datanode", "1", "4Gi", "5Gi", replicas=2, pool_name="streaming", tolerations=tol("streaming"),
                 labels=milvus_labels("datanode"), priority=SERVING, strategy=SURGE_ONLY),
        workload("milvus-mixcoord", "500m", "2Gi", "1Gi", replicas=2, pool_name="coord", tolerations=tol("coord"),
                 labels=milvus_labels("mixcoord"), priority=CONTROL, strategy=SURGE_ONLY),
        workload("milvus-proxy", "500m", "1Gi", "1Gi", replicas=3, pool_name="coord", tolerations=tol("coord"),
                 labels=milvus_labels("proxy"), priority=SERVING, strategy=SURGE_ONLY),
        workload("milvus-etcd", "500m", "2Gi", "1Gi", kind="StatefulSet", replicas=3, pool_name="coord", claims=True,
                 tolerations=tol("coord"), labels={"app.kubernetes.io/name": "etcd"}, priority=CONTROL,
                 affinity=anti_affinity({"app.kubernetes.io/name": "etcd"})),
        workload("prometheus", "510m", "2080Mi", kind="StatefulSet", replicas=2, pool_name="monitoring",
                 namespace="monitoring", tolerations=tol("monitoring"), claims=True),
        workload("alertmanager", "60m", "160Mi", kind="StatefulSet", pool_name="monitoring", namespace="monitoring",
                 tolerations=tol("monitoring")),
        workload("grafana", "150m", "320Mi", pool_name="monitoring", namespace="monitoring",
                 tolerations=tol("monitoring")),
        workload("operator", "100m", "128Mi", pool_name="monitoring", namespace="monitoring",
                 tolerations=tol("monitoring")),
        workload("kube-state-metrics", "50m", "128Mi", pool_name="monitoring", namespace="monitoring",
                 tolerations=tol("monitoring")),
    ]
    return objects, pools


def test_a_prod_sized_check_is_fast_and_feasible():
    objects, pools = prod_shaped()
    check(objects, pools, priorities=PRIORITY_VALUES)  # warm the catalog cache
    started = time.perf_counter()
    report = check(objects, pools, priorities=PRIORITY_VALUES)
    elapsed = time.perf_counter() - started
    assert report.problems == (), text(report)
    s = report.scenario("baseline")
    assert len(s.nodes) == 21 and len(s.placements) == 21 + 32
    query_nodes = {s.placements[f"ns/milvus-querynode-{g}[{k}]"] for g in ("rga", "rgb") for k in range(5)}
    assert len(query_nodes) == 10  # one per node
    # Generous bound for a shared CI runner; the measured figure is in the README/report.
    assert elapsed < 1.0


def test_custom_resources_are_ignored_their_statefulsets_count():
    # The operator's pods reach the check as the StatefulSets the caller derives from the resources.
    prometheus = {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                  "metadata": {"name": "kps", "namespace": "monitoring"},
                  "spec": {"replicas": 2, "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}}
    assert scheduling._template(prometheus) is None
    assert check([prometheus], [pool(nodes=1)]).scenario("baseline").placements == {}


def test_cronjob_pods_come_from_the_job_template():
    cron = {"kind": "CronJob", "metadata": {"name": "nightly", "namespace": "ns"}, "spec": {"jobTemplate": {"spec": {
        "parallelism": 3, "completions": 2, "template": {"spec": {
            "nodeSelector": {POOL_LABEL: "p"},
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}}}}}
    t = scheduling._template(cron)
    assert (t.replicas, t.requests[0], t.transient) == (2, 2000, True)
    assert check([cron], [pool(nodes=1)]).problems == ()
    assert "CronJob ns/nightly" in text(check([cron], [pool(types=("m7i.large",), nodes=1)]))
