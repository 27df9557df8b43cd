"""Reconcile a Milvus server's resource groups, databases and collections with a JSON spec.

Self-contained (stdlib + pymilvus): it ships in a ConfigMap and runs as `python reconcile.py` in a Job, and
locally as `python -m topology.reconcile`. Observing and applying talk to Milvus; `plan` in between is pure.

Promises: idempotent (a converged server gives zero actions), safe (never drops anything, never releases a
loaded collection except to load it again with a new replica layout, leaves what the spec does not name
alone), resumable (every action is re-derived from what the server says, so a killed run converges when
re-run: a load it left in progress is waited for, then planned). Another client's load in progress is left
alone unless query nodes must move, then waited for. What it may not change (shard count, dim, metric, index
of an existing collection) is drift: reported, exit 2, that collection untouched.

Exit codes: 0 converged (or dry run), 1 error (one line naming the file, key or server answer; no traceback;
also for bad arguments, a refused password and a bad spec, all before anything changes), 2 drift.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import os
import re
import reprlib
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

DEFAULT_RG = "__default_resource_group"
DEFAULT_DB = "default"
PRIMARY_FIELD = "id"
VECTOR_FIELD = "vector"
METRICS = ("L2", "IP", "COSINE")
# proxy.maxShardNum defaults to 16 (milvus configs/milvus.yaml).
MAX_SHARDS = 16
# UpdateResourceGroups (declarative node counts) exists since Milvus 2.4.1; older servers answer UNIMPLEMENTED
# and ignore the config given to CreateResourceGroup, so nodes must be moved with TransferNode.
DECLARATIVE_RG_VERSION = (2, 4, 1)
# Since 2.6.8 a query node started with env MILVUS_SERVER_LABEL_RESOURCE_GROUP=<g> carries the session label
# RESOURCE_GROUP=<g> (pkg/util/sessionutil server-label rules, LabelResourceGroup; the 2.6.8 note in
# internal/querycoordv2/session/node_manager.go IsEmbeddedQueryNodeInStreamingNode), QueryCoord puts it straight
# into group <g> when it comes up (creating <g> if missing), and a group's node_filter.node_labels decides which
# nodes it accepts (meta/resource_manager.go mustSelectAssignIncomingNodeTargetRG and
# stageCreateResourceGroupIfNotExists; meta/resource_group.go AcceptNode, SelectNodeForRG).
LABEL_RG_VERSION = (2, 6, 8)
RG_LABEL_KEY = "RESOURCE_GROUP"
# defaultResourceGroupCapacity (meta/resource_group.go): the limit Milvus gives a group it creates from a label.
# A labelled group never has "redundant" nodes, so a rollout's surge pod is never pushed out to the default group.
LABEL_GROUP_LIMIT = 1_000_000
# Since 2.4.13 loading a loaded collection again with another replica number changes its replicas in place: the
# loaded ones keep serving, Milvus loads the new ones or releases the surplus (milvus-io/milvus#36417, "Dynamic replica
# adjustment for loaded collections" in the 2.4.13 release notes; on 2.6 internal/querycoordv2/
# ddl_callbacks_alter_load_info_load_collection.go computes the layout from the current replicas and
# job/job_load.go generateReplicas keeps every current replica the new layout still has). Older servers refuse it
# ("can't change the replica number for loaded collection") and must release and load again.
IN_PLACE_REPLICAS_VERSION = (2, 4, 13)
# Up to 2.6.15 a replica-number change also resets the collection to Loading and QueryCoord refuses shard leaders to
# proxies until the new replicas are loaded: searches whose leader cache misses fail with "collection is not fully
# loaded" (milvus-io/milvus#49304, fixed on the 2.6 branch by #49311, merged 2026-04-23).
SHARD_LEADER_GATE_LAST_VERSION = (2, 6, 15)
# Who decides which query nodes are in a declared group: "counts" (the reconciler declares node counts, or moves
# nodes on servers without declarative groups) or "labels" (the chart starts each group's query nodes with
# MILVUS_SERVER_LABEL_RESOURCE_GROUP=<group>; the reconciler only declares the group to accept exactly those).
MEMBERSHIPS = ("counts", "labels")


class SpecError(ValueError):
    """The spec is invalid; carries every problem found, each naming its path in the spec, and the file."""

    def __init__(self, problems: Sequence[str], source: str | None = None):
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(problems))
        self.problems = tuple(problems)
        self.source = source


class ReconcileError(RuntimeError):
    """A one-line failure the CLI prints as is."""


# ---------------------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class ResourceGroupSpec:
    name: str
    nodes: int


@dataclass(frozen=True)
class CollectionSpec:
    database: str
    name: str
    dim: int
    metric: str
    index_type: str = "AUTOINDEX"
    index_params: Mapping[str, Any] = field(default_factory=dict)
    shards: int = 1
    replicas: int = 1
    resource_groups: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.database}.{self.name}"

    def replica_groups(self) -> Counter[str]:
        """How many replicas Milvus puts in each group: all in one group, or one per named group."""
        if not self.resource_groups:
            return Counter({DEFAULT_RG: self.replicas})
        if len(self.resource_groups) == 1:
            return Counter({self.resource_groups[0]: self.replicas})
        return Counter(self.resource_groups)


@dataclass(frozen=True)
class Spec:
    resource_groups: tuple[ResourceGroupSpec, ...] = ()
    databases: tuple[str, ...] = ()
    collections: tuple[CollectionSpec, ...] = ()
    membership: str = "counts"


# The spec's fields exactly as components/milvus_topology.py `render_spec` writes them: any other key is a typo
# that would otherwise be ignored (a `replica: 3` silently meaning 1 replica).
SPEC_FIELDS = ("resourceGroups", "databases", "collections", "membership")
GROUP_FIELDS = ("name", "nodes")
COLLECTION_FIELDS = ("database", "name", "dim", "metric", "index", "shards", "replicas", "resourceGroups")
INDEX_FIELDS = ("type", "params")
# Milvus' rule for collection and database names (internal/proxy/util.go ValidateCollectionName,
# ValidateDatabaseName; proxy.maxNameLength 255); 2.3.5 refuses `my-db` with "database name can only contain
# numbers, letters and underscores".
COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
MAX_DIM = 32768
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict = 2, 60, 60, 4, 4


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A value as a message shows it: repr (so a newline cannot split the one-line error), cut short."""
    return _SHOW.repr(value)


def _at(where: str, key: Any) -> str:
    """The path of `key` inside `where`, as the user would write it."""
    if isinstance(key, str) and COLLECTION_NAME.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{_show(key)}]"


class _OversizedInt:
    """An integer literal too long to convert (Python caps int() at 4300 digits): kept as a value validation
    can name at its path instead of an error with no path."""

    def __init__(self, digits: str):
        self.digits = digits

    def __repr__(self) -> str:
        return f"<a {len(self.digits.lstrip('-'))}-digit number>"


def _json_int(text: str) -> int | _OversizedInt:
    return int(text) if len(text) <= 1000 else _OversizedInt(text)


class _JsonObject(dict):
    """A JSON object that remembers the keys written more than once (json keeps the last one silently)."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        obj.duplicates = tuple(key for key, n in counts.items() if n > 1)
    return obj


def _check_fields(raw: Mapping, where: str, allowed: Sequence[str], problems: list[str]) -> None:
    for key in getattr(raw, "duplicates", ()):
        problems.append(f"{_at(where, key)}: written twice; JSON keeps only the last one, remove the other")
    for key in raw:
        if key in allowed:
            continue
        lower = {a.lower(): a for a in allowed}
        guess = lower.get(key.lower()) if isinstance(key, str) else None
        if guess is None and isinstance(key, str):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            guess = close[0] if close else None
        hint = f"did you mean {guess!r}?" if guess else f"expected one of {', '.join(allowed)}"
        problems.append(f"{_at(where, key)}: unknown field; {hint}")


def _list(data: Mapping, key: str, what: str, problems: list[str]) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{key}: must be a list of {what}, got {_show(value)}")
        return []
    return value


def _index_value_ok(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int))


def parse_spec(data: Any) -> Spec:
    """Validate the whole spec at once; raise one SpecError listing every problem with its path."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise SpecError([f"must be a JSON object with {', '.join(SPEC_FIELDS)}, got {_show(data)}"])
    _check_fields(data, "", SPEC_FIELDS, problems)
    membership = data.get("membership", "counts")
    if membership not in MEMBERSHIPS:
        problems.append(f"membership: must be one of {list(MEMBERSHIPS)}, got {_show(membership)}")
        membership = "counts"

    groups: list[ResourceGroupSpec] = []
    for i, raw in enumerate(_list(data, "resourceGroups", "{name, nodes} objects", problems)):
        where = f"resourceGroups[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be an object with name and nodes, got {_show(raw)}")
            continue
        _check_fields(raw, where, GROUP_FIELDS, problems)
        name, nodes = raw.get("name"), raw.get("nodes", 0)
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: must be a non-empty string, got {_show(name)}")
            continue
        if name == DEFAULT_RG:
            problems.append(f"{where}.name: {DEFAULT_RG} is Milvus' own group; it cannot be declared")
        elif not COLLECTION_NAME.fullmatch(name):
            # internal/proxy/util.go ValidateResourceGroupName: the same rule as collection names.
            problems.append(
                f"{where}.name: must be letters, digits and underscores (not starting with a digit), got {_show(name)}"
            )
        first = next((j for j, g in enumerate(groups) if g.name == name), None)
        if first is not None:
            problems.append(f"{where}.name: {name!r} is already declared at resourceGroups[{first}]; declare it once")
        if not _is_int(nodes) or nodes < 0:
            problems.append(f"{where}.nodes: must be an integer >= 0, got {_show(nodes)}")
            nodes = 0
        groups.append(ResourceGroupSpec(name, nodes))
    group_names = {g.name for g in groups} | {DEFAULT_RG}

    databases: list[str] = []
    for i, name in enumerate(_list(data, "databases", "database names", problems)):
        if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
            problems.append(
                f"databases[{i}]: must be letters, digits and underscores (not starting with a digit), got {_show(name)}"
            )
        elif name in databases:
            problems.append(f"databases[{i}]: {name!r} is listed twice")
        else:
            databases.append(name)

    collections: list[CollectionSpec] = []
    seen: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(_list(data, "collections", "collection objects", problems)):
        where = f"collections[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be an object, got {_show(raw)}")
            continue
        before = len(problems)
        _check_fields(raw, where, COLLECTION_FIELDS, problems)
        database = raw.get("database", DEFAULT_DB)
        name = raw.get("name")
        dim = raw.get("dim")
        metric = raw.get("metric", "COSINE")
        index = raw.get("index", {"type": "AUTOINDEX", "params": {}})
        shards = raw.get("shards", 1)
        replicas = raw.get("replicas", 1)
        rgs = raw.get("resourceGroups", [])
        if not isinstance(database, str) or (database not in databases and database != DEFAULT_DB):
            problems.append(f"{where}.database: {_show(database)} is not in databases {databases}")
        if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
            problems.append(
                f"{where}.name: must be letters, digits and underscores (not starting with a digit, at most 255), "
                f"got {_show(name)}"
            )
        elif isinstance(database, str):
            first = seen.setdefault((database, name), i)
            if first != i:
                problems.append(f"{where}: {database}.{name} is already declared at collections[{first}]; declare it once")
        if not _is_int(dim) or not 1 <= dim <= MAX_DIM:
            problems.append(f"{where}.dim: must be an integer in 1..{MAX_DIM}, got {_show(dim)}")
        if not isinstance(metric, str) or metric not in METRICS:
            problems.append(f"{where}.metric: must be one of {list(METRICS)}, got {_show(metric)}")
        index_type, index_params = "AUTOINDEX", {}
        if not isinstance(index, Mapping):
            problems.append(f"{where}.index: must be an object {{type, params}}, got {_show(index)}")
        else:
            _check_fields(index, f"{where}.index", INDEX_FIELDS, problems)
            index_type, index_params = index.get("type"), index.get("params", {})
            if not isinstance(index_type, str) or not index_type:
                problems.append(f"{where}.index.type: must be an index type such as HNSW, got {_show(index_type)}")
            if not isinstance(index_params, Mapping):
                problems.append(f"{where}.index.params: must be an object of build parameters, got {_show(index_params)}")
                index_params = {}
            else:
                for key in getattr(index_params, "duplicates", ()):
                    problems.append(f"{_at(where + '.index.params', key)}: written twice; JSON keeps only the last one, remove the other")
                for key, value in index_params.items():
                    if not isinstance(key, str) or not key:
                        problems.append(f"{where}.index.params: parameter names must be non-empty strings, got {_show(key)}")
                    elif not _index_value_ok(value):
                        problems.append(f"{_at(where + '.index.params', key)}: must be a number or a string, got {_show(value)}")
        if not _is_int(shards) or not 1 <= shards <= MAX_SHARDS:
            problems.append(f"{where}.shards: must be an integer in 1..{MAX_SHARDS}, got {_show(shards)}")
        if not _is_int(replicas) or replicas < 1:
            problems.append(f"{where}.replicas: must be an integer >= 1, got {_show(replicas)}")
            replicas = 1
        if not isinstance(rgs, list) or not all(isinstance(g, str) for g in rgs):
            problems.append(f"{where}.resourceGroups: must be a list of group names, got {_show(rgs)}")
            rgs = []
        for g in rgs:
            if g not in group_names:
                problems.append(f"{where}.resourceGroups: {g!r} is not declared in resourceGroups")
        if len(rgs) not in (0, 1, replicas) or len(set(rgs)) != len(rgs):
            # Milvus' own rule for a load: 0, 1 or exactly replica_number distinct groups.
            problems.append(
                f"{where}.resourceGroups: {len(rgs)} groups for {replicas} replica(s); "
                f"name 0, 1 or exactly {replicas} distinct groups"
            )
        if len(problems) == before:
            collections.append(
                CollectionSpec(
                    database=database,
                    name=name,
                    dim=dim,
                    metric=metric,
                    index_type=index_type,
                    index_params=dict(index_params),
                    shards=shards,
                    replicas=replicas,
                    resource_groups=tuple(rgs),
                )
            )
    if problems:
        raise SpecError(problems)
    return Spec(tuple(groups), tuple(databases), tuple(collections), membership)


def _decode_error(error: UnicodeDecodeError) -> str:
    return f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); save the spec as UTF-8 JSON"


# Far above any real spec (the prod stack's is about 1 KiB); reading stops there, so a device or a runaway file
# given as the spec (/dev/zero) cannot hang the run or exhaust its memory.
MAX_SPEC_BYTES = 16 * 1024 * 1024
MAX_PASSWORD_BYTES = 64 * 1024


def load_spec(path: str) -> Spec:
    """Read and validate a spec file; every failure is one SpecError that names the file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except IsADirectoryError:
        raise SpecError(["is a directory; pass the spec JSON file"], path) from None
    except FileNotFoundError:
        raise SpecError(["no such file"], path) from None
    except OSError as error:
        raise SpecError([f"cannot read: {error.strerror or error}"], path) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([f"larger than {MAX_SPEC_BYTES // 2**20} MiB; not a topology spec"], path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError([_decode_error(error)], path) from None
    try:
        data = json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int)
    except json.JSONDecodeError as error:
        raise SpecError([f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"], path) from None
    except RecursionError:
        raise SpecError(["JSON nested too deeply to be a topology spec"], path) from None
    except ValueError as error:  # e.g. an integer literal longer than Python's int_max_str_digits
        raise SpecError([f"not a usable JSON value: {' '.join(str(error).split())}"], path) from None
    try:
        return parse_spec(data)
    except SpecError as error:
        raise SpecError(error.problems, path) from None


# ---------------------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class GroupState:
    name: str
    available_nodes: int
    # requests.node_num on servers with declarative groups; None where Milvus has no such config (< 2.4.1).
    declared_nodes: int | None = None
    limit_nodes: int | None = None  # limits.node_num, likewise
    node_labels: tuple[tuple[str, str], ...] = ()  # node_filter.node_labels as (key, value)


@dataclass(frozen=True)
class CollectionState:
    database: str
    name: str
    num_shards: int
    dim: int | None  # None: no FLOAT_VECTOR field named `vector`
    index_type: str | None = None  # None: no index on `vector`
    metric: str | None = None
    index_params: Mapping[str, str] = field(default_factory=dict)
    load_state: str = "NotLoad"  # NotLoad | Loading | Loaded
    replica_groups: tuple[str, ...] = ()  # one entry per loaded replica
    # False while a load is in progress and Milvus cannot say yet where its replicas go: 2.3 answers
    # describe_replica with "failed to get channels, collection not loaded" until the load's routing is ready.
    replicas_known: bool = True

    @property
    def key(self) -> str:
        return f"{self.database}.{self.name}"


@dataclass(frozen=True)
class ServerState:
    version: tuple[int, int, int]
    groups: Mapping[str, GroupState]
    databases: tuple[str, ...]
    collections: Mapping[tuple[str, str], CollectionState]

    @property
    def declarative_groups(self) -> bool:
        return self.version >= DECLARATIVE_RG_VERSION

    @property
    def in_place_replicas(self) -> bool:
        return self.version >= IN_PLACE_REPLICAS_VERSION

    def labelled_groups(self, spec: Spec) -> bool:
        """Whether the spec's groups are owned by node labels on this server: asked for, and understood."""
        return spec.membership == "labels" and self.version >= LABEL_RG_VERSION


def parse_version(text: str) -> tuple[int, int, int]:
    """'v2.3.5-lite' -> (2, 3, 5); anything unreadable is treated as a current server."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else (99, 0, 0)


# ---------------------------------------------------------------------------------------------------- plan


def _config_text(name: str, nodes: int, labelled: bool) -> str:
    if labelled:
        return f"requests={nodes} nodes, members: query nodes labelled {RG_LABEL_KEY}={name}"
    return f"requests=limits={nodes} nodes"


@dataclass(frozen=True)
class CreateResourceGroup:
    name: str
    nodes: int
    declarative: bool
    # True: members are the query nodes labelled RESOURCE_GROUP=<name> (node_filter), not a count to fill.
    labelled: bool = False

    def describe(self) -> str:
        how = _config_text(self.name, self.nodes, self.labelled) if self.declarative else "nodes moved separately"
        return f"create resource group {self.name} ({how})"


@dataclass(frozen=True)
class UpdateResourceGroup:
    name: str
    nodes: int
    labelled: bool = False

    def describe(self) -> str:
        return f"set resource group {self.name} to {_config_text(self.name, self.nodes, self.labelled)}"


def group_config(name: str, nodes: int, labelled: bool) -> dict[str, Any]:
    """The ResourceGroupConfig the reconciler declares, as the keyword arguments pymilvus takes.

    Labelled: requests = the planned count (so describe_resource_group reports a missing node while a pod is
    not up), limits = Milvus' own capacity for label-created groups, node_filter = the chart's label. A node is
    only moved into a group that accepts it (resource_group.go SelectNodeForRG/AcceptNode), so no group can take
    another group's labelled node to meet its requests, and a node without the label is moved out.
    """
    if labelled:
        return {
            "requests": {"node_num": nodes},
            "limits": {"node_num": LABEL_GROUP_LIMIT},
            "node_filter": {"node_labels": [{"key": RG_LABEL_KEY, "value": name}]},
        }
    return {"requests": {"node_num": nodes}, "limits": {"node_num": nodes}}


def _config_matches(group: GroupState, want: Mapping[str, Any]) -> bool:
    labels = tuple((item["key"], item["value"]) for item in want.get("node_filter", {}).get("node_labels", []))
    return (group.declared_nodes, group.limit_nodes, group.node_labels) == (
        want["requests"]["node_num"],
        want["limits"]["node_num"],
        labels,
    )


@dataclass(frozen=True)
class TransferNodes:
    source: str
    target: str
    count: int

    def describe(self) -> str:
        return f"move {self.count} query node(s) from {self.source} to {self.target}"


@dataclass(frozen=True)
class CreateDatabase:
    name: str

    def describe(self) -> str:
        return f"create database {self.name}"


@dataclass(frozen=True)
class CreateCollection:
    spec: CollectionSpec

    def describe(self) -> str:
        s = self.spec
        return f"create collection {s.key} (dim {s.dim}, {s.shards} shard(s))"


@dataclass(frozen=True)
class CreateIndex:
    spec: CollectionSpec

    def describe(self) -> str:
        s = self.spec
        return f"create index on {s.key}.{VECTOR_FIELD} ({s.index_type} {s.metric} {dict(s.index_params)})"


@dataclass(frozen=True)
class LoadCollection:
    database: str
    name: str
    replicas: int
    resource_groups: tuple[str, ...]

    def describe(self) -> str:
        return f"load {self.database}.{self.name} ({self.replicas} replica(s) in {_groups_text(self.resource_groups)})"


@dataclass(frozen=True)
class ReloadCollection:
    """Release and load again: the only way Milvus before 2.4.13 changes a loaded collection's replica number."""

    database: str
    name: str
    replicas: int
    resource_groups: tuple[str, ...]
    current: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"release and reload {self.database}.{self.name}: {len(self.current)} -> {self.replicas} replica(s) "
            f"in {_groups_text(self.resource_groups)} (search is unavailable until the load finishes)"
        )


@dataclass(frozen=True)
class ChangeReplicas:
    """Load again with the new replica number (Milvus >= 2.4.13): the loaded replicas keep serving while Milvus
    loads the added ones or releases the surplus."""

    database: str
    name: str
    replicas: int
    resource_groups: tuple[str, ...]
    current: tuple[str, ...]
    # Milvus <= 2.6.15 answers searches with "collection is not fully loaded" until the change has loaded.
    leader_gate: bool = False

    def describe(self) -> str:
        text = (f"change {self.database}.{self.name} from {len(self.current)} to {self.replicas} replica(s) "
                f"in {_groups_text(self.resource_groups)} in place (the loaded replicas keep serving)")
        if self.leader_gate:
            text += ("; this Milvus refuses searches that need fresh shard leaders until the change has loaded "
                     "(milvus-io/milvus#49304)")
        return text


@dataclass(frozen=True)
class TransferReplica:
    database: str
    name: str
    source: str
    target: str
    count: int

    def describe(self) -> str:
        return f"move {self.count} replica(s) of {self.database}.{self.name} from {self.source} to {self.target}"


Action = Union[
    CreateResourceGroup,
    UpdateResourceGroup,
    TransferNodes,
    CreateDatabase,
    CreateCollection,
    CreateIndex,
    LoadCollection,
    ReloadCollection,
    ChangeReplicas,
    TransferReplica,
]


@dataclass(frozen=True)
class Drift:
    target: str
    what: str
    actual: Any
    wanted: Any
    why: str

    def describe(self) -> str:
        return f"{self.target}: {self.what} is {self.actual}, spec wants {self.wanted} ({self.why})"


@dataclass(frozen=True)
class WaitForLoad:
    """A load already in progress (another client's, or a killed run's) that must settle before acting."""

    database: str
    name: str
    # True: wait until Milvus can say where the replicas are; False: until the load has finished.
    routing_only: bool
    why: str

    @property
    def key(self) -> str:
        return f"{self.database}.{self.name}"

    def describe(self) -> str:
        return f"wait for the load of {self.key} already in progress ({self.why})"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    drift: tuple[Drift, ...]
    unmanaged: tuple[str, ...]
    errors: tuple[str, ...]
    # Loads in progress to wait for before `actions` can be trusted; a run waits, observes again and re-plans.
    waits: tuple[WaitForLoad, ...] = ()

    @property
    def converged(self) -> bool:
        return not self.actions and not self.drift and not self.errors and not self.waits


def _groups_text(groups: Sequence[str]) -> str:
    return "[" + ", ".join(groups or (DEFAULT_RG,)) + "]"


def _reserved_nodes(group: str, spec: Spec, state: ServerState) -> int:
    """Nodes a group must keep so no loaded replica (managed or not) and no spec'd replica loses its node."""
    loaded = [Counter(c.replica_groups)[group] for c in state.collections.values()]
    wanted = [c.replica_groups()[group] for c in spec.collections]
    return max([0, *loaded, *wanted])


def _plan_groups(spec: Spec, state: ServerState) -> tuple[list[Action], list[Drift], dict[str, int]]:
    """Actions for resource groups and the node count each group will have once they are applied."""
    actions: list[Action] = []
    drift: list[Drift] = []
    nodes = {name: g.available_nodes for name, g in state.groups.items()}
    labelled = state.labelled_groups(spec)
    for rg in spec.resource_groups:
        if rg.name not in state.groups:
            actions.append(CreateResourceGroup(rg.name, rg.nodes, state.declarative_groups, labelled))
            nodes[rg.name] = 0
        elif state.declarative_groups and not _config_matches(
            state.groups[rg.name], group_config(rg.name, rg.nodes, labelled)
        ):
            # Also a group Milvus created itself when its first labelled node came up (requests 0, no filter).
            actions.append(UpdateResourceGroup(rg.name, rg.nodes, labelled))
    if state.declarative_groups:
        # The server moves nodes itself to meet requests; plan against the declared counts.
        for rg in spec.resource_groups:
            nodes[rg.name] = rg.nodes
        return actions, drift, nodes

    nodes.setdefault(DEFAULT_RG, 0)
    # Surpluses first, so nodes given back to the default group can serve the deficits that follow.
    for rg in sorted(spec.resource_groups, key=lambda g: g.nodes - nodes[g.name]):
        have = nodes[rg.name]
        if have > rg.nodes:
            movable = min(have - rg.nodes, have - _reserved_nodes(rg.name, spec, state))
            if movable > 0:
                actions.append(TransferNodes(rg.name, DEFAULT_RG, movable))
                nodes[rg.name] -= movable
                nodes[DEFAULT_RG] += movable
        elif have < rg.nodes:
            free = nodes[DEFAULT_RG] - _reserved_nodes(DEFAULT_RG, spec, state)
            movable = min(rg.nodes - have, max(free, 0))
            if movable > 0:
                actions.append(TransferNodes(DEFAULT_RG, rg.name, movable))
                nodes[rg.name] += movable
                nodes[DEFAULT_RG] -= movable
        if nodes[rg.name] != rg.nodes:
            drift.append(
                Drift(
                    target=f"resource group {rg.name}",
                    what="query nodes",
                    actual=nodes[rg.name],
                    wanted=rg.nodes,
                    why=(
                        f"Milvus {'.'.join(map(str, state.version))} cannot declare node counts, nodes are moved "
                        f"from/to {DEFAULT_RG} and only nodes no loaded replica needs are moved; "
                        f"{DEFAULT_RG} has {nodes[DEFAULT_RG]} node(s) and its replicas need "
                        f"{_reserved_nodes(DEFAULT_RG, spec, state)}"
                    ),
                )
            )
    return actions, drift, nodes


def _collection_drift(want: CollectionSpec, have: CollectionState) -> list[Drift]:
    fixed = "fixed at creation; create a new collection and migrate the data"
    out = []
    if have.num_shards != want.shards:
        out.append(Drift(f"collection {want.key}", "shard count", have.num_shards, want.shards, fixed))
    if have.dim != want.dim:
        actual = have.dim if have.dim is not None else f"missing (no FLOAT_VECTOR field '{VECTOR_FIELD}')"
        out.append(Drift(f"collection {want.key}", "vector dim", actual, want.dim, fixed))
    if have.index_type is not None:
        if have.metric != want.metric:
            out.append(Drift(f"collection {want.key}", "metric", have.metric, want.metric, fixed))
        params_differ = any(str(v) != have.index_params.get(k) for k, v in want.index_params.items())
        if have.index_type != want.index_type or params_differ:
            out.append(
                Drift(
                    f"collection {want.key}",
                    "index",
                    f"{have.index_type} {dict(have.index_params)}",
                    f"{want.index_type} {dict(want.index_params)}",
                    "rebuilding an index needs release + drop index; the reconciler never does that",
                )
            )
    return out


def _capacity_error(want: CollectionSpec, nodes: Mapping[str, int]) -> str | None:
    need = want.replica_groups()
    short = {g: n for g, n in need.items() if nodes.get(g, 0) < n}
    if not short:
        return None
    needed = sum(short.values())
    have = sum(nodes.get(g, 0) for g in short)
    return (
        f"collection {want.key}: {want.replicas} replica(s) need {needed} query node(s) in "
        f"[{', '.join(short)}]; the server has {have} "
        f"(each replica needs its own query node; add nodes or lower replicas)"
    )


def _replica_moves(want: CollectionSpec, current: Sequence[str]) -> list[TransferReplica]:
    surplus = Counter(current) - want.replica_groups()
    deficit = want.replica_groups() - Counter(current)
    moves: list[TransferReplica] = []
    sources = sorted(surplus.elements())
    targets = sorted(deficit.elements())
    for (source, target), count in sorted(Counter(zip(sources, targets)).items()):
        moves.append(TransferReplica(want.database, want.name, source, target, count))
    return moves


def plan(spec: Spec, state: ServerState) -> Plan:
    """Pure: what must happen for `state` to match `spec`, what may not be changed, what is left alone."""
    actions, drift, nodes = _plan_groups(spec, state)
    errors: list[str] = []
    waits: list[WaitForLoad] = []

    for db in spec.databases:
        if db not in state.databases:
            actions.append(CreateDatabase(db))

    for want in spec.collections:
        have = state.collections.get((want.database, want.name))
        steps: list[Action] = []
        if have is None:
            steps = [
                CreateCollection(want),
                CreateIndex(want),
                LoadCollection(want.database, want.name, want.replicas, want.resource_groups),
            ]
        else:
            found = _collection_drift(want, have)
            if found:
                drift.extend(found)
                continue
            if have.load_state == "Loading":
                # Its replica layout (and so whether it needs a reload or replica moves) is known once loaded;
                # a new load with other parameters would be refused while this one runs.
                waits.append(WaitForLoad(want.database, want.name, False, "declared here; planned once it is loaded"))
                continue
            if have.index_type is None:
                steps.append(CreateIndex(want))
            if have.load_state != "Loaded":
                steps.append(LoadCollection(want.database, want.name, want.replicas, want.resource_groups))
            elif len(have.replica_groups) != want.replicas and state.in_place_replicas:
                steps.append(
                    ChangeReplicas(
                        want.database, want.name, want.replicas, want.resource_groups, have.replica_groups,
                        leader_gate=state.version <= SHARD_LEADER_GATE_LAST_VERSION,
                    )
                )
            elif len(have.replica_groups) != want.replicas:
                steps.append(
                    ReloadCollection(
                        want.database, want.name, want.replicas, want.resource_groups, have.replica_groups
                    )
                )
            else:
                steps.extend(_replica_moves(want, have.replica_groups))
        if any(isinstance(s, (LoadCollection, ReloadCollection, ChangeReplicas, TransferReplica)) for s in steps):
            problem = _capacity_error(want, nodes)
            if problem:
                errors.append(problem)
                continue
        actions.extend(steps)

    declared_groups = {g.name for g in spec.resource_groups} | {DEFAULT_RG}
    declared_collections = {(c.database, c.name) for c in spec.collections}
    unmanaged = [f"resource group {g}" for g in sorted(state.groups) if g not in declared_groups]
    unmanaged += [
        f"database {d}" for d in sorted(state.databases) if d not in spec.databases and d != DEFAULT_DB
    ]
    unmanaged += [f"collection {d}.{n}" for d, n in sorted(state.collections) if (d, n) not in declared_collections]
    if any(isinstance(a, TransferNodes) for a in actions):
        # Which nodes may move depends on where every loaded replica sits; a load whose replicas Milvus cannot
        # place yet could lose its node. Without node moves, another client's load is left alone.
        waits += [
            WaitForLoad(c.database, c.name, True, "not declared here; its replicas decide which query nodes may move")
            for key, c in sorted(state.collections.items())
            if key not in declared_collections and not c.replicas_known
        ]
    return Plan(tuple(actions), tuple(drift), tuple(unmanaged), tuple(errors), tuple(waits))


def load_kwargs(replicas: int, groups: Sequence[str]) -> dict[str, Any]:
    """load_collection's placement arguments: always an explicit replica_number.

    With the chart's replicaResourceGroups, Milvus has a cluster-level load config (queryCoord
    clusterLevelLoadReplicaNumber/ResourceGroups, chart config.tpl:203-205). A load whose replica_number is > 0 is
    "user specified" (internal/querycoordv2/ddl_callbacks_alter_load_info_load_collection.go:51, kept with the
    collection at :73), only a load with neither replicas nor groups takes the cluster's config (:85-87), and the
    config watcher never re-places a user-specified collection (load_config_watcher.go:125-132). So each
    collection keeps the replicas and groups its spec names, whatever the cluster-level default is.
    """
    kwargs: dict[str, Any] = {"replica_number": replicas}
    if groups:
        kwargs["resource_groups"] = list(groups)
    return kwargs


# ---------------------------------------------------------------------------------------------------- milvus I/O

T = TypeVar("T")
_TRANSIENT = ("fail connecting", "unavailable", "not ready", "connection refused", "notready", "not healthy")


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise ReconcileError(f"gave up after --timeout {self.seconds:g}s")
        return left


def _error_chain(error: BaseException):
    """The error and everything it was raised from or during; pymilvus raises `e from e`, so links can loop."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def _grpc_status(error: BaseException) -> tuple[str, str] | None:
    """(status name, details) of the first gRPC error in the chain: pymilvus wraps a failed Connect in a
    MilvusException whose own code is its CONNECT_FAILED (client/grpc_handler.py `_wait_for_channel_ready`)."""
    for item in _error_chain(error):
        code = getattr(item, "code", None)
        if not callable(code):
            continue  # MilvusException.code is an int
        try:
            name = getattr(code(), "name", "")
            details = item.details() if callable(getattr(item, "details", None)) else ""
        except Exception:  # noqa: BLE001  a half-built error must not hide the real one
            continue
        if name:
            return name, " ".join(str(details or "").split())
    return None


def _auth_failure(error: BaseException) -> str | None:
    """The server's reason when it refused the credentials.

    Milvus' proxy answers a wrong user/password, or none, with gRPC UNAUTHENTICATED
    (internal/proxy/authentication_interceptor.go: "auth check failure, please check username and password are
    correct", "missing authorization in header"); pymilvus 3.0.2 re-raises it as "Fail connecting to server …
    server unavailable" with the gRPC error as its cause, and never retries it (decorators.py IGNORE_RETRY_CODES).
    """
    status = _grpc_status(error)
    if status and status[0] == "UNAUTHENTICATED":
        return status[1] or "UNAUTHENTICATED"
    return None


def _is_transient(error: Exception) -> bool:
    if _auth_failure(error) is not None:
        return False
    text = str(error).lower()
    code = getattr(error, "code", None)
    code_name = getattr(code() if callable(code) else code, "name", "")
    return code_name in ("UNAVAILABLE",) or any(t in text for t in _TRANSIENT)


def _short(error: Exception) -> str:
    message = getattr(error, "message", None) or (error.details() if hasattr(error, "details") else str(error))
    return " ".join(str(message).split())


def with_retry(what: str, call: Callable[[], T], deadline: Deadline, sleep: Callable[[float], None] = time.sleep) -> T:
    """Retry while Milvus is unreachable or not ready, with exponential backoff, until the deadline."""
    delay = 0.5
    while True:
        try:
            return call()
        except ReconcileError:
            raise
        except Exception as error:  # pymilvus raises MilvusException and raw grpc.RpcError
            refused = _auth_failure(error)
            if refused is not None:
                raise ReconcileError(
                    f"{what}: authentication failed: Milvus refused the credentials ({refused}); "
                    "check --user and the password (--password-file or MILVUS_PASSWORD)"
                ) from None
            if not _is_transient(error):
                raise ReconcileError(f"{what}: {_short(error)}") from None
            if deadline.end - time.monotonic() < delay:
                raise ReconcileError(
                    f"{what}: Milvus not ready after {deadline.seconds:g}s: {_short(error)}"
                ) from None
            print(f"  waiting for Milvus ({_short(error)[:120]}); retry in {delay:.1f}s", file=sys.stderr)
            sleep(delay)
            delay = min(delay * 2, 15.0)


class Milvus:
    """The pymilvus calls the reconciler makes, one MilvusClient per database."""

    def __init__(self, uri: str, token: str, deadline: Deadline):
        from pymilvus import MilvusClient

        self._client_type = MilvusClient
        self.uri, self._token, self.deadline = uri, token, deadline
        self._clients: dict[str, Any] = {}
        self._orm_alias: str | None = None

    def client(self, db: str = DEFAULT_DB):
        if db not in self._clients:
            # A client per database: MilvusClient.use_database calls DescribeDatabase, which 2.3 lacks.
            self._clients[db] = self._client_type(
                uri=self.uri, token=self._token, db_name=db, timeout=self.deadline.remaining()
            )
        return self._clients[db]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        if self._orm_alias:
            from pymilvus import connections

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                connections.disconnect(self._orm_alias)

    def t(self) -> float:
        return self.deadline.remaining()

    def observe(self) -> ServerState:
        c = self.client()
        version = c.get_server_version(timeout=self.t())
        parsed = parse_version(version)
        declarative = parsed >= DECLARATIVE_RG_VERSION
        groups = {}
        for name in c.list_resource_groups(timeout=self.t()):
            info = c.describe_resource_group(name, timeout=self.t())
            config = info.config if declarative else None
            groups[name] = GroupState(
                name,
                int(info.num_available_node),
                int(config.requests.node_num) if config else None,
                int(config.limits.node_num) if config else None,
                tuple((label.key, label.value) for label in config.node_filter.node_labels) if config else (),
            )
        databases = tuple(c.list_databases(timeout=self.t()))
        collections = {}
        for db in databases:
            dbc = self.client(db)
            for name in dbc.list_collections(timeout=self.t()):
                collections[(db, name)] = self._observe_collection(dbc, db, name)
        return ServerState(parsed, groups, databases, collections)

    def _observe_collection(self, dbc, db: str, name: str) -> CollectionState:
        desc = dbc.describe_collection(name, timeout=self.t())
        vector = next((f for f in desc["fields"] if f["name"] == VECTOR_FIELD), None)
        dim = None
        if vector is not None and getattr(vector["type"], "name", "") == "FLOAT_VECTOR":
            dim = int(vector["params"]["dim"])
        index_type = metric = None
        index_params: dict[str, str] = {}
        names = dbc.list_indexes(name, field_name=VECTOR_FIELD, timeout=self.t()) if vector else []
        if names:
            index = dbc.describe_index(name, names[0], timeout=self.t())
            index_type, metric = index.get("index_type"), index.get("metric_type")
            skip = {"index_type", "metric_type", "field_name", "index_name", "total_rows", "indexed_rows",
                    "pending_index_rows", "state"}
            index_params = {k: str(v) for k, v in index.items() if k not in skip}
        load_state = dbc.get_load_state(name, timeout=self.t())["state"].name
        replicas: tuple[str, ...] = ()
        known = True
        if load_state in ("Loaded", "Loading"):
            try:
                replicas = tuple(sorted(r.resource_group for r in dbc.describe_replica(name, timeout=self.t())))
            except Exception as error:
                if _is_transient(error) or _auth_failure(error) is not None:
                    raise
                # 2.3 answers "failed to get channels, collection not loaded" while a load's routing is not
                # ready yet; a release may also have raced this read. Which one, the load state says.
                load_state = dbc.get_load_state(name, timeout=self.t())["state"].name
                if load_state == "Loaded":
                    raise
                known = load_state != "Loading"
        return CollectionState(
            database=db,
            name=name,
            num_shards=int(desc["num_shards"]),
            dim=dim,
            index_type=index_type,
            metric=metric,
            index_params=index_params,
            load_state=load_state,
            replica_groups=replicas,
            replicas_known=known,
        )

    def wait_for_load(self, wait: WaitForLoad, sleep: Callable[[float], None] = time.sleep) -> None:
        """Poll until the load has finished (or, with routing_only, until Milvus can place its replicas)."""
        dbc = self.client(wait.database)
        delay = 0.5
        while True:
            if not dbc.has_collection(wait.name, timeout=self.t()):
                return  # dropped meanwhile: nothing left to wait for
            if dbc.get_load_state(wait.name, timeout=self.t())["state"].name != "Loading":
                return
            if wait.routing_only:
                try:
                    dbc.describe_replica(wait.name, timeout=self.t())
                    return
                except Exception as error:
                    if _is_transient(error) or _auth_failure(error) is not None:
                        raise
            if self.deadline.end - time.monotonic() < delay:
                raise ReconcileError(
                    f"the load of {wait.key} already in progress had not finished after --timeout "
                    f"{self.deadline.seconds:g}s (another client's load, or a killed run's; re-run once it is done)"
                )
            sleep(delay)
            delay = min(delay * 2, 5.0)

    def _transfer_node(self, source: str, target: str, count: int) -> None:
        # pymilvus 3.0 has no MilvusClient.transfer_node; the ORM call is the public way (deprecated for 3.1,
        # and only used against servers older than 2.4.1, which have no declarative groups).
        from pymilvus import connections, utility

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PyMilvusDeprecationWarning subclasses it
            if self._orm_alias is None:
                self._orm_alias = f"reconcile-{os.getpid()}"
                connections.connect(self._orm_alias, uri=self.uri, token=self._token, timeout=self.t())
            utility.transfer_node(source, target, count, using=self._orm_alias, timeout=self.t())

    def apply(self, action: Action) -> None:
        from pymilvus import DataType, MilvusClient
        from pymilvus.client.types import ResourceGroupConfig

        c = self.client()
        if isinstance(action, CreateResourceGroup):
            if action.declarative:
                config = ResourceGroupConfig(**group_config(action.name, action.nodes, action.labelled))
                c.create_resource_group(action.name, config=config, timeout=self.t())
            else:
                c.create_resource_group(action.name, timeout=self.t())
        elif isinstance(action, UpdateResourceGroup):
            config = ResourceGroupConfig(**group_config(action.name, action.nodes, action.labelled))
            c.update_resource_groups({action.name: config}, timeout=self.t())
        elif isinstance(action, TransferNodes):
            self._transfer_node(action.source, action.target, action.count)
        elif isinstance(action, CreateDatabase):
            # A retried call may find it done already.
            if action.name not in c.list_databases(timeout=self.t()):
                c.create_database(action.name, timeout=self.t())
        elif isinstance(action, CreateCollection):
            s = action.spec
            dbc = self.client(s.database)
            if not dbc.has_collection(s.name, timeout=self.t()):
                schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
                schema.add_field(PRIMARY_FIELD, DataType.INT64, is_primary=True)
                schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=s.dim)
                # No index_params here: with them create_collection also loads (1 replica, default group),
                # which would put the replicas in the wrong place before the real load.
                dbc.create_collection(s.name, schema=schema, num_shards=s.shards, timeout=self.t())
        elif isinstance(action, CreateIndex):
            s = action.spec
            params = MilvusClient.prepare_index_params()
            params.add_index(
                field_name=VECTOR_FIELD, index_type=s.index_type, metric_type=s.metric, params=dict(s.index_params)
            )
            self.client(s.database).create_index(s.name, params, timeout=self.t())
        elif isinstance(action, LoadCollection):
            self._load(action.database, action.name, action.replicas, action.resource_groups)
        elif isinstance(action, ChangeReplicas):
            self._load(action.database, action.name, action.replicas, action.resource_groups)
        elif isinstance(action, ReloadCollection):
            self.client(action.database).release_collection(action.name, timeout=self.t())
            self._load(action.database, action.name, action.replicas, action.resource_groups)
        elif isinstance(action, TransferReplica):
            self.client(action.database).transfer_replica(
                action.source, action.target, action.name, action.count, timeout=self.t()
            )
        else:  # pragma: no cover - the Action union is closed
            raise TypeError(action)

    def _load(self, db: str, name: str, replicas: int, groups: tuple[str, ...]) -> None:
        self.client(db).load_collection(name, timeout=self.t(), **load_kwargs(replicas, groups))


# ---------------------------------------------------------------------------------------------------- CLI


def _read_password(path: str | None) -> str:
    if not path:
        return os.environ.get("MILVUS_PASSWORD", "")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PASSWORD_BYTES + 1)
    except IsADirectoryError:
        raise ReconcileError(f"--password-file {path}: is a directory; pass the file holding the password") from None
    except OSError as error:
        raise ReconcileError(f"--password-file {path}: {error.strerror or error}") from None
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ReconcileError(f"--password-file {path}: larger than {MAX_PASSWORD_BYTES // 1024} KiB; not a password file")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise ReconcileError(f"--password-file {path}: {_decode_error(error)}") from None


def _report(plan_: Plan) -> dict[str, Any]:
    return {
        "actions": [a.describe() for a in plan_.actions],
        "drift": [d.describe() for d in plan_.drift],
        "unmanaged": list(plan_.unmanaged),
        "errors": list(plan_.errors),
        "waits": [w.describe() for w in plan_.waits],
        "converged": plan_.converged,
    }


def _exit_code(plan_: Plan) -> int:
    if plan_.errors:
        return 1
    return 2 if plan_.drift else 0


def _settled_plan(spec: Spec, milvus: Milvus, deadline: Deadline, say: Callable[[str], None]) -> tuple[ServerState, Plan]:
    """Observe and plan; while the plan waits on loads in progress, wait for them and observe again.

    Bounded by the run's deadline: every wait gives up at --timeout.
    """
    while True:
        state = with_retry("read server state", milvus.observe, deadline)
        result = plan(spec, state)
        if not result.waits:
            return state, result
        for wait in result.waits:
            say(f"  {wait.describe()}")
            with_retry(f"wait for the load of {wait.key}", lambda w=wait: milvus.wait_for_load(w), deadline)


def run(args: argparse.Namespace, out=sys.stdout, spec: Spec | None = None, password: str | None = None) -> int:
    spec = spec if spec is not None else load_spec(args.spec)
    password = password if password is not None else _read_password(args.password_file)
    token = f"{args.user}:{password}" if password else ""
    deadline = Deadline(args.timeout)
    say = (lambda *_: None) if args.json else (lambda text: print(text, file=out, flush=True))

    milvus = with_retry(f"connect to {args.uri}", lambda: Milvus(args.uri, token, deadline), deadline)
    try:
        with_retry(f"connect to {args.uri}", lambda: milvus.client(), deadline)
        if args.dry_run:
            state = with_retry("read server state", milvus.observe, deadline)
            first = plan(spec, state)
        else:
            state, first = _settled_plan(spec, milvus, deadline, say)
        say(f"Milvus {'.'.join(map(str, state.version))} at {args.uri}")
        for name in first.unmanaged:
            say(f"  unmanaged (left alone): {name}")
        for item in first.drift:
            say(f"  drift: {item.describe()}")
        if first.errors:
            # Refuse the whole run: a half-applied impossible spec is worse than none.
            for problem in first.errors:
                say(f"error: {problem}")
            if args.json:
                print(json.dumps(_report(first)), file=out)
            else:
                print(f"error: {first.errors[0]}", file=sys.stderr)
            return 1
        if args.dry_run or not first.actions:
            for wait in first.waits:
                say(f"  would {wait.describe()}")
            for action in first.actions:
                say(f"  would: {action.describe()}")
            if first.converged:
                say("converged: nothing to do")
            elif first.actions or first.waits:
                say(f"dry run: {len(first.actions)} action(s), nothing changed")
            else:
                say(f"not converged: {len(first.drift)} drift item(s) the reconciler may not fix")
            if args.json:
                print(json.dumps(_report(first)), file=out)
            return 0 if args.dry_run and not first.drift else _exit_code(first)
        for action in first.actions:
            say(f"  apply: {action.describe()}")
            with_retry(action.describe(), lambda a=action: milvus.apply(a), deadline)
        _, final = _settled_plan(spec, milvus, deadline, say)
        say(
            f"converged after {len(first.actions)} action(s)"
            if final.converged
            else f"not converged: {len(final.actions)} action(s) and {len(final.drift)} drift item(s) remain"
        )
        if args.json:
            report = _report(final)
            report["actions"] = [a.describe() for a in first.actions]
            print(json.dumps(report), file=out)
        if final.actions and not final.errors and not final.drift:
            raise ReconcileError(f"still {len(final.actions)} action(s) to do after applying: {final.actions[0].describe()}")
        return _exit_code(final)
    finally:
        milvus.close()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 1: its own exit 2 would read as drift to the Job."""

    def error(self, message: str):  # type: ignore[override]
        print(f"error: {' '.join(message.split())} (see --help)", file=sys.stderr)
        raise SystemExit(1)


# A day: far beyond any load the Job waits for (components/milvus_topology.py gives it 1200 s), and small
# enough to be a gRPC deadline.
MAX_TIMEOUT_SECONDS = 86400.0


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        # nan and inf would make every deadline check pass: the run would retry forever.
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds in (0, {MAX_TIMEOUT_SECONDS:g}], got {text!r}"
        )
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", required=True, help="Milvus proxy, e.g. http://milvus:19530")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password-file", help="file holding the password (else env MILVUS_PASSWORD)")
    parser.add_argument("--spec", required=True, help="topology spec JSON file")
    parser.add_argument("--dry-run", action="store_true", help="print the planned actions, change nothing")
    parser.add_argument("--json", action="store_true", help="print {actions, drift, unmanaged, converged}")
    parser.add_argument(
        "--timeout", type=_timeout, default=600.0, help="seconds for the whole run, retries and loads included"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help exits 0; usage errors already printed their line
        return int(stop.code or 0)
    try:
        # Fail on a bad spec or password file before importing pymilvus or touching the network.
        spec = load_spec(args.spec)
        password = _read_password(args.password_file)
    except (SpecError, ReconcileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    import pymilvus  # noqa: F401  (imported first: its logging setup must not undo ours)

    # pymilvus logs every failed RPC with a traceback; the reconciler reports errors itself, in one line.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        return run(args, spec=spec, password=password)
    except (SpecError, ReconcileError) as error:
        print(f"error: {error}", file=sys.stderr)
    except Exception as error:  # noqa: BLE001  the contract is one line, never a traceback
        print(f"error: unexpected {type(error).__name__}: {' '.join(str(error).split())}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
