"""The scale sequence the plan diff prints: the order `pulumi up` grows or shrinks the query tier in, from two real
plans (prod and prod with more vectors) and from minimal hand-made plan folders for each kind of step."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from reports.sequence import QUERY_NODE_STOP_SECONDS, Shape, sequence, shape
from tests.conftest import graph_for, stack_document
from tests.unit.test_plan_diff import _plan_into
from tools import plan_diff


def _query_pods(directory: Path) -> dict[str, int]:
    """Query-node pods per Deployment, read straight from objects.json."""
    objects = json.loads((directory / "objects.json").read_text())["objects"]
    return {o["object"]["metadata"]["name"]: o["object"]["spec"]["replicas"] for o in objects
            if o["object"]["kind"] == "Deployment" and "querynode" in o["object"]["metadata"]["name"]}


@pytest.fixture(scope="module")
def prod_and_grown(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("grow")
    config = copy.deepcopy(stack_document("prod"))
    products = next(c for c in config["milvus-eks:topology"]["collections"] if c["name"] == "products")
    products["vectors"] *= 2
    stack_file = root / "grown" / "Pulumi.prod.yaml"
    stack_file.parent.mkdir()
    stack_file.write_text(yaml.safe_dump({"config": config}))
    return _plan_into(root / "prod", "prod", graph_for("prod")), _plan_into(root / "head", str(stack_file))


def _section(markdown: str, title: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(title) + 2
    return lines[start:lines.index("", start)]


def test_growing_prod_adds_query_nodes_before_the_topology_job_declares_them(prod_and_grown):
    prod, grown = prod_and_grown
    before, after = _query_pods(prod), _query_pods(grown)
    assert set(before) == set(after) and all(after[n] > before[n] for n in before)
    steps = _section(plan_diff.render(prod, grown), "**Scale-out**")
    assert steps[0] == "1. Helm upgrade of the Milvus release:"
    for name in sorted(before):
        line = next(s for s in steps if f"`{name}`" in s)
        assert f"{before[name]} → {after[name]} pods" in line
        assert f"Karpenter launches {after[name] - before[name]} × r6id.4xlarge" in line
    job = next(s for s in steps if "topology Job" in s)
    assert steps.index(job) > steps.index(next(s for s in steps if "`milvus-querynode-rga`" in s))
    assert f"declared {before['milvus-querynode-rga']} → {after['milvus-querynode-rga']} query nodes" in job
    assert "**Scale-in**" not in plan_diff.render(prod, grown)


def test_shrinking_moves_segments_off_before_karpenter_removes_the_emptied_nodes(prod_and_grown):
    prod, grown = prod_and_grown
    before, after = _query_pods(grown), _query_pods(prod)
    markdown = plan_diff.render(grown, prod)
    steps = _section(markdown, "**Scale-in**")
    helm = steps.index("1. Helm upgrade of the Milvus release:")
    job = next(k for k, s in enumerate(steps) if "topology Job" in s)
    removal = next(k for k, s in enumerate(steps) if s.startswith(f"{steps[-1][0]}. Karpenter removes"))
    assert helm < job < removal
    removed = sum(before[n] - after[n] for n in before)
    assert f"Karpenter removes the {removed} emptied r6id.4xlarge node(s)" in steps[removal]
    for name in before:
        line = next(s for s in steps if f"`{name}`" in s)
        assert f"{before[name]} → {after[name]} pods; each removed query node stops gracefully" in line
        assert f"up to {QUERY_NODE_STOP_SECONDS} s" in line
    costs = [json.loads((d / "plan.json").read_text())["cost"]["total"] for d in (grown, prod)]
    assert f"Monthly estimate ${costs[0]:,.2f} → ${costs[1]:,.2f}." in markdown


def _shape(groups: dict[str, int] | None = None, collections: dict | None = None, pool: dict | None = None,
           requests: dict | None = None) -> Shape:
    objects = {}
    for name, pods in (groups or {}).items():
        group = name.rsplit("-", 1)[-1]
        objects[("milvus", "Deployment", "milvus", name)] = {
            "kind": "Deployment", "metadata": {"name": name}, "spec": {"replicas": pods, "template": {
                "metadata": {"labels": {"component": "querynode", "milvus.io/resource-group": group}},
                "spec": {"nodeSelector": {"topology.kubernetes.io/zone": f"zone-{group}"}}}}}
    spec = {"resourceGroups": [{"name": g, "nodes": n} for g, n in (requests or {}).items()],
            "collections": [{"database": "db", "name": n, "replicas": r, "resourceGroups": list(g)}
                            for n, (r, g) in (collections or {}).items()]}
    objects[("program", "ConfigMap", "milvus", "topology")] = {
        "kind": "ConfigMap", "metadata": {"name": "topology"},
        "data": {"spec.json": json.dumps(spec), "reconcile.py": ""}}
    document = {"nodePools": {"milvus": {"provisioner": "managedNodeGroup", "roles": ["queryNode"],
                                         "instanceTypes": ["m6id.2xlarge"], "desiredSize": 2, **(pool or {})}},
                "cost": {"total": 100.0}}
    return shape(document, objects)


def test_no_change_in_the_query_tier_prints_no_sequence():
    assert sequence(_shape({"milvus-querynode-a": 2}), _shape({"milvus-querynode-a": 2})) == []


def test_a_replica_number_change_is_made_in_place_by_the_topology_job():
    base = _shape({"q-a": 1, "q-b": 1}, {"docs": (1, ("a",))})
    head = _shape({"q-a": 1, "q-b": 1}, {"docs": (2, ("a", "b"))})
    out = "\n".join(sequence(base, head))
    assert "db.docs: 1 → 2 replicas in place in [a, b] (the loaded replicas keep serving" in out
    out = "\n".join(sequence(head, base))
    assert "db.docs: 2 → 1 replicas in place (the surplus replica is released" in out


def test_a_removed_group_serves_until_the_topology_job_releases_its_replica():
    out = "\n".join(sequence(_shape({"q-a": 2, "q-b": 2}, {"docs": (2, ("a", "b"))}),
                             _shape({"q-a": 2}, {"docs": (1, ("a",))})))
    assert "`q-b` removed (2 pods in zone-b); its query nodes stop gracefully and keep serving their replica " \
           "until the topology Job releases it" in out


def test_a_managed_query_pool_shrinks_before_the_release_and_says_what_that_costs():
    out = "\n".join(sequence(_shape({"q-a": 3}, pool={"desiredSize": 3}), _shape({"q-a": 2}, pool={"desiredSize": 2})))
    assert "node group `milvus`: desired 3 → 2, before the release. It holds query nodes: EKS drains nodes of its " \
           "choosing" in out
    assert "Karpenter removes" not in out


def test_a_collection_no_longer_declared_stays_loaded_and_the_sequence_says_so():
    out = "\n".join(sequence(_shape({"q-a": 1}, {"docs": (1, ("a",)), "old": (1, ("a",))}),
                             _shape({"q-a": 1}, {"docs": (1, ("a",))})))
    assert "db.old is no longer declared: the reconciler leaves it loaded" in out
