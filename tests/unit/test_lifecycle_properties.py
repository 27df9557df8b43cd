"""What the plan promises about memory and zone loss, over random workloads and under both zone-failure modes, checked
with arithmetic of this file's own: every replica's loading memory recomputed from the README's formulas, and what
survives a zone loss counted from the plan's node counts, zones and per-node memory only.

The promises (README "Sizing"; stacks/sizing.py module docstring):
- memory use: a query node loads up to 90 % of its memory limit (Milvus `queryCoord.overloadedMemoryThresholdPercentage`
  90, pkg/util/paramtable/component_param.go); each group holds every replica placed in it, so query-node memory
  utilisation (loading memory of all replicas over 90 % of all query nodes' limits) is at most 1; and no group gets
  a node it does not need: the group that decides the chart's per-group count could not do with one fewer (that is
  the lower bound on utilisation sizing documents: the rest is the rounding to whole nodes, and the chart giving
  every declared group the same count). Prod's own workload under `replicaPerZone` reaches >= 0.65 (issue 13).
- `replicaPerZone`: each declared group pinned to its own zone; losing any one zone leaves at least one full replica of
  every collection on the surviving groups' nodes when every collection has replicas in two groups; the plan says
  the stack is zone-failure tolerant exactly when that holds.
- `fullCapacity`: each group's query nodes spread over the zones with a skew of at most 1, so a zone holds at most
  ceil(n / zones) of a group's n nodes; after losing any one zone every replica still fits on the nodes left.
"""

from __future__ import annotations

import copy
import json
import math

from hypothesis import HealthCheck, event, given, settings as hyp_settings, strategies as st

from stacks import sizing
from stacks.quantity import parse_quantity
from stacks.settings import Settings
from tests.conftest import graph_for, stack_document

GIB = 2**30
MIB = 2**20
LOAD_THRESHOLD = 0.90  # queryCoord.overloadedMemoryThresholdPercentage (component_param.go), as a fraction
DISK_THRESHOLD = 0.95  # queryNode.maxDiskUsagePercentage (component_param.go)
GROUPS = ("rga", "rgb", "rgc")


# ------------------------------------------------------------------------------------------ the oracle


def loading_memory(c: dict) -> int:
    """Per replica, README "Sizing": raw = vectors × dim × 4; index memory per type; loading memory = (index + 2 ×
    segment) × 1.15, DISKANN index × 1.15; plus scalar bytes."""
    raw = c["vectors"] * c["dim"] * 4
    kind, params = c["index"]["type"], c["index"]["params"]
    index = {"FLAT": raw, "IVF_FLAT": raw + params.get("nlist", 0) * c["dim"] * 4,
             "IVF_SQ8": raw / 4 + params.get("nlist", 0) * c["dim"] * 4,
             "HNSW": (1 + 2 * params.get("M", 0) / c["dim"]) * raw, "DISKANN": raw / 4}[kind]
    segment = c["segmentSizeMb"] * MIB
    memory = index * 1.15 if kind == "DISKANN" else (index + 2 * segment) * 1.15
    return math.ceil(memory) + c["vectors"] * c["scalarBytesPerEntity"]


def local_disk(c: dict, mmap: bool) -> int:
    """Per replica on the query node's NVMe: DISKANN's (1 + maxDegree/dim) × raw; with mmap, other indexes and the
    scalar fields live there too (README "Sizing", stacks/settings.py `milvus.mmap`)."""
    raw = c["vectors"] * c["dim"] * 4
    if c["index"]["type"] == "DISKANN":
        return math.ceil(raw * (1 + c["index"]["params"]["maxDegree"] / c["dim"]))
    if not mmap:
        return 0
    memory_index = loading_memory({**c, "segmentSizeMb": 0, "scalarBytesPerEntity": 0}) / 1.15
    return math.ceil(memory_index) + c["vectors"] * c["scalarBytesPerEntity"]


# ------------------------------------------------------------------------------------------ random workloads


index_strategy = st.one_of(
    st.builds(lambda m: {"type": "HNSW", "params": {"M": m}}, st.integers(4, 64)),
    st.builds(lambda d: {"type": "DISKANN", "params": {"maxDegree": d}}, st.integers(16, 64)),
    st.builds(lambda n: {"type": "IVF_FLAT", "params": {"nlist": n}}, st.integers(1, 4096)),
    st.builds(lambda n: {"type": "IVF_SQ8", "params": {"nlist": n}}, st.integers(1, 4096)),
    st.just({"type": "FLAT", "params": {}}),
)
collection_strategy = st.fixed_dictionaries({
    "dim": st.sampled_from([128, 384, 768, 1024, 1536]),
    "vectors": st.integers(0, 2 * 10**8),
    "index": index_strategy,
    "segmentSizeMb": st.sampled_from([256, 512, 1024]),
    "scalarBytesPerEntity": st.integers(0, 512),
    "groups": st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True),
})
workload = st.tuples(st.lists(collection_strategy, min_size=1, max_size=4),
                     st.sampled_from(["replicaPerZone", "fullCapacity"]),
                     # Prod's query type, a smaller one, and one with less NVMe than memory, so local disk decides too.
                     st.sampled_from(["r6id.4xlarge", "m6id.2xlarge", "x2iedn.xlarge"]))

_BASE = {k.split(":", 1)[1]: v for k, v in stack_document("prod").items() if k.startswith("milvus-eks:")}
_REGION = stack_document("prod")["aws:region"]


def _settings(collections: list[dict], mode: str, query_type: str = "r6id.4xlarge") -> tuple[Settings, list[dict]]:
    doc = copy.deepcopy(_BASE)
    used = [g for g in GROUPS if any(g in c["groups"] for c in collections)]
    # replicaPerZone needs two groups at least: a one-group workload gets an idle second group.
    declared = used if len(used) >= 2 else [g for g in GROUPS if g in used or g == next(
        x for x in GROUPS if x not in used)]
    doc["topology"] = {"zoneFailure": mode, "resourceGroups": [{"name": g} for g in declared], "collections": [
        {"name": f"c{i}", "dim": c["dim"], "vectors": c["vectors"], "index": c["index"],
         "segmentSizeMb": c["segmentSizeMb"], "scalarBytesPerEntity": c["scalarBytesPerEntity"],
         "replicas": len(c["groups"]), "resourceGroups": c["groups"]} for i, c in enumerate(collections)]}
    # A floor of one and a ceiling no workload drawn reaches: the plan alone decides the query nodes.
    doc["nodePools"]["query"].update(minSize=1, maxSize=1000, instanceTypes=[query_type])
    settings = Settings.model_validate_json(json.dumps({**doc, "region": _REGION}), strict=True)
    return settings, doc["topology"]["collections"]


PROPERTY = hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(workload)
def test_memory_use_and_zone_loss_over_random_workloads(drawn):
    collections, mode, query_type = drawn
    settings, declared = _settings(collections, mode, query_type)
    p = sizing.plan(settings)
    assert not p.problems, [str(x) for x in p.problems]
    mmap = settings.milvus.mmap and settings.node_pools["query"].nvme
    usable = p.query_node.memory_limit_bytes * LOAD_THRESHOLD
    disk_per_node = p.query_node.local_disk_bytes
    memory = {c["name"]: loading_memory(c) for c in declared}
    disk = {c["name"]: local_disk(c, mmap) for c in declared}
    nodes = {g.name: g.nodes for g in p.groups}
    placed = {g: [c["name"] for c in declared if g in c["resourceGroups"]] for g in nodes}

    # The oracle and the plan agree on what a replica needs (to the byte, but for float rounding).
    for c in p.collections:
        name = c.key.split(".", 1)[1]
        assert abs(c.loading_memory_bytes - memory[name]) <= 2, (name, c.loading_memory_bytes, memory[name])

    def holds(group: str, count: int) -> bool:
        """`count` nodes of `group` hold every replica placed there: one node at least, memory and local disk."""
        need_memory = sum(memory[c] for c in placed[group])
        need_disk = sum(disk[c] for c in placed[group])
        return (count >= (1 if placed[group] else 0) and need_memory <= count * usable
                and need_disk <= count * disk_per_node)

    # Memory use: every group holds its replicas, so utilisation is at most 1, and it is the plan's figure.
    assert all(holds(g, n) for g, n in nodes.items())
    total_nodes = sum(nodes.values())
    utilisation = sum(memory[c["name"]] * c["replicas"] for c in declared) / (total_nodes * usable)
    assert 0 <= utilisation <= 1
    assert math.isclose(utilisation, p.memory_utilisation, rel_tol=1e-6, abs_tol=1e-9)
    assert total_nodes == p.query_nodes == p.query_node_replicas * len(nodes)

    zones = settings.network.az_count
    if mode == "replicaPerZone":
        zone_of = {g.name: g.zone for g in p.groups}
        assert sorted(zone_of.values()) == list(range(len(zone_of)))  # one group per zone, in declared order
        guaranteed = True
        for lost in range(zones):
            for c in declared:
                left = [g for g in c["resourceGroups"] if zone_of[g] != lost]
                if not left:
                    guaranteed = False
                # What is left is whole: each surviving group still holds everything placed in it on its own nodes.
                assert all(holds(g, nodes[g]) for g in left)
        worst = {z.collection.split(".", 1)[1]: z.replicas_left for z in p.zone_loss}
        for c in declared:
            fewest = min(sum(1 for g in c["resourceGroups"] if zone_of[g] != z) for z in range(zones))
            assert worst[c["name"]] == fewest, (c["name"], worst, fewest)
        # The plan claims zone-failure tolerance exactly when every collection keeps a replica after any loss.
        assert p.az_failure_tolerant == guaranteed == all(c["replicas"] >= 2 for c in declared)
        event(f"replicaPerZone, tolerant={guaranteed}")
        minimal = lambda g, n: holds(g, n)  # noqa: E731
    else:
        def after_zone_loss(group: str, count: int) -> bool:
            # maxSkew 1 over `zones` zones: no zone has more than ceil(count / zones) of the group's nodes.
            return holds(group, count - math.ceil(count / zones))

        # Every replica, not just one, survives the loss of whichever zone holds the most of each group.
        assert all(after_zone_loss(g, n) for g, n in nodes.items())
        assert p.az_failure_tolerant
        assert all(z.replicas_left == z.replicas for z in p.zone_loss)
        minimal = after_zone_loss
        event("fullCapacity")
    event(f"count set by {max(p.groups, key=lambda g: g.nodes_needed).limited_by}")
    event(query_type)

    # No slack beyond whole nodes and the chart's one count for all groups: with one node fewer per group, the group
    # that sets the count would break its promise (hold its replicas; under fullCapacity, through a zone loss).
    count = p.query_node_replicas
    assert count == 1 or not all(minimal(g, count - 1) for g in nodes), (count, nodes)


def test_the_property_checks_would_catch_a_plan_one_node_short():
    # The control: prod's own workload, planned, then one node taken from every group; the oracle above says it no
    # longer holds under fullCapacity's zone loss, and replicaPerZone's per-group memory check fails.
    for mode in ("replicaPerZone", "fullCapacity"):
        doc = copy.deepcopy(_BASE)
        doc["topology"]["zoneFailure"] = mode
        settings = Settings.model_validate_json(json.dumps({**doc, "region": _REGION}), strict=True)
        p = sizing.plan(settings)
        usable = p.query_node.memory_limit_bytes * LOAD_THRESHOLD
        per_group = sum(loading_memory({"segmentSizeMb": 1024, "scalarBytesPerEntity": 0, **_explicit(c)})
                        for c in doc["topology"]["collections"])
        short = p.query_node_replicas - 1
        left = short - math.ceil(short / settings.network.az_count) if mode == "fullCapacity" else short
        assert per_group > left * usable, (mode, per_group / GIB, left)


def _explicit(c: dict) -> dict:
    """A stack-file collection with the defaults the oracle needs spelled out (HNSW M 30, DISKANN maxDegree 56 when
    the file sets none: stacks/sizing.py INDEX_DEFAULTS, from the sizing tool)."""
    defaults = {"HNSW": {"M": 30}, "DISKANN": {"maxDegree": 56}, "IVF_FLAT": {"nlist": 128}, "IVF_SQ8": {"nlist": 128},
                "FLAT": {}}
    index = c.get("index") or {"type": "HNSW"}
    return {**c, "index": {"type": index["type"], "params": {**defaults[index["type"]], **(index.get("params") or {})}}}


# ------------------------------------------------------------------------------------------ prod, from its bundle


def test_prod_replica_per_zone_from_the_rendered_query_nodes():
    """Issue 13, done when: utilisation >= 0.65 and one full replica of every collection after losing any one zone —
    counted from the rendered query-node Deployments (replicas, zone, resource group, memory limit) and the
    topology spec the reconciler loads, with this file's loading memory."""
    graph = graph_for("prod")
    objects = [o.obj for o in graph.program["bundle"].objects]
    groups = {}
    for o in objects:
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("milvus-querynode"):
            pod = o["spec"]["template"]["spec"]
            (container,) = [c for c in pod["containers"] if c["name"] == "querynode"]
            env = {e["name"]: e.get("value") for e in container.get("env") or ()}
            groups[env["MILVUS_SERVER_LABEL_RESOURCE_GROUP"]] = {
                "nodes": o["spec"]["replicas"], "zone": pod["nodeSelector"]["topology.kubernetes.io/zone"],
                "usable": float(parse_quantity(container["resources"]["limits"]["memory"])) * LOAD_THRESHOLD}
    (spec,) = [json.loads(o["data"]["spec.json"]) for o in objects
               if o["kind"] == "ConfigMap" and "spec.json" in (o.get("data") or {})]
    config = {(c.get("database", "default"), c["name"]): _explicit(c)
              for c in stack_document("prod")["milvus-eks:topology"]["collections"]}
    memory = {(c["database"], c["name"]): loading_memory({"segmentSizeMb": 1024, "scalarBytesPerEntity": 0,
                                                          **config[(c["database"], c["name"])]})
              for c in spec["collections"]}
    placed = {g: [(c["database"], c["name"]) for c in spec["collections"] if g in c["resourceGroups"]]
              for g in groups}

    loaded = sum(memory[(c["database"], c["name"])] * c["replicas"] for c in spec["collections"])
    capacity = sum(g["nodes"] * g["usable"] for g in groups.values())
    assert loaded / capacity >= 0.65, loaded / capacity
    assert len({g["zone"] for g in groups.values()}) == len(groups) == 2
    for lost in {g["zone"] for g in groups.values()} | {"zone-3"}:
        alive = {name: g for name, g in groups.items() if g["zone"] != lost}
        for c in spec["collections"]:
            key = (c["database"], c["name"])
            assert any(key in placed[name] for name in alive), (lost, key)
        for name, g in alive.items():
            assert sum(memory[k] for k in placed[name]) <= g["nodes"] * g["usable"], (lost, name)
