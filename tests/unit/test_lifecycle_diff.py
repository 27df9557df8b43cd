"""Growing a stack's workload and shrinking it back, as `tools.plan_diff` shows it to a reviewer: prod (Karpenter
pools, `replicaPerZone`, groups rga/rgb) and dev (one managed pool, the default group) go v1 → v2 → v1, where v2
changes only `topology.collections` (tests/data/stacks/lifecycle/). Each step's object-level diff must list exactly
the changes the workload explains (query-node Deployments per resource group, the NodePool's planned nodes, the
topology spec, the quota) and nothing that replaces or deletes state; the destructive-change detector that says
so is shown firing on deliberately destructive variants of the same plans.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stacks.errors import ConfigError
from stacks.quantity import parse_quantity
from stacks.stack_file import read_stack_file
from stacks.validation import load_stack_config
from tests.conftest import ROOT
from tests.unit.lifecycle_steps import FRESH_RETURN, GROWN, Step, config_without_collections, steps
from tools import destructive, plan_diff

QUERY_POOL = "query"


@pytest.fixture(scope="module")
def prod(tmp_path_factory) -> tuple[Step, Step, Step]:
    return steps("prod", tmp_path_factory.mktemp("lifecycle"))


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> tuple[Step, Step, Step]:
    return steps("dev", tmp_path_factory.mktemp("lifecycle"))


def _label(key) -> str:
    source, kind, namespace, name = key
    return f"{kind} {namespace or '-'}/{name} ({source})"


def _changes(base: Step, head: Step) -> plan_diff.ObjectChanges:
    return plan_diff.object_changes(base.plan.objects, head.plan.objects)


def _fields(changes: plan_diff.ObjectChanges) -> dict[str, dict[str, tuple]]:
    return {_label(k): {path: (old, new) for path, old, new in fields} for k, fields in changes.changed}


def _groups(step: Step) -> dict[str, int]:
    """Resource group → query nodes, as the plan document states it."""
    return {name: g["nodes"] for name, g in step.document["plan"]["resourceGroups"].items()}


def _topology_spec(step: Step) -> dict:
    (spec,) = [json.loads(o["data"]["spec.json"]) for o in step.objects
               if o["kind"] == "ConfigMap" and "spec.json" in (o.get("data") or {})]
    return spec


def _stack_collections(path: Path) -> list[tuple[str, str, int]]:
    config = read_stack_file(path)["milvus-eks:topology"]
    return [(c.get("database", "default"), c["name"], c.get("replicas", 1)) for c in config["collections"]]


# ------------------------------------------------------------------------------------------ the stack files


@pytest.mark.parametrize("stack", sorted(GROWN))
def test_v2_differs_from_the_stack_file_in_topology_collections_only(stack):
    v1, v2 = ROOT / f"Pulumi.{stack}.yaml", GROWN[stack]
    assert config_without_collections(v2) == config_without_collections(v1), (
        f"{v2} must be Pulumi.{stack}.yaml with only topology.collections changed; copy the new "
        f"Pulumi.{stack}.yaml over it and grow its collections again")
    grown = _stack_collections(v2)
    assert len(grown) > len(_stack_collections(v1))


def test_prod_cannot_take_a_third_replica_without_a_third_group():
    # "A replica more where the zone mode allows": replicaPerZone gives each replica its own group and zone, and prod
    # declares two groups, so with only topology.collections changed a third replica is refused, naming the key.
    config = read_stack_file(GROWN["prod"])
    config["milvus-eks:topology"]["collections"][0].update(replicas=3)
    with pytest.raises(ConfigError) as refused:
        load_stack_config(config, "prod")
    paths = {p.path: p.message for p in refused.value.problems}
    assert "topology.collections[0].resourceGroups" in paths, paths
    assert "exactly 3 distinct groups" in paths["topology.collections[0].resourceGroups"]


# ------------------------------------------------------------------------------------------ prod, step by step


def test_prod_v2_grows_the_query_nodes_of_every_group_and_only_what_follows_from_it(prod):
    v1, v2, _ = prod
    before, after = _groups(v1), _groups(v2)
    assert set(before) == set(after) == {"rga", "rgb"}
    assert all(after[g] > before[g] for g in before), (before, after)

    changes = _changes(v1, v2)
    fields = _fields(changes)
    # One query-node Deployment per resource group, at the plan's count for its group, and nothing else changes in
    # the Milvus chart's output (the chart's config, services and the other components stay as they were).
    milvus = {label for label in fields if label.endswith("(milvus)")}
    assert milvus == {f"Deployment milvus/milvus-querynode-{g} (milvus)" for g in before}
    for g in before:
        assert fields[f"Deployment milvus/milvus-querynode-{g} (milvus)"] == {"spec.replicas": (before[g], after[g])}

    # The query pool's NodePool: the planned node count moves with the plan; its limits follow nodePools.query
    # maxSize, which a workload change leaves alone (test_lifecycle_consistency checks they still cover the plan).
    planned = {s.name: s.document["plan"]["pools"][QUERY_POOL]["desired"] for s in (v1, v2)}
    assert fields[f"NodePool -/{QUERY_POOL} (program)"] == {
        "metadata.annotations.milvus-eks/planned-nodes": (str(planned["v1"]), str(planned["v2"]))}
    assert planned["v2"] == sum(after.values()) > planned["v1"] == sum(before.values())

    # The quota grows by at least the new query-node pods' requests (headroom on top).
    quota = fields["ResourceQuota milvus/milvus-eks-plan (program)"]
    (query_pod,) = {json.dumps(o["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"])
                    for o in v2.objects if o["kind"] == "Deployment" and "querynode" in o["metadata"]["name"]}
    requests = json.loads(query_pod)
    added = sum(after.values()) - sum(before.values())
    for key in ("cpu", "memory", "ephemeral-storage"):
        old, new = quota[f"spec.hard.requests.{key}"]
        assert parse_quantity(new) - parse_quantity(old) >= added * parse_quantity(requests[key]), key
    assert int(quota["spec.hard.pods"][1]) >= int(quota["spec.hard.pods"][0]) + added

    # The topology spec is content-addressed (a new ConfigMap and Job per spec: a Job's template is immutable), and
    # the new one lists v2's collections, the added one included, with their replicas and groups.
    renamed = {(k[1], k[3].rsplit("-", 1)[0]) for k in (*changes.added, *changes.removed)}
    assert renamed == {("ConfigMap", "milvus-topology"), ("Job", "milvus-topology")}
    assert len(changes.added) == len(changes.removed) == 2
    spec = _topology_spec(v2)
    assert [(c["database"], c["name"], c["replicas"]) for c in spec["collections"]] == _stack_collections(GROWN["prod"])
    assert {g["name"]: g["nodes"] for g in spec["resourceGroups"]} == after
    assert all(c["resourceGroups"] == ["rga", "rgb"] for c in spec["collections"])

    # What else changed is what reports the plan: the capacity dashboard and the query-node count alerts.
    assert set(fields) == {*milvus, f"NodePool -/{QUERY_POOL} (program)", "ResourceQuota milvus/milvus-eks-plan "
                           "(program)", "ConfigMap monitoring/dashboard-milvus-capacity (program)",
                           "PrometheusRule monitoring/milvus-alerts (program)"}
    rules = fields["PrometheusRule monitoring/milvus-alerts (program)"]
    assert any(f"the plan has {sum(after.values())}." in str(new) for _, new in rules.values())

    # Pulumi resources: none added or removed, and the changed ones are exactly those carrying the objects above.
    resources = plan_diff.resource_changes(v1.plan, v2.plan)
    assert not resources.added and not resources.removed
    assert {(r["type"], r["name"]) for r, _ in resources.changed} == {
        ("kubernetes:helm.sh/v3:Release", "milvus-release"), ("kubernetes:batch/v1:Job", "topology-job"),
        ("kubernetes:core/v1:ConfigMap", "topology-spec"), ("kubernetes:core/v1:ConfigMap",
                                                             "monitoring-milvus-capacity"),
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-prometheusrule-milvus-alerts"),
        ("kubernetes:karpenter.sh/v1:NodePool", "karpenter-pool-query"),
        ("kubernetes:core/v1:ResourceQuota", "quota-milvus-quota")}


def test_prod_zone_pinning_is_unchanged_by_growth(prod):
    # Each group's query nodes stay in their zone while the group grows: nodes are added, none move.
    def pinned(step: Step) -> dict[str, str]:
        return {o["metadata"]["name"]: o["spec"]["template"]["spec"]["nodeSelector"]["topology.kubernetes.io/zone"]
                for o in step.objects if o["kind"] == "Deployment" and "querynode" in o["metadata"]["name"]}

    zones = [pinned(s) for s in prod]
    assert zones[0] == zones[1] == zones[2]
    assert len(set(zones[0].values())) == len(zones[0]) == 2


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_shrinking_back_undoes_the_growth_exactly(stack, request):
    v1, v2, again = request.getfixturevalue(stack)
    up, down = _changes(v1, v2), _changes(v2, again)
    assert up.changed, "v2 must change something for the round trip to mean anything"
    # The way down is the way up reversed, field by field, and lands on v1's objects and resources exactly.
    assert down.added == up.removed and down.removed == up.added
    assert {k: {(p, n, o) for p, o, n in f} for k, f in down.changed} == {k: set(f) for k, f in up.changed}
    assert again.plan.objects == v1.plan.objects
    assert again.plan.resources == v1.plan.resources
    if stack in FRESH_RETURN:
        assert again.graph is not v1.graph and again.folder != v1.folder


def test_dev_v2_adds_a_replica_and_its_query_nodes(dev):
    v1, v2, _ = dev
    fields = _fields(_changes(v1, v2))
    before, after = _groups(v1), _groups(v2)
    (group,) = before
    query = fields["Deployment milvus/milvus-querynode (milvus)"]
    assert query["spec.replicas"] == (before[group], after[group]) and after[group] > before[group]
    # With more than one query node, a rollout retires one first instead of surging onto a node that is full.
    assert query["spec.strategy.rollingUpdate.maxSurge"] == (1, 0)
    spec = _topology_spec(v2)
    assert [(c["database"], c["name"], c["replicas"]) for c in spec["collections"]] == _stack_collections(GROWN["dev"])
    assert max(c["replicas"] for c in spec["collections"]) == 2
    resources = plan_diff.resource_changes(v1.plan, v2.plan)
    # A managed node group: its sizes change in place (scalingConfig is not a replace-forcing input).
    node_group = {r["name"]: keys for r, keys in resources.changed if r["type"] == destructive.NODE_GROUP}
    assert node_group == {"pool-milvus-ng": ["scalingConfig"]}
    assert v2.document["nodePools"]["milvus"]["desiredSize"] > v1.document["nodePools"]["milvus"]["desiredSize"]


# ------------------------------------------------------------------------------------------ nothing stateful is lost


STATEFUL_RESOURCES = {
    # (type, name): what it holds.
    ("aws:eks/cluster:Cluster", "cluster-eks"): "the EKS cluster",
    ("aws:s3/bucket:Bucket", "milvus-bucket"): "the Milvus bucket",
    ("aws:s3/bucket:Bucket", "backup-bucket"): "the backup bucket",
}


def _losses(base: plan_diff.Plan, head: plan_diff.Plan) -> list[destructive.Destructive]:
    """What the reviewer's diff flags as replacing or deleting state (tools.plan_diff → tools.destructive)."""
    return plan_diff.destructive_changes(base, head)


def _assert_nothing_stateful_lost(found: list[destructive.Destructive]) -> None:
    assert not found, [f"{f.what}: {f.action} ({f.reason})" for f in found]


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_no_step_replaces_or_deletes_state(stack, request, capsys):
    v1, v2, again = request.getfixturevalue(stack)
    for base, head in ((v1, v2), (v2, again)):
        _assert_nothing_stateful_lost(_losses(base.plan, head.plan))
        # The command a pull request runs agrees: exit 0 without --allow-destructive.
        assert plan_diff.main([str(base.folder), str(head.folder)]) == 0, (base.name, head.name)
        out = capsys.readouterr().out
        assert "None: no stateful resource or object is replaced or deleted." in out
        # The stateful things are there on both sides with identical inputs, and the etcd StatefulSet (its
        # volumeClaimTemplates included) is the same object.
        records = [{(r["type"], r["name"]): r["inputsHash"] for r in side.plan.resources.values()}
                   for side in (base, head)]
        for key in STATEFUL_RESOURCES:
            if key[1] == "backup-bucket" and key not in records[0]:
                continue  # dev backs up under a prefix of the Milvus bucket
            assert records[0][key] == records[1][key], key
        etcd = [{k: o for k, o in side.plan.objects.items() if k[1] == "StatefulSet" and k[3] == "milvus-etcd"}
                for side in (base, head)]
        assert etcd[0] and etcd[0] == etcd[1]


def _copy(step: Step, target: Path) -> Path:
    shutil.copytree(step.folder, target)
    return target


def _edit(folder: Path, name: str, edit) -> None:
    path = folder / name
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))


def test_the_state_check_fires_on_destructive_variants_of_the_grown_plan(prod, tmp_path):
    v1, v2, _ = prod

    def claim_template(document):
        for entry in document["objects"]:
            o = entry["object"]
            if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "milvus-etcd":
                o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "20Gi"
        return document

    def drop(type_, name):
        return lambda records: [r for r in records if (r["type"], r["name"]) != (type_, name)]

    def rename_cluster(records):
        for r in records:
            if (r["type"], r["name"]) == ("aws:eks/cluster:Cluster", "cluster-eks"):
                r["inputs"]["name"], r["inputsHash"] = "0" * 16, "1" * 16
        return records

    variants = {
        "etcd claims": ("objects.json", claim_template, "StatefulSet milvus/milvus-etcd", "replaced"),
        "backup bucket gone": ("resources.json", drop("aws:s3/bucket:Bucket", "backup-bucket"), "backup-bucket",
                               "deleted"),
        "milvus bucket gone": ("resources.json", drop("aws:s3/bucket:Bucket", "milvus-bucket"), "milvus-bucket",
                               "deleted"),
        "cluster renamed": ("resources.json", rename_cluster, "cluster-eks", "replaced"),
        "query pool gone": ("resources.json", drop("kubernetes:karpenter.sh/v1:NodePool", "karpenter-pool-query"),
                            "karpenter-pool-query", "deleted"),
    }
    for name, (file, edit, what, action) in variants.items():
        head = _copy(v2, tmp_path / name.replace(" ", "-"))
        _edit(head, file, edit)
        found = _losses(v1.plan, plan_diff.load_plan(head))
        assert [f.action for f in found if what in f.what] == [action], (name, found)
        with pytest.raises(AssertionError):
            _assert_nothing_stateful_lost(found)
        if name == "etcd claims":
            # The command fails a pull request on it (and passes the unchanged v2: test_no_step_replaces_...).
            assert plan_diff.main([str(v1.folder), str(head)]) == plan_diff.EXIT_DESTRUCTIVE
