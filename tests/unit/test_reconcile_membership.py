"""Resource-group membership on Milvus 2.6: the chart's node labels own it, the reconciler only declares groups that
accept exactly those nodes and never moves nodes itself; servers without labels keep the older mechanisms.

What the plan is checked against (milvus-io/milvus, read through the search index; line numbers are those of the
stored version named):
- pkg/util/sessionutil (server-label rules): env MILVUS_SERVER_LABEL_RESOURCE_GROUP=<g> becomes the session label
  LabelResourceGroup = "RESOURCE_GROUP" for every role; internal/querycoordv2/session/node_manager.go
  NodeInfo.ResourceGroupName reads that label from the same map NodeInfo.Labels returns ("Since 2.6.8, we introduce
  a new label rule for session", IsEmbeddedQueryNodeInStreamingNode).
- internal/querycoordv2/meta/resource_manager.go assignIncomingNode: a node with a ResourceGroupName goes straight to
  that group (mustSelectAssignIncomingNodeTargetRG), which is created with requests 0 / limits
  defaultResourceGroupCapacity and no node filter when missing (stageCreateResourceGroupIfNotExists); TransferNode
  is only a rewrite of the two groups' requests (CheckIfTransferNode, "Deprecated: use declarative API").
- internal/querycoordv2/meta/resource_group.go @b61c6dbe: defaultResourceGroupCapacity = 1000000 (:15); a node
  moves only into a group whose AcceptNode says yes (SelectNodeForRG :173-192), and AcceptNode (:195-223) requires
  every node_filter.node_labels pair to match the node's labels; a node that does not match is "dirty"
  (getDirtyNode :161-171) and is moved out.
- chart zilliztech/milvus-helm 9832476 (5.0.19): querynode-deployment.yaml:115-116 sets
  MILVUS_SERVER_LABEL_RESOURCE_GROUP per group; config.tpl:203-205 sets clusterLevelLoadReplicaNumber/ResourceGroups.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pymilvus.client.types import ResourceGroupConfig

from topology.reconcile import (
    DEFAULT_RG,
    LABEL_GROUP_LIMIT,
    LABEL_RG_VERSION,
    RG_LABEL_KEY,
    CollectionState,
    CreateResourceGroup,
    GroupState,
    LoadCollection,
    ServerState,
    SpecError,
    TransferNodes,
    UpdateResourceGroup,
    group_config,
    load_kwargs,
    parse_spec,
    plan,
)

import pytest

V235 = (2, 3, 5)
V25 = (2, 5, 10)
V2615 = (2, 6, 15)

GROUPS = [{"name": "rga", "nodes": 3}, {"name": "rgb", "nodes": 3}]


def spec(membership="labels", groups=GROUPS, collections=()):
    return parse_spec({"membership": membership, "resourceGroups": groups, "collections": list(collections)})


def server(version, groups: dict[str, GroupState] | None = None, collections=()):
    return ServerState(version, groups or {DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT)},
                       ("default",), {(c.database, c.name): c for c in collections})


def labelled(name, available, requests=3):
    """A group as the reconciler declares it with labels, observed through describe_resource_group."""
    return GroupState(name, available, requests, LABEL_GROUP_LIMIT, ((RG_LABEL_KEY, name),))


def test_2_6_declares_each_group_to_accept_exactly_its_labelled_nodes():
    """resource_group.go:195-223 AcceptNode: the filter RESOURCE_GROUP=<g> admits only the pods the chart started
    with MILVUS_SERVER_LABEL_RESOURCE_GROUP=<g> (querynode-deployment.yaml:115-116); limits at Milvus' own capacity
    for label-created groups (resource_group.go:15) so a rollout's surge pod is never "redundant"."""
    result = plan(spec(), server(V2615))
    assert result.actions == (CreateResourceGroup("rga", 3, True, True), CreateResourceGroup("rgb", 3, True, True))
    assert group_config("rga", 3, True) == {
        "requests": {"node_num": 3},
        "limits": {"node_num": 1_000_000},
        "node_filter": {"node_labels": [{"key": "RESOURCE_GROUP", "value": "rga"}]},
    }
    # The very message pymilvus sends (rg.proto ResourceGroupConfig).
    sent = ResourceGroupConfig(**group_config("rgb", 3, True))
    assert [(label.key, label.value) for label in sent.node_filter.node_labels] == [("RESOURCE_GROUP", "rgb")]
    assert (sent.requests.node_num, sent.limits.node_num) == (3, LABEL_GROUP_LIMIT)


def test_group_milvus_created_from_a_label_is_given_its_filter():
    """resource_manager.go stageCreateResourceGroupIfNotExists: the first labelled pod to come up creates its group
    with requests 0, limits defaultResourceGroupCapacity and no node_filter; the reconciler then declares it."""
    auto = GroupState("rga", 1, 0, LABEL_GROUP_LIMIT, ())
    result = plan(spec(), server(V2615, {DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT), "rga": auto}))
    assert result.actions == (UpdateResourceGroup("rga", 3, True), CreateResourceGroup("rgb", 3, True, True))


def test_converged_labelled_server_plans_nothing_whatever_the_node_counts():
    """Which nodes are members is the labels' business: a group with more or fewer available nodes than declared
    (a surge pod during a rollout, a pod still pending) is not something the reconciler acts on."""
    for available in (0, 2, 3, 4):
        groups = {DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT),
                  "rga": labelled("rga", available), "rgb": labelled("rgb", 3)}
        assert plan(spec(), server(V2615, groups)).converged


@given(st.lists(st.integers(0, 6), min_size=3, max_size=3), st.lists(st.integers(0, 6), min_size=2, max_size=2),
       st.sampled_from([V2615, (2, 6, 8), (3, 0, 0)]))
def test_labelled_plan_never_moves_nodes(available, wanted, version):
    """TransferNode would rewrite requests behind the labels' back (resource_manager.go CheckIfTransferNode): on a
    server with labels the plan has no TransferNodes and only declares groups, whatever the observed counts."""
    groups = {DEFAULT_RG: GroupState(DEFAULT_RG, available[0], 0, LABEL_GROUP_LIMIT),
              "rga": GroupState("rga", available[1], 1, 1, ()),
              "rgb": labelled("rgb", available[2])}
    result = plan(spec(groups=[{"name": "rga", "nodes": wanted[0]}, {"name": "rgb", "nodes": wanted[1]}]),
                  server(version, groups))
    assert not any(isinstance(a, TransferNodes) for a in result.actions)
    assert all(isinstance(a, (CreateResourceGroup, UpdateResourceGroup)) and a.labelled for a in result.actions)
    assert {a.name for a in result.actions} >= {"rga"}  # counts-style config is replaced by the label filter


def test_2_3_5_keeps_moving_nodes_even_when_the_spec_asks_for_labels():
    """Milvus 2.3.5 has neither labels nor declarative groups: the fallback is transfer_node (the integration
    tests run this path against the real 2.3.5 server)."""
    result = plan(spec(), server(V235, {DEFAULT_RG: GroupState(DEFAULT_RG, 6)}))
    assert result.actions == (
        CreateResourceGroup("rga", 3, False, False),
        CreateResourceGroup("rgb", 3, False, False),
        TransferNodes(DEFAULT_RG, "rga", 3),
        TransferNodes(DEFAULT_RG, "rgb", 3),
    )


def test_servers_before_labels_get_counts_without_a_filter():
    """Before 2.6.8 the RESOURCE_GROUP label does not exist; a filter on it would make every group reject every
    node, so such servers get requests = limits = count, as before."""
    assert LABEL_RG_VERSION == (2, 6, 8)
    result = plan(spec(), server(V25))
    assert result.actions == (CreateResourceGroup("rga", 3, True, False), CreateResourceGroup("rgb", 3, True, False))
    assert group_config("rga", 3, False) == {"requests": {"node_num": 3}, "limits": {"node_num": 3}}


def test_counts_spec_on_2_6_keeps_counts():
    groups = {DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT), "rga": labelled("rga", 3)}
    result = plan(spec("counts", groups=[{"name": "rga", "nodes": 3}]), server(V2615, groups))
    assert result.actions == (UpdateResourceGroup("rga", 3, False),)


def test_collection_whose_replicas_differ_from_the_cluster_default_loads_as_its_spec_says():
    """The chart sets clusterLevelLoadReplicaNumber = 2 for two groups (config.tpl:203-205). A load with
    replica_number > 0 is user-specified (ddl_callbacks_alter_load_info_load_collection.go:51, stored :73), only a
    load with neither replicas nor groups takes the cluster default (:85-87), and LoadConfigWatcher skips
    user-specified collections (load_config_watcher.go:125-132): so the reconciler always sends replica_number."""
    one = {"name": "small", "dim": 8, "replicas": 1, "resourceGroups": ["rgb"]}
    two = {"name": "big", "dim": 8, "replicas": 2, "resourceGroups": ["rga", "rgb"]}
    result = plan(spec(collections=[one, two]), server(V2615, {
        DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT),
        "rga": labelled("rga", 3), "rgb": labelled("rgb", 3)}))
    loads = [a for a in result.actions if isinstance(a, LoadCollection)]
    assert loads == [LoadCollection("default", "small", 1, ("rgb",)), LoadCollection("default", "big", 2, ("rga", "rgb"))]
    assert [load_kwargs(a.replicas, a.resource_groups) for a in loads] == [
        {"replica_number": 1, "resource_groups": ["rgb"]},
        {"replica_number": 2, "resource_groups": ["rga", "rgb"]},
    ]
    # Even a collection in the default group names its replica count, so it never becomes cluster-managed.
    assert load_kwargs(1, ())["replica_number"] == 1


def test_loaded_collection_with_its_spec_placement_is_left_alone():
    loaded = CollectionState("default", "small", 1, 8, "AUTOINDEX", "COSINE", {}, "Loaded", ("rgb",))
    groups = {DEFAULT_RG: GroupState(DEFAULT_RG, 0, 0, LABEL_GROUP_LIMIT),
              "rga": labelled("rga", 3), "rgb": labelled("rgb", 3)}
    result = plan(spec(collections=[{"name": "small", "dim": 8, "resourceGroups": ["rgb"]}]),
                  server(V2615, groups, [loaded]))
    assert result.converged


@pytest.mark.parametrize("bad, fragment", [
    ({"membership": "label"}, "membership: must be one of ['counts', 'labels'], got 'label'"),
    ({"resourceGroups": [{"name": "rg-a", "nodes": 1}]}, "resourceGroups[0].name: must be letters, digits and underscores"),
    ({"resourceGroups": [{"name": "1rg", "nodes": 1}]}, "not starting with a digit"),
])
def test_spec_refuses_what_milvus_would(bad, fragment):
    """internal/proxy/util.go ValidateResourceGroupName: a letter or '_' first, then letters, digits and '_'."""
    with pytest.raises(SpecError) as caught:
        parse_spec(bad)
    assert fragment in str(caught.value)
