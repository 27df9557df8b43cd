"""The policy pack: every rule passes on the dev and prod graphs and fails on a mutated copy of a captured
resource; the pack itself loads under pulumi-policy."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policy import policies as P
from stacks.catalog import load_catalog
from tools.offline import Graph

ROOT = Path(__file__).resolve().parents[2]


def _res(graph: Graph) -> list[P.Res]:
    return [P.Res(r.type, r.name, r.urn, copy.deepcopy(r.inputs), tuple(r.depends_on), r.parent)
            for r in graph.resources]


def _has_nvme(instance_type: str) -> bool | None:
    info = load_catalog().get(instance_type)
    return info.nvme if info else None


def _replace(resources: list[P.Res], target: P.Res, props: dict) -> list[P.Res]:
    return [P.Res(r.type, r.name, r.urn, props, r.dependencies, r.parent) if r is target else r for r in resources]


def _one(resources: list[P.Res], type_: str, name: str | None = None) -> P.Res:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert found, f"the program registers no {type_} {name or ''}"
    return found[0]


STACK_CHECKS = {
    "s3_public_access_blocked": P.s3_public_access_blocked,
    "s3_encrypted": P.s3_encrypted,
    "s3_tls_only": P.s3_tls_only,
    "nvme_pools_use_nvme_types": lambda rs: P.nvme_pools_use_nvme_types(rs, _has_nvme),
    "no_plaintext_secrets": P.no_plaintext_secrets,
}
RESOURCE_CHECKS = {
    "imdsv2_required": P.imdsv2_required,
    "eks_endpoint_not_public": P.eks_endpoint_not_public,
    "containers_have_resources": P.containers_have_resources,
    "helm_components_have_resources": P.helm_components_have_resources,
}


@pytest.mark.parametrize("check", sorted(STACK_CHECKS))
def test_stack_policies_pass_on_the_program(graph: Graph, check):
    assert STACK_CHECKS[check](_res(graph)) == []


@pytest.mark.parametrize("check", sorted(RESOURCE_CHECKS))
def test_resource_policies_pass_on_the_program(graph: Graph, check):
    resources = _res(graph)
    assert [v for r in resources for v in RESOURCE_CHECKS[check](r)] == []


def test_public_access_block_must_exist_with_all_four_flags(prod_graph: Graph):
    resources = _res(prod_graph)
    block = _one(resources, P.PUBLIC_ACCESS_BLOCK)
    loosened = _replace(resources, block, {**block.props, "blockPublicPolicy": False})
    [violation] = P.s3_public_access_blocked(loosened)
    assert "blockPublicPolicy" in violation.message and violation.urn == block.urn
    missing = [r for r in resources if r is not block]
    assert "has no BucketPublicAccessBlock" in P.s3_public_access_blocked(missing)[0].message


def test_bucket_needs_default_encryption(prod_graph: Graph):
    resources = _res(prod_graph)
    sse = _one(resources, P.SSE_CONFIGURATION)
    assert P.s3_encrypted([r for r in resources if r is not sse])
    weak = _replace(resources, sse, {**sse.props, "rules": [{"applyServerSideEncryptionByDefault":
                                                                  {"sseAlgorithm": "NONE"}}]})
    assert "server-side encryption" in P.s3_encrypted(weak)[0].message


def test_bucket_policy_must_deny_plain_http(prod_graph: Graph):
    resources = _res(prod_graph)
    policy = _one(resources, P.BUCKET_POLICY)
    document = json.loads(policy.props["policy"])
    for statement in document["Statement"]:
        statement["Effect"] = "Allow"
    allowing = _replace(resources, policy, {**policy.props, "policy": json.dumps(document)})
    assert "aws:SecureTransport" in P.s3_tls_only(allowing)[0].message
    assert P.s3_tls_only([r for r in resources if r is not policy])


def test_launch_templates_require_imdsv2(dev_graph: Graph):
    template = _one(_res(dev_graph), P.LAUNCH_TEMPLATE)
    optional = P.Res(template.type, template.name, template.urn,
                     {**template.props, "metadataOptions": {**template.props["metadataOptions"],
                                                            "httpTokens": "optional"}})
    assert "IMDSv2" in P.imdsv2_required(optional)[0].message


def test_karpenter_node_classes_require_imdsv2(prod_graph: Graph):
    node_class = _one(_res(prod_graph), P.KARPENTER_NODE_CLASS)
    assert P.imdsv2_required(node_class) == []
    spec = node_class.props["spec"]
    optional = P.Res(node_class.type, node_class.name, node_class.urn,
                     {**node_class.props, "spec": {**spec, "metadataOptions": {**spec["metadataOptions"],
                                                                               "httpTokens": "optional"}}})
    assert "IMDSv2" in P.imdsv2_required(optional)[0].message


def test_open_endpoint_is_refused_only_for_protected_clusters(dev_graph: Graph, prod_graph: Graph):
    prod = _one(_res(prod_graph), P.EKS_CLUSTER)
    open_vpc = {**prod.props["vpcConfig"], "publicAccessCidrs": ["0.0.0.0/0"]}
    opened = P.Res(prod.type, prod.name, prod.urn, {**prod.props, "vpcConfig": open_vpc})
    assert "0.0.0.0/0" in P.eks_endpoint_not_public(opened)[0].message
    no_list = P.Res(prod.type, prod.name, prod.urn,
                    {**prod.props, "vpcConfig": {**prod.props["vpcConfig"], "publicAccessCidrs": None}})
    assert P.eks_endpoint_not_public(no_list)
    dev = _one(_res(dev_graph), P.EKS_CLUSTER)
    dev_open = {**dev.props, "vpcConfig": {**dev.props["vpcConfig"], "publicAccessCidrs": ["0.0.0.0/0"]}}
    assert P.eks_endpoint_not_public(P.Res(dev.type, dev.name, dev.urn, dev_open)) == []
    assert P.eks_endpoint_not_public(P.Res(dev.type, dev.name, dev.urn, dev_open), protected_stacks=["dev"])
    protected = {**dev_open, "deletionProtection": True}
    assert P.eks_endpoint_not_public(P.Res(dev.type, dev.name, dev.urn, protected))


def test_workload_containers_need_requests_and_limits(graph: Graph):
    workloads = [r for r in _res(graph) if r.type in P.WORKLOADS
                 and r.props.get("metadata", {}).get("namespace") in P.DEFAULT_WORKLOAD_NAMESPACES]
    if not workloads:
        pytest.skip("the program writes no Deployment/StatefulSet/Job in the Milvus or monitoring namespace")
    workload = workloads[0]
    props = copy.deepcopy(dict(workload.props))
    pod = P._get(props, ".".join(P.WORKLOADS[workload.type]))
    del pod["containers"][0]["resources"]["limits"]
    [violation] = P.containers_have_resources(P.Res(workload.type, workload.name, workload.urn, props))
    assert "limits.cpu" in violation.message and "limits.memory" in violation.message


def test_helm_components_need_requests_and_limits(graph: Graph):
    release = _one(_res(graph), P.HELM_RELEASE, "milvus-release")
    props = copy.deepcopy(dict(release.props))
    del props["values"]["queryNode"]["resources"]["limits"]["memory"]
    [violation] = P.helm_components_have_resources(P.Res(release.type, release.name, release.urn, props))
    assert "queryNode.resources" in violation.message and "limits.memory" in violation.message
    props["values"]["queryNode"]["enabled"] = False
    assert P.helm_components_have_resources(P.Res(release.type, release.name, release.urn, props)) == []


def test_nvme_launch_template_requires_nvme_instance_types(graph: Graph):
    resources = _res(graph)
    nvme_groups = [g for g in resources if g.type == P.NODE_GROUP and g.props["labels"]["milvus-eks/nvme"] == "true"]
    if not nvme_groups:
        # prod's NVMe pools are Karpenter's: their types and RAID0 are checked in tests/unit/test_karpenter.py.
        assert graph.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"), "every stack has an NVMe pool"
        return
    group = nvme_groups[0]
    swapped = _replace(resources, group, {**group.props, "instanceTypes": ["m7i.2xlarge"]})
    [violation] = P.nvme_pools_use_nvme_types(swapped, _has_nvme)
    assert "m7i.2xlarge" in violation.message and violation.urn == group.urn
    plain = [g for g in resources if g.type == P.NODE_GROUP and g.props["labels"]["milvus-eks/nvme"] == "false"][0]
    assert P.nvme_pools_use_nvme_types(_replace(resources, plain, {**plain.props, "instanceTypes": ["m7i.large"]}),
                                       _has_nvme) == []


def test_plain_text_credentials_are_refused_but_secrets_may_hold_them(prod_graph: Graph):
    resources = _res(prod_graph)
    release = _one(resources, P.HELM_RELEASE, "milvus-release")
    values = copy.deepcopy(release.props["values"])
    values.setdefault("externalS3", {})["secretKey"] = "wJalrXUtnFEMI/K7MDENG"
    leaked = _replace(resources, release, {**release.props, "values": values})
    [violation] = P.no_plaintext_secrets(leaked)
    assert "values.externalS3.secretKey" in violation.message
    secret = _one(resources, "kubernetes:core/v1:Secret")
    assert "password" in json.dumps(secret.props)
    assert P.no_plaintext_secrets([secret]) == []


def test_policy_pack_loads_under_pulumi_policy():
    # The pack serves its analyzer over gRPC and prints the port once every policy is constructed.
    proc = subprocess.Popen([sys.executable, str(ROOT / "policy" / "__main__.py")], cwd=ROOT / "policy",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.kill()
        proc.wait(timeout=10)
