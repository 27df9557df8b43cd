"""MilvusTopology under mocks: the spec ConfigMap and the reconcile Job, and the plan wired into pools and chart."""

from __future__ import annotations

import json

import pytest

from render import topology_job as mt
from components import outputs
from render.naming import POOL_LABEL
from stacks.quantity import parse_quantity
from stacks import sizing
from tests.conftest import STACKS, as_engine_config, stack_document
from tests.unit.test_k8s_schemas import _validate
from tests.unit.test_milvus_values import settings_for
from tools.offline import Graph, run_program
from topology import reconcile

COMPONENT = "milvus-eks:milvus:MilvusTopology"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
JOB = "kubernetes:batch/v1:Job"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _children(graph: Graph, type_: str):
    component = graph.one(COMPONENT)
    return [r for r in graph.of_type(type_) if r.parent == component.urn]


def _job(graph: Graph):
    (job,) = _children(graph, JOB)
    return job


def test_configmap_and_job_are_registered_in_the_milvus_namespace(graph: Graph):
    (configmap,) = _children(graph, CONFIGMAP)
    job = _job(graph)
    for resource in (configmap, job):
        assert resource.inputs["metadata"]["namespace"] == "milvus"
        assert "::cluster-k8s::" in resource.provider
    assert configmap.inputs["immutable"] is True
    assert configmap.inputs["metadata"]["name"] == job.inputs["metadata"]["name"]
    volumes = job.inputs["spec"]["template"]["spec"]["volumes"]
    assert {"name": "topology", "configMap": {"name": configmap.inputs["metadata"]["name"]}} in volumes
    assert configmap.urn in job.depends_on


def test_job_runs_after_the_milvus_release(graph: Graph):
    # On the Job itself: the Python SDK does not pass a component's depends_on to its children.
    assert graph.one(RELEASE, "milvus-release").urn in _job(graph).depends_on


def test_configmap_carries_the_reconciler_and_a_spec_it_accepts(graph: Graph):
    (configmap,) = _children(graph, CONFIGMAP)
    assert configmap.inputs["data"]["reconcile.py"] == mt.reconciler_source()
    spec = reconcile.parse_spec(json.loads(configmap.inputs["data"]["spec.json"]))
    plan = sizing.plan(settings_for(graph.stack))
    assert {(g.name, g.nodes) for g in spec.resource_groups} == {
        (g.name, g.nodes) for g in plan.groups if g.name in plan.resource_groups}
    assert [c.key for c in spec.collections] == [c.key for c in plan.collections]


def test_prod_spec_figures():
    s = settings_for("prod")
    spec = mt.render_spec(s, sizing.plan(s))
    # zoneFailure replicaPerZone: each group holds one replica of both collections (208 GiB) on 3 nodes.
    assert spec["resourceGroups"] == [{"name": "rga", "nodes": 3}, {"name": "rgb", "nodes": 3}]
    # The chart labels these groups' query nodes (replicaResourceGroups), so the labels own membership.
    assert spec["membership"] == "labels"
    assert reconcile.parse_spec(spec).membership == "labels"
    assert spec["databases"] == ["rag", "search"]
    chunks = spec["collections"][1]
    # DiskANN's build parameters reach Milvus under knowhere's names.
    assert chunks["index"] == {"type": "DISKANN", "params": {"max_degree": 56, "search_list_size": 100}}
    assert (chunks["shards"], chunks["replicas"], chunks["resourceGroups"]) == (2, 2, ["rga", "rgb"])


def test_index_defaults_the_planner_assumed_are_sent_explicitly():
    s = settings_for("dev").model_copy()
    doc = json.loads(s.model_dump_json(by_alias=True))
    doc["topology"]["collections"][0]["index"] = {"type": "HNSW", "params": {}}
    s = type(s).model_validate_json(json.dumps(doc), strict=True)
    (collection,) = mt.render_spec(s, sizing.plan(s))["collections"]
    assert collection["index"]["params"] == {"M": sizing.INDEX_DEFAULTS["HNSW"]["M"]}


def test_job_is_locked_down_and_bounded(graph: Graph):
    spec = _job(graph).inputs["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["backoffLimit"] <= 2 and 0 < spec["activeDeadlineSeconds"] <= 3600
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {
        "cpu", "memory", "ephemeral-storage"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["HOME"]["value"] in mounts and env["TMPDIR"]["value"] in mounts
    assert container["image"] == mt.RECONCILER_IMAGE
    assert f"-r {mt.SCRIPT_DIR}/requirements.txt" in container["command"][-1]
    assert pod["nodeSelector"] == {POOL_LABEL: settings_for(graph.stack).pool_for("system")}


def test_job_reads_the_root_password_from_the_milvus_secret(graph: Graph):
    (container,) = _job(graph).inputs["spec"]["template"]["spec"]["containers"]
    volumes = {v["name"]: v for v in _job(graph).inputs["spec"]["template"]["spec"]["volumes"]}
    secret = volumes["credentials"]["secret"]
    assert secret["secretName"] == graph.outputs[outputs.MILVUS_ROOT_SECRET]
    assert secret["items"] == [{"key": "password", "path": "password"}]
    assert f"--password-file {mt.CREDENTIALS_DIR}/password " in container["command"][-1]
    assert not any("valueFrom" in e for e in container["env"])  # checkov CKV_K8S_35: secrets as files
    assert f"--uri http://{graph.outputs[outputs.MILVUS_ENDPOINT]} " in container["command"][-1]
    assert "mock-password" not in json.dumps(_job(graph).inputs)


def test_job_name_is_the_hash_of_spec_and_script_and_changes_with_the_spec(dev_graph: Graph):
    s = settings_for("dev")
    spec_json = json.dumps(mt.render_spec(s, sizing.plan(s)), indent=2, sort_keys=True)
    base = _job(dev_graph).inputs["metadata"]["name"]
    assert base == f"milvus-topology-{mt.content_hash(spec_json, mt.reconciler_source(), mt.reconciler_requirements())}"
    assert len(base) <= 63
    config = stack_document("dev")
    config["milvus-eks:topology"]["collections"][0]["shards"] = 2
    changed = run_program("dev", config=as_engine_config(config))
    assert _job(changed).inputs["metadata"]["name"] != base


def test_hash_covers_script_and_spec():
    assert mt.content_hash("{}", "a") != mt.content_hash("{}", "b")
    assert mt.content_hash("{}", "a") != mt.content_hash("{ }", "a")
    assert mt.content_hash("{}", "a", "x==1") != mt.content_hash("{}", "a", "x==2")


@pytest.mark.parametrize("stack", STACKS)
def test_pure_manifests_pass_the_kubernetes_schema(stack: str):
    s = settings_for(stack)
    spec_json = json.dumps(mt.render_spec(s, sizing.plan(s)))
    _validate(mt.configmap_manifest("milvus-topology-x", "milvus", spec_json, "print()"),
              s.cluster.kubernetes_version)
    _validate(mt.job_manifest(s, name="milvus-topology-x", configmap="milvus-topology-x",
                              uri="http://milvus.milvus.svc.cluster.local:19530", secret_name="milvus-root",
                              secret_key="password"), s.cluster.kubernetes_version)


# ------------------------------------------------------------------------------------------ the plan, wired


def test_query_pool_and_chart_follow_the_plan(graph: Graph):
    s = settings_for(graph.stack)
    plan = sizing.plan(s)
    query_pool = s.pool_for("queryNode")
    planned = plan.pool(query_pool)
    if s.node_pools[query_pool].provisioner == "karpenter":
        pools = {r.inputs["metadata"]["name"]: r.inputs for r in graph.of_type("kubernetes:karpenter.sh/v1:NodePool")}
        limit = int(pools[query_pool]["spec"]["limits"]["nodes"])
        assert limit == planned.max_size >= plan.query_nodes
    else:
        groups = {r.name: r for r in graph.of_type("aws:eks/nodeGroup:NodeGroup")}
        scaling = groups[f"pool-{query_pool}-ng"].inputs["scalingConfig"]
        assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == (
            planned.min_size, planned.desired_size, planned.max_size)
        assert scaling["minSize"] >= plan.query_nodes
    values = graph.one(RELEASE, "milvus-release").inputs["values"]
    assert values["queryNode"]["replicas"] == plan.query_node_replicas
    assert values["streamingNode"]["replicas"] == plan.streaming_node_replicas
    assert values.get("replicaResourceGroups", []) == list(plan.resource_groups)


def test_prod_numbers_reach_the_graph(prod_graph: Graph):
    values = prod_graph.one(RELEASE, "milvus-release").inputs["values"]
    assert (values["queryNode"]["replicas"], values["replicaResourceGroups"]) == (3, ["rga", "rgb"])
    # prod's query pool is a Karpenter NodePool: it may grow to maxSize and is priced at the plan's 6 nodes.
    query = next(r for r in prod_graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
                 if r.inputs["metadata"]["name"] == "query").inputs
    assert (query["metadata"]["annotations"]["milvus-eks/planned-nodes"], query["spec"]["limits"]["nodes"]) == (
        "6", "24")


def test_plan_summary_is_a_stack_output(graph: Graph):
    plan = sizing.plan(settings_for(graph.stack))
    assert graph.outputs[outputs.PLAN] == json.loads(json.dumps(plan.summary()))


def test_the_query_node_limit_the_plan_assumes_is_the_one_the_chart_gets(graph: Graph):
    s = settings_for(graph.stack)
    plan = sizing.plan(s)
    limits = graph.one(RELEASE, "milvus-release").inputs["values"]["queryNode"]["resources"]["limits"]
    assert parse_quantity(limits["memory"]) == plan.query_node.memory_limit_bytes
    disk_gib = int(limits["ephemeral-storage"].removesuffix("Gi"))
    assert plan.query_node.local_disk_bytes == int(disk_gib * 2**30 * sizing.MAX_DISK_USAGE)


def test_without_declared_groups_the_spec_keeps_counts():
    s = settings_for("dev")
    assert not s.topology.resource_groups
    assert mt.render_spec(s, sizing.plan(s))["membership"] == "counts"
