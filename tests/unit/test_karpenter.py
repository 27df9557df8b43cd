"""Karpenter objects: every NodePool and EC2NodeClass validates against the CRD schema in the vendored chart, NVMe
classes use RAID0, serving nodes are disrupted at most one at a time, and limits follow the plan."""

from __future__ import annotations

import hashlib
import json
import tarfile
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from render import karpenter as kp
from stacks import sizing, versions
from tests.unit.test_milvus_values import MOCK_ZONES, settings_for

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "milvus-eks-prod-eks"
NODE_ROLE = "milvus-eks-prod-karpenter-node"


@lru_cache
def crd_schema(kind: str) -> dict:
    """The served, stored version's openAPIV3Schema of `kind`, read from the vendored karpenter-crd archive."""
    files = {"NodePool": "karpenter-crd/templates/karpenter.sh_nodepools.yaml",
             "EC2NodeClass": "karpenter-crd/templates/karpenter.k8s.aws_ec2nodeclasses.yaml"}
    with tarfile.open(ROOT / versions.KARPENTER_CRD.archive) as archive:
        text = archive.extractfile(files[kind]).read().decode()
    # The CRD chart templates only the annotations block; the schema is plain YAML below it.
    document = yaml.safe_load("\n".join(line for line in text.splitlines() if "{{" not in line))
    (version,) = [v for v in document["spec"]["versions"] if v["served"] and v["storage"]]
    assert f"{document['spec']['group']}/{version['name']}" == (kp.NODEPOOL_API if kind == "NodePool"
                                                                 else kp.NODECLASS_API)
    return version["schema"]["openAPIV3Schema"]


def unknown_fields(value, schema: dict, path: str = "") -> list[str]:
    """Fields the schema does not declare: the API server prunes them silently (or refuses them with strict field
    validation), and jsonschema alone ignores them because CRD schemas do not set additionalProperties: false."""
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, child in value.items():
            if key in schema["properties"]:
                found += unknown_fields(child, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and key not in ("apiVersion", "kind"):
                found.append(f"{path}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [f for i, item in enumerate(value) for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def _objects(stack: str = "prod") -> list[dict]:
    s = settings_for(stack)
    zones = MOCK_ZONES[: s.network.az_count]
    return kp.manifests(s, sizing.plan(s), zones, CLUSTER, NODE_ROLE, {"Project": "milvus-eks"})


def test_vendored_archives_match_their_pins():
    for pin in (versions.KARPENTER, versions.KARPENTER_CRD):
        assert hashlib.sha256((ROOT / pin.archive).read_bytes()).hexdigest() == pin.sha256, pin.archive
        with tarfile.open(ROOT / pin.archive) as archive:
            chart = yaml.safe_load(archive.extractfile(f"{pin.name}/Chart.yaml"))
        assert (chart["name"], chart["version"]) == (pin.name, pin.version)


def test_every_object_validates_against_its_crd_schema():
    objects = _objects()
    assert {o["kind"] for o in objects} == {"NodePool", "EC2NodeClass"}
    for o in objects:
        jsonschema.validate(o, crd_schema(o["kind"]), cls=jsonschema.Draft7Validator)
        assert unknown_fields({k: v for k, v in o.items() if k != "metadata"}, crd_schema(o["kind"])) == []
    # CEL rules jsonschema cannot run, checked by hand (CRD x-kubernetes-validations on EC2NodeClass.spec).
    for c in (o for o in objects if o["kind"] == "EC2NodeClass"):
        assert ("role" in c["spec"]) != ("instanceProfile" in c["spec"])
        assert any("alias" in t for t in c["spec"]["amiSelectorTerms"]) and "amiFamily" not in c["spec"]


def test_the_schema_check_would_catch_a_wrong_field():
    pool = next(o for o in _objects() if o["kind"] == "NodePool")
    bad = json.loads(json.dumps(pool))
    bad["spec"]["disruption"]["consolidationPolicy"] = "WhenUnderutilized"  # the v1beta1 spelling
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, crd_schema("NodePool"), cls=jsonschema.Draft7Validator)
    stray = json.loads(json.dumps(pool))
    stray["spec"]["template"]["spec"]["kubeletConfiguration"] = {}  # a field v1 moved to the EC2NodeClass
    assert unknown_fields(stray, crd_schema("NodePool")) == [".spec.template.spec.kubeletConfiguration"]


def test_prod_milvus_pools_are_karpenter_and_system_is_not():
    s = settings_for("prod")
    assert set(kp.karpenter_pools(s)) == {"query", "streaming", "coord"}
    assert s.node_pools[s.pool_for("system")].provisioner == "managedNodeGroup"


def test_nvme_classes_use_raid0_and_raise_aio_max_nr():
    s = settings_for("prod")
    for c in (o for o in _objects() if o["kind"] == "EC2NodeClass"):
        pool = s.node_pools[c["metadata"]["name"]]
        spec = c["spec"]
        assert (spec.get("instanceStorePolicy") == "RAID0") is pool.nvme
        assert ("fs.aio-max-nr = 10485760" in spec.get("userData", "")) is pool.nvme
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (root,) = spec["blockDeviceMappings"]
        assert root["rootVolume"] and root["ebs"]["encrypted"] and root["ebs"]["volumeType"] == "gp3"
        assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [
            {"tags": {kp.DISCOVERY_TAG: CLUSTER}}]
        assert spec["amiSelectorTerms"] == [{"alias": kp.AMI_ALIAS}] and "@latest" not in kp.AMI_ALIAS


def test_query_nodes_are_disrupted_at_most_one_at_a_time():
    query = next(o for o in _objects() if o["kind"] == "NodePool" and o["metadata"]["name"] == "query")
    disruption = query["spec"]["disruption"]
    # Every active budget applies (the most restrictive wins); with one budget of one node and no reasons list,
    # drift, emptiness and consolidation together take at most one query node.
    assert disruption["budgets"] == [{"nodes": "1"}]
    assert disruption["consolidationPolicy"] == "WhenEmpty"
    # Expiration bypasses budgets in v1, so serving nodes never expire.
    assert query["spec"]["template"]["spec"]["expireAfter"] == "Never"


def test_node_pools_carry_the_pool_placement_and_limits_from_max_size():
    s = settings_for("prod")
    plan = sizing.plan(s)
    for p in (o for o in _objects() if o["kind"] == "NodePool"):
        name = p["metadata"]["name"]
        pool = s.node_pools[name]
        requirements = {r["key"]: r["values"] for r in p["spec"]["template"]["spec"]["requirements"]}
        assert requirements["node.kubernetes.io/instance-type"] == list(pool.instance_types)
        assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
        assert requirements["topology.kubernetes.io/zone"] == MOCK_ZONES[:3]
        assert p["spec"]["template"]["metadata"]["labels"]["milvus-eks/pool"] == name
        assert {(t["key"], t["value"], t["effect"]) for t in p["spec"]["template"]["spec"]["taints"]} == {
            (t.key, t.value, "NoSchedule") for t in pool.taints}
        limits = p["spec"]["limits"]
        assert int(limits["nodes"]) == pool.max_size >= plan.pool(name).desired_size
        cpu, memory = kp.planned_capacity(pool, pool.max_size)
        assert (int(limits["cpu"]), limits["memory"]) == (cpu, f"{memory}Mi")
        assert int(p["metadata"]["annotations"][kp.PLANNED_NODES_ANNOTATION]) == plan.pool(name).desired_size


def test_replica_per_zone_groups_fit_the_query_pool_limit():
    # Each pinned group needs its nodes in its zone; the pool limit covers all groups at the plan's size.
    s = settings_for("prod")
    plan = sizing.plan(s)
    query = next(o for o in _objects() if o["kind"] == "NodePool" and o["metadata"]["name"] == "query")
    assert int(query["spec"]["limits"]["nodes"]) >= sum(g.nodes for g in plan.groups)


def test_controller_policy_and_queue():
    policy = json.loads(kp.controller_policy("aws", "us-west-2", "123456789012", CLUSTER,
                                             "arn:aws:iam::123456789012:role/node", "arn:aws:sqs:us-west-2:1:q"))
    sids = {s["Sid"] for s in policy["Statement"]}
    assert {"AllowScopedEC2InstanceAccessActions", "AllowPassingInstanceRole", "AllowInterruptionQueueActions",
            "AllowAPIServerEndpointDiscovery", "AllowRegionalReadActions"} <= sids
    passrole = next(s for s in policy["Statement"] if s["Sid"] == "AllowPassingInstanceRole")
    assert passrole["Resource"] == "arn:aws:iam::123456789012:role/node"  # only the node role
    queue = json.loads(kp.queue_policy("arn:aws:sqs:us-west-2:1:q"))
    assert any(s.get("Sid") == "DenyHTTP" and s["Effect"] == "Deny" for s in queue["Statement"])
    assert {json.loads(kp.event_pattern(e))["detail-type"][0] for e in kp.INTERRUPTION_EVENTS} >= {
        "AWS Health Event", "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification"}


# ------------------------------------------------------------------------------------------ the component, wired

KARPENTER_COMPONENT = "milvus-eks:nodes:Karpenter"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _children(graph, type_: str) -> list:
    (component,) = graph.of_type(KARPENTER_COMPONENT)
    return [r for r in graph.of_type(type_) if r.parent == component.urn]


def test_dev_has_no_karpenter(dev_graph):
    assert dev_graph.of_type(KARPENTER_COMPONENT) == []


def test_controller_runs_from_the_vendored_charts_on_the_system_pool(prod_graph):
    releases = {r.inputs["name"]: r for r in _children(prod_graph, RELEASE)}
    assert {n: r.inputs["chart"] for n, r in releases.items()} == {
        kp.CRD_RELEASE: versions.KARPENTER_CRD.archive, kp.RELEASE: versions.KARPENTER.archive}
    controller = releases[kp.RELEASE]
    assert controller.inputs["skipCrds"] is True and releases[kp.CRD_RELEASE].urn in controller.depends_on
    values = controller.inputs["values"]
    assert values["nodeSelector"] == {"milvus-eks/pool": "system"}
    queue = _children(prod_graph, "aws:sqs/queue:Queue")[0]
    assert values["settings"]["interruptionQueue"] == queue.outputs["name"]
    cluster = prod_graph.one("aws:eks/cluster:Cluster")
    assert values["settings"]["clusterName"] == cluster.inputs["name"]
    # The chart's values key for these (charts/karpenter/values.yaml @ 692ccdd0: settings.clusterName,
    # settings.interruptionQueue, serviceAccount.name, nodeSelector).
    with tarfile.open(ROOT / versions.KARPENTER.archive) as archive:
        defaults = yaml.safe_load(archive.extractfile("karpenter/values.yaml"))
    assert {"clusterName", "interruptionQueue"} <= set(defaults["settings"])
    assert {"nodeSelector", "tolerations", "replicas", "serviceAccount", "controller",
            "podAnnotations"} <= set(defaults)
    # IRSA's annotation goes under serviceAccount.annotations (values.yaml:18-25 of the vendored 1.14.0 archive).
    assert defaults["serviceAccount"] == {"create": True, "name": "", "annotations": {}}


def test_controller_role_node_role_and_interruption_queue(prod_graph):
    # The controller role's binding (IRSA here, Pod Identity as the option): tests/unit/test_workload_identity.py.
    (entry,) = _children(prod_graph, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX"
    node_role = next(r for r in _children(prod_graph, "aws:iam/role:Role") if r.outputs["arn"] ==
                     entry.inputs["principalArn"])
    classes = _children(prod_graph, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    assert {c.inputs["spec"]["role"] for c in classes} == {node_role.outputs["name"]}
    (policy,) = _children(prod_graph, "aws:iam/rolePolicy:RolePolicy")
    passrole = next(s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] == "AllowPassingInstanceRole")
    assert passrole["Resource"] == node_role.outputs["arn"]
    rules = _children(prod_graph, "aws:cloudwatch/eventRule:EventRule")
    assert len(rules) == len(kp.INTERRUPTION_EVENTS) == len(_children(prod_graph,
                                                                      "aws:cloudwatch/eventTarget:EventTarget"))
    tags = _children(prod_graph, "aws:ec2/tag:Tag")
    assert {t.inputs["key"] for t in tags} == {kp.DISCOVERY_TAG}
    assert len(tags) == 3 + 1  # three private subnets and the cluster security group


def test_node_pools_wait_for_the_controller_and_milvus_waits_for_the_node_pools(prod_graph):
    controller = next(r for r in _children(prod_graph, RELEASE) if r.inputs["name"] == kp.RELEASE)
    pools = _children(prod_graph, "kubernetes:karpenter.sh/v1:NodePool")
    assert pools and all(controller.urn in p.depends_on for p in pools)
    milvus = prod_graph.one(RELEASE, "milvus-release")
    assert {p.urn for p in pools} <= set(milvus.depends_on)


def test_the_vendored_chart_renders_the_controller_on_the_system_pool():
    # Helm's own engine on the vendored archive (helm-python-sdk, the project's offline renderer).
    helm = pytest.importorskip("helm_python")
    from helm_python import _native

    from render.naming import pool_tolerations

    s = settings_for("prod")
    role = "arn:aws:iam::123456789012:role/milvus-eks-prod-karpenter-controller"
    values = kp.controller_values(s, CLUSTER, "milvus-eks-prod-karpenter", pool_tolerations(s.node_pools["system"]),
                                  irsa_role_arn=role)
    chart = helm.Chart.load(str(ROOT / versions.KARPENTER.archive))
    options = {"name": kp.RELEASE, "namespace": kp.NAMESPACE, "revision": 1, "is_install": True,
               "is_upgrade": False}
    files = json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options)))
    documents = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["milvus-eks/pool"] == "system" and deployment["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == kp.SERVICE_ACCOUNT  # the service account the role is bound to
    # IRSA: the chart's `serviceAccount.annotations` reach the ServiceAccount the pods run as, and the binding is in
    # the pod template, so a change of binding replaces the pods (credentials are injected at pod admission).
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == kp.SERVICE_ACCOUNT
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert deployment["spec"]["template"]["metadata"]["annotations"][kp.BINDING_ANNOTATION] == "irsa"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert (env["CLUSTER_NAME"], env["INTERRUPTION_QUEUE"]) == (CLUSTER, "milvus-eks-prod-karpenter")
    assert any(d["kind"] == "PodDisruptionBudget" for d in documents)


def test_pools_holding_state_are_never_consolidated_while_in_use():
    # etcd (coord pool) and the streaming nodes' WAL (streaming pool) are as costly to move as loaded segments.
    for p in (o for o in _objects() if o["kind"] == "NodePool"):
        assert p["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty", p["metadata"]["name"]
        assert p["spec"]["disruption"]["budgets"] == [{"nodes": "1"}]
        assert p["spec"]["template"]["spec"]["expireAfter"] == "Never"


def test_the_plan_reports_what_scales_on_its_own(prod_graph):
    from tools.plan import build

    result = build("prod", graph=prod_graph)
    elastic = result.document["elasticity"]
    assert elastic["karpenterPools"]["query"] == {
        "plannedNodes": 6, "nodeLimit": 24, "zones": MOCK_ZONES[:3], "consolidation": "WhenEmpty",
        "disruptedAtOnce": ["1"], "expireAfter": "Never"}
    assert elastic["autoscalers"] == {"milvus/proxy": {"min": 3, "max": 9, "cpuUtilization": 60}}
    assert "pool query: planned 6, limit 24 nodes" in result.report
    assert "hpa milvus/proxy: 3..9 pods at 60% CPU" in result.report


def test_prod_objects_match_their_golden_file():
    from tests.golden_files import assert_golden

    assert_golden("karpenter/prod.yaml", yaml.safe_dump_all(_objects(), sort_keys=True, width=120))


def test_the_projects_validator_accepts_them_against_the_rendered_crd_chart():
    # render/validate.py applies the API server's structural rules (strict unknown fields, int-or-string, ObjectMeta)
    # with the CRDs the vendored karpenter-crd chart renders.
    from render.charts import render_chart
    from render.validate import validate_objects

    crds = [r.obj for r in render_chart(versions.KARPENTER_CRD, {}, release=kp.CRD_RELEASE, namespace=kp.NAMESPACE,
                                        post_render=None, kubernetes_version="1.33")]
    assert {c["spec"]["names"]["kind"] for c in crds} >= {"NodePool", "EC2NodeClass"}
    objects = _objects()
    assert validate_objects([*crds, *objects], "1.33") == []
    broken = json.loads(json.dumps(objects[0]))
    broken["spec"]["instanceStorePolicy"] = "RAID5"
    assert validate_objects([*crds, broken], "1.33")
