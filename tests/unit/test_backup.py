"""Scheduled backups and restores: cron arithmetic, the rendered objects (OpenAPI-valid), their IAM, the graph under
mocks, the plan's cost line, and the restore command's refusal paths."""

from __future__ import annotations

import json
import re
import shutil
import shlex
import subprocess

import pytest
import yaml

from render import backup as rb, milvus_values as mv
from render.naming import POOL_LABEL, pool_tolerations
from stacks.cron import CronError, parse
from stacks.quantity import parse_quantity
from tests.unit.test_k8s_schemas import _ints, _validate
from tests.unit.test_milvus_values import settings_for
from tools import restore
from tools.offline import Graph

CRONJOB = "kubernetes:batch/v1:CronJob"
COMPONENT = "milvus-eks:milvus:MilvusBackup"
DASH = shutil.which("dash") or shutil.which("sh")


# ---- cron ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule,gap_hours,per_day", [
    ("0 2 * * *", 24, 1), ("@daily", 24, 1), ("@hourly", 1, 24), ("0 */6 * * *", 6, 4), ("30 1 * * 0", 168, 1 / 7),
    ("0 3 * * MON-FRI", 72, 5 / 7), ("0 1,13 * * *", 12, 2), ("15 4 1 * *", 31 * 24, None),
    # Both day fields restricted: either matches (robfig/cron dayMatches), so the 1st and every Sunday fire.
    ("0 0 1 * SUN", 7 * 24, None),
])
def test_longest_gap_and_runs_per_day(schedule, gap_hours, per_day):
    s = parse(schedule)
    assert s.max_interval_seconds() == gap_hours * 3600
    if per_day is not None:
        assert s.runs_per_day() == pytest.approx(per_day, rel=0.01)


@pytest.mark.parametrize("schedule,fragment", [
    ("0 2 * *", "4 fields"), ("60 * * * *", "minute value 60"), ("0 0 0 * *", "day of month value 0"),
    ("0 0 * 13 *", "month value 13"), ("0 0 * * 7", "day of week value 7"), ("0 0 * * FOO", "not a number"),
    ("*/0 * * * *", "step"), ("0 5-1 * * *", "backwards"), ("TZ=UTC 0 2 * * *", "time zone"),
])
def test_bad_schedules_name_the_field(schedule, fragment):
    with pytest.raises(CronError, match=re.escape(fragment)):
        parse(schedule)


def test_a_schedule_that_almost_never_runs_is_refused():
    # 29 February comes every four years: under two runs in eight years would still be accepted; 30 Feb never.
    with pytest.raises(CronError, match="fewer than twice"):
        parse("0 0 30 2 *").max_interval_seconds()


# ---- rendered objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_object_is_valid(stack):
    s = settings_for(stack)
    version = s.cluster.kubernetes_version
    manifests = [
        rb.cronjob_manifest(s), rb.list_job_manifest(s),
        rb.configmap_manifest(s, bucket_name="milvus-data", backup_bucket_name="milvus-backups"),
        rb.service_account_manifest(s, rb.service_account_name(s.milvus.release_name)),
        rb.service_account_manifest(s, rb.restore_service_account_name(s.milvus.release_name),
                                    "arn:aws:iam::123456789012:role/restore"),
        rb.restore_job_manifest(s, rb.RestoreOptions("scheduled_20261130_020000")),
        rb.restore_job_manifest(s, rb.RestoreOptions("nightly", suffix="_restored", collections=("search.*",))),
        rb.restore_job_manifest(s, rb.RestoreOptions("nightly", overwrite=True)),
    ]
    for manifest in manifests:
        _validate(manifest, version)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_backup_pod_runs_on_the_system_pool_with_resources_and_no_privileges(stack):
    s = settings_for(stack)
    cron = rb.cronjob_manifest(s)
    assert cron["spec"]["schedule"] == s.milvus.backup.schedule and cron["spec"]["timeZone"] == "Etc/UTC"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pool = s.pool_for("system")
    assert pod["nodeSelector"] == {POOL_LABEL: pool}
    assert pod["tolerations"] == pool_tolerations(s.node_pools[pool])
    assert pod["serviceAccountName"] == rb.service_account_name(s.milvus.release_name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == "milvusdb/milvus-backup:v0.5.16"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                             "capabilities": {"drop": ["ALL"]}}
    for side in ("requests", "limits"):
        assert set(container["resources"][side]) == {"cpu", "memory", "ephemeral-storage"}
    # The password is a file from the root Secret, exported by the container's shell: no secret in the pod's env.
    assert "env" not in container
    mount = next(m for m in container["volumeMounts"] if m["name"] == "credentials")
    volume = next(v for v in pod["volumes"] if v["name"] == "credentials")
    assert volume["secret"]["secretName"] == mv.root_secret_name(s.milvus.release_name)
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][2].startswith(
        f'export MILVUS_PASSWORD="$(cat {mount["mountPath"]}/{mv.ROOT_PASSWORD_KEY})"\n')


def _argv(command: list[str]) -> list[str]:
    """The milvus-backup command line a one-off Job's shell execs."""
    assert command[:2] == ["sh", "-c"]
    return shlex.split(command[2].splitlines()[-1].removeprefix("exec "))


def test_resource_overrides_replace_only_their_key():
    s = settings_for("dev", {"backup": {"schedule": "0 3 * * *", "retentionDays": 3,
                                        "resources": {"limits": {"memory": "4Gi"}}}})
    res = rb.resources(s.milvus.backup)
    assert res["limits"]["memory"] == "4Gi"
    assert res["limits"]["cpu"] == rb.DEFAULT_RESOURCES["limits"]["cpu"]


def test_backup_config_holds_no_credential_and_points_at_both_buckets():
    s = settings_for("prod")
    config = yaml.safe_load(rb.configmap_manifest(s, bucket_name="data-b", backup_bucket_name="backup-b")
                            ["data"]["backup.yaml"])
    assert "password" not in config["milvus"]
    assert not {"accessKeyID", "secretAccessKey", "backupAccessKeyID", "backupSecretAccessKey"} & set(config["minio"])
    minio = config["minio"]
    assert minio["useIAM"] is True and minio["storageType"] == "aws" and minio["useSSL"] is True
    assert minio["address"] == "s3.us-west-2.amazonaws.com" and minio["port"] == 443
    assert (minio["bucketName"], minio["rootPath"]) == ("data-b", s.milvus.release_name)
    assert (minio["backupBucketName"], minio["backupRootPath"]) == ("backup-b", "backup")
    # The same proxy the topology Job reaches, and its management port for pausing GC.
    assert f"{config['milvus']['address']}:{config['milvus']['port']}" == mv.endpoint(s.milvus.release_name,
                                                                                      s.milvus.namespace)
    assert config["backup"]["gcPause"]["address"].endswith(f":{mv.METRICS_PORT}")
    assert config["log"]["file"]["filename"] == ""  # read-only root filesystem


@pytest.mark.skipif(DASH is None, reason="no POSIX shell")
def test_backup_script_is_valid_shell_and_names_sort_as_times():
    script = rb.backup_script(7)
    assert subprocess.run([DASH, "-n", "-c", script], capture_output=True).returncode == 0
    # The names the script creates match what the prune step selects, and sort like the times they carry.
    line = next(x for x in script.splitlines() if x.startswith("name="))
    made = subprocess.run([DASH, "-c", f"{line}; echo $name"], capture_output=True, text=True).stdout.strip()
    assert rb.SCHEDULED_NAME.match(made), made
    cutoff_line = next(x for x in script.splitlines() if x.startswith("cutoff="))
    cutoff = subprocess.run([DASH, "-c", f"{cutoff_line}; echo $cutoff"], capture_output=True, text=True).stdout
    assert rb.SCHEDULED_NAME.match(cutoff.strip()) and cutoff.strip() < made
    # Pruning deletes only after `create` succeeded (set -e) and only scheduled names.
    assert script.index(" create ") < script.index(" delete ") and script.startswith("set -eu")


# ---- IAM --------------------------------------------------------------------------------------------------------


def test_backup_role_reads_milvus_data_and_writes_only_the_backup_prefix():
    s = settings_for("prod")
    doc = json.loads(rb.backup_policy(s, "arn:aws:s3:::data", "arn:aws:s3:::backups"))
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["ReadMilvusData"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadMilvusData"]["Resource"] == "arn:aws:s3:::data/milvus/*"
    assert by_sid["WriteBackups"]["Resource"] == "arn:aws:s3:::backups/backup/*"
    assert "s3:DeleteObjectVersion" not in json.dumps(doc)
    writes = {"s3:PutObject", "s3:DeleteObject"}
    for st in doc["Statement"]:
        if writes & set(st["Action"]):
            assert st["Resource"] == "arn:aws:s3:::backups/backup/*", st["Sid"]
    assert all(st["Effect"] == "Allow" and "*" not in st["Action"] for st in doc["Statement"])


def test_restore_role_reads_backups_and_stages_only_restore_temp_files():
    s = settings_for("prod")
    doc = json.loads(rb.restore_policy(s, "arn:aws:s3:::data", "arn:aws:s3:::backups"))
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["ReadBackups"] == {"Sid": "ReadBackups", "Effect": "Allow", "Action": ["s3:GetObject"],
                                     "Resource": "arn:aws:s3:::backups/backup/*"}
    assert by_sid["StageRestoreFiles"]["Resource"] == "arn:aws:s3:::data/restore-temp-*"


# ---- the graph --------------------------------------------------------------------------------------------------


def _children(graph: Graph) -> list:
    component = next(r for r in graph.resources if r.type == COMPONENT)
    return [r for r in graph.resources if r.parent == component.urn]


def test_graph_registers_the_cronjob_its_roles_and_service_accounts(graph: Graph):
    s = settings_for(graph.stack)
    children = _children(graph)
    cron = next(r for r in children if r.type == CRONJOB)
    rendered = rb.cronjob_manifest(s)
    assert _ints(cron.inputs["spec"]) == rendered["spec"] and cron.inputs["metadata"] == rendered["metadata"]
    accounts = {r.inputs["metadata"]["name"] for r in children if r.type == "kubernetes:core/v1:ServiceAccount"}
    assert accounts == {rb.service_account_name("milvus"), rb.restore_service_account_name("milvus")}
    roles = {r.name: r for r in children if r.type == "aws:iam/role:Role"}
    role_arns = {r.outputs["arn"] for r in roles.values()}
    if s.service_account_binding == "podIdentity":
        associations = {r.inputs["serviceAccount"]: r for r in children
                        if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"}
        assert set(associations) == accounts
        for association in associations.values():
            assert association.inputs["namespace"] == s.milvus.namespace
            assert association.inputs["roleArn"] in role_arns
    else:  # IRSA: each service account names its role
        for r in children:
            if r.type == "kubernetes:core/v1:ServiceAccount":
                assert r.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] in role_arns
    config = next(r for r in children if r.type == "kubernetes:core/v1:ConfigMap")
    milvus_bucket = graph.one("aws:s3/bucket:Bucket", "milvus-bucket").outputs["bucket"]
    parsed = yaml.safe_load(config.inputs["data"]["backup.yaml"])["minio"]
    assert parsed["bucketName"] == milvus_bucket
    if s.milvus.backup.destination == "bucket":
        assert parsed["backupBucketName"] == graph.one("aws:s3/bucket:Bucket", "backup-bucket").outputs["bucket"]
    else:
        assert parsed["backupBucketName"] == milvus_bucket


def test_prod_backups_go_to_a_protected_versioned_private_bucket(prod_graph: Graph):
    bucket = prod_graph.one("aws:s3/bucket:Bucket", "backup-bucket")
    assert bucket.protect is True and bucket.inputs.get("forceDestroy", False) is False
    assert prod_graph.one("aws:s3/bucketVersioning:BucketVersioning", "backup-bucket").inputs[
        "versioningConfiguration"]["status"] == "Enabled"
    block = prod_graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "backup-bucket")
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                 "restrictPublicBuckets"))
    (deny,) = json.loads(prod_graph.one("aws:s3/bucketPolicy:BucketPolicy", "backup-bucket").inputs["policy"])[
        "Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = prod_graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                           "backup-bucket").inputs["rules"]
    assert any(r.get("noncurrentVersionExpiration", {}).get("noncurrentDays") == 7 for r in rules)


def test_dev_backs_up_into_a_folder_of_the_milvus_bucket(dev_graph: Graph):
    assert [r.name for r in dev_graph.of_type("aws:s3/bucket:Bucket")] == ["milvus-bucket"]
    policy = json.loads(dev_graph.one("aws:iam/rolePolicy:RolePolicy", "backup-backup").inputs["policy"])
    arn = dev_graph.one("aws:s3/bucket:Bucket", "milvus-bucket").outputs["arn"]
    assert {st["Sid"]: st["Resource"] for st in policy["Statement"]}["WriteBackups"] == f"{arn}/backup/*"


def test_the_alert_watches_the_stacks_cronjob(graph: Graph):
    rule = next(r for r in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule"))
    stale = [x for g in rule.inputs["spec"]["groups"] for x in g["rules"] if x.get("alert") == "MilvusBackupStale"]
    (alert,) = stale
    assert 'cronjob="milvus-backup"' in alert["expr"]
    assert f"> {rb.stale_after_seconds(settings_for(graph.stack).milvus.backup)}" in alert["expr"]


def test_backup_pods_are_inside_the_quota(graph: Graph):
    s = settings_for(graph.stack)
    quota = next(r for r in graph.of_type("kubernetes:core/v1:ResourceQuota")
                 if r.inputs["metadata"]["namespace"] == s.milvus.namespace)
    container = rb.cronjob_manifest(s)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert parse_quantity(quota.inputs["spec"]["hard"]["limits.memory"]) > 2 * parse_quantity(
        container["resources"]["limits"]["memory"])


# ---- plan and cost ----------------------------------------------------------------------------------------------


def test_storage_estimate_counts_retention_and_noncurrent_versions():
    dev, prod = settings_for("dev"), settings_for("prod")
    # dev: daily, 3 days, unversioned Milvus bucket: 3 kept + 1 being written.
    assert rb.storage_estimate(dev, 10.0).copies == 4
    assert rb.storage_estimate(dev, 10.0).storage_gib == 40.0
    # prod: daily, 14 days + 7 days of noncurrent versions in the versioned backup bucket, + 1 in flight.
    assert rb.storage_estimate(prod, 10.0).copies == 22


def test_stale_after_is_the_gap_plus_the_deadlines():
    s = settings_for("prod")
    assert rb.stale_after_seconds(s.milvus.backup) == 24 * 3600 + rb.STARTING_DEADLINE_SECONDS + rb.DEADLINE_SECONDS


# ---- restore ----------------------------------------------------------------------------------------------------


def test_restore_refuses_existing_collections_unless_told():
    s = settings_for("prod")
    command = _argv(rb.restore_job_manifest(s, rb.RestoreOptions("scheduled_20261130_020000"))[
        "spec"]["template"]["spec"]["containers"][0]["command"])
    assert command[:2] == [rb.BINARY, "restore"] and "--drop_exist_collection" not in command
    assert command[command.index("-n") + 1] == "scheduled_20261130_020000" and "--rebuild_index" in command
    overwrite = rb.restore_args(rb.RestoreOptions("b1", overwrite=True))
    assert "--drop_exist_collection" in overwrite
    beside = rb.restore_args(rb.RestoreOptions("b1", suffix="_r", collections=("search.products", "rag.*")))
    assert beside[-4:] == ["--filter", "search.products,rag.*", "--suffix", "_r"]


@pytest.mark.parametrize("options,fragment", [
    (rb.RestoreOptions("2026-11-30"), "not a milvus-backup name"),
    (rb.RestoreOptions("b" * 129), "not a milvus-backup name"),
    (rb.RestoreOptions("b1", overwrite=True, suffix="_r"), "contradict"),
    (rb.RestoreOptions("b1", suffix="-r"), "suffix"),
    (rb.RestoreOptions("b1", collections=("products",)), "db.collection"),
])
def test_restore_refuses_bad_options(options, fragment):
    with pytest.raises(rb.RestoreError, match=re.escape(fragment)):
        rb.restore_args(options)


def test_restore_command_writes_a_valid_job(tmp_path, capsys):
    out = tmp_path / "restore.yaml"
    assert restore.main(["prod", "scheduled_20261130_020000", "--suffix", "_restored", "-o", str(out)]) == 0
    job = yaml.safe_load(out.read_text())
    _validate(job, settings_for("prod").cluster.kubernetes_version)
    assert "--suffix" in _argv(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "&id" not in out.read_text()
    assert "restores as <name>_restored" in capsys.readouterr().err


def test_restore_command_refusals(tmp_path, capsys):
    assert restore.main(["prod", "bad-name"]) == 1
    assert "not a milvus-backup name" in capsys.readouterr().err
    assert restore.main(["prod", "b1", "--overwrite", "--suffix", "_x"]) == 1
    assert "contradict" in capsys.readouterr().err
    assert restore.main(["nosuchstack", "b1"]) == 2
    assert restore.main(["prod"]) == 2
    assert "or --list" in capsys.readouterr().err
    stack = tmp_path / "Pulumi.nobackup.yaml"
    doc = yaml.safe_load(open("Pulumi.dev.yaml"))
    doc["config"]["milvus-eks:milvus"]["backup"] = {"enabled": False}
    stack.write_text(yaml.safe_dump(doc))
    assert restore.main([str(stack), "b1"]) == 1
    assert "milvus.backup.enabled is false" in capsys.readouterr().err


def test_list_job_uses_the_backup_account(capsys):
    assert restore.main(["dev", "--list"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == rb.service_account_name("milvus")
    assert _argv(pod["containers"][0]["command"])[1] == "list"


def test_irsa_binds_each_backup_account_to_its_own_role():
    from tests.conftest import as_engine_config, stack_document
    from tools.offline import run_program

    config = stack_document("prod")
    config["milvus-eks:milvus"] = {**config["milvus-eks:milvus"], "serviceAccountBinding": "irsa"}
    graph = run_program("prod", as_engine_config(config))
    children = _children(graph)
    assert not [r for r in children if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"]
    provider = graph.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").outputs["arn"]
    roles = {r.name: r for r in children if r.type == "aws:iam/role:Role"}
    accounts = {r.inputs["metadata"]["name"]: r for r in children if r.type == "kubernetes:core/v1:ServiceAccount"}
    for purpose, account in (("backup", rb.service_account_name("milvus")),
                             ("restore", rb.restore_service_account_name("milvus"))):
        role = roles[f"backup-{purpose}"]
        trust = json.loads(role.inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert statement["Principal"]["Federated"] == provider
        assert f"system:serviceaccount:milvus:{account}" in json.dumps(statement["Condition"])
        assert accounts[account].inputs["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": role.outputs["arn"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_shows_schedule_retention_and_the_s3_cost_of_the_copies(stack):
    from tests.conftest import graph_for
    from tools import plan

    result = plan.build(stack, graph=graph_for(stack))
    s = settings_for(stack)
    backup = result.document["backup"]
    assert backup["schedule"] == f"{s.milvus.backup.schedule} (UTC)"
    assert backup["retentionDays"] == s.milvus.backup.retention_days
    line = next(i for i in result.document["cost"]["lineItems"] if i["key"] == "S3 Standard backups")
    data = next(i for i in result.document["cost"]["lineItems"] if i["key"] == "S3 Standard")
    copies = rb.storage_estimate(s, data["quantity"]).copies
    assert line["quantity"] == pytest.approx(copies * data["quantity"], abs=copies * 0.05)
    assert line["monthly_usd"] == pytest.approx(line["quantity"] * line["unit_usd"], abs=0.01)
    assert f"schedule {s.milvus.backup.schedule} (UTC), keep {s.milvus.backup.retention_days} days" in result.report
    assert "S3 Standard: backups" in result.report
