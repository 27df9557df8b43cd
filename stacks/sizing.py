"""The capacity plan: the workload under `topology` → loading memory and local disk per replica → query nodes per
resource group → streaming nodes → query-pool size. Pure (settings in, Plan out); no Pulumi.

Formulas follow the official sizing tool (milvus-io/milvus.io `src/utils/sizingTool.ts`,
`memoryAndDiskCalculator`): raw = N × dim × 4 bytes; index memory / local disk per index type; loading memory
= (index memory + 2 × segment) × 1.15 (DISKANN: index memory × 1.15) plus N × scalar bytes, per replica.

Milvus' own admission check is modelled per query node (milvus `pkg/util/paramtable/component_param.go`:
`queryNode.loadMemoryUsageFactor` 2, `queryCoord.overloadedMemoryThresholdPercentage` 90): a node accepts a
segment only while current usage + segment × 2 stays under 90 % of the memory it sees (its cgroup limit). The
plan therefore (a) counts 90 % of the query node's memory limit as usable and fills it with the tool's loading
memory — whose `2 × segment` term already reserves the loader's peak once per replica — and (b) separately
requires the largest segment × 2 to fit in one node's usable memory, since a segment cannot be split.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Iterator

from stacks.catalog import InstanceType, load_catalog
from stacks.errors import Problem
from stacks.quantity import GIB, MIB, parse_quantity
from stacks.settings import CollectionSettings, Settings

# sizingTool.ts memoryAndDiskCalculator.
BYTES_PER_DIM = 4
LOADING_OVERHEAD = 1.15
SEGMENTS_WHILE_LOADING = 2
INDEX_DEFAULTS = {"HNSW": {"M": 30}, "DISKANN": {"maxDegree": 56}, "IVF_FLAT": {"nlist": 128},
                  "IVF_SQ8": {"nlist": 128}, "FLAT": {}}
# Build parameters Milvus accepts per index type, with knowhere's ranges (zilliztech/knowhere
# src/index/hnsw/faiss_hnsw_config.h M 2..2048; src/index/ivf/ivf_config.h nlist 1..65536;
# src/index/diskann/diskann_config.h max_degree 1..2048). Stack files spell DiskANN's in camelCase.
INDEX_PARAM_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": (1, 65536)},
    "IVF_SQ8": {"nlist": (1, 65536)},
    "HNSW": {"M": (2, 2048), "efConstruction": (1, 2**31 - 1)},
    "DISKANN": {"maxDegree": (1, 2048), "searchListSize": (1, 2**31 - 1)},
}

# Milvus defaults (pkg/util/paramtable/component_param.go).
LOAD_MEMORY_USAGE_FACTOR = 2
OVERLOADED_MEMORY_THRESHOLD = 0.90
MAX_DISK_USAGE = 0.95  # queryNode.maxDiskUsagePercentage
MAX_SHARDS = 16  # proxy.maxShardNum
DEFAULT_RESOURCE_GROUP = "__default_resource_group"

# What the DaemonSets on every node (aws-node, kube-proxy, eks-pod-identity-agent, ebs-csi-node, node-exporter)
# take out of a node's allocatable before the query node gets it, with headroom for their real usage. The plan
# and the query node's resources (render/milvus_values.py) must use the same figures; this is their home.
DAEMONSET_OVERHEAD_MILLICPU = 500
DAEMONSET_OVERHEAD_MEMORY_BYTES = 1536 * MIB
# Local disk the query node may not claim: images and pod logs share the kubelet root (the NVMe RAID0), and the
# kubelet evicts pods when imagefs.available < 15 % (kubelet default hard eviction thresholds).
IMAGE_AND_LOG_RESERVE_BYTES = 30 * GIB
KUBELET_IMAGEFS_EVICTION_FRACTION = 0.15

# Streaming nodes (sizingTool.ts streamNodeConfigCalculator): one 2-vCPU unit per 16 query-node vCPUs.
QUERY_VCPU_PER_STREAMING_UNIT = 16
STREAMING_VCPU_PER_UNIT = 2
# A stack with this many zones is expected to survive losing one: writes need a second streaming node.
ZONE_LOSS_AZ_COUNT = 3
ZONE_LOSS_MIN_STREAMING_NODES = 2


# ---------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class CollectionPlan:
    key: str
    """`database.name`."""
    path: str
    """Where the collection is declared, e.g. `topology.collections[0]`."""
    index_type: str
    raw_bytes: int
    index_memory_bytes: int
    scalar_bytes: int
    segment_bytes: int
    loading_memory_bytes: int
    """Per replica: what Milvus needs resident to serve it (sizing-tool formula, scalars included)."""
    local_disk_bytes: int
    """Per replica: DiskANN files plus, with mmap, the mmapped index and raw vectors."""
    replicas: int
    placement: tuple[tuple[str, int], ...]
    """(resource group, replicas there)."""


@dataclass(frozen=True)
class GroupPlan:
    name: str
    replicas: int
    """Most replicas any one collection places here: each needs its own query nodes."""
    loading_memory_bytes: int
    local_disk_bytes: int
    nodes_for_memory: int
    nodes_for_disk: int
    min_nodes: int
    nodes_needed: int
    limited_by: str
    """Which lower bound decided `nodes_needed`: memory, disk, replicas, minNodes or the queryNode.replicas key."""
    nodes: int
    """Query nodes the group really gets (the chart gives every declared group the same count)."""
    zone_pods: tuple[int, ...]
    """Query-node pods per zone under topology spread (maxSkew 1): the largest share is listed first."""
    survives_zone_loss: bool
    """After losing the zone with the most of its pods, the rest still hold what the group serves."""
    nodes_for_zone_loss: int
    """The fewest nodes with which the group would survive that loss (0 in a one-zone stack, or when pinned)."""
    zone: int | None = None
    """`replicaPerZone`: the zone (index into the stack's zones, in order) its query nodes are pinned to."""


@dataclass(frozen=True)
class ZoneLoss:
    """What the worst single-zone loss does to one collection, once Milvus has reloaded what it can."""

    collection: str
    replicas: int
    replicas_left: int
    """Replicas still serving a full copy of the collection."""
    qps_share: float
    """Share of the collection's query capacity left: replicas left (replicaPerZone), or the query nodes left in the
    groups that still hold their replicas (spread, fullCapacity)."""
    zone: int | None
    """The zone whose loss is the worst (replicaPerZone); None when every group spreads over the zones (the loss of
    the zone holding the largest share of each group)."""


@dataclass(frozen=True)
class PoolPlan:
    name: str
    min_size: int
    desired_size: int
    max_size: int


@dataclass(frozen=True)
class NodeShape:
    instance_type: str
    vcpu: int
    memory_limit_bytes: int
    """The query node's memory limit: the node's allocatable minus the DaemonSet overhead, unless set."""
    usable_memory_bytes: int
    """90 % of the limit (Milvus' overload threshold)."""
    local_disk_bytes: int
    """Local disk Milvus may fill on the query node: 95 % of its ephemeral-storage limit (0 without NVMe)."""


@dataclass(frozen=True)
class Plan:
    query_node: NodeShape
    collections: tuple[CollectionPlan, ...]
    groups: tuple[GroupPlan, ...]
    resource_groups: tuple[str, ...]
    """Declared groups, in order: what the chart's `replicaResourceGroups` gets (empty: only the default group)."""
    query_node_replicas: int
    """The chart's `queryNode.replicas`: per declared group, or in total when there are none."""
    query_nodes: int
    streaming_units: int
    streaming_node_replicas: int
    """The chart's `streamingNode.replicas` (per group when groups are declared: the primary group hosts every WAL)."""
    data_node_replicas: int
    zones: int
    mmap: bool
    az_failure_tolerant: bool
    az_failure_reason: str
    pools: tuple[PoolPlan, ...]
    reference_shape: tuple[int, int, int]
    """What the official sizing tool would pick for the total loading memory: (nodes, vCPU, GiB each)."""
    zone_failure: str = "spread"
    """`topology.zoneFailure`."""
    zone_loss: tuple[ZoneLoss, ...] = ()
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def pool(self, name: str) -> PoolPlan | None:
        return next((p for p in self.pools if p.name == name), None)

    @property
    def memory_utilisation(self) -> float:
        """Loading memory of every replica over the usable memory of every query node (Milvus' 90 % threshold)."""
        usable = self.query_nodes * self.query_node.usable_memory_bytes
        return sum(c.loading_memory_bytes * c.replicas for c in self.collections) / usable if usable else 0.0

    def group_zones(self, zone_names: tuple[str, ...] | list[str]) -> dict[str, str]:
        """Resource group → the zone name its query nodes are pinned to (empty unless `replicaPerZone`)."""
        return {g.name: zone_names[g.zone] for g in self.groups if g.zone is not None}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [str(p) for p in self.problems]
        return data

    def summary(self) -> dict[str, Any]:
        """The stack output: figures a reviewer compares between two previews."""
        return {
            "queryNode": {"instanceType": self.query_node.instance_type,
                          "memoryLimitGiB": round(self.query_node.memory_limit_bytes / GIB, 1),
                          "usableMemoryGiB": round(self.query_node.usable_memory_bytes / GIB, 1)},
            "collections": {c.key: {"loadingMemoryGiBPerReplica": round(c.loading_memory_bytes / GIB, 1),
                                    "localDiskGiBPerReplica": round(c.local_disk_bytes / GIB, 1),
                                    "replicas": c.replicas} for c in self.collections},
            "resourceGroups": {g.name: {"nodesNeeded": g.nodes_needed, "nodes": g.nodes, "limitedBy": g.limited_by,
                                        "zonePods": list(g.zone_pods),
                                        **({"zone": g.zone} if g.zone is not None else {})} for g in self.groups},
            "queryNodes": self.query_nodes,
            "queryNodeReplicas": self.query_node_replicas,
            "streamingNodeReplicas": self.streaming_node_replicas,
            "dataNodeReplicas": self.data_node_replicas,
            "pools": {p.name: {"min": p.min_size, "desired": p.desired_size, "max": p.max_size} for p in self.pools},
            "referenceShape": dict(zip(("nodes", "vcpu", "memoryGiB"), self.reference_shape)),
            "azFailureTolerant": self.az_failure_tolerant,
            "azFailureReason": self.az_failure_reason,
            "zoneFailure": self.zone_failure,
            "queryMemoryUtilisation": round(self.memory_utilisation, 3),
            "zoneLoss": {z.collection: {"replicasLeft": z.replicas_left, "of": z.replicas,
                                        "qpsShare": round(z.qps_share, 3)} for z in self.zone_loss},
        }


# ---------------------------------------------------------------------------------------------------- formulas


def index_params(collection: CollectionSettings) -> dict[str, int]:
    return {**INDEX_DEFAULTS[collection.index.type], **collection.index.params}


def index_memory_and_disk(index_type: str, raw: int, dim: int, params: dict[str, int]) -> tuple[int, int]:
    """(index memory, local disk) in bytes for `raw` bytes of float vectors (sizingTool.ts)."""
    if index_type == "FLAT":
        return raw, 0
    if index_type == "IVF_FLAT":
        return raw + params["nlist"] * dim * BYTES_PER_DIM, 0
    if index_type == "IVF_SQ8":
        return raw // 4 + params["nlist"] * dim * BYTES_PER_DIM, 0
    if index_type == "HNSW":
        return math.ceil(raw * (1 + 2 * params["M"] / dim)), 0
    if index_type == "DISKANN":
        return raw // 4, math.ceil(raw * (1 + params["maxDegree"] / dim))
    raise ValueError(f"unknown index type {index_type!r}")


def loading_memory(index_type: str, index_memory: int, segment: int, scalar: int) -> int:
    if index_type == "DISKANN":
        return math.ceil(index_memory * LOADING_OVERHEAD) + scalar
    return math.ceil((index_memory + SEGMENTS_WHILE_LOADING * segment) * LOADING_OVERHEAD) + scalar


def reference_shape(loading_bytes: int) -> tuple[int, int, int]:
    """The sizing tool's query-node pick (clusterNodesConfigCalculator): (count, vCPU, GiB) for a total."""
    gib = loading_bytes / GIB
    if gib >= 2048:
        return math.ceil(gib / 128), 32, 128
    if gib >= 512:
        return math.ceil(gib / 64), 16, 64
    if gib >= 96:
        return math.ceil(gib / 32), 8, 32
    if gib < 8:
        return 1, 2, 8
    # From 8 to 96 GiB the tool's fixed table steps by 16 GiB: [8, 16) one 4c/16G node, [16, 32) two, ...
    return int(gib // 16) + 1, 4, 16


def streaming_units(query_vcpus: int) -> int:
    return max(1, math.ceil(query_vcpus / QUERY_VCPU_PER_STREAMING_UNIT))


def query_node_disk_bytes(settings: Settings) -> int:
    """The local disk a query node's emptyDir lives on: the NVMe array on NVMe pools, else the root volume."""
    pool = settings.node_pools[settings.pool_for("queryNode")]
    if pool.nvme:
        return load_catalog()[pool.instance_types[0]].nvme_bytes
    return pool.root_volume_gb * GIB


def query_node_disk_limit(settings: Settings) -> int:
    """The query node's ephemeral-storage limit, whole GiB (`LOCAL_STORAGE_SIZE` is in GiB): what its disk leaves
    after images, logs and the kubelet's eviction threshold, unless the stack file sets it."""
    limit = settings.milvus.components.query_node.resources.limits.ephemeral_storage
    if limit is not None:
        return int(parse_quantity(limit))
    disk = query_node_disk_bytes(settings)
    usable = int(disk * (1 - KUBELET_IMAGEFS_EVICTION_FRACTION)) - IMAGE_AND_LOG_RESERVE_BYTES
    return max(0, usable // GIB * GIB)


def query_node_memory_limit(settings: Settings, node: InstanceType) -> int:
    """The query node's memory limit: `milvus.components.queryNode.resources.limits.memory` when set, else all
    the node leaves after the DaemonSets (one query node per node)."""
    limit = settings.milvus.components.query_node.resources.limits.memory
    if limit is not None:
        return int(parse_quantity(limit))
    return node.alloc_memory_bytes - DAEMONSET_OVERHEAD_MEMORY_BYTES


def zone_spread(nodes: int, zones: int) -> tuple[int, ...]:
    """Pods per zone under a zone topology spread with maxSkew 1, largest share first."""
    return tuple(nodes // zones + (1 if i < nodes % zones else 0) for i in range(zones))


# ---------------------------------------------------------------------------------------------------- planner


def _placement(c: CollectionSettings) -> tuple[tuple[str, int], ...]:
    if not c.resource_groups:
        return ((DEFAULT_RESOURCE_GROUP, c.replicas),)
    if len(c.resource_groups) == 1:
        return ((c.resource_groups[0], c.replicas),)
    counts = Counter(c.resource_groups)
    return tuple((g, counts[g]) for g in dict.fromkeys(c.resource_groups))


def _query_shape(settings: Settings) -> tuple[str, NodeShape]:
    pool_name = settings.pool_for("queryNode")
    pool = settings.node_pools[pool_name]
    node = load_catalog()[pool.instance_types[0]]
    limit = query_node_memory_limit(settings, node)
    # Milvus fills LOCAL_STORAGE_SIZE up to queryNode.maxDiskUsagePercentage. Without NVMe, DiskANN and mmap are
    # not planned (the emptyDir would sit on the EBS root volume).
    disk = query_node_disk_limit(settings) * MAX_DISK_USAGE if pool.nvme else 0
    return pool_name, NodeShape(
        instance_type=node.name, vcpu=node.vcpu, memory_limit_bytes=limit,
        usable_memory_bytes=int(limit * OVERLOADED_MEMORY_THRESHOLD), local_disk_bytes=int(disk))


def _collection_plan(i: int, c: CollectionSettings, mmap: bool) -> CollectionPlan:
    raw = c.vectors * c.dim * BYTES_PER_DIM
    index_memory, disk = index_memory_and_disk(c.index.type, raw, c.dim, index_params(c))
    segment = c.segment_size_mb * MIB
    scalar = c.vectors * c.scalar_bytes_per_entity
    if mmap and c.index.type != "DISKANN":
        # mmap moves the index (and the raw vectors it embeds) and the scalar fields to local files; memory is
        # still planned as if all of it were hot in the page cache, so search latency stays in-memory.
        disk += index_memory + scalar
    return CollectionPlan(
        key=f"{c.database}.{c.name}", path=f"topology.collections[{i}]", index_type=c.index.type, raw_bytes=raw,
        index_memory_bytes=index_memory, scalar_bytes=scalar, segment_bytes=segment,
        loading_memory_bytes=loading_memory(c.index.type, index_memory, segment, scalar), local_disk_bytes=disk,
        replicas=c.replicas, placement=_placement(c))


def plan(settings: Settings) -> Plan:
    """The capacity plan for a stack; `Plan.problems` lists what cannot be deployed (see `sizing_problems`)."""
    pool_name, shape = _query_shape(settings)
    pool = settings.node_pools[pool_name]
    zones = settings.network.az_count
    mmap = settings.milvus.mmap and pool.nvme
    collections = tuple(
        _collection_plan(i, c, mmap) for i, c in enumerate(settings.topology.collections) if c.index.type in
        INDEX_PARAM_RANGES and not _bad_params(c))

    declared = tuple(g.name for g in settings.topology.resource_groups)
    min_nodes = {g.name: g.min_nodes for g in settings.topology.resource_groups}
    names = list(declared) if declared else [DEFAULT_RESOURCE_GROUP]
    for c in collections:
        for group, _ in c.placement:
            if group not in names:
                names.append(group)

    user_replicas = settings.milvus.components.query_node.replicas or 0
    mode = settings.topology.zone_failure
    needs = {name: _group_need(name, collections, shape, min_nodes.get(name, 0), user_replicas) for name in names}
    if mode == "fullCapacity" and zones > 1:
        needs = {name: _with_zone_loss(need, zones, shape) for name, need in needs.items()}
    # replicaPerZone: declared group i lives in zone i alone, so a zone loss removes whole groups, never a share.
    pinned = {name: i for i, name in enumerate(declared)} if mode == "replicaPerZone" and zones > 1 else {}
    # The chart gives every declared group the same `queryNode.replicas`: the largest need wins.
    chart = max([1, *(needs[n][0] for n in (declared or names))])
    groups = []
    for name in names:
        need, reason, memory, disk, by_memory, by_disk, replicas = needs[name]
        nodes = chart if (not declared or name in declared) else 0
        survives = partial(_survives_zone_loss, zones=zones, replicas=replicas, memory=memory, disk=disk, shape=shape)
        zone = pinned.get(name)
        groups.append(GroupPlan(
            name=name, replicas=replicas, loading_memory_bytes=memory, local_disk_bytes=disk,
            nodes_for_memory=by_memory, nodes_for_disk=by_disk, min_nodes=min_nodes.get(name, 0), nodes_needed=need,
            limited_by=reason, nodes=nodes,
            zone_pods=(nodes,) + (0,) * (zones - 1) if zone is not None else
            tuple(sorted(zone_spread(nodes, zones), reverse=True)),
            survives_zone_loss=survives(nodes) and zone is None,
            # n - ceil(n / zones) >= need once n >= 2 * (need + 1); 0 when nothing helps (no local disk, pinned).
            nodes_for_zone_loss=next((n for n in range(max(need, 1), 2 * (need + 1) + 1) if survives(n)), 0)
            if zones > 1 and zone is None else 0, zone=zone))

    query_nodes = chart * len(declared) if declared else chart
    units = streaming_units(query_nodes * shape.vcpu)
    streaming = max(_streaming_nodes(units), settings.milvus.components.streaming_node.replicas or 0)
    if zones >= ZONE_LOSS_AZ_COUNT:
        streaming = max(streaming, ZONE_LOSS_MIN_STREAMING_NODES)

    pools = tuple(_pool_plan(name, p, query_nodes if name == pool_name else None)
                  for name, p in settings.node_pools.items())
    by_name = {g.name: g for g in groups}
    if pinned:
        tolerant, reason = _az_failure_pinned(collections, by_name)
        zone_loss = tuple(_zone_loss_pinned(c, by_name, zones) for c in collections)
    else:
        tolerant, reason = _az_failure(collections, by_name, zones)
        zone_loss = tuple(_zone_loss_spread(c, by_name) for c in collections) if zones > 1 else ()
    result = Plan(
        query_node=shape, collections=collections, groups=tuple(groups), resource_groups=declared,
        query_node_replicas=chart, query_nodes=query_nodes, streaming_units=units,
        streaming_node_replicas=streaming, data_node_replicas=settings.milvus.components.data_node.replicas or 1,
        zones=zones, mmap=mmap, az_failure_tolerant=tolerant, az_failure_reason=reason, pools=pools,
        reference_shape=reference_shape(sum(c.loading_memory_bytes * c.replicas for c in collections)),
        zone_failure=mode, zone_loss=zone_loss)
    return Plan(**{**result.__dict__, "problems": tuple(_problems(settings, result, pool_name))})


def _survives_zone_loss(nodes: int, *, zones: int, replicas: int, memory: int, disk: int, shape: NodeShape) -> bool:
    left = nodes - max(zone_spread(nodes, zones))
    return left >= replicas and left * shape.usable_memory_bytes >= memory and left * shape.local_disk_bytes >= disk


def _group_need(name: str, collections: tuple[CollectionPlan, ...], shape: NodeShape, min_nodes: int,
                user_replicas: int) -> tuple[int, str, int, int, int, int, int]:
    """(nodes needed, deciding bound, memory, disk, nodes for memory, nodes for disk, replicas) for one group."""
    placed = [(c, n) for c in collections for g, n in c.placement if g == name]
    memory = sum(c.loading_memory_bytes * n for c, n in placed)
    disk = sum(c.local_disk_bytes * n for c, n in placed)
    replicas = max((n for _, n in placed), default=0)
    # Each replica of a collection owns its own nodes, so a replica's share rounds up on its own.
    by_memory = max([math.ceil(memory / shape.usable_memory_bytes)] +
                    [n * math.ceil(c.loading_memory_bytes / shape.usable_memory_bytes) for c, n in placed])
    by_disk = 0
    if disk and shape.local_disk_bytes:
        by_disk = max([math.ceil(disk / shape.local_disk_bytes)] +
                      [n * math.ceil(c.local_disk_bytes / shape.local_disk_bytes) for c, n in placed])
    bounds = [(by_memory, "memory"), (by_disk, "disk"), (replicas, "replicas"), (min_nodes, "minNodes"),
              (user_replicas, "milvus.components.queryNode.replicas")]
    need, reason = max(bounds, key=lambda b: b[0])
    return need, reason if need else "none", memory, disk, by_memory, by_disk, replicas


def _with_zone_loss(need: tuple[int, str, int, int, int, int, int], zones: int,
                    shape: NodeShape) -> tuple[int, str, int, int, int, int, int]:
    """Raise a group's node count until losing the zone with the most of its nodes still leaves room for what it
    serves (`topology.zoneFailure: fullCapacity`)."""
    nodes, reason, memory, disk, by_memory, by_disk, replicas = need
    if not replicas:
        return need
    survives = partial(_survives_zone_loss, zones=zones, replicas=replicas, memory=memory, disk=disk, shape=shape)
    enough = next((n for n in range(max(nodes, 1), 2 * (nodes + 1) + 1) if survives(n)), nodes)
    return (enough, "zone loss" if enough > nodes else reason, memory, disk, by_memory, by_disk, replicas)


def _streaming_nodes(units: int) -> int:
    """streamNodeConfigCalculator: 1 node up to 2 units, 2 nodes up to 8, then one 8-vCPU node per 4 units."""
    if units <= 2:
        return 1
    if units <= 8:
        return 2
    return math.ceil(units * STREAMING_VCPU_PER_UNIT / 8)


def _pool_plan(name: str, pool, query_nodes: int | None) -> PoolPlan:
    if query_nodes is None:
        return PoolPlan(name, pool.min_size, pool.desired_size or pool.min_size, pool.max_size)
    # One query node per node; a pool that hosts other roles too keeps its configured floor.
    low = max(query_nodes, pool.min_size)
    return PoolPlan(name, low, max(low, pool.desired_size or 0), pool.max_size)


def _az_failure(collections: tuple[CollectionPlan, ...], groups: dict[str, GroupPlan], zones: int) -> tuple[bool, str]:
    """Rule: every group's query nodes spread evenly over the zones, so one zone's loss takes the largest share
    from every group at once. A collection stays servable if, in at least one group holding its replicas, the
    nodes left can hold what that group serves (memory, disk, one node per replica); Milvus reloads the lost
    segments from object storage onto them."""
    if zones < 2:
        return False, "one zone"
    failing = [c for c in collections if not any(groups[g].survives_zone_loss for g, _ in c.placement)]
    if failing:
        fixes = sorted({f"milvus.components.queryNode.replicas to {groups[g].nodes_for_zone_loss}"
                        if g == DEFAULT_RESOURCE_GROUP else f"minNodes of {g} to {groups[g].nodes_for_zone_loss}"
                        for c in failing for g, _ in c.placement})
        return False, (f"losing the zone with the most query nodes leaves too few nodes to hold a full replica of "
                       f"{', '.join(c.key for c in failing)}; raise {', '.join(fixes)}")
    if not collections:
        return True, "no collections"
    return True, ("each group's query nodes spread over the zones; after losing the largest zone's share, every "
                  "collection still has a group whose remaining nodes hold a full replica (segments on the lost "
                  "nodes reload from object storage)")


def _az_failure_pinned(collections: tuple[CollectionPlan, ...], groups: dict[str, GroupPlan]) -> tuple[bool, str]:
    """replicaPerZone: a zone loss takes the groups pinned there; a collection keeps serving if one of its replicas
    lives in a group of another zone (that group was sized to hold it on its own)."""
    single = [c for c in collections if len({groups[g].zone for g, _ in c.placement}) < 2]
    if single:
        return False, (f"{', '.join(c.key for c in single)} keep every replica in one zone's group, so losing that "
                       f"zone leaves no replica; give each replica its own group in its collection's resourceGroups")
    if not collections:
        return True, "no collections"
    return True, ("each resource group is pinned to its own zone and holds its replicas on its own; losing any one "
                  "zone leaves every collection at least one full replica serving, at the QPS of the replicas left")


def _zone_loss_pinned(c: CollectionPlan, groups: dict[str, GroupPlan], zones: int) -> ZoneLoss:
    left = {z: sum(n for g, n in c.placement if groups[g].zone != z) for z in range(zones)}
    worst = min(left, key=lambda z: (left[z], z))
    return ZoneLoss(c.key, c.replicas, left[worst], left[worst] / c.replicas if c.replicas else 0.0, worst)


def _zone_loss_spread(c: CollectionPlan, groups: dict[str, GroupPlan]) -> ZoneLoss:
    """Every group loses its largest zone share at once; replicas in a group that can still hold them keep serving
    (after reloading from object storage) on the nodes left, the others are counted as lost."""
    kept = [(groups[g], n) for g, n in c.placement if groups[g].survives_zone_loss]
    qps = sum(n * (g.nodes - max(g.zone_pods)) / g.nodes for g, n in kept if g.nodes)
    replicas_left = sum(n for _, n in kept)
    return ZoneLoss(c.key, c.replicas, replicas_left, qps / c.replicas if c.replicas else 0.0, None)


# ---------------------------------------------------------------------------------------------------- validation


def _bad_params(c: CollectionSettings) -> list[str]:
    ranges = INDEX_PARAM_RANGES.get(c.index.type, {})
    bad = []
    for key, value in c.index.params.items():
        if key not in ranges:
            bad.append(f"unknown {c.index.type} parameter '{key}' (known: {', '.join(ranges) or 'none'})")
        elif not ranges[key][0] <= value <= ranges[key][1]:
            low, high = ranges[key]
            bad.append(f"{key} {value} is outside {low}..{high}")
    return bad


def sizing_problems(settings: Settings) -> list[Problem]:
    """Everything the planner finds undeployable, each naming the key to change."""
    return list(plan(settings).problems)


def _problems(s: Settings, p: Plan, pool_name: str) -> Iterator[Problem]:
    declared = set(p.resource_groups)
    yield from _zone_failure_problems(s, p, pool_name)
    for i, c in enumerate(s.topology.collections):
        where = f"topology.collections[{i}]"
        if c.shards > MAX_SHARDS:
            yield Problem(f"{where}.shards", f"{c.shards} shards exceed Milvus' proxy.maxShardNum {MAX_SHARDS}; "
                                             f"use at most {MAX_SHARDS} (about one shard per 200M entities)")
        for message in _bad_params(c):
            yield Problem(f"{where}.index.params", message)
        if len(c.resource_groups) not in (0, 1, c.replicas) or len(set(c.resource_groups)) != len(c.resource_groups):
            yield Problem(f"{where}.resourceGroups",
                          f"{len(c.resource_groups)} groups for {c.replicas} replicas; Milvus loads into 0, 1 or "
                          f"exactly {c.replicas} distinct groups")
        elif p.zones >= ZONE_LOSS_AZ_COUNT and c.replicas > 1 and len(c.resource_groups) != c.replicas:
            yield Problem(f"{where}.resourceGroups",
                          f"{c.replicas} replicas share {len(c.resource_groups) or 'the default'} group(s) in a "
                          f"{p.zones}-zone stack; list {c.replicas} groups (one per replica) so each replica gets "
                          f"its own query nodes")
        for g in c.resource_groups:
            if g not in declared:
                yield Problem(f"{where}.resourceGroups", f"group '{g}' is not declared; add it to "
                                                         f"topology.resourceGroups")
        if declared and not c.resource_groups:
            yield Problem(f"{where}.resourceGroups",
                          f"is empty (the default group), but with topology.resourceGroups declared every query node "
                          f"joins a declared group and the default group has none; name one of "
                          f"{', '.join(sorted(declared))}")
    for c in p.collections:
        peak = c.segment_bytes * LOAD_MEMORY_USAGE_FACTOR
        if peak > p.query_node.usable_memory_bytes:
            yield Problem(f"{c.path}.segmentSizeMb",
                          f"loading one {c.segment_bytes // MIB} MiB segment needs {_gib(peak)} (× "
                          f"loadMemoryUsageFactor {LOAD_MEMORY_USAGE_FACTOR}) but a {p.query_node.instance_type} "
                          f"query node can use {_gib(p.query_node.usable_memory_bytes)}; use smaller segments or "
                          f"a larger instance type in nodePools.{pool_name}.instanceTypes")
        if c.local_disk_bytes and not p.query_node.local_disk_bytes and c.index_type == "DISKANN":
            yield Problem(f"{c.path}.index.type",
                          f"DISKANN needs {_gib(c.local_disk_bytes)} of local disk per replica but query pool "
                          f"'{pool_name}' has no NVMe; set nodePools.{pool_name}.nvme: true with an NVMe type")
    query_pool = s.node_pools[pool_name]
    if p.query_nodes > query_pool.max_size:
        per = "" if not p.resource_groups else (f" ({p.query_node_replicas} in each of {len(p.resource_groups)} "
                                                f"groups)")
        yield Problem(f"nodePools.{pool_name}.maxSize",
                      f"the plan needs {p.query_nodes} query nodes{per}, one per node, but maxSize is "
                      f"{query_pool.max_size}; raise it to {p.query_nodes} or use a larger instance type")
        groups = max(1, len(p.resource_groups))
        room = query_pool.max_size // groups
        for c in p.collections:
            for g, n in c.placement:
                if n > room:
                    yield Problem(f"{c.path}.replicas",
                                  f"{n} replicas in group '{g}' need {n} query nodes there, but nodePools."
                                  f"{pool_name}.maxSize {query_pool.max_size} gives at most {room} per group")


def _zone_failure_problems(s: Settings, p: Plan, pool_name: str) -> Iterator[Problem]:
    if s.topology.zone_failure != "replicaPerZone":
        return
    if len(p.resource_groups) < 2:
        yield Problem("topology.zoneFailure",
                      f"replicaPerZone pins each resource group to its own zone, but topology.resourceGroups declares "
                      f"{len(p.resource_groups)}; declare one group per zone-aligned replica (at least 2) and list them "
                      f"in each collection's resourceGroups")
    if len(p.resource_groups) > p.zones:
        yield Problem("topology.resourceGroups",
                      f"{len(p.resource_groups)} groups with topology.zoneFailure replicaPerZone need as many zones, "
                      f"but network.azCount is {p.zones}; raise azCount or declare at most {p.zones} groups")
    if s.node_pools[pool_name].provisioner != "karpenter":
        yield Problem(f"nodePools.{pool_name}.provisioner",
                      f"is {s.node_pools[pool_name].provisioner}, but topology.zoneFailure replicaPerZone needs each "
                      f"group's query nodes in one zone, and a managed node group spreads its nodes over every zone; "
                      f"set provisioner: karpenter (it launches nodes in the zone a pending pod asks for)")


def _gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"
