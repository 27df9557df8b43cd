"""`tools.plan_diff` flags changes that replace or delete stateful resources, on plans written by the real plan
command: a new VPC CIDR, a new bucket prefix (stack name), a removed or renamed bucket, an immutable StatefulSet
field; a Prometheus retention change or a non-query pool's replacement is not destructive."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import graph_for, stack_document
from tools import destructive, plan_diff
from tools import plan as plan_command

BUCKET = "milvus-eks:milvus:MilvusCluster$aws:s3/bucket:Bucket::milvus-bucket"
VPC = "milvus-eks:network:Network$aws:ec2/vpc:Vpc::network-vpc"
CLUSTER = "milvus-eks:cluster:EksCluster$aws:eks/cluster:Cluster::cluster-eks"


def _plan_into(out: Path, stack: str, graph=None) -> Path:
    result = plan_command.build(stack, graph=graph)
    plan_command.write(result.files, out)
    return out


def _mutated(tmp: Path, name: str, change) -> Path:
    config = copy.deepcopy(stack_document("dev"))
    change(config)
    folder = tmp / name
    folder.mkdir()
    stack_file = folder / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    return _plan_into(folder / "plan", str(stack_file))


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("destructive")
    out = {"dev": _plan_into(root / "dev", "dev", graph_for("dev"))}
    out["cidr"] = _mutated(root, "cidr", lambda c: c["milvus-eks:network"].update(vpcCidr="10.41.0.0/16"))
    out["retention"] = _mutated(root, "retention", lambda c: c["milvus-eks:monitoring"].update(retention="5d"))
    out["milvus-patch"] = _mutated(root, "milvus-patch",
                                   lambda c: c.setdefault("milvus-eks:milvus", {}).update(imageTag="v2.6.14"))
    # Another stack name changes every physical name derived from it, the bucket prefix among them.
    renamed = root / "renamed"
    renamed.mkdir()
    (renamed / "Pulumi.dev2.yaml").write_text(yaml.safe_dump({"config": stack_document("dev")}))
    out["dev2"] = _plan_into(renamed / "plan", str(renamed / "Pulumi.dev2.yaml"))
    return out


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _edit_resources(folder: Path, edit) -> None:
    path = folder / "resources.json"
    records = json.loads(path.read_text())
    path.write_text(json.dumps(edit(records)))


def _findings(base: Path, head: Path) -> list[destructive.Destructive]:
    _, findings = plan_diff.diff(base, head)
    return [f for items in findings.values() for f in items]


def test_a_new_vpc_cidr_replaces_the_vpc_its_subnets_and_the_cluster(plans, capsys):
    found = {f.what: f for f in _findings(plans["dev"], plans["cidr"])}
    vpc = found["`aws:ec2/vpc:Vpc` network-vpc"]
    assert vpc.action == "replaced" and "`cidrBlock` changes" in vpc.reason and "vpc_.go" in vpc.reason
    subnets = [w for w in found if w.startswith("`aws:ec2/subnet:Subnet`")]
    assert len(subnets) == 4
    # The cluster's own inputs did not change under mocks (same subnet ids): it is caught through its subnets.
    cluster = found["`aws:eks/cluster:Cluster` cluster-eks"]
    assert "`vpcConfig` comes from `aws:ec2/subnet:Subnet`" in cluster.reason
    assert "pool-milvus-ng" in " ".join(found)  # the query-node pool goes with the cluster
    assert not [w for w in found if "pool-system-ng" in w]  # a pool without query nodes is no data loss

    assert plan_diff.main([str(plans["dev"]), str(plans["cidr"])]) == plan_diff.EXIT_DESTRUCTIVE
    captured = capsys.readouterr()
    top = captured.out.split("## Stack", 1)[0]
    assert "## Destructive changes" in top and "network-vpc" in top and "`allow-destructive`" in top
    assert "destructive change(s)" in captured.err


def test_allow_destructive_keeps_the_list_and_exits_zero(plans, capsys):
    assert plan_diff.main(["--allow-destructive", str(plans["dev"]), str(plans["cidr"])]) == 0
    out = capsys.readouterr().out
    assert "allowed for this change" in out and "network-vpc" in out.split("## Stack", 1)[0]


def test_a_new_bucket_prefix_replaces_the_bucket(plans):
    found = {f.what: f for f in _findings(plans["dev"], plans["dev2"])}
    bucket = found["`aws:s3/bucket:Bucket` milvus-bucket"]
    assert bucket.action == "replaced" and "`bucketPrefix` changes" in bucket.reason
    assert "bucket_prefix ForceNew" in bucket.reason
    assert "`name` changes" in found["`aws:eks/cluster:Cluster` cluster-eks"].reason
    assert plan_diff.main([str(plans["dev"]), str(plans["dev2"])]) == plan_diff.EXIT_DESTRUCTIVE


def test_a_removed_bucket_is_deleted_and_a_new_logical_name_is_a_rename(plans, tmp_path):
    removed = _copy(plans["dev"], tmp_path / "removed")
    _edit_resources(removed, lambda records: [r for r in records if r["id"] != BUCKET])
    (gone,) = [f for f in _findings(plans["dev"], removed) if "Bucket" in f.what]
    assert gone.action == "deleted"

    renamed = _copy(plans["dev"], tmp_path / "renamed")

    def rename(records):
        for r in records:
            if r["id"] == BUCKET:
                r["id"], r["name"] = BUCKET.replace("milvus-bucket", "data-bucket"), "data-bucket"
        return records

    _edit_resources(renamed, rename)
    (moved,) = [f for f in _findings(plans["dev"], renamed) if "Bucket" in f.what]
    assert moved.action == "renamed" and "`milvus-bucket` → `data-bucket`" in moved.reason
    assert "aliases" in moved.reason


def test_a_rename_with_an_alias_is_a_move_not_a_deletion(plans, tmp_path):
    moved_dir = _copy(plans["dev"], tmp_path / "moved")

    def rename(records):
        for r in records:
            if r["id"] == BUCKET:
                r["id"], r["name"] = BUCKET.replace("milvus-bucket", "data-bucket"), "data-bucket"
                r["aliases"] = [BUCKET]
        return records

    _edit_resources(moved_dir, rename)
    assert [f for f in _findings(plans["dev"], moved_dir) if "Bucket" in f.what] == []
    changes = plan_diff.resource_changes(plan_diff.load_plan(plans["dev"]), plan_diff.load_plan(moved_dir))
    assert [(old["id"], new["name"]) for old, new in changes.moved] == [(BUCKET, "data-bucket")]
    assert not any(r["id"] == BUCKET for r in changes.removed) and not any(r["name"] == "data-bucket"
                                                                          for r in changes.added)
    text, _ = plan_diff.diff(plans["dev"], moved_dir)
    assert "1 to move" in text and "| milvus-bucket (" in text


def test_the_plan_records_the_oidc_providers_move_from_milvus_to_the_cluster(plans):
    records = {r["id"]: r for r in json.loads((plans["dev"] / "resources.json").read_text())}
    provider_type = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
    provider = records[f"milvus-eks:cluster:EksCluster${provider_type}::cluster-oidc"]
    assert provider["aliases"] == [f"milvus-eks:milvus:MilvusCluster${provider_type}::milvus-oidc"]


def test_replacing_a_pool_is_destructive_only_when_it_hosts_query_nodes(plans, tmp_path):
    for pool, expected in (("pool-milvus-ng", True), ("pool-system-ng", False)):
        head = _copy(plans["dev"], tmp_path / pool)

        def new_types(records, pool=pool):
            for r in records:
                if r["name"] == pool:
                    r["inputs"]["instanceTypes"] = "0" * 16
                    r["inputsHash"] = "1" * 16
            return records

        _edit_resources(head, new_types)
        hits = [f for f in _findings(plans["dev"], head) if pool in f.what]
        assert bool(hits) is expected, pool
        if expected:
            assert "`instanceTypes` changes" in hits[0].reason and "instance_types ForceNew" in hits[0].reason


def test_a_prometheus_retention_change_is_not_destructive(plans):
    markdown, findings = plan_diff.diff(plans["dev"], plans["retention"])
    assert findings == {}
    assert "None: no stateful resource or object is replaced or deleted." in markdown
    assert "`spec.retention` | 3d | 5d" in markdown  # the change is there, it just destroys nothing
    assert plan_diff.main([str(plans["dev"]), str(plans["retention"])]) == 0


def test_a_milvus_patch_release_is_not_destructive(plans):
    markdown, findings = plan_diff.diff(plans["milvus-patch"], plans["dev"])
    assert findings == {}
    assert "v2.6.14" in markdown and "v2.6.15" in markdown  # the image change is in the object diff


def test_an_eks_minor_upgrade_changes_versions_in_place(plans, tmp_path):
    # The stack files pin add-ons for one minor only, so the upgrade is written into the head's input hashes:
    # the cluster's and node groups' `version` and every add-on's `addonVersion`, as a minor bump changes them.
    head = _copy(plans["dev"], tmp_path / "upgraded")

    def bump(records):
        for r in records:
            for key in ("version", "addonVersion"):
                if key in r["inputs"] and r["type"].startswith("aws:eks/"):
                    r["inputs"][key] = "f" * 16
                    r["inputsHash"] = "e" * 16
        return records

    _edit_resources(head, bump)
    markdown, findings = plan_diff.diff(plans["dev"], head)
    assert findings == {}
    assert "| `aws:eks/cluster:Cluster` | cluster-eks | version |" in markdown


def _edit_object(folder: Path, kind: str, name: str, edit) -> None:
    path = folder / "objects.json"
    document = json.loads(path.read_text())
    (entry,) = [e for e in document["objects"] if e["object"]["kind"] == kind
                and e["object"]["metadata"]["name"] == name]
    edit(entry["object"])
    path.write_text(json.dumps(document))


def test_an_immutable_statefulset_field_is_destructive_and_its_replica_count_is_not(plans, tmp_path):
    claim = _copy(plans["dev"], tmp_path / "claim")
    _edit_object(claim, "StatefulSet", "milvus-etcd",
                 lambda o: o["spec"]["volumeClaimTemplates"][0]["spec"].update(storageClassName="gp2"))
    (hit,) = [f for f in _findings(plans["dev"], claim) if "milvus-etcd" in f.what]
    assert hit.action == "replaced" and "`spec.volumeClaimTemplates` changes" in hit.reason

    template = _copy(plans["dev"], tmp_path / "template")
    _edit_object(template, "StatefulSet", "milvus-etcd",
                 lambda o: o["spec"].update(replicas=o["spec"]["replicas"] + 2))
    assert [f for f in _findings(plans["dev"], template) if "milvus-etcd" in f.what] == []

    storage = _copy(plans["dev"], tmp_path / "storage")
    _edit_object(storage, "Prometheus", "kps-prometheus",
                 lambda o: o["spec"]["storage"]["volumeClaimTemplate"]["spec"].update(storageClassName="gp2"))
    (prom,) = [f for f in _findings(plans["dev"], storage) if "kps-prometheus" in f.what]
    assert "`spec.storage` changes" in prom.reason


def test_a_base_from_an_older_plan_command_still_compares(plans, tmp_path):
    old = _copy(plans["dev"], tmp_path / "old")

    def strip(records):
        for r in records:
            r.pop("dependsOn", None), r.pop("fields", None), r.pop("roles", None)
        return records

    _edit_resources(old, strip)
    found = {f.what for f in _findings(old, plans["cidr"])}
    assert "`aws:ec2/vpc:Vpc` network-vpc" in found


def test_every_replace_rule_names_its_source():
    for rules in (destructive.REPLACED_BY, destructive.REPLACED_WHEN_FED_BY_A_REPLACEMENT):
        for type_, inputs in rules.items():
            assert inputs, type_
            for path, source in inputs.items():
                assert ("ForceNew" in source or "forceNewFields" in source or "user guide" in source), (type_, path)


def test_a_helm_release_with_a_new_name_is_replaced_with_its_volumes(plans, tmp_path):
    head = _copy(plans["dev"], tmp_path / "release")

    def rename(records):
        for r in records:
            if r["name"] == "milvus-release":
                r["inputs"]["name"], r["inputsHash"] = "0" * 16, "1" * 16
        return records

    _edit_resources(head, rename)
    (hit,) = [f for f in _findings(plans["dev"], head) if "milvus-release" in f.what]
    assert hit.action == "replaced" and "`name` changes" in hit.reason and "forceNewFields" in hit.reason


@pytest.fixture(scope="module")
def prod_plan(tmp_path_factory) -> Path:
    return _plan_into(tmp_path_factory.mktemp("prod") / "prod", "prod", graph_for("prod"))


def test_removing_the_karpenter_pool_of_query_nodes_is_destructive_and_another_pool_is_not(prod_plan, tmp_path):
    records = json.loads((prod_plan / "resources.json").read_text())
    pools = {r["name"]: r.get("roles") for r in records if r["type"] == destructive.KARPENTER_NODEPOOL}
    assert "queryNode" in pools["karpenter-pool-query"] and "queryNode" not in pools["karpenter-pool-coord"]
    for pool, expected in (("karpenter-pool-query", True), ("karpenter-pool-coord", False)):
        head = _copy(prod_plan, tmp_path / pool)
        _edit_resources(head, lambda rs, pool=pool: [r for r in rs if r["name"] != pool])
        hits = [f for f in _findings(prod_plan, head) if pool in f.what]
        assert bool(hits) is expected, pool
        if expected:
            assert hits[0].action == "deleted" and "Karpenter NodePool hosting query nodes" in hits[0].reason


def _with_version(source: Path, target: Path, version: str) -> Path:
    folder = _copy(source, target)
    path = folder / "plan.json"
    document = json.loads(path.read_text())
    document["cluster"]["kubernetesVersion"] = version
    path.write_text(json.dumps(document))
    return folder


@pytest.mark.parametrize("base,head,refused", [
    ("1.34", "1.35", False), ("1.35", "1.35", False), ("1.33", "1.35", True), ("1.35", "1.34", True)])
def test_eks_minors_move_one_at_a_time_and_never_back(plans, tmp_path, capsys, base, head, refused):
    before = _with_version(plans["dev"], tmp_path / "base", base)
    after = _with_version(plans["dev"], tmp_path / "head", head)
    found = [f for f in _findings(before, after) if f.action == plan_diff.REFUSED]
    assert bool(found) == refused
    # No label or flag lets a change through that EKS itself would reject.
    status = plan_diff.main([plan_diff.ALLOW_FLAG, str(before), str(after)])
    assert status == (plan_diff.EXIT_DESTRUCTIVE if refused else 0)
    if refused:
        assert "EKS" in capsys.readouterr().err
