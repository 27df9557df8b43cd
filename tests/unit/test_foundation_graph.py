"""The foundation as registered under mocks: network, cluster, add-ons, node pools, outputs."""

from __future__ import annotations

import base64
import json

import pytest

from components import outputs
from render.naming import POOL_LABEL
from render.user_data import render_nvme_user_data
from stacks.catalog import load_catalog
from tests.conftest import STACKS, stack_document
from tests.golden_files import assert_golden
from tools.offline import Graph


def _pools(stack: str) -> dict:
    return json.loads(json.dumps(stack_document(stack)["milvus-eks:nodePools"]))


def test_network_spans_the_configured_azs(graph: Graph):
    az_count = stack_document(graph.stack)["milvus-eks:network"]["azCount"]
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 2 * az_count
    assert len({s.inputs["availabilityZone"] for s in subnets}) == az_count
    public = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/elb") == "1"]
    private = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    assert len(public) == len(private) == az_count
    nat_mode = stack_document(graph.stack)["milvus-eks:network"]["natGateways"]
    assert len(graph.of_type("aws:ec2/natGateway:NatGateway")) == (1 if nat_mode == "single" else az_count)
    vpc = graph.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsHostnames"] is True


def test_cluster_uses_api_auth_logging_and_addons(graph: Graph):
    cluster = graph.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert cluster.inputs["enabledClusterLogTypes"]
    assert "0.0.0.0/0" not in cluster.inputs["vpcConfig"].get("publicAccessCidrs", [])
    addons = {a.inputs["addonName"] for a in graph.of_type("aws:eks/addon:Addon")}
    assert addons == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"}
    csi = next(a for a in graph.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver")
    assert csi.inputs["podIdentityAssociations"][0]["serviceAccount"] == "ebs-csi-controller-sa"
    roles = {r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in graph.of_type("aws:iam/role:Role")}
    csi_role = next(doc for name, doc in roles.items() if "ebs-csi" in name)
    assert csi_role["Statement"][0]["Principal"]["Service"] == "pods.eks.amazonaws.com"
    attached = {a.inputs["policyArn"] for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"} <= attached


def test_prod_is_private_encrypted_and_protected(prod_graph: Graph):
    cluster = prod_graph.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.protect is True
    assert prod_graph.one("aws:kms/key:Key").inputs["enableKeyRotation"] is True
    # The admin entries (Karpenter's EC2_LINUX node entry is tests/unit/test_karpenter.py's).
    entries = [e for e in prod_graph.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs["type"] != "EC2_LINUX"]
    assert {e.inputs["principalArn"] for e in entries} == set(
        stack_document("prod")["milvus-eks:cluster"]["adminPrincipals"])
    for association in prod_graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        assert association.inputs["policyArn"].endswith("AmazonEKSClusterAdminPolicy")


def test_dev_has_no_kms_key(dev_graph: Graph):
    assert dev_graph.of_type("aws:kms/key:Key") == []
    assert "encryptionConfig" not in dev_graph.one("aws:eks/cluster:Cluster").inputs


def _managed(stack: str) -> dict:
    return {n: p for n, p in _pools(stack).items() if p.get("provisioner", "managedNodeGroup") == "managedNodeGroup"}


def test_one_managed_node_group_per_pool(graph: Graph):
    pools = _managed(graph.stack)
    karpenter = {r.inputs["metadata"]["name"] for r in graph.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    assert karpenter == set(_pools(graph.stack)) - set(pools)  # the others get a Karpenter NodePool instead
    groups = graph.of_type("aws:eks/nodeGroup:NodeGroup")
    assert sorted(g.inputs["labels"][POOL_LABEL] for g in groups) == sorted(pools)
    for group in groups:
        pool = pools[group.inputs["labels"][POOL_LABEL]]
        assert group.inputs["instanceTypes"] == pool["instanceTypes"]
        assert group.inputs["scalingConfig"]["maxSize"] == pool["maxSize"]
        assert group.inputs["amiType"].startswith("AL2023_")
        # The plan owns all three sizes (no autoscaler): nothing is left to the state of a previous run.
        assert group.ignore_changes == []
        scaling = group.inputs["scalingConfig"]
        assert scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"]
        assert group.inputs["updateConfig"]["maxUnavailable"] >= 1
        assert len(group.inputs.get("taints", [])) == len(pool.get("taints", []))


def test_every_launch_template_requires_imdsv2_and_encrypts_root(graph: Graph):
    templates = graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == len(_managed(graph.stack))
    for template in templates:
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
        assert ebs["volumeType"] == "gp3" and ebs["encrypted"] == "true"


def test_nvme_pools_use_nvme_types_and_carry_raid0(graph: Graph):
    catalog = load_catalog()
    pools = _managed(graph.stack)
    groups = {g.inputs["labels"][POOL_LABEL]: g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup")}
    templates = {t.parent: t for t in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    nvme_pools = [name for name, pool in pools.items() if pool.get("nvme")]
    classes = {r.inputs["metadata"]["name"]: r.inputs["spec"]
               for r in graph.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")}
    assert nvme_pools or any(c.get("instanceStorePolicy") == "RAID0" for c in classes.values()), \
        "each stack has at least one NVMe pool"
    for name, pool in pools.items():
        template = templates[groups[name].parent]
        if name in nvme_pools:
            assert all(catalog[t].nvme for t in groups[name].inputs["instanceTypes"])
            user_data = base64.b64decode(template.inputs["userData"]).decode()
            assert "strategy: RAID0" in user_data and "application/node.eks.aws" in user_data
            assert "fs.aio-max-nr = 10485760" in user_data
        else:
            assert "userData" not in template.inputs


def test_nvme_user_data_golden():
    assert_golden("user_data/nvme.mime", render_nvme_user_data())


def test_every_kubernetes_resource_uses_the_explicit_provider(graph: Graph):
    provider = graph.one("pulumi:providers:kubernetes")
    k8s = [r for r in graph.resources if r.type.startswith("kubernetes:")]
    assert k8s
    for resource in k8s:
        assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_every_aws_resource_uses_the_explicit_provider(graph: Graph):
    provider = graph.one("pulumi:providers:aws")
    for resource in graph.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_children_are_parented_to_components(graph: Graph):
    for resource in graph.resources:
        if resource.custom and not resource.type.startswith("pulumi:providers:"):
            owners = [a.type for a in graph.ancestors(resource)]
            assert any(t.startswith("milvus-eks:") for t in owners), f"{resource.type} {resource.name} has no owner"


def test_outputs_are_the_documented_constants_and_kubeconfig_is_secret(graph: Graph):
    assert set(graph.outputs) >= {outputs.CLUSTER_NAME, outputs.CLUSTER_ENDPOINT, outputs.KUBECONFIG,
                                  outputs.NODE_POOLS, outputs.VPC_ID}
    assert outputs.KUBECONFIG in graph.secret_outputs
    kubeconfig = json.loads(graph.outputs[outputs.KUBECONFIG])
    exec_ = kubeconfig["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws" and exec_["args"][:2] == ["eks", "get-token"]
    assert set(graph.outputs[outputs.NODE_POOLS]) == set(_pools(graph.stack))


@pytest.mark.parametrize("stack", STACKS)
def test_storage_class_is_default_gp3(stack):
    from tests.conftest import graph_for
    sc = graph_for(stack).one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["parameters"]["type"] == "gp3"
    assert sc.inputs["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
