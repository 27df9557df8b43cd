"""MilvusBackup: scheduled milvus-backup runs, their bucket (or folder), and two narrowly scoped roles — one for the
scheduled backups, one for restores. Every manifest and policy comes from render/backup.py."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import aws
from components.bucket import private_bucket
from components.kube import register
from components.workload_identity import WorkloadIdentity
from render import backup as rb, bundle as bb
from render.bundle import Bundle
from render.naming import Namer
from stacks.settings import Settings


LOGICAL = {"ConfigMap": "config", "CronJob": "cronjob"}


@dataclass(frozen=True)
class MilvusBackupArgs:
    settings: Settings
    bundle: Bundle
    identity: WorkloadIdentity
    """How the backup and restore roles reach their service accounts (EksCluster.workload_identity)."""
    milvus_bucket_name: pulumi.Input[str]
    milvus_bucket_arn: pulumi.Input[str]
    namer: Namer
    namespace: pulumi.Resource | None = None
    """The Milvus namespace resource the Kubernetes objects wait for."""


class MilvusBackup(pulumi.ComponentResource):
    cronjob_name: str
    backup_bucket_name: pulumi.Output[str]
    backup_role_arn: pulumi.Output[str]
    restore_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MilvusBackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:milvus:MilvusBackup", name, None, opts)
        s, b = args.settings, args.settings.milvus.backup
        child = pulumi.ResourceOptions(parent=self)
        tags = args.namer.tags("milvus-backup")

        if b.destination == "bucket":
            # No Object Lock: versioning plus roles without s3:DeleteObjectVersion already keep every pruned or
            # overwritten backup for `noncurrentVersionDays` against the workloads' own credentials; Object Lock
            # would add protection against account administrators, at the price of holding every pruned version
            # for the whole lock period (in compliance mode not even an administrator can shorten it), i.e. more
            # storage than `retentionDays` promises.
            bucket, _ = private_bucket(self, name, args.namer.name("backup", ""), b, tags)
            backup_bucket_name, backup_bucket_arn = bucket.bucket, bucket.arn
        else:
            backup_bucket_name = pulumi.Output.from_input(args.milvus_bucket_name)
            backup_bucket_arn = pulumi.Output.from_input(args.milvus_bucket_arn)

        arns = pulumi.Output.all(args.milvus_bucket_arn, backup_bucket_arn)
        roles = {}
        for purpose, account, policy in (
                ("backup", rb.service_account_name(s.milvus.release_name), rb.backup_policy),
                ("restore", rb.restore_service_account_name(s.milvus.release_name), rb.restore_policy)):
            role = aws.Role(f"{name}-{purpose}", {
                "assumeRolePolicy": args.identity.trust_policy(s.milvus.namespace, account), "tags": tags}, child)
            aws.RolePolicy(f"{name}-{purpose}", {
                "role": role.name, "policy": arns.apply(lambda a, p=policy: p(s, a[0], a[1]))}, child)
            args.identity.bind(f"{name}-{purpose}", role, s.milvus.namespace, account, tags, child)
            roles[purpose] = role

        # The bundle's objects with the deploy-time leaves filled in; the bucket names sit inside backup.yaml.
        leaves = {bb.BACKUP_ROLE_ARN: roles["backup"].arn, bb.RESTORE_ROLE_ARN: roles["restore"].arn}
        names = pulumi.Output.all(args.milvus_bucket_name, backup_bucket_name)
        registered: dict[str, pulumi.Resource] = {}
        for obj in args.bundle.owned("backup"):
            kind, obj_name = obj["kind"], obj["metadata"]["name"]
            if kind == "ConfigMap":
                obj = {**obj, "data": names.apply(lambda n, data=obj["data"]: {
                    key: text.replace(bb.BACKUP_BUCKET, n[1]).replace(bb.BUCKET, n[0]) for key, text in data.items()})}
            after = [registered[k] for k in ("ConfigMap",) if kind == "CronJob" and k in registered]
            purpose = {rb.service_account_name(s.milvus.release_name): "backup",
                       rb.restore_service_account_name(s.milvus.release_name): "restore"}.get(obj_name, kind.lower())
            registered[kind] = register(f"{name}-{purpose if kind == 'ServiceAccount' else LOGICAL[kind]}",
                                        bb.deploy_time_values(obj, leaves), self._in_namespace(args, *after))

        self.cronjob_name = rb.cronjob_name(s.milvus.release_name)
        self.backup_bucket_name = backup_bucket_name
        self.backup_role_arn = roles["backup"].arn
        self.restore_role_arn = roles["restore"].arn
        self.register_outputs({"cronJob": self.cronjob_name, "bucket": self.backup_bucket_name,
                               "backupRoleArn": self.backup_role_arn, "restoreRoleArn": self.restore_role_arn})

    def _in_namespace(self, args: MilvusBackupArgs, *more: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[r for r in (args.namespace, *more) if r is not None])
