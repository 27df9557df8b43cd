"""The sizing planner: the official sizing tool's figures, Milvus' load check, placement, and properties."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from stacks import sizing
from stacks.catalog import load_catalog
from stacks.quantity import GIB, MIB
from stacks.settings import Settings
from tests.conftest import stack_document

MB = 10**6


def _document(stack: str = "dev") -> dict:
    """The stack's settings, with the query node sized from its node (dev pins a small query node; these tests are
    about the planner's own sizing)."""
    config = stack_document(stack)
    doc = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("milvus-eks:")}
    doc.get("milvus", {}).get("components", {}).pop("queryNode", None)
    return doc | {"region": config["aws:region"]}


def _settings(doc: dict) -> Settings:
    return Settings.model_validate_json(json.dumps(doc), strict=True)


def _with(stack: str = "dev", *, collections=None, groups=None, **sections) -> Settings:
    doc = copy.deepcopy(_document(stack))
    topology = doc.setdefault("topology", {})
    if collections is not None:
        topology["collections"] = collections
    if groups is not None:
        topology["resourceGroups"] = groups
    for path, value in sections.items():
        node = doc
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return _settings(doc)


def _spread_only(stack: str = "prod", **kwargs) -> Settings:
    """The stack with `topology.zoneFailure: spread`: groups sized for the workload alone."""
    return _with(stack, topology__zoneFailure="spread", **kwargs)


def _paths(plan: sizing.Plan) -> dict[str, str]:
    return {p.path: p.message for p in plan.problems}


# ------------------------------------------------------------------------------------------ the tool's formulas


def test_hnsw_index_memory_follows_the_sizing_tool():
    raw = 1_000_000 * 128 * 4
    assert raw == 512 * MB
    # sizingTool.ts: (1 + 2M/dim) × raw. With M=32 that is 768 MB; the "≈ 640 MB" check figure is what M=16 gives
    # (2 × 16 links × 4 bytes = 128 bytes over 512 bytes of vector per entity).
    assert sizing.index_memory_and_disk("HNSW", raw, 128, {"M": 32}) == (768 * MB, 0)
    assert sizing.index_memory_and_disk("HNSW", raw, 128, {"M": 16}) == (640 * MB, 0)


def test_default_hnsw_m_is_30():
    s = _with(collections=[{"name": "c", "dim": 128, "vectors": 1_000_000, "index": {"type": "HNSW"}}])
    c = sizing.plan(s).collections[0]
    assert c.index_memory_bytes == math.ceil(512 * MB * (1 + 60 / 128))


def test_ivf_and_flat_figures():
    raw = 1_000_000 * 768 * 4
    assert sizing.index_memory_and_disk("FLAT", raw, 768, {}) == (raw, 0)
    assert sizing.index_memory_and_disk("IVF_FLAT", raw, 768, {"nlist": 1024}) == (raw + 1024 * 768 * 4, 0)
    assert sizing.index_memory_and_disk("IVF_SQ8", raw, 768, {"nlist": 128}) == (raw // 4 + 128 * 768 * 4, 0)


def test_diskann_memory_disk_and_loading_have_no_segment_term():
    raw = 20_000_000 * 1024 * 4
    memory, disk = sizing.index_memory_and_disk("DISKANN", raw, 1024, {"maxDegree": 56})
    assert memory == raw // 4 == 20_480 * MB
    assert disk == math.ceil(raw * (1 + 56 / 1024)) == 86_400 * MB
    assert sizing.loading_memory("DISKANN", memory, GIB, 0) == math.ceil(memory * 1.15)
    # Every other index adds two segments before the 15 % overhead, and scalars after it.
    assert sizing.loading_memory("HNSW", 1000, 10, 7) == math.ceil((1000 + 20) * 1.15) + 7


def test_reference_shapes_match_the_tool_table():
    assert sizing.reference_shape(5 * GIB) == (1, 2, 8)
    assert sizing.reference_shape(10 * GIB) == (1, 4, 16)
    assert sizing.reference_shape(16 * GIB) == (2, 4, 16)
    assert sizing.reference_shape(50 * GIB) == (4, 4, 16)
    assert sizing.reference_shape(95 * GIB) == (6, 4, 16)
    assert sizing.reference_shape(100 * GIB) == (4, 8, 32)
    assert sizing.reference_shape(600 * GIB) == (10, 16, 64)
    assert sizing.reference_shape(3000 * GIB) == (24, 32, 128)


def test_streaming_units_and_nodes_follow_the_tool():
    assert sizing.streaming_units(8) == 1 and sizing._streaming_nodes(1) == 1
    assert sizing.streaming_units(96) == 6 and sizing._streaming_nodes(6) == 2
    assert sizing.streaming_units(320) == 20 and sizing._streaming_nodes(20) == 5


# ------------------------------------------------------------------------------------------ the stacks' plans


def test_dev_plan_figures():
    p = sizing.plan(_with())
    node = load_catalog()["m6id.2xlarge"]
    assert p.query_node.memory_limit_bytes == node.alloc_memory_bytes - sizing.DAEMONSET_OVERHEAD_MEMORY_BYTES
    assert p.query_node.usable_memory_bytes == int(p.query_node.memory_limit_bytes * 0.9)
    (docs,) = p.collections
    assert docs.raw_bytes == 1_000_000 * 768 * 4
    assert docs.index_memory_bytes == 3_200 * MB  # HNSW M=16
    assert docs.loading_memory_bytes == math.ceil((3_200 * MB + 2 * GIB) * 1.15)
    assert docs.local_disk_bytes == 3_200 * MB  # mmap on an NVMe pool
    assert (p.query_nodes, p.query_node_replicas, p.streaming_node_replicas) == (1, 1, 1)
    assert p.resource_groups == () and p.groups[0].name == sizing.DEFAULT_RESOURCE_GROUP
    # The shared dev pool keeps its configured floor of 2 nodes.
    assert p.pool("milvus") == sizing.PoolPlan("milvus", 2, 2, 4)
    assert p.problems == ()
    # One query node in two zones: the fix is a second one, named by its key.
    assert not p.az_failure_tolerant and "queryNode.replicas to 2" in p.az_failure_reason


def test_prod_plan_figures():
    p = sizing.plan(_spread_only("prod"))
    products, chunks = p.collections
    assert products.loading_memory_bytes == math.ceil((160_000 * MB + 2 * GIB) * 1.15) + 50_000_000 * 256
    assert chunks.loading_memory_bytes == math.ceil(20_480 * MB * 1.15)
    assert chunks.local_disk_bytes == 86_400 * MB
    assert [(g.name, g.nodes_needed, g.nodes, g.limited_by) for g in p.groups] == [
        ("rga", 3, 3, "memory"), ("rgb", 3, 3, "memory")]
    assert p.resource_groups == ("rga", "rgb")
    assert (p.query_node_replicas, p.query_nodes) == (3, 6)
    assert p.pool("query") == sizing.PoolPlan("query", 6, 6, 24)
    # 6 × 16 vCPU → 6 streaming units → 2 nodes; a 3-zone stack needs 2 anyway.
    assert (p.streaming_units, p.streaming_node_replicas) == (6, 2)
    assert p.problems == ()


def test_prod_zone_loss_is_computed_and_the_fix_named():
    p = sizing.plan(_spread_only("prod"))
    assert [g.zone_pods for g in p.groups] == [(1, 1, 1), (1, 1, 1)]
    # 2 surviving r6id.4xlarge hold 2 × 103 GiB, a replica set here needs 207.5 GiB.
    assert not p.az_failure_tolerant and "minNodes of rga to 5" in p.az_failure_reason
    fixed = sizing.plan(_spread_only("prod", groups=[{"name": "rga", "minNodes": 5}, {"name": "rgb", "minNodes": 5}]))
    assert fixed.az_failure_tolerant and fixed.query_nodes == 10
    assert [g.zone_pods for g in fixed.groups] == [(2, 2, 1), (2, 2, 1)]
    assert {g.limited_by for g in fixed.groups} == {"minNodes"}


def test_full_capacity_sizes_every_group_for_losing_a_zone():
    # zoneFailure fullCapacity: each group grows until its nodes outside the largest zone hold it.
    p = sizing.plan(_with("prod", topology__zoneFailure="fullCapacity"))
    assert [(g.name, g.nodes, g.limited_by, g.zone_pods) for g in p.groups] == [
        ("rga", 5, "zone loss", (2, 2, 1)), ("rgb", 5, "zone loss", (2, 2, 1))]
    assert p.az_failure_tolerant and p.query_nodes == 10
    assert p.pool("query") == sizing.PoolPlan("query", 10, 10, 24)
    assert all(g.survives_zone_loss for g in p.groups)


def test_plan_is_json_serialisable():
    p = sizing.plan(_spread_only("prod"))
    data = json.loads(json.dumps(p.to_dict()))
    assert data["query_nodes"] == 6 and data["groups"][0]["name"] == "rga"
    summary = json.loads(json.dumps(p.summary()))
    assert summary["resourceGroups"]["rgb"]["nodes"] == 3
    assert summary["pools"]["query"] == {"min": 6, "desired": 6, "max": 24}


# ------------------------------------------------------------------------------------------ placement


def _col(name: str, vectors: int, replicas: int = 1, groups=(), **extra) -> dict:
    return {"name": name, "dim": 768, "vectors": vectors, "replicas": replicas, "resourceGroups": list(groups),
            "index": {"type": "HNSW", "params": {"M": 16}}, **extra}


def test_chart_replicas_are_the_largest_group_need():
    s = _spread_only("prod", groups=[{"name": "big"}, {"name": "small"}],
              collections=[_col("a", 60_000_000, 1, ["big"]), _col("b", 1_000_000, 1, ["small"])])
    p = sizing.plan(s)
    need = {g.name: g.nodes_needed for g in p.groups}
    assert need["small"] == 1 and need["big"] > 1
    assert p.query_node_replicas == need["big"]
    assert {g.nodes for g in p.groups} == {need["big"]}
    assert p.query_nodes == 2 * need["big"]


def test_replicas_in_one_group_each_get_their_own_nodes():
    # 1.2 nodes' worth per replica: two replicas in one group need 2 × 2 nodes, not ceil(2.4) = 3.
    usable = sizing.plan(_with()).query_node.usable_memory_bytes
    per_replica = int(1.2 * usable / 1.15) - 2 * GIB
    vectors = per_replica // (768 * 4 * (1 + 32 / 768))
    s = _with(collections=[_col("a", int(vectors), 2)])
    (group,) = sizing.plan(s).groups
    assert group.nodes_for_memory == 4 and group.replicas == 2


def test_group_floor_from_min_nodes_and_query_node_replicas():
    p = sizing.plan(_spread_only("prod", groups=[{"name": "rga", "minNodes": 4}, {"name": "rgb"}]))
    assert p.query_node_replicas == 4 and p.groups[0].limited_by == "minNodes"
    p = sizing.plan(_with(milvus__components={"queryNode": {"replicas": 2}}))
    assert p.query_nodes == 2 and p.groups[0].limited_by == "milvus.components.queryNode.replicas"


def test_streaming_floor_from_settings():
    p = sizing.plan(_with(milvus__components={"streamingNode": {"replicas": 3}}))
    assert p.streaming_node_replicas == 3


def test_disk_can_decide_the_node_count():
    # DISKANN at dim 64: 0.29 × raw of memory but 1.9 × raw of NVMe; x2iedn.xlarge has 128 GiB over 118 GB NVMe.
    s = _with(nodePools__milvus__instanceTypes=["x2iedn.xlarge"],
              collections=[{"name": "d", "dim": 64, "vectors": 500_000_000, "index": {"type": "DISKANN"}}])
    p = sizing.plan(s)
    (group,) = p.groups
    assert group.local_disk_bytes == 240_000 * MB
    assert p.query_node.local_disk_bytes == int((int(118 * 10**9 * 0.85) - 30 * GIB) // GIB * GIB * 0.95)
    assert group.nodes_for_disk == math.ceil(group.local_disk_bytes / p.query_node.local_disk_bytes) == 4
    assert (group.nodes_for_memory, group.limited_by) == (1, "disk")
    assert group.nodes == 4 and group.nodes * p.query_node.local_disk_bytes >= group.local_disk_bytes


# ------------------------------------------------------------------------------------------ problems


def test_pool_max_too_small_names_the_key_and_numbers():
    p = sizing.plan(_with(collections=[_col("big", 100_000_000)]))
    message = _paths(p)["nodePools.milvus.maxSize"]
    assert f"needs {p.query_nodes} query nodes" in message and "maxSize is 4" in message


def test_replicas_beyond_what_the_pool_can_give_a_group():
    s = _with("prod", groups=[{"name": "rga"}], nodePools__query__maxSize=3,
              collections=[_col("a", 1_000, 4, ["rga"])])
    message = _paths(sizing.plan(s))["topology.collections[0].replicas"]
    assert "4 replicas in group 'rga'" in message and "at most 3" in message


@pytest.mark.parametrize("collection,path,fragment", [
    (_col("a", 10, shards=17), "topology.collections[0].shards", "proxy.maxShardNum 16"),
    (_col("a", 10, index={"type": "HNSW", "params": {"M": 1}}), "topology.collections[0].index.params",
     "M 1 is outside 2..2048"),
    (_col("a", 10, index={"type": "IVF_FLAT", "params": {"M": 8}}), "topology.collections[0].index.params",
     "unknown IVF_FLAT parameter 'M'"),
    (_col("a", 10, replicas=3, groups=["rga", "rgb"]), "topology.collections[0].resourceGroups",
     "2 groups for 3 replicas"),
    (_col("a", 10, groups=["rgx"]), "topology.collections[0].resourceGroups", "'rgx' is not declared"),
    (_col("a", 10), "topology.collections[0].resourceGroups", "the default group has none"),
    (_col("a", 10, replicas=2, groups=["rga"]), "topology.collections[0].resourceGroups",
     "list 2 groups (one per replica)"),
])
def test_prod_problem(collection, path, fragment):
    p = sizing.plan(_with("prod", collections=[collection]))
    assert fragment in _paths(p).get(path, ""), p.problems


def test_shared_replicas_are_fine_in_a_two_zone_stack():
    s = _with(groups=[{"name": "rga"}], collections=[_col("a", 10, replicas=2, groups=["rga"])])
    assert sizing.plan(s).problems == ()


def test_diskann_on_a_pool_without_nvme():
    s = _with(nodePools__milvus__nvme=False, nodePools__milvus__instanceTypes=["m7i.2xlarge"],
              collections=[{"name": "d", "dim": 128, "vectors": 1_000_000, "index": {"type": "DISKANN"}}])
    p = sizing.plan(s)
    assert "has no NVMe" in _paths(p)["topology.collections[0].index.type"]
    assert p.mmap is False


def test_single_segment_fits_check_uses_the_load_factor():
    usable = sizing.plan(_with()).query_node.usable_memory_bytes
    fits = usable // 2 // MIB
    assert sizing.plan(_with(collections=[_col("a", 10, segmentSizeMb=fits)])).problems == ()
    message = _paths(sizing.plan(_with(collections=[_col("a", 10, segmentSizeMb=fits + 1)])))[
        "topology.collections[0].segmentSizeMb"]
    assert "loadMemoryUsageFactor 2" in message and "nodePools.milvus.instanceTypes" in message


# ------------------------------------------------------------------------------------------ properties

_BASE = _document("prod")


def _prod_with(collections: list[dict], max_size: int = 1000) -> Settings:
    doc = copy.deepcopy(_BASE)
    doc["topology"]["collections"] = collections
    # A floor of 1 keeps every maxSize drawn a valid pool; the plan, not the floor, must raise the size.
    doc["nodePools"]["query"]["minSize"] = 1
    doc["nodePools"]["query"]["maxSize"] = max_size
    return _settings(doc)


collection_strategy = st.fixed_dictionaries({
    "name": st.sampled_from(["a", "b", "c"]),
    "dim": st.sampled_from([64, 128, 768, 1536]),
    "vectors": st.integers(0, 3 * 10**8),
    "replicas": st.integers(1, 2),
    "index": st.sampled_from([{"type": "HNSW", "params": {"M": 16}}, {"type": "DISKANN"}, {"type": "IVF_SQ8"},
                              {"type": "FLAT"}]),
    "scalarBytesPerEntity": st.integers(0, 512),
})


def _unique(collections: list[dict]) -> list[dict]:
    out = []
    for i, c in enumerate(collections):
        groups = ["rga", "rgb"][: c["replicas"]] if c["replicas"] == 2 else [["rga", "rgb"][i % 2]]
        out.append({**c, "name": f"c{i}", "resourceGroups": groups})
    return out


PROPERTY = hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(collection_strategy, min_size=1, max_size=3), st.integers(0, 2), st.integers(1, 10**8))
def test_more_vectors_never_fewer_query_nodes(collections, which, extra):
    collections = _unique(collections)
    which %= len(collections)
    before = sizing.plan(_prod_with(collections))
    grown = [dict(c) for c in collections]
    grown[which]["vectors"] += extra
    after = sizing.plan(_prod_with(grown))
    assert after.query_nodes >= before.query_nodes
    assert all(a.nodes_needed >= b.nodes_needed for a, b in zip(after.groups, before.groups))


@PROPERTY
@given(st.lists(collection_strategy, min_size=1, max_size=3), st.integers(0, 2))
def test_more_replicas_never_fewer_query_nodes(collections, which):
    collections = [{**c, "replicas": 1, "resourceGroups": ["rga"]} for c in _unique(collections)]
    which %= len(collections)
    before = sizing.plan(_prod_with(collections))
    grown = [dict(c) for c in collections]
    grown[which] = {**grown[which], "replicas": 2, "resourceGroups": ["rga", "rgb"]}
    after = sizing.plan(_prod_with(grown))
    assert after.query_nodes >= before.query_nodes


@PROPERTY
@given(st.lists(collection_strategy, min_size=1, max_size=3), st.integers(1, 40))
def test_an_accepted_plan_fits_its_pools(collections, max_size):
    p = sizing.plan(_prod_with(_unique(collections), max_size))
    if p.problems:
        return
    pool = p.pool("query")
    assert p.query_nodes <= pool.max_size and pool.min_size <= pool.desired_size <= pool.max_size
    assert pool.min_size >= p.query_nodes
    usable, disk = p.query_node.usable_memory_bytes, p.query_node.local_disk_bytes
    for g in p.groups:
        assert g.nodes >= max(g.replicas, 1)
        assert g.nodes * usable >= g.loading_memory_bytes
        assert g.nodes * disk >= g.local_disk_bytes
    for c in p.collections:
        assert c.segment_bytes * sizing.LOAD_MEMORY_USAGE_FACTOR <= usable
        for g, n in c.placement:
            share = next(x for x in p.groups if x.name == g)
            assert share.nodes >= n * math.ceil(c.loading_memory_bytes / usable)


# ------------------------------------------------------------------------------------------ zone failure modes


def _replicas_left(settings: Settings, p: sizing.Plan, lost_zone: int) -> dict[str, int]:
    """Replicas of each collection outside `lost_zone`, from the stack's own placement and the plan's pinning."""
    zone_of = {g.name: g.zone for g in p.groups}
    return {f"{c.database}.{c.name}": sum(1 for g in c.resource_groups if zone_of[g] != lost_zone)
            for c in settings.topology.collections}


def test_prod_replica_per_zone_meets_the_issue_target():
    # Issue 13, "done when": utilisation >= 0.65 and one full replica of every collection after any one zone loss.
    s = _with("prod")
    assert s.topology.zone_failure == "replicaPerZone"
    p = sizing.plan(s)
    assert not p.problems
    assert p.memory_utilisation >= 0.65
    assert sorted(g.zone for g in p.groups) == [0, 1]  # each group alone in its own zone
    usable, disk = p.query_node.usable_memory_bytes, p.query_node.local_disk_bytes
    for lost in range(p.zones):
        left = _replicas_left(s, p, lost)
        assert min(left.values()) >= 1, (lost, left)
        # What is left still holds a full replica: every surviving group holds everything it serves on its own.
        for g in p.groups:
            if g.zone != lost:
                assert g.nodes * usable >= g.loading_memory_bytes and g.nodes * disk >= g.local_disk_bytes
    assert p.az_failure_tolerant
    assert {z.collection: (z.replicas_left, z.qps_share) for z in p.zone_loss} == {
        "search.products": (1, 0.5), "rag.chunks": (1, 0.5)}


def test_replica_per_zone_needs_fewer_nodes_than_full_capacity_for_prod():
    pinned = sizing.plan(_with("prod"))
    full = sizing.plan(_with("prod", topology__zoneFailure="fullCapacity"))
    assert (pinned.query_nodes, full.query_nodes) == (6, 10)
    assert full.memory_utilisation < 0.65 <= pinned.memory_utilisation
    assert all(z.replicas_left == z.replicas for z in full.zone_loss)  # every replica reloads on the nodes left
    assert {z.qps_share for z in full.zone_loss} == {0.6}  # 3 of 5 nodes left in each group


def test_replica_per_zone_group_zones_follow_the_declared_order():
    p = sizing.plan(_with("prod"))
    assert p.group_zones(("z1", "z2", "z3")) == {"rga": "z1", "rgb": "z2"}
    assert sizing.plan(_spread_only("prod")).group_zones(("z1", "z2", "z3")) == {}


def test_replica_per_zone_problems_name_the_key():
    one_group = _paths(sizing.plan(_with("prod", groups=[{"name": "rga"}], collections=[_col("a", 10**6, 1, ["rga"])])))
    assert "topology.zoneFailure" in one_group and "at least 2" in one_group["topology.zoneFailure"]
    four = [{"name": f"rg{i}"} for i in range(4)]
    too_many = _paths(sizing.plan(_with("prod", groups=four, collections=[_col("a", 10**6, 4, [g["name"] for g in four])])))
    assert "network.azCount is 3" in too_many["topology.resourceGroups"]
    managed = _paths(sizing.plan(_with("prod", nodePools__query__provisioner="managedNodeGroup")))
    assert "set provisioner: karpenter" in managed["nodePools.query.provisioner"]


def test_a_single_replica_collection_is_reported_as_lost_with_its_zone():
    s = _with("prod", collections=[_col("a", 10**7, 2, ["rga", "rgb"]), _col("b", 10**7, 1, ["rgb"])])
    p = sizing.plan(s)
    assert not p.az_failure_tolerant and "default.b" in p.az_failure_reason
    lost = {z.collection: z for z in p.zone_loss}
    assert (lost["default.b"].replicas_left, lost["default.b"].zone) == (0, 1)
    assert (lost["default.a"].replicas_left, lost["default.a"].qps_share) == (1, 0.5)


def test_the_old_survive_zone_loss_key_gets_a_rename_message():
    from stacks.errors import ConfigError
    from stacks.validation import load_settings

    doc = _document("prod")
    region = doc.pop("region")
    doc["topology"] = {**doc["topology"], "surviveZoneLoss": True}
    doc["topology"].pop("zoneFailure")
    with pytest.raises(ConfigError) as err:
        load_settings(doc, region)
    (problem,) = err.value.problems
    assert problem.path == "topology.surviveZoneLoss" and "zoneFailure: fullCapacity" in problem.message


zoned_collection = st.fixed_dictionaries({
    "dim": st.sampled_from([128, 768, 1536]),
    "vectors": st.integers(0, 2 * 10**8),
    "groups": st.sampled_from([("rga", "rgb"), ("rga", "rgc"), ("rgb", "rgc"), ("rga", "rgb", "rgc")]),
    "index": st.sampled_from([{"type": "HNSW", "params": {"M": 16}}, {"type": "DISKANN"}, {"type": "IVF_SQ8"}]),
    "scalarBytesPerEntity": st.integers(0, 512),
})


def _zoned(collections: list[dict], mode: str) -> Settings:
    doc = copy.deepcopy(_BASE)
    doc["topology"]["resourceGroups"] = [{"name": g} for g in ("rga", "rgb", "rgc")]
    doc["topology"]["zoneFailure"] = mode
    doc["topology"]["collections"] = [
        {"name": f"c{i}", "dim": c["dim"], "vectors": c["vectors"], "replicas": len(c["groups"]),
         "resourceGroups": list(c["groups"]), "index": c["index"], "scalarBytesPerEntity": c["scalarBytesPerEntity"]}
        for i, c in enumerate(collections)]
    doc["nodePools"]["query"]["minSize"] = 1
    doc["nodePools"]["query"]["maxSize"] = 1000
    return _settings(doc)


@PROPERTY
@given(st.lists(zoned_collection, min_size=1, max_size=4))
def test_replica_per_zone_guarantees_over_random_workloads(collections):
    s = _zoned(collections, "replicaPerZone")
    p = sizing.plan(s)
    assert not p.problems
    usable, disk = p.query_node.usable_memory_bytes, p.query_node.local_disk_bytes
    assert len({g.zone for g in p.groups}) == len(p.groups) == 3
    for lost in range(p.zones):
        assert min(_replicas_left(s, p, lost).values()) >= 1
    for g in p.groups:
        # Sized for its own replicas only: each surviving group serves them without help.
        assert g.nodes * usable >= g.loading_memory_bytes and g.nodes * disk >= g.local_disk_bytes
    assert p.az_failure_tolerant and all(z.replicas_left >= 1 for z in p.zone_loss)
    # Never more nodes, never lower utilisation than holding full capacity through a zone loss.
    full = sizing.plan(_zoned(collections, "fullCapacity"))
    assert p.query_nodes <= full.query_nodes
    assert p.memory_utilisation >= full.memory_utilisation
    # No slack beyond what the chart forces: the largest group could not lose a node.
    biggest = max(p.groups, key=lambda g: g.nodes_needed)
    assert p.query_node_replicas == biggest.nodes_needed
    assert biggest.limited_by in ("memory", "disk", "replicas", "minNodes")
