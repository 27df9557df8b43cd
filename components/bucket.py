"""A private S3 bucket, the one shape of both the Milvus data bucket and the backup bucket: public access blocked,
ACLs disabled, encrypted, TLS-only, optionally versioned with old versions expiring, incomplete uploads aborted."""

from __future__ import annotations

from typing import Protocol

import pulumi

from components import aws
from render import milvus_values as mv


class BucketSettings(Protocol):
    """What both `milvus.bucket` and `milvus.backup` say about their bucket."""
    versioning: bool
    noncurrent_version_days: int
    protect: bool
    force_destroy: bool


def private_bucket(owner: pulumi.Resource, name: str, prefix: str, settings: BucketSettings,
                   tags: dict[str, str]) -> tuple[aws.Bucket, list[pulumi.Resource]]:
    """The bucket (named from `prefix`: bucket names are global across all AWS accounts) and the resources that
    configure it, which whatever writes to it waits for."""
    child = pulumi.ResourceOptions(parent=owner)
    bucket = aws.Bucket(f"{name}-bucket", {
        "bucketPrefix": prefix, "forceDestroy": settings.force_destroy, "tags": tags},
        pulumi.ResourceOptions(parent=owner, protect=settings.protect))
    after_bucket = pulumi.ResourceOptions(parent=owner, depends_on=[bucket])
    ready: list[pulumi.Resource] = [
        aws.BucketPublicAccessBlock(f"{name}-bucket", {
            "bucket": bucket.id, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}, child),
        aws.BucketOwnershipControls(f"{name}-bucket", {
            "bucket": bucket.id, "rule": {"objectOwnership": "BucketOwnerEnforced"}}, child),
        aws.BucketServerSideEncryptionConfiguration(f"{name}-bucket", {
            "bucket": bucket.id, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
            child),
        aws.BucketPolicy(f"{name}-bucket", {
            "bucket": bucket.id, "policy": bucket.arn.apply(mv.tls_only_bucket_policy)}, after_bucket),
    ]
    versioning = None
    if settings.versioning:
        versioning = aws.BucketVersioning(f"{name}-bucket", {
            "bucket": bucket.id, "versioningConfiguration": {"status": "Enabled"}}, child)
        ready.append(versioning)
    ready.append(aws.BucketLifecycleConfiguration(f"{name}-bucket", {
        "bucket": bucket.id,
        "rules": mv.bucket_lifecycle_rules(settings.versioning, settings.noncurrent_version_days)},
        pulumi.ResourceOptions(parent=owner, depends_on=[versioning] if versioning else [])))
    return bucket, ready
