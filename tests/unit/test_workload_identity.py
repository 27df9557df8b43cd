"""One binding for every workload role (components/workload_identity.py): Milvus' S3 role, the backup and restore
roles and the Karpenter controller's role all reach their service accounts through `cluster.serviceAccountBinding`
(or the older `milvus.serviceAccountBinding`); under IRSA they all trust the cluster's one IAM OIDC provider, which
EksCluster owns and which keeps the URN MilvusCluster gave it."""

from __future__ import annotations

import json

import pytest

from render import backup as rb, karpenter as kp, milvus_values as mv
from render.iam import IRSA_ANNOTATION
from stacks.settings import Settings
from stacks.validation import load_stack_config
from tests.conftest import as_engine_config, stack_document
from tools.offline import Graph, Resource, run_program

PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE = "aws:iam/role:Role"
RELEASE = "kubernetes:helm.sh/v3:Release"
KARPENTER = "milvus-eks:nodes:Karpenter"


def _prod_with(section: str, binding: str) -> Graph:
    config = stack_document("prod")
    key = f"milvus-eks:{section}"
    config[key] = {**config.get(key, {}), "serviceAccountBinding": binding}
    return run_program("prod", as_engine_config(config))


@pytest.fixture(scope="module")
def pod_identity_graph() -> Graph:
    return _prod_with("cluster", "podIdentity")


@pytest.fixture(scope="module")
def legacy_pod_identity_graph() -> Graph:
    """A stack file that still says `milvus.serviceAccountBinding: podIdentity`, as written before the key moved."""
    return _prod_with("milvus", "podIdentity")


def _settings(graph: Graph) -> Settings:
    return load_stack_config(stack_document(graph.stack))


def _bound_accounts(settings: Settings) -> set[tuple[str, str]]:
    """(namespace, service account) of every workload role the stack has."""
    m = settings.milvus
    accounts = {(m.namespace, mv.service_account_name(m.release_name))}
    if m.backup.enabled:
        accounts |= {(m.namespace, rb.service_account_name(m.release_name)),
                     (m.namespace, rb.restore_service_account_name(m.release_name))}
    if kp.karpenter_pools(settings):
        accounts.add((kp.NAMESPACE, kp.SERVICE_ACCOUNT))
    return accounts


def _trust(role: Resource) -> dict:
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    return statement


def _controller(graph: Graph) -> tuple[Resource, Resource]:
    (component,) = graph.of_type(KARPENTER)
    role = next(r for r in graph.of_type(ROLE) if r.parent == component.urn and r.name == "karpenter-controller")
    release = next(r for r in graph.of_type(RELEASE) if r.parent == component.urn and r.inputs["name"] == kp.RELEASE)
    return role, release


def test_every_workload_role_trusts_the_clusters_one_oidc_provider(graph: Graph):
    assert _settings(graph).service_account_binding == "irsa"  # both shipped stacks use the default
    (provider,) = graph.of_type(PROVIDER)
    cluster = graph.one("aws:eks/cluster:Cluster")
    assert graph.by_urn(provider.parent).type == "milvus-eks:cluster:EksCluster"
    issuer = cluster.outputs["identities"][0]["oidcs"][0]["issuer"]
    assert provider.inputs["url"] == issuer and provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    host = issuer.removeprefix("https://")
    federated = [r for r in graph.of_type(ROLE) if "Federated" in _trust(r)["Principal"]]
    assert {_trust(r)["Principal"]["Federated"] for r in federated} == {provider.outputs["arn"]}
    subjects = {_trust(r)["Condition"]["StringEquals"][f"{host}:sub"] for r in federated}
    assert subjects == {f"system:serviceaccount:{ns}:{sa}" for ns, sa in _bound_accounts(_settings(graph))}
    assert all(_trust(r)["Condition"]["StringEquals"][f"{host}:aud"] == "sts.amazonaws.com" for r in federated)
    assert graph.of_type(ASSOCIATION) == []


def test_the_provider_keeps_the_urn_it_had_under_milvus(graph: Graph):
    (provider,) = graph.of_type(PROVIDER)
    # The URN main@879e025 registered it under, as MilvusCluster("milvus")'s child `milvus-oidc` (read from that
    # commit's graph): with this alias `pulumi up` moves the existing provider instead of creating a second one for
    # the same issuer, which IAM refuses (EntityAlreadyExists).
    before = (f"urn:pulumi:{graph.stack}::milvus-eks::milvus-eks:milvus:MilvusCluster$"
              f"aws:iam/openIdConnectProvider:OpenIdConnectProvider::milvus-oidc")
    assert provider.aliases == [before]
    assert provider.urn != before


def test_karpenter_under_irsa_annotates_its_service_account(prod_graph: Graph):
    (component,) = prod_graph.of_type(KARPENTER)
    assert [r for r in prod_graph.of_type(ASSOCIATION) if r.parent == component.urn] == []
    role, release = _controller(prod_graph)
    trust = _trust(role)
    issuer = prod_graph.one("aws:eks/cluster:Cluster").outputs["identities"][0]["oidcs"][0]["issuer"]
    host = issuer.removeprefix("https://")
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {"Federated": prod_graph.one(PROVIDER).outputs["arn"]}
    assert trust["Condition"]["StringEquals"] == {f"{host}:sub": "system:serviceaccount:kube-system:karpenter",
                                                  f"{host}:aud": "sts.amazonaws.com"}
    values = release.inputs["values"]
    assert values["serviceAccount"] == {"create": True, "name": kp.SERVICE_ACCOUNT,
                                        "annotations": {IRSA_ANNOTATION: role.outputs["arn"]}}
    assert values["podAnnotations"] == {kp.BINDING_ANNOTATION: "irsa"}


def test_karpenter_under_pod_identity_keeps_its_association(pod_identity_graph: Graph):
    graph = pod_identity_graph
    (component,) = graph.of_type(KARPENTER)
    role, release = _controller(graph)
    (association,) = [r for r in graph.of_type(ASSOCIATION) if r.parent == component.urn]
    assert association.name == "karpenter-controller"  # the logical name it had: an existing stack keeps it
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (kp.NAMESPACE,
                                                                                        kp.SERVICE_ACCOUNT)
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == graph.one("aws:eks/cluster:Cluster").outputs["name"]
    assert association.urn in release.depends_on
    trust = _trust(role)
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    values = release.inputs["values"]
    assert "annotations" not in values["serviceAccount"]
    assert values["podAnnotations"] == {kp.BINDING_ANNOTATION: "podIdentity"}


def test_under_pod_identity_every_workload_role_has_an_association_and_there_is_no_provider(pod_identity_graph):
    graph = pod_identity_graph
    associations = graph.of_type(ASSOCIATION)
    # The modified stack differs from prod's file only in the binding, which does not change the accounts.
    assert {(a.inputs["namespace"], a.inputs["serviceAccount"]) for a in associations} == _bound_accounts(
        _settings(graph))
    roles = {r.outputs["arn"]: r for r in graph.of_type(ROLE)}
    assert all(_trust(roles[a.inputs["roleArn"]])["Principal"] == {"Service": "pods.eks.amazonaws.com"}
               for a in associations)
    assert not any("Federated" in _trust(r)["Principal"] for r in roles.values())
    assert graph.of_type(PROVIDER) == []


def test_the_older_milvus_key_binds_karpenter_the_same_way(pod_identity_graph, legacy_pod_identity_graph):
    # "Karpenter gets its role through the same mechanism as Milvus": a stack that chose Pod Identity for Milvus
    # under the old key gets it for the controller too, resource for resource.
    assert ({r.urn for r in legacy_pod_identity_graph.of_type(ASSOCIATION)}
            == {r.urn for r in pod_identity_graph.of_type(ASSOCIATION)})
    assert any(r.name == "karpenter-controller" for r in legacy_pod_identity_graph.of_type(ASSOCIATION))


def test_eks_add_ons_keep_their_pod_identity_binding_under_irsa(prod_graph: Graph):
    # Not workload roles of the program: EKS binds them through the add-on API, and the VPC CNI must keep its
    # credentials on running nodes (components/workload_identity.py says why they do not follow the setting).
    addons = {r.inputs["addonName"]: r for r in prod_graph.of_type("aws:eks/addon:Addon")}
    assert addons["vpc-cni"].inputs["podIdentityAssociations"][0]["serviceAccount"] == "aws-node"
    assert addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"][0]["serviceAccount"] == \
        "ebs-csi-controller-sa"
    assert "serviceAccountRoleArn" not in addons["vpc-cni"].inputs
