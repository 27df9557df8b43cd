"""The reconciler's pure planner: spec + observed server state -> actions, drift, unmanaged, errors."""

from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topology.reconcile import (
    DEFAULT_RG,
    ChangeReplicas,
    CollectionState,
    CreateCollection,
    CreateDatabase,
    CreateIndex,
    CreateResourceGroup,
    Deadline,
    GroupState,
    LoadCollection,
    ReconcileError,
    ReloadCollection,
    ServerState,
    SpecError,
    TransferNodes,
    TransferReplica,
    UpdateResourceGroup,
    WaitForLoad,
    parse_spec,
    parse_version,
    plan,
    with_retry,
)

V23 = (2, 3, 5)
V26 = (2, 6, 15)

BASE = {
    "resourceGroups": [{"name": "rga", "nodes": 2}],
    "databases": ["default", "search"],
    "collections": [
        {
            "database": "search",
            "name": "docs",
            "dim": 768,
            "metric": "COSINE",
            "index": {"type": "HNSW", "params": {"M": 16, "efConstruction": 200}},
            "shards": 2,
            "replicas": 1,
            "resourceGroups": ["rga"],
        }
    ],
}


def spec_with(**collection_changes):
    data = {**BASE, "collections": [{**BASE["collections"][0], **collection_changes}]}
    return parse_spec(data)


def server(version=V23, groups: Mapping[str, int] | None = None, declared=None, databases=("default",), collections=()):
    groups = {DEFAULT_RG: 1} if groups is None else groups
    return ServerState(
        version=version,
        # A group declared by counts (requests == limits), as the reconciler declares it without labels.
        groups={n: GroupState(n, k, (declared or {}).get(n), (declared or {}).get(n)) for n, k in groups.items()},
        databases=tuple(databases),
        collections={(c.database, c.name): c for c in collections},
    )


def docs_state(**changes) -> CollectionState:
    values = dict(
        database="search",
        name="docs",
        num_shards=2,
        dim=768,
        index_type="HNSW",
        metric="COSINE",
        index_params={"M": "16", "efConstruction": "200"},
        load_state="Loaded",
        replica_groups=("rga",),
    )
    values.update(changes)
    return CollectionState(**values)


def converged_server(version=V23):
    return server(
        version,
        groups={DEFAULT_RG: 0, "rga": 2},
        declared={"rga": 2} if version >= (2, 4, 1) else None,
        databases=("default", "search"),
        collections=[docs_state()],
    )


def test_empty_server_2_3_creates_everything_in_dependency_order():
    result = plan(parse_spec(BASE), server(groups={DEFAULT_RG: 3}))
    assert result.actions == (
        CreateResourceGroup("rga", 2, declarative=False),
        TransferNodes(DEFAULT_RG, "rga", 2),
        CreateDatabase("search"),
        CreateCollection(parse_spec(BASE).collections[0]),
        CreateIndex(parse_spec(BASE).collections[0]),
        LoadCollection("search", "docs", 1, ("rga",)),
    )
    assert not result.drift and not result.errors


def test_empty_server_2_6_declares_node_counts_instead_of_moving_nodes():
    result = plan(parse_spec(BASE), server(V26, groups={DEFAULT_RG: 0}))
    assert result.actions[0] == CreateResourceGroup("rga", 2, declarative=True)
    assert not any(isinstance(a, TransferNodes) for a in result.actions)
    # The load is planned against the declared count, not the (still empty) group.
    assert not result.errors


@pytest.mark.parametrize("version", [V23, V26])
def test_converged_server_plans_nothing(version):
    result = plan(parse_spec(BASE), converged_server(version))
    assert result.converged
    assert result.actions == () and result.drift == () and result.unmanaged == ()


def test_declared_node_count_change_on_2_6_is_an_update():
    state = converged_server(V26)
    result = plan(parse_spec({**BASE, "resourceGroups": [{"name": "rga", "nodes": 3}]}), state)
    assert result.actions == (UpdateResourceGroup("rga", 3),)


def test_node_shortfall_on_2_3_moves_what_it_can_and_reports_the_rest():
    result = plan(parse_spec(BASE), server(groups={DEFAULT_RG: 1}, databases=("default", "search")))
    assert TransferNodes(DEFAULT_RG, "rga", 1) in result.actions
    [drift] = result.drift
    assert drift.target == "resource group rga" and (drift.actual, drift.wanted) == (1, 2)


def test_nodes_hosting_loaded_replicas_of_unmanaged_collections_are_not_moved():
    other = docs_state(database="default", name="legacy", replica_groups=(DEFAULT_RG,))
    state = server(groups={DEFAULT_RG: 1}, databases=("default", "search"), collections=[other])
    result = plan(parse_spec(BASE), state)
    assert not any(isinstance(a, TransferNodes) for a in result.actions)
    assert result.drift[0].actual == 0
    assert "collection default.legacy" in result.unmanaged


def test_surplus_nodes_go_back_to_the_default_group_but_not_from_under_a_replica():
    spec = parse_spec({**BASE, "resourceGroups": [{"name": "rga", "nodes": 0}], "collections": []})
    state = server(groups={DEFAULT_RG: 0, "rga": 2}, databases=("default", "search"))
    assert plan(spec, state).actions == (TransferNodes("rga", DEFAULT_RG, 2),)
    loaded = docs_state(replica_groups=("rga",))
    state = server(groups={DEFAULT_RG: 0, "rga": 2}, databases=("default", "search"), collections=[loaded])
    assert plan(spec, state).actions == (TransferNodes("rga", DEFAULT_RG, 1),)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"num_shards": 1}, "shard count"),
        ({"dim": 512}, "vector dim"),
        ({"metric": "L2"}, "metric"),
        ({"index_type": "IVF_FLAT"}, "index"),
        ({"index_params": {"M": "8", "efConstruction": "200"}}, "index"),
    ],
)
def test_immutable_differences_are_drift_and_leave_the_collection_alone(change, what):
    # Not loaded, so without the drift the planner would load it: drift must suppress that too.
    state = server(
        groups={DEFAULT_RG: 0, "rga": 2},
        databases=("default", "search"),
        collections=[docs_state(load_state="NotLoad", replica_groups=(), **change)],
    )
    result = plan(parse_spec(BASE), state)
    assert [d.what for d in result.drift] == [what]
    assert result.actions == ()


def test_resumes_a_collection_created_before_a_kill():
    state = server(
        groups={DEFAULT_RG: 0, "rga": 2},
        databases=("default", "search"),
        collections=[docs_state(index_type=None, metric=None, index_params={}, load_state="NotLoad", replica_groups=())],
    )
    result = plan(parse_spec(BASE), state)
    assert [type(a) for a in result.actions] == [CreateIndex, LoadCollection]


@pytest.mark.parametrize("known", [True, False])
def test_a_declared_collection_still_loading_is_waited_for_then_planned(known):
    # A killed run's load goes on in the server; its replica layout is only readable once it is done.
    state = server(
        groups={DEFAULT_RG: 0, "rga": 2},
        databases=("default", "search"),
        collections=[docs_state(load_state="Loading", replica_groups=(), replicas_known=known)],
    )
    result = plan(parse_spec(BASE), state)
    assert result.actions == () and not result.errors
    assert result.waits == (WaitForLoad("search", "docs", False, result.waits[0].why),)
    assert not result.converged
    loaded = server(groups={DEFAULT_RG: 0, "rga": 2}, databases=("default", "search"), collections=[docs_state()])
    assert plan(parse_spec(BASE), loaded).converged


def test_another_clients_load_is_left_alone_when_no_node_moves():
    other = docs_state(database="default", name="theirs", load_state="Loading", replica_groups=(),
                       replicas_known=False)
    state = server(groups={DEFAULT_RG: 1, "rga": 2}, databases=("default", "search"), collections=[docs_state(), other])
    result = plan(parse_spec(BASE), state)
    assert result.waits == () and result.converged
    assert "collection default.theirs" in result.unmanaged


def test_another_clients_load_is_waited_for_before_moving_nodes():
    # Where its replicas will sit decides which nodes may move: plan nothing on a guess.
    other = docs_state(database="default", name="theirs", load_state="Loading", replica_groups=(),
                       replicas_known=False)
    state = server(groups={DEFAULT_RG: 2}, databases=("default", "search"), collections=[other])
    result = plan(parse_spec(BASE), state)
    assert TransferNodes(DEFAULT_RG, "rga", 2) in result.actions  # a guess that would strand its replica
    assert [(w.key, w.routing_only) for w in result.waits] == [("default.theirs", True)]
    # Once Milvus places it, its replica keeps its node: one node moves instead of two.
    placed = replace(other, replicas_known=True, replica_groups=(DEFAULT_RG,))
    result = plan(parse_spec(BASE), server(groups={DEFAULT_RG: 2}, databases=("default", "search"), collections=[placed]))
    assert result.waits == ()
    assert TransferNodes(DEFAULT_RG, "rga", 1) in result.actions


def test_group_change_of_a_loaded_collection_transfers_replicas_without_release():
    state = server(
        groups={DEFAULT_RG: 1, "rga": 2},
        databases=("default", "search"),
        collections=[docs_state(replica_groups=(DEFAULT_RG,))],
    )
    result = plan(parse_spec(BASE), state)
    assert result.actions == (TransferReplica("search", "docs", DEFAULT_RG, "rga", 1),)


def test_replica_number_change_is_the_only_reload():
    spec = parse_spec({**BASE, "collections": [{**BASE["collections"][0], "replicas": 2}]})
    result = plan(spec, converged_server())
    assert result.actions == (ReloadCollection("search", "docs", 2, ("rga",), ("rga",)),)


@pytest.mark.parametrize("version", [(2, 4, 13), (2, 6, 15), (2, 6, 16)])
@pytest.mark.parametrize("current, wanted", [(("rga",), 2), (("rga", "rga"), 1)])
def test_replica_number_change_is_in_place_from_2_4_13(version, current, wanted):
    """Milvus >= 2.4.13 changes the replica number of a loaded collection without releasing it
    (milvus-io/milvus#36417; 2.6 job/job_load.go generateReplicas keeps the current replicas)."""
    spec = parse_spec({**BASE, "collections": [{**BASE["collections"][0], "replicas": wanted}]})
    state = server(version, groups={DEFAULT_RG: 0, "rga": 2}, declared={"rga": 2}, databases=("default", "search"),
                   collections=[docs_state(replica_groups=current)])
    result = plan(spec, state)
    gate = version <= (2, 6, 15)
    assert result.actions == (ChangeReplicas("search", "docs", wanted, ("rga",), current, leader_gate=gate),)
    assert not any(isinstance(a, ReloadCollection) for a in result.actions)
    text = result.actions[0].describe()
    assert f"from {len(current)} to {wanted} replica(s)" in text and "in place" in text
    assert ("milvus-io/milvus#49304" in text) is gate


def test_before_2_4_13_a_replica_number_change_still_releases():
    spec = parse_spec({**BASE, "collections": [{**BASE["collections"][0], "replicas": 2}]})
    result = plan(spec, converged_server((2, 4, 12)))
    assert result.actions == (ReloadCollection("search", "docs", 2, ("rga",), ("rga",)),)
    assert "search is unavailable until the load finishes" in result.actions[0].describe()


def test_an_in_place_change_still_needs_a_node_per_replica():
    spec = parse_spec({**BASE, "collections": [{**BASE["collections"][0], "replicas": 3}]})
    result = plan(spec, converged_server(V26))
    assert result.actions == ()
    assert result.errors and "3 replica(s) need 3 query node(s) in [rga]" in result.errors[0]


def test_replicas_beyond_the_query_nodes_is_an_error_naming_the_collection_and_counts():
    spec = spec_with(database="default", replicas=2, resourceGroups=[])
    result = plan(spec, server(groups={DEFAULT_RG: 1}))
    assert result.errors == (
        f"collection default.docs: 2 replica(s) need 2 query node(s) in [{DEFAULT_RG}]; the server has 1 "
        "(each replica needs its own query node; add nodes or lower replicas)",
    )
    assert not any(isinstance(a, (CreateCollection, LoadCollection)) for a in result.actions)


def test_one_replica_per_named_group():
    spec = parse_spec(
        {
            "resourceGroups": [{"name": "a", "nodes": 1}, {"name": "b", "nodes": 1}],
            "collections": [{"name": "c", "dim": 4, "replicas": 2, "resourceGroups": ["a", "b"]}],
        }
    )
    state = server(V26, groups={DEFAULT_RG: 2, "a": 1, "b": 1}, declared={"a": 1, "b": 1},
                   collections=[docs_state(database="default", name="c", dim=4, num_shards=1, index_type="AUTOINDEX",
                                           index_params={}, replica_groups=("a", DEFAULT_RG))])
    result = plan(spec, state)
    assert result.drift == ()
    assert result.actions == (TransferReplica("default", "c", DEFAULT_RG, "b", 1),)


def test_unmanaged_things_are_listed_and_never_acted_on():
    state = server(
        groups={DEFAULT_RG: 0, "rga": 2, "old-rg": 1},
        databases=("default", "search", "archive"),
        collections=[docs_state(), docs_state(database="archive", name="old", num_shards=7)],
    )
    result = plan(parse_spec(BASE), state)
    assert result.unmanaged == ("resource group old-rg", "database archive", "collection archive.old")
    assert result.converged


def test_spec_errors_are_collected_with_their_paths():
    bad = {
        "resourceGroups": [{"name": DEFAULT_RG, "nodes": -1}],
        "databases": ["default"],
        "collections": [
            {"database": "nope", "name": "x-y", "dim": 0, "metric": "HAMMING", "shards": 17, "replicas": 2,
             "resourceGroups": ["a", "b", "c"]}
        ],
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(bad)
    paths = {p.split(":")[0] for p in caught.value.problems}
    assert paths == {
        "resourceGroups[0].name",
        "resourceGroups[0].nodes",
        "collections[0].database",
        "collections[0].name",
        "collections[0].dim",
        "collections[0].metric",
        "collections[0].shards",
        "collections[0].resourceGroups",
    }


def test_parse_version():
    assert parse_version("v2.3.5-lite") == (2, 3, 5)
    assert parse_version("v2.6.15") == (2, 6, 15)


def test_retry_backs_off_exponentially_on_unavailable_then_gives_up():
    sleeps: list[float] = []
    clock = {"t": 0.0}

    def fake_sleep(seconds):
        sleeps.append(seconds)
        clock["t"] += seconds

    def unavailable():
        raise ConnectionError("Fail connecting to server on 127.0.0.1:1, server unavailable")

    deadline = Deadline(10)
    import topology.reconcile as rec

    real_monotonic = rec.time.monotonic
    start = real_monotonic()
    rec.time.monotonic = lambda: start + clock["t"]
    try:
        deadline.end = start + 10
        with pytest.raises(ReconcileError, match="not ready after 10s"):
            with_retry("connect", unavailable, deadline, sleep=fake_sleep)
    finally:
        rec.time.monotonic = real_monotonic
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_retry_does_not_retry_a_real_error():
    calls = []

    def refused():
        calls.append(1)
        raise ValueError("collection not found")

    with pytest.raises(ReconcileError, match="describe: collection not found"):
        with_retry("describe", refused, Deadline(10), sleep=lambda s: None)
    assert calls == [1]


@given(
    nodes=st.integers(0, 4),
    have=st.integers(0, 4),
    loaded=st.lists(st.sampled_from([DEFAULT_RG, "rga"]), max_size=3),
)
def test_node_moves_never_leave_a_loaded_replica_without_a_node(nodes, have, loaded):
    spec = parse_spec({"resourceGroups": [{"name": "rga", "nodes": nodes}]})
    collections = [
        docs_state(database="default", name=f"c{i}", replica_groups=(g,)) for i, g in enumerate(loaded)
    ]
    state = server(groups={DEFAULT_RG: 2, "rga": have}, collections=collections)
    after = {DEFAULT_RG: 2, "rga": have}
    for action in plan(spec, state).actions:
        assert isinstance(action, TransferNodes)
        after[action.source] -= action.count
        after[action.target] += action.count
    for group in after:
        needed = max([0] + [1 for g in loaded if g == group])
        assert after[group] >= min(needed, {DEFAULT_RG: 2, "rga": have}[group])
    assert all(n >= 0 for n in after.values())


class _GrpcError(Exception):
    """The shape of grpc.RpcError as pymilvus chains it: code() and details() methods."""

    def __init__(self, name: str, details: str):
        super().__init__(details)
        self._name, self._details = name, details

    def code(self):
        return type("StatusCode", (), {"name": self._name})()

    def details(self) -> str:
        return self._details


def _connect_failure(cause: Exception) -> Exception:
    # pymilvus 3.0.2 client/grpc_handler.py `_wait_for_channel_ready`: the Connect RPC's error becomes the cause of
    # a MilvusException that reads like an unreachable server; its error_handler then re-raises `e from e`.
    error = ConnectionError("Fail connecting to server on 127.0.0.1:19530, illegal connection params or server unavailable")
    error.__context__ = cause
    error.__cause__ = error  # the loop `raise e from e` leaves behind
    return error


def test_a_refused_password_is_not_retried_and_says_authentication_failed():
    calls = []

    def refused():
        calls.append(1)
        raise _connect_failure(
            _GrpcError("UNAUTHENTICATED", "auth check failure, please check username and password are correct")
        )

    with pytest.raises(ReconcileError) as caught:
        with_retry("connect to http://milvus:19530", refused, Deadline(600), sleep=lambda s: pytest.fail("retried"))
    assert calls == [1]
    assert str(caught.value) == (
        "connect to http://milvus:19530: authentication failed: Milvus refused the credentials (auth check failure, "
        "please check username and password are correct); check --user and the password (--password-file or "
        "MILVUS_PASSWORD)"
    )


def test_an_unreachable_server_with_the_same_words_is_still_retried():
    attempts = []

    def unreachable():
        attempts.append(1)
        if len(attempts) < 3:
            raise _connect_failure(_GrpcError("UNAVAILABLE", "failed to connect to all addresses"))
        return "ok"

    assert with_retry("connect", unreachable, Deadline(600), sleep=lambda s: None) == "ok"
    assert len(attempts) == 3
