"""Scheduled backups and restores with milvus-backup, as plain manifests and IAM documents (pure).

Facts from zilliztech/milvus-backup at tag v0.5.16 (stacks/versions.py):
- The CLI (cmd/): `create -n NAME`, `list`, `delete -n NAME`, `restore -n NAME [--suffix S] [--rename a:b]
  [--rebuild_index] [--drop_exist_collection] [--filter db.coll,...]`, all with `--config FILE`. `list` prints
  `>> Backups:` and one name per line through cobra's `cmd.Println`, which writes to stderr.
- Backup names hold letters, digits and `_`, start with a letter or `_`, at most 128 characters
  (core/backup/func.go `ValidateName`); creating an existing name fails (core/backup/task.go).
- Configuration keys are read from the file and, for secrets, from the environment: `MILVUS_PASSWORD` overrides
  `milvus.password` (internal/cfg/cfg.go `EnvKeys`), so the password never enters the ConfigMap.
- `minio.storageType: aws` with `useIAM: true` takes credentials from the pod (minio-go `credentials.NewIAM`,
  internal/storage/minio.go), the same chain Milvus itself uses with this project's role binding. Unset
  `backup*` storage keys inherit the Milvus storage's (cfg.go `Resolve`), so only bucket and root path differ.
- GC is paused during a backup through the proxy's management port (`backup.gcPause.address`, default
  `http://localhost:9091`; `/management/datacoord/garbage_collection/pause`); a failed pause only warns
  (core/backup/gc_controller.go).
- There is no retention setting and no "delete older than": pruning lists the backups and deletes by name.
- Restore refuses a collection that already exists unless `--drop_exist_collection` (or `--skip_create_collection`)
  is given (core/restore/task.go `checkCollExist`), after creating any missing databases. When the backup lives in
  another bucket than Milvus' data, restore first copies the files to `restore-temp-<task>-<db>-<coll>/` at the
  root of the Milvus bucket and deletes them afterwards (core/restore/coll_task.go `copyAndRewriteDir`).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from render.helm_postrender import SERVING
from render.iam import IRSA_ANNOTATION
from render.naming import POOL_LABEL, k8s_labels, milvus_fullname, pool_tolerations
from stacks.cron import parse
from stacks.settings import BackupSettings, Resources, Settings
from stacks.versions import MILVUS_BACKUP_IMAGE

COMPONENT = "milvus-backup"
CONFIG_DIR = "/etc/milvus-backup"
CONFIG_FILE = f"{CONFIG_DIR}/backup.yaml"
BINARY = "/app/milvus-backup"  # the image's WORKDIR /app (Dockerfile)
SCHEDULED_PREFIX = "scheduled"
# `scheduled_YYYYMMDD_HHMMSS` in UTC: fixed width, so names sort like their times and a string comparison against
# a cut-off name is a comparison of times.
SCHEDULED_NAME = re.compile(rf"^{SCHEDULED_PREFIX}_[0-9]{{8}}_[0-9]{{6}}$")
BACKUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RUN_AS = 10001
# A backup copies every segment file; hours on a large cluster. The CronJob forbids overlap, and a run that
# starts late (controller down) may still start within an hour.
DEADLINE_SECONDS = 6 * 3600
STARTING_DEADLINE_SECONDS = 3600
BACKOFF_LIMIT = 1
RESTORE_DEADLINE_SECONDS = 24 * 3600
DEFAULT_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "256Mi"},
                     "limits": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"}}
RESTORE_TEMP_PREFIX = "restore-temp-"
SECONDS_PER_DAY = 86400


def cronjob_name(release: str) -> str:
    # CronJob names are limited to 52 characters (the controller appends an 11-character suffix to its Jobs).
    return f"{milvus_fullname(release)}-backup"[:52].rstrip("-")


def configmap_name(release: str) -> str:
    return f"{milvus_fullname(release)}-backup-config"


def service_account_name(release: str) -> str:
    return f"{milvus_fullname(release)}-backup"


def restore_service_account_name(release: str) -> str:
    return f"{milvus_fullname(release)}-restore"


def backup_root(settings: Settings) -> str:
    return settings.milvus.backup.prefix


def milvus_root(settings: Settings) -> str:
    """The folder Milvus writes in its bucket (externalS3.rootPath, render/milvus_values.py)."""
    return settings.milvus.release_name


# ---------------------------------------------------------------------------------------------- config file


def backup_config(settings: Settings, *, bucket_name: str, backup_bucket_name: str) -> dict[str, Any]:
    """milvus-backup's backup.yaml (configs/backup.yaml keys). No credential: the password comes from the root
    Secret (a file the container's shell exports as MILVUS_PASSWORD), S3 access from the pod's IAM role."""
    from render import milvus_values as mv

    m = settings.milvus
    host = milvus_fullname(m.release_name)
    return {
        # No log file: the root filesystem is read-only and `kubectl logs` is where a Job's output is read.
        "log": {"level": "info", "console": True, "file": {"filename": ""}},
        "http": {"enabled": False},
        "milvus": {"address": f"{host}.{m.namespace}.svc.cluster.local", "port": mv.PROXY_PORT,
                   "user": mv.ROOT_USER, "tlsMode": 0},
        "minio": {
            "storageType": "aws",
            "address": f"s3.{settings.region}.amazonaws.com",
            "port": 443,
            "region": settings.region,
            "useSSL": True,
            "useIAM": True,
            "bucketName": bucket_name,
            "rootPath": milvus_root(settings),
            "backupBucketName": backup_bucket_name,
            "backupRootPath": backup_root(settings),
        },
        "backup": {
            "gcPause": {"enable": True,
                        "address": f"http://{host}.{m.namespace}.svc.cluster.local:{mv.METRICS_PORT}"},
        },
    }


def configmap_manifest(settings: Settings, *, bucket_name: str, backup_bucket_name: str) -> dict[str, Any]:
    config = backup_config(settings, bucket_name=bucket_name, backup_bucket_name=backup_bucket_name)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": configmap_name(settings.milvus.release_name),
                         "namespace": settings.milvus.namespace, "labels": k8s_labels(COMPONENT)},
            "data": {"backup.yaml": yaml.safe_dump(config, sort_keys=False)}}


def service_account_manifest(settings: Settings, name: str, irsa_role_arn: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": settings.milvus.namespace,
                                "labels": k8s_labels(COMPONENT)}
    if irsa_role_arn:
        metadata["annotations"] = {IRSA_ANNOTATION: irsa_role_arn}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


# ---------------------------------------------------------------------------------------------- pods


def resources(backup: BackupSettings) -> dict[str, dict[str, str]]:
    """Defaults with the stack's overrides on top (each value replaces only its own key)."""
    merged = {side: dict(values) for side, values in DEFAULT_RESOURCES.items()}
    override: Resources = backup.resources
    for side in ("requests", "limits"):
        for key, attr in (("cpu", "cpu"), ("memory", "memory"), ("ephemeral-storage", "ephemeral_storage")):
            value = getattr(getattr(override, side), attr)
            if value is not None:
                merged[side][key] = value
    return merged


def prune_script(retention_days: int) -> str:
    """Delete scheduled backups older than the retention, never a manual one. Runs only after a successful create
    (`set -e`), so a failing backup never shrinks the set of backups that still restore."""
    return (
        f"cutoff={SCHEDULED_PREFIX}_$(date -u -d @$(( $(date -u +%s) - {retention_days * SECONDS_PER_DAY} )) "
        f"+%Y%m%d_%H%M%S)\n"
        f"names=$({BINARY} list --config {CONFIG_FILE} 2>&1 | grep -E '{SCHEDULED_NAME.pattern}' || true)\n"
        "for name in $names; do\n"
        '  if [ "$name" \\< "$cutoff" ]; then\n'
        f'    echo "pruning $name (older than {retention_days} days)"\n'
        f'    {BINARY} delete --config {CONFIG_FILE} -n "$name"\n'
        "  fi\n"
        "done\n"
    )


def backup_script(retention_days: int) -> str:
    return (
        "set -eu\n"
        f"name={SCHEDULED_PREFIX}_$(date -u +%Y%m%d_%H%M%S)\n"
        'echo "creating backup $name"\n'
        f'{BINARY} create --config {CONFIG_FILE} -n "$name"\n'
        + prune_script(retention_days)
    )


# The root password as a file from the Secret, exported to milvus-backup's MILVUS_PASSWORD by the shell that starts
# it: never a pod environment variable (which `kubectl describe` and crash dumps show; checkov CKV_K8S_35).
CREDENTIALS_DIR = "/credentials"


def with_password(script: str) -> list[str]:
    """`sh -c` running `script` with MILVUS_PASSWORD read from the mounted Secret."""
    from render import milvus_values as mv

    return ["sh", "-c", f'export MILVUS_PASSWORD="$(cat {CREDENTIALS_DIR}/{mv.ROOT_PASSWORD_KEY})"\n{script}']


def _pod_spec(settings: Settings, *, service_account: str, container: dict[str, Any]) -> dict[str, Any]:
    from render import milvus_values as mv

    pool = settings.pool_for("system")
    m = settings.milvus
    container = {
        **container,
        "image": MILVUS_BACKUP_IMAGE,
        "resources": resources(m.backup),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "restartPolicy": "Never",
        "priorityClassName": SERVING,
        # The service account is bound to no Kubernetes role, so its token opens nothing in the API; the token is
        # left mounted because the AWS credential webhooks act on the pod's service account, and a pod that refuses
        # its token is a known source of "no token file" failures (aws/amazon-eks-pod-identity-webhook#67).
        "serviceAccountName": service_account,
        "nodeSelector": {POOL_LABEL: pool},
        "tolerations": pool_tolerations(settings.node_pools[pool]),
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": configmap_name(m.release_name)}},
                    {"name": "credentials", "secret": {
                        "secretName": mv.root_secret_name(m.release_name), "defaultMode": 0o440,
                        "items": [{"key": mv.ROOT_PASSWORD_KEY, "path": mv.ROOT_PASSWORD_KEY}]}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}],
    }


def cronjob_manifest(settings: Settings) -> dict[str, Any]:
    m = settings.milvus
    b = m.backup
    labels = k8s_labels(COMPONENT)
    container = {"name": "backup", "command": with_password(backup_script(b.retention_days))}
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": cronjob_name(m.release_name), "namespace": m.namespace, "labels": labels},
        "spec": {
            "schedule": b.schedule,
            "timeZone": "Etc/UTC",
            # Two backups at once would copy the same segments twice and race the prune.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": BACKOFF_LIMIT,
                    "activeDeadlineSeconds": DEADLINE_SECONDS,
                    "template": {"metadata": {"labels": labels},
                                 "spec": _pod_spec(settings, service_account=service_account_name(m.release_name),
                                                   container=container)},
                },
            },
        },
    }


@dataclass(frozen=True)
class RestoreOptions:
    backup: str
    overwrite: bool = False
    """Drop collections of the same name before restoring them (milvus-backup `--drop_exist_collection`)."""
    suffix: str = ""
    """Restore beside existing collections as `<name><suffix>` instead."""
    collections: tuple[str, ...] = ()
    """`db.collection` entries to restore (milvus-backup `--filter`); empty restores everything."""


class RestoreError(ValueError):
    pass


def restore_job_name(release: str, backup: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", backup.lower()).strip("-")
    return f"{milvus_fullname(release)}-restore-{slug}"[:63].rstrip("-")


def restore_args(options: RestoreOptions) -> list[str]:
    """milvus-backup restore flags; refuses contradictory or malformed options before anything runs."""
    problems = []
    if not BACKUP_NAME.match(options.backup):
        problems.append(f"backup name {options.backup!r} is not a milvus-backup name (letters, digits and '_', "
                        f"starting with a letter or '_', at most 128 characters); list them with "
                        f"`milvus-backup list`")
    if options.overwrite and options.suffix:
        problems.append("--overwrite and --suffix contradict each other: a suffix restores beside the existing "
                        "collections, --overwrite drops them; choose one")
    if options.suffix and not re.fullmatch(r"[A-Za-z0-9_]+", options.suffix):
        problems.append(f"suffix {options.suffix!r} may hold only letters, digits and '_' (Milvus collection names)")
    for entry in options.collections:
        if not re.fullmatch(r"\w+\.(\w+|\*)", entry):
            problems.append(f"collection {entry!r} must be written db.collection (or db.*), e.g. default.docs")
    if problems:
        raise RestoreError("; ".join(problems))
    args = ["restore", "--config", CONFIG_FILE, "-n", options.backup, "--rebuild_index"]
    if options.collections:
        args += ["--filter", ",".join(options.collections)]
    if options.suffix:
        args += ["--suffix", options.suffix]
    if options.overwrite:
        args.append("--drop_exist_collection")
    return args


def restore_job_manifest(settings: Settings, options: RestoreOptions) -> dict[str, Any]:
    """A one-off Job restoring `options.backup` into this stack's Milvus, with the scheduled backups' config and
    the restore role's service account. Without `overwrite`, milvus-backup itself stops at the first collection
    that already exists, before writing any data."""
    m = settings.milvus
    labels = k8s_labels("milvus-restore")
    container = {"name": "restore", "command": with_password(f"exec {shlex.join([BINARY, *restore_args(options)])}")}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": restore_job_name(m.release_name, options.backup), "namespace": m.namespace,
                     "labels": labels, "annotations": {"milvus-eks/backup": options.backup}},
        "spec": {
            # A failed restore needs a person: a retry would meet the collections the first attempt created.
            "backoffLimit": 0,
            "activeDeadlineSeconds": RESTORE_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": 7 * SECONDS_PER_DAY,
            "template": {"metadata": {"labels": labels},
                         "spec": _pod_spec(settings, service_account=restore_service_account_name(m.release_name),
                                           container=container)},
        },
    }


def list_job_manifest(settings: Settings) -> dict[str, Any]:
    """A one-off Job printing the backups (`milvus-backup list`) with the scheduled backups' config and role."""
    m = settings.milvus
    labels = k8s_labels(COMPONENT)
    container = {"name": "list", "command": with_password(f"exec {shlex.join([BINARY, 'list', '--config', CONFIG_FILE])}")}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"{cronjob_name(m.release_name)}-list", "namespace": m.namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 600,
                 # Gone a few minutes after it finished, so the same command can be applied again.
                 "ttlSecondsAfterFinished": 300,
                 "template": {"metadata": {"labels": labels},
                              "spec": _pod_spec(settings, service_account=service_account_name(m.release_name),
                                                container=container)}},
    }


# ---------------------------------------------------------------------------------------------- IAM


def _statement(sid: str, actions: list[str], resources: list[str] | str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def backup_policy(settings: Settings, milvus_bucket_arn: str, backup_bucket_arn: str) -> str:
    """The scheduled job reads Milvus' files and reads, writes and deletes its own backups; nothing else. No
    s3:DeleteObjectVersion: in a versioned bucket a prune (or a mistake) leaves recoverable versions behind."""
    buckets = sorted({milvus_bucket_arn, backup_bucket_arn})
    return json.dumps({"Version": "2012-10-17", "Statement": [
        _statement("ListBuckets", ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                   buckets),
        _statement("ReadMilvusData", ["s3:GetObject"], f"{milvus_bucket_arn}/{milvus_root(settings)}/*"),
        _statement("WriteBackups", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                    "s3:ListMultipartUploadParts"],
                   f"{backup_bucket_arn}/{backup_root(settings)}/*"),
    ]})


def restore_policy(settings: Settings, milvus_bucket_arn: str, backup_bucket_arn: str) -> str:
    """A restore reads the backups and stages their files under `restore-temp-*` in the Milvus bucket, where
    Milvus imports them; it never writes Milvus' own folder."""
    buckets = sorted({milvus_bucket_arn, backup_bucket_arn})
    return json.dumps({"Version": "2012-10-17", "Statement": [
        _statement("ListBuckets", ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                   buckets),
        _statement("ReadBackups", ["s3:GetObject"], f"{backup_bucket_arn}/{backup_root(settings)}/*"),
        _statement("StageRestoreFiles", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                         "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                   f"{milvus_bucket_arn}/{RESTORE_TEMP_PREFIX}*"),
    ]})


# ---------------------------------------------------------------------------------------------- plan


def stale_after_seconds(backup: BackupSettings) -> int:
    """When the last success is this old, a run that should have succeeded did not: the longest gap between two
    runs, plus how late a run may start and how long it may take."""
    return parse(backup.schedule).max_interval_seconds() + STARTING_DEADLINE_SECONDS + DEADLINE_SECONDS


def rule_context(settings: Settings) -> dict[str, Any]:
    """The RuleContext fields of the MilvusBackupStale alert (render/rules.py)."""
    b = settings.milvus.backup
    if not b.enabled:
        return {}
    return {"backup_cronjob": cronjob_name(settings.milvus.release_name),
            "backup_stale_after_seconds": stale_after_seconds(b)}


@dataclass(frozen=True)
class BackupEstimate:
    copies: int
    """Full backups held at steady state (milvus-backup copies every segment each time: no increments)."""
    storage_gib: float
    basis: str


def storage_estimate(settings: Settings, data_gib: float) -> BackupEstimate:
    b = settings.milvus.backup
    schedule = parse(b.schedule)
    kept_days = b.retention_days
    basis = f"{schedule.runs_per_day():.3g} run(s)/day × {b.retention_days} days retention"
    # A pruned backup stays as noncurrent versions until the bucket's lifecycle rule expires them.
    versioned, noncurrent = ((b.versioning, b.noncurrent_version_days) if b.destination == "bucket" else
                             (settings.milvus.bucket.versioning, settings.milvus.bucket.noncurrent_version_days))
    if versioned:
        kept_days += noncurrent
        basis += f" + {noncurrent} days of noncurrent versions"
    # The newest backup survives any prune, and one more exists while the next run copies.
    copies = max(1, math.ceil(schedule.runs_per_day() * kept_days)) + 1
    return BackupEstimate(copies, round(copies * data_gib, 1), f"{basis}, +1 copy in flight; × {data_gib:.1f} GiB")


def summary(settings: Settings, data_gib: float | None = None) -> dict[str, Any]:
    b = settings.milvus.backup
    if not b.enabled:
        return {"enabled": False}
    out: dict[str, Any] = {
        "enabled": True, "schedule": f"{b.schedule} (UTC)", "retentionDays": b.retention_days,
        "destination": (f"dedicated bucket, {'versioned' if b.versioning else 'unversioned'}, folder {b.prefix}/"
                        if b.destination == "bucket" else f"folder {b.prefix}/ of the Milvus bucket"),
        "cronJob": f"{settings.milvus.namespace}/{cronjob_name(settings.milvus.release_name)}",
        "image": MILVUS_BACKUP_IMAGE,
        "staleAfterHours": round(stale_after_seconds(b) / 3600, 1),
    }
    if data_gib is not None:
        estimate = storage_estimate(settings, data_gib)
        out["copiesKept"] = estimate.copies
        out["storageGiB"] = estimate.storage_gib
        out["storageBasis"] = estimate.basis
    return out
