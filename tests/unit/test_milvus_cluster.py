"""MilvusCluster as registered under mocks: the Release, the bucket and its role, credentials, outputs."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from components import outputs
from render.charts import ROOT
from render.naming import POOL_LABEL
from stacks.catalog import load_catalog
from stacks.quantity import parse_quantity
from tests.conftest import as_engine_config, stack_document
from tests.unit.test_k8s_schemas import _ints
from tests.unit.test_milvus_values import settings_for, values_for
from tools.offline import Graph, Resource, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
BUCKET = "aws:s3/bucket:Bucket"
COMPONENT = "milvus-eks:milvus:MilvusCluster"


def _values(graph: Graph) -> dict:
    return graph.one(RELEASE, "milvus-release").inputs["values"]


def _pools(graph: Graph) -> dict:
    return stack_document(graph.stack)["milvus-eks:nodePools"]


def _pool_of(graph: Graph, role: str) -> str:
    return next(name for name, pool in _pools(graph).items() if role in pool["roles"])


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


@pytest.fixture(scope="module")
def pod_identity_graph() -> Graph:
    """prod with Pod Identity instead of IRSA and Pulsar instead of Woodpecker: the other branches, one run."""
    config = stack_document("prod")
    config["milvus-eks:milvus"] = {**config["milvus-eks:milvus"], "serviceAccountBinding": "podIdentity",
                                   "messageQueue": "pulsar"}
    return run_program("prod", as_engine_config(config))


def test_release_installs_the_pinned_chart_and_waits(graph: Graph):
    release = graph.one(RELEASE, "milvus-release")
    milvus = stack_document(graph.stack)["milvus-eks:milvus"]
    # The vendored archive by its path from the project root: no repository, the same bytes on every machine.
    assert release.inputs["chart"] == f"charts/milvus-{milvus.get('chartVersion', '5.0.19')}.tgz"
    assert (ROOT / release.inputs["chart"]).is_file()
    assert "version" not in release.inputs and "repositoryOpts" not in release.inputs
    assert release.inputs["name"] == "milvus" and release.inputs["namespace"] == "milvus"
    assert release.inputs["atomic"] is True and release.inputs["timeout"] >= 600
    assert not release.inputs.get("skipAwait")
    assert graph.by_urn(release.parent).type == COMPONENT


def test_values_enable_cluster_mode_and_woodpecker_only(graph: Graph):
    v = _values(graph)
    assert v["cluster"]["enabled"] is True and v["streaming"]["enabled"] is True
    assert v["woodpecker"]["enabled"] is True
    assert v["pulsarv3"]["enabled"] is False and v["pulsar"]["enabled"] is False and v["kafka"]["enabled"] is False
    assert v["indexNode"]["enabled"] is False and v["minio"]["enabled"] is False


def test_values_point_at_the_stacks_bucket_through_iam(graph: Graph):
    s3 = _values(graph)["externalS3"]
    bucket = graph.one(BUCKET, "milvus-bucket")
    assert s3["enabled"] is True and s3["useIAM"] is True and s3["useSSL"] is True
    assert s3["host"] == "s3.us-west-2.amazonaws.com" and s3["port"] == "443" and s3["region"] == "us-west-2"
    assert s3["bucketName"] == bucket.outputs["bucket"]
    assert "accessKey" not in s3 and "secretKey" not in s3


def test_each_component_runs_on_its_pool(graph: Graph):
    v = _values(graph)
    for key, role in (("mixCoordinator", "mixCoordinator"), ("proxy", "proxy"), ("queryNode", "queryNode"),
                      ("dataNode", "dataNode"), ("streamingNode", "streamingNode"), ("etcd", "etcd"),
                      ("woodpecker", "messageQueue")):
        pool = _pool_of(graph, role)
        assert v[key]["nodeSelector"] == {POOL_LABEL: pool}, key
        taints = _pools(graph)[pool].get("taints", [])
        assert [t["value"] for t in v[key]["tolerations"]] == [t["value"] for t in taints], key


def test_query_nodes_one_per_node_sized_from_nvme(graph: Graph):
    qn = _values(graph)["queryNode"]
    (term,) = qn["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["component"] == "querynode"
    node = load_catalog()[_pools(graph)[_pool_of(graph, "queryNode")]["instanceTypes"][0]]
    limit = parse_quantity(qn["resources"]["limits"]["ephemeral-storage"])
    pinned = ((stack_document(graph.stack).get("milvus-eks:milvus") or {}).get("components", {}).get("queryNode", {})
              .get("resources", {}).get("limits", {}).get("ephemeralStorage"))
    if pinned:  # a stack that sizes the query node itself (dev) gets exactly what it asked for
        assert limit == parse_quantity(pinned)
    else:
        assert 0.5 * node.nvme_bytes < limit < node.nvme_bytes
    assert node.nvme
    assert qn["disk"]["size"]["enabled"] is True
    assert parse_quantity(qn["resources"]["limits"]["memory"]) < node.alloc_memory_bytes


def test_bucket_is_private_encrypted_tls_only(graph: Graph):
    bucket = graph.one(BUCKET, "milvus-bucket")
    settings = stack_document(graph.stack)["milvus-eks:milvus"]["bucket"]
    assert bucket.protect is settings.get("protect", False)
    assert bucket.inputs.get("forceDestroy", False) is settings.get("forceDestroy", False)
    block = graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "milvus-bucket")
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                 "restrictPublicBuckets"))
    sse = graph.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "milvus-bucket")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in ("AES256", "aws:kms")
    (deny,) = json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy", "milvus-bucket").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket.outputs["arn"] in deny["Resource"]
    for child in ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketPolicy:BucketPolicy"):
        assert graph.one(child, "milvus-bucket").inputs["bucket"] == bucket.outputs["bucket"]


def test_versioning_and_lifecycle_follow_settings(graph: Graph):
    versioned = stack_document(graph.stack)["milvus-eks:milvus"]["bucket"]["versioning"]
    assert len([r for r in graph.of_type("aws:s3/bucketVersioning:BucketVersioning")
                if r.name == "milvus-bucket"]) == (1 if versioned else 0)
    rules = graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "milvus-bucket").inputs["rules"]
    abort = [r for r in rules if "abortIncompleteMultipartUpload" in r]
    assert abort[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert any("noncurrentVersionExpiration" in r for r in rules) is versioned


def test_role_policy_names_only_the_bucket(graph: Graph):
    bucket_arn = graph.one(BUCKET, "milvus-bucket").outputs["arn"]
    doc = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "milvus-s3").inputs["policy"])
    resources = {r for s in doc["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                      else s["Resource"])}
    assert resources == {bucket_arn, f"{bucket_arn}/*"}


def test_pod_identity_targets_the_charts_service_account(pod_identity_graph: Graph):
    graph = pod_identity_graph
    association = graph.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "milvus-s3")
    sa = _values(graph)["serviceAccount"]
    assert sa["create"] is True
    assert association.inputs["serviceAccount"] == sa["name"]
    assert association.inputs["namespace"] == graph.one(RELEASE, "milvus-release").inputs["namespace"]
    assert association.inputs["clusterName"] == graph.one("aws:eks/cluster:Cluster").outputs["name"]
    role = next(r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == association.inputs["roleArn"])
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert graph.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    assert "eks.amazonaws.com/role-arn" not in (_values(graph)["serviceAccount"].get("annotations") or {})
    v = _values(graph)
    assert v["pulsarv3"]["enabled"] is True and v["woodpecker"]["enabled"] is False


def test_irsa_is_the_default_binding(graph: Graph):
    # milvus-io/milvus#34910: Milvus' S3 client refused the Pod Identity agent's endpoint; IRSA is what Milvus
    # documents. On 3d704d9 the default was podIdentity and this graph had a PodIdentityAssociation.
    # Karpenter's controller follows the same binding (components/workload_identity.py).
    assert graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    assert "eks.amazonaws.com/role-arn" in _values(graph)["serviceAccount"]["annotations"]


def test_irsa_binds_the_role_through_the_clusters_oidc_issuer(graph: Graph):
    irsa_graph = graph
    assert irsa_graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    provider = irsa_graph.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = irsa_graph.one("aws:eks/cluster:Cluster").outputs["identities"][0]["oidcs"][0]["issuer"]
    assert provider.inputs["url"] == issuer and provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    v = irsa_graph.one(RELEASE, "milvus-release").inputs["values"]
    role_arn = v["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    role = next(r for r in irsa_graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn)
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    host = issuer.removeprefix("https://")
    subject = f"system:serviceaccount:milvus:{v['serviceAccount']['name']}"
    assert trust["Condition"]["StringEquals"][f"{host}:sub"] == subject


def test_root_password_only_ever_travels_as_a_secret(graph: Graph):
    password = graph.one("random:index/randomPassword:RandomPassword", "milvus-root-password").outputs["result"]
    assert len(password) >= 16
    for resource in graph.resources:
        public = {k: v for k, v in resource.inputs.items() if k not in resource.secret_inputs}
        assert not any(password in s for s in _strings(public)), f"{resource.type} {resource.name}"
    secret = graph.one("kubernetes:core/v1:Secret", "milvus-root")
    assert "stringData" in secret.secret_inputs and secret.inputs["stringData"]["password"] == password
    for key, value in graph.outputs.items():
        if key not in graph.secret_outputs:
            assert not any(password in s for s in _strings(value)), key
    assert outputs.MILVUS_ROOT_PASSWORD in graph.secret_outputs


def test_outputs(graph: Graph):
    assert graph.outputs[outputs.MILVUS_ENDPOINT] == "milvus.milvus.svc.cluster.local:19530"
    assert graph.outputs[outputs.MILVUS_BUCKET] == graph.one(BUCKET, "milvus-bucket").outputs["bucket"]
    assert graph.outputs[outputs.MILVUS_ROLE_ARN] == \
        _values(graph)["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    secret = graph.one("kubernetes:core/v1:Secret", "milvus-root")
    assert graph.outputs[outputs.MILVUS_ROOT_SECRET] == secret.inputs["metadata"]["name"]
    mix_env = next(e for e in _values(graph)["mixCoordinator"]["extraEnv"] if e["name"] == "COMMON_SECURITY_DEFAULTROOTPASSWORD")
    assert mix_env["valueFrom"]["secretKeyRef"]["name"] == graph.outputs[outputs.MILVUS_ROOT_SECRET]


def test_pdbs_exist_for_every_multi_pod_component(graph: Graph):
    pdbs = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in
            graph.of_type("kubernetes:policy/v1:PodDisruptionBudget")}
    v = _values(graph)
    groups = max(1, len(v.get("replicaResourceGroups", [])))
    for key, label in (("mixCoordinator", "mixcoord"), ("proxy", "proxy"), ("queryNode", "querynode"),
                       ("dataNode", "datanode"), ("streamingNode", "streamingnode")):
        hpa = v[key].get("hpa") or {}
        replicas = hpa["minReplicas"] if hpa.get("enabled") else v[key]["replicas"]  # an HPA never goes below min
        pods = replicas * (groups if key in ("queryNode", "streamingNode") else 1)
        name = f"milvus-{label}"
        assert (name in pdbs) is (pods > 1), name
        if pods > 1:
            assert pdbs[name]["selector"]["matchLabels"]["component"] == label
    if graph.stack == "prod":
        assert len(pdbs) == 5


def test_kubernetes_children_use_the_cluster_provider_and_namespace(graph: Graph):
    component = graph.one(COMPONENT)
    children: list[Resource] = [r for r in graph.resources if r.parent == component.urn]
    namespaced = [r for r in children if r.type.startswith("kubernetes:") and r.type != "kubernetes:core/v1:Namespace"]
    assert namespaced
    for r in namespaced:
        assert "::cluster-k8s::" in r.provider, (r.name, r.provider)
        namespace = r.inputs.get("namespace") or r.inputs["metadata"]["namespace"]
        assert namespace == "milvus", r.name


def test_release_values_are_the_pure_renderers_output(graph: Graph):
    role_arn = _values(graph)["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert any(r.outputs["arn"] == role_arn for r in graph.of_type("aws:iam/role:Role"))
    expected = values_for(settings_for(graph.stack), bucket_name=graph.one(BUCKET, "milvus-bucket").outputs["bucket"],
                          irsa_role_arn=role_arn)
    from render.bundle import deploy_time_values, zone_leaves
    from stacks import sizing
    from tests.unit.test_milvus_values import MOCK_ZONES

    s = settings_for(graph.stack)
    # The group → zone map is rendered over stand-in zones and swapped for the region's at deploy.
    expected = deploy_time_values(expected, zone_leaves(s, sizing.plan(s), tuple(MOCK_ZONES[:s.network.az_count])))
    assert _ints(_values(graph)) == expected


def test_internal_nlb_is_the_programs_own_service_with_local_traffic_policy(graph: Graph):
    services = graph.of_type("kubernetes:core/v1:Service")
    nlb = stack_document(graph.stack)["milvus-eks:milvus"].get("service", {}).get("type") == "internalNlb"
    assert len(services) == (1 if nlb else 0)
    assert _values(graph)["service"] == {"type": "ClusterIP"}
    if nlb:
        (service,) = services
        assert service.inputs["spec"]["externalTrafficPolicy"] == "Local"
        assert service.inputs["spec"]["selector"]["component"] == "proxy"
        release = graph.one(RELEASE, "milvus-release")
        assert release.urn in service.depends_on
