"""What a real `pulumi up`/`destroy` on EKS needs from the graph: versions that hold still, nodes that follow the
control plane, ordering around the node role, admin access only from declared principals, storage that follows the
stack."""

from __future__ import annotations

import json
from datetime import date

import pytest

from components.eks_cluster import deployer_is_admin, principal_arn
from components.node_addons import VPC_CNI_POLICY, VPC_CNI_SERVICE_ACCOUNT
from stacks import versions
from stacks.errors import ConfigError
from stacks.validation import load_settings
from tests.conftest import graph_for, stack_document
from tools.offline import MOCK_DEPLOYER, Graph, run_program, read_config, stack_file

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE = "aws:iam/role:Role"


def _raw(stack: str) -> dict:
    return {k.split(":", 1)[1]: v for k, v in stack_document(stack).items() if k.startswith("milvus-eks:")}


# ------------------------------------------------------------------------------------------------ item 4: versions


def test_the_default_kubernetes_version_is_in_standard_support_today():
    today = date(2026, 11, 30)
    end = versions.EKS_END_OF_STANDARD_SUPPORT[versions.KUBERNETES_VERSION]
    assert end > today
    assert versions.support_problem(versions.KUBERNETES_VERSION, "STANDARD", today) is None


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_both_stacks_validate_today(stack):
    settings = load_settings(_raw(stack), "us-west-2", today=date(2026, 11, 30))
    assert settings.cluster.kubernetes_version == versions.KUBERNETES_VERSION


def test_a_version_past_standard_support_is_refused_under_standard():
    raw = _raw("dev")
    raw["cluster"]["kubernetesVersion"] = "1.33"
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2", today=date(2026, 11, 30))
    (problem,) = caught.value.problems
    assert problem.path == "cluster.kubernetesVersion"
    assert "2026-07-29" in problem.message and "EXTENDED" in problem.message
    assert "Upgrade to 1.35" in problem.message


def test_the_same_version_is_accepted_on_a_day_inside_its_support():
    # The check reads the injected date, not the clock: 1.33 was fine in 2025 (it still lacks pinned add-ons).
    found = versions.support_problem("1.33", "STANDARD", date(2025, 12, 1))
    assert found is None


def test_the_newest_pinned_version_past_support_asks_for_the_next_minor():
    level, message = versions.support_problem("1.35", "STANDARD", date(2027, 4, 1))
    assert level == "error" and "Add the next minor and its add-on versions to stacks/versions.py" in message


def test_extended_support_is_a_warning_not_a_refusal():
    level, message = versions.support_problem("1.33", "EXTENDED", date(2026, 11, 30))
    assert level == "warning" and "extended support" in message


def test_the_plan_warns_within_90_days_of_the_end_of_standard_support():
    assert versions.support_problem("1.35", "STANDARD", date(2026, 12, 26)) is None  # 91 days before
    level, message = versions.support_problem("1.35", "STANDARD", date(2026, 12, 27))
    assert level == "warning" and "2027-03-27" in message and "90 days" in message


def test_a_version_outside_the_calendar_is_refused():
    level, message = versions.support_problem("1.37", "STANDARD", date(2026, 11, 30))
    assert level == "error" and "release calendar" in message


def test_a_version_without_pinned_addons_is_refused():
    raw = _raw("dev")
    raw["cluster"]["kubernetesVersion"] = "1.34"
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2", today=date(2026, 10, 1))
    (problem,) = caught.value.problems
    assert problem.path == "cluster.kubernetesVersion" and "ADDON_VERSIONS" in problem.message


def test_the_calendar_has_every_minor_the_settings_accept_up_to_the_default():
    assert set(versions.ADDON_VERSIONS) <= set(versions.EKS_END_OF_STANDARD_SUPPORT)
    assert versions.EKS_CALENDAR_SOURCE.startswith("https://docs.aws.amazon.com/eks/")


def test_node_groups_follow_the_control_planes_version(graph: Graph):
    cluster = graph.one("aws:eks/cluster:Cluster")
    for group in graph.of_type(NODE_GROUP):
        assert group.inputs["version"] == cluster.outputs["version"]
        assert cluster.urn in group.depends_on  # the version is the cluster's output, not a copy of the setting


# ------------------------------------------------------------------------------------------------ item 5: add-ons


def test_every_addon_version_is_the_pinned_one(graph: Graph):
    pinned = versions.ADDON_VERSIONS[versions.KUBERNETES_VERSION]
    addons = {a.inputs["addonName"]: a.inputs["addonVersion"] for a in graph.of_type(ADDON)}
    assert addons == pinned


def test_every_invoke_goes_to_the_explicit_aws_provider(graph: Graph):
    provider = graph.one("pulumi:providers:aws")
    assert graph.invokes
    for invoke in graph.invokes:
        assert invoke.provider.startswith(provider.urn + "::"), invoke.token


def test_no_invoke_asks_for_the_most_recent_addon(graph: Graph):
    assert not [i for i in graph.invokes if i.token == "aws:eks/getAddonVersion:getAddonVersion"]


# ------------------------------------------------------------------------------------------------ item 7: ordering


def test_node_groups_wait_for_the_node_roles_policy_attachments(graph: Graph):
    node_role = next(r for r in graph.of_type(ROLE) if r.name == "cluster-node")
    attachments = [a for a in graph.of_type(ATTACHMENT) if a.inputs["role"] == node_role.outputs["name"]]
    assert attachments
    for group in graph.of_type(NODE_GROUP):
        assert {a.urn for a in attachments} <= set(group.depends_on), group.name


def test_node_groups_wait_for_the_node_level_addons(graph: Graph):
    early = {a.urn for a in graph.of_type(ADDON)
             if a.inputs["addonName"] in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")}
    assert len(early) == 3
    for group in graph.of_type(NODE_GROUP):
        assert early <= set(group.depends_on), group.name


# ------------------------------------------------------------------------------------------------ item 10: storage


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_storage_class_reclaim_policy_follows_the_stack(stack):
    expected = stack_document(stack)["milvus-eks:cluster"]["storageReclaimPolicy"]
    sc = graph_for(stack).one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["reclaimPolicy"] == expected
    assert {"dev": "Delete", "prod": "Retain"}[stack] == expected


def test_the_reclaim_policy_defaults_to_retain():
    raw = _raw("dev")
    del raw["cluster"]["storageReclaimPolicy"]
    assert load_settings(raw, "us-west-2", today=date(2026, 11, 30)).cluster.storage_reclaim_policy == "Retain"


# ------------------------------------------------------------------------------------------------ item 15: access


def test_the_cluster_creator_gets_no_implicit_admin(graph: Graph):
    cluster = graph.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    # The flag forces a new cluster when it changes: a cluster created with it on keeps it instead of being replaced.
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in cluster.ignore_changes


def test_admin_entries_are_exactly_the_declared_principals_and_the_provider_waits_for_them(graph: Graph):
    declared = stack_document(graph.stack)["milvus-eks:cluster"]["adminPrincipals"]
    # Admin entries only: Karpenter's node role has its own EC2_LINUX entry (tests/unit/test_karpenter.py).
    entries = [e for e in graph.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs.get("type") != "EC2_LINUX"]
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(declared)
    associations = graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    provider = graph.one("pulumi:providers:kubernetes")
    assert {a.urn for a in associations} <= set(provider.depends_on)


def test_an_empty_admin_list_is_refused():
    raw = _raw("dev")
    raw["cluster"]["adminPrincipals"] = []
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2", today=date(2026, 11, 30))
    assert caught.value.paths() == ["cluster.adminPrincipals"]
    assert "pulumi up" in caught.value.problems[0].message


def test_a_deployer_who_is_not_a_declared_principal_stops_the_update():
    config = read_config(stack_file("dev"))
    cluster = json.loads(config["milvus-eks:cluster"])
    cluster["adminPrincipals"] = ["arn:aws:iam::123456789012:role/someone-else"]
    config["milvus-eks:cluster"] = json.dumps(cluster)
    with pytest.raises(Exception) as caught:
        run_program("dev", config)
    assert "cluster.adminPrincipals" in str(caught.value)
    assert "arn:aws:iam::123456789012:role/pulumi-deploy" in str(caught.value)


@pytest.mark.parametrize(("caller", "principals", "admin"), [
    (MOCK_DEPLOYER, ("arn:aws:iam::123456789012:role/pulumi-deploy",), True),
    (MOCK_DEPLOYER, ("arn:aws:iam::123456789012:role/ci/pulumi-deploy",), True),  # a role path is not in the caller
    (MOCK_DEPLOYER, ("arn:aws:iam::999999999999:role/pulumi-deploy",), False),
    (MOCK_DEPLOYER, ("arn:aws:iam::123456789012:role/pulumi",), False),
    ("arn:aws:iam::123456789012:user/alice", ("arn:aws:iam::123456789012:user/alice",), True),
    ("arn:aws:iam::123456789012:user/alice", ("arn:aws:iam::123456789012:role/alice",), False),
])
def test_deployer_matching(caller, principals, admin):
    assert deployer_is_admin(caller, principals) is admin


def test_principal_arn_of_an_assumed_role():
    assert principal_arn("arn:aws:sts::123456789012:assumed-role/deploy/session-1") == \
        "arn:aws:iam::123456789012:role/deploy"


def test_the_cni_policy_belongs_to_the_aws_node_service_account_not_the_node_role(graph: Graph):
    node_role = next(r for r in graph.of_type(ROLE) if r.name == "cluster-node")
    on_node_role = {a.inputs["policyArn"] for a in graph.of_type(ATTACHMENT)
                    if a.inputs["role"] == node_role.outputs["name"]}
    assert VPC_CNI_POLICY not in on_node_role
    cni = next(a for a in graph.of_type(ADDON) if a.inputs["addonName"] == "vpc-cni")
    (association,) = cni.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == VPC_CNI_SERVICE_ACCOUNT
    cni_role = next(r for r in graph.of_type(ROLE) if r.outputs["arn"] == association["roleArn"])
    trust = json.loads(cni_role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"]["Service"] == "pods.eks.amazonaws.com"
    assert {a.inputs["policyArn"] for a in graph.of_type(ATTACHMENT)
            if a.inputs["role"] == cni_role.outputs["name"]} == {VPC_CNI_POLICY}


# ------------------------------------------------------------------------------------------------ item 2: reach


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_private_access_cidrs_open_https_on_the_cluster_security_group(stack):
    graph = graph_for(stack)
    wanted = stack_document(stack)["milvus-eks:cluster"]["endpoint"].get("privateAccessCidrs", [])
    cluster = graph.one("aws:eks/cluster:Cluster")
    rules = graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted(wanted)
    for rule in rules:
        assert rule.inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
        assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (443, 443, "tcp")
    assert (stack == "prod") == bool(wanted)  # prod's runner lives in the VPC; dev is reached publicly


def test_the_plan_warns_about_a_documentation_range_in_the_allow_list():
    from tools.plan import cluster_summary

    settings = load_settings(_raw("dev"), "us-west-2", today=date(2026, 11, 30))
    summary, warnings = cluster_summary(settings, date(2026, 11, 30))
    assert summary["endpoint"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    (warning,) = warnings
    assert warning.startswith("cluster.endpoint.publicAccessCidrs: 203.0.113.0/24 is a documentation range")
    raw = _raw("dev")
    raw["cluster"]["endpoint"]["publicAccessCidrs"] = ["192.0.2.128/25", "100.24.0.0/14"]
    summary, warnings = cluster_summary(load_settings(raw, "us-west-2", today=date(2026, 11, 30)),
                                        date(2026, 11, 30))
    assert [w.split(" is ")[0] for w in warnings] == ["cluster.endpoint.publicAccessCidrs: 192.0.2.128/25"]


def test_the_plan_states_the_binding_and_warns_about_the_older_key():
    from tools.plan import cluster_summary, render_cluster

    day = date(2026, 11, 30)
    summary, warnings = cluster_summary(load_settings(_raw("prod"), "us-west-2", today=day), day)
    assert summary["serviceAccountBinding"] == "irsa" and not any("serviceAccountBinding" in w for w in warnings)
    assert summary["workloadRoles"] == ["Milvus S3", "backup", "restore", "Karpenter controller"]
    dev, _ = cluster_summary(load_settings(_raw("dev"), "us-west-2", today=day), day)
    assert dev["workloadRoles"] == ["Milvus S3", "backup", "restore"]  # dev has no Karpenter pool
    assert any("bound through IRSA" in line for line in render_cluster(summary))
    raw = _raw("prod")
    raw["milvus"] = {**raw["milvus"], "serviceAccountBinding": "podIdentity"}
    summary, warnings = cluster_summary(load_settings(raw, "us-west-2", today=day), day)
    assert summary["serviceAccountBinding"] == "podIdentity"
    assert any("bound through EKS Pod Identity" in line for line in render_cluster(summary))
    (warning,) = [w for w in warnings if w.startswith("milvus.serviceAccountBinding: ")]
    assert "Karpenter" in warning and "move it to cluster.serviceAccountBinding" in warning


def test_private_access_cidrs_need_the_private_endpoint():
    raw = _raw("dev")
    raw["cluster"]["endpoint"].update(privateAccess=False, privateAccessCidrs=["10.0.0.0/8"])
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2", today=date(2026, 11, 30))
    assert "cluster.endpoint.privateAccessCidrs" in caught.value.paths()
