"""Which changes between two offline plans replace or delete something that holds data.

`tools.plan_diff` lists every change; this module picks out the ones a reviewer must approve on purpose: a
stateful resource (the EKS cluster, the Milvus bucket and its versioning/Object Lock, the VPC and subnets the cluster
sits in, a Helm release holding the etcd/Prometheus/Alertmanager volume claims, a node group or Karpenter NodePool
hosting query nodes) or a stateful Kubernetes object (a StatefulSet with volume claim templates, a PersistentVolumeClaim, a Prometheus or
Alertmanager with storage) that is

- removed,
- renamed (its logical name gone and another of the same type added: Pulumi deletes the old one unless an alias
  says they are the same), or
- changed in an input that forces a replacement (`REPLACED_BY`), directly or because a resource it takes that
  input from is replaced (a new VPC means new subnet ids, and so on).

The plan folders carry only hashes of inputs (`resources.json`), the resources each input comes from (`dependsOn`)
and one level of nested hashes (`fields`), so the classification works on input names, never on values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

TF_AWS = "hashicorp/terraform-provider-aws"

REPLACED_BY: dict[str, dict[str, str]] = {
    # Each entry: input (or `input.field`) as Pulumi names it → where the replacement is decided.
    "aws:ec2/vpc:Vpc": {
        "cidrBlock": f"{TF_AWS} internal/service/ec2/vpc_.go: cidr_block ForceNew",
        "ipv4IpamPoolId": f"{TF_AWS} internal/service/ec2/vpc_.go: ipv4_ipam_pool_id ForceNew",
        "ipv4NetmaskLength": f"{TF_AWS} internal/service/ec2/vpc_.go: ipv4_netmask_length ForceNew",
    },
    "aws:ec2/subnet:Subnet": {
        "vpcId": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: vpc_id ForceNew",
        "cidrBlock": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: cidr_block ForceNew",
        "availabilityZone": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: availability_zone ForceNew",
        "availabilityZoneId": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: availability_zone_id ForceNew",
        "ipv6Native": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: ipv6_native ForceNew",
        "outpostArn": f"{TF_AWS} internal/service/ec2/vpc_subnet.go: outpost_arn ForceNew",
    },
    "aws:eks/cluster:Cluster": {
        "name": f"{TF_AWS} internal/service/eks/cluster.go: name ForceNew",
        "roleArn": f"{TF_AWS} internal/service/eks/cluster.go: role_arn ForceNew",
        "bootstrapSelfManagedAddons": f"{TF_AWS} internal/service/eks/cluster.go: bootstrap_self_managed_addons "
                                      f"ForceNew",
        "accessConfig.bootstrapClusterCreatorAdminPermissions":
            f"{TF_AWS} internal/service/eks/cluster.go: access_config.bootstrap_cluster_creator_admin_permissions "
            f"ForceNew",
        "kubernetesNetworkConfig.serviceIpv4Cidr":
            f"{TF_AWS} internal/service/eks/cluster.go: kubernetes_network_config.service_ipv4_cidr ForceNew",
        "kubernetesNetworkConfig.ipFamily":
            f"{TF_AWS} internal/service/eks/cluster.go: kubernetes_network_config.ip_family ForceNew",
        "remoteNetworkConfig": f"{TF_AWS} internal/service/eks/cluster.go: remote_network_config ForceNew",
    },
    "aws:eks/nodeGroup:NodeGroup": {
        "amiType": f"{TF_AWS} internal/service/eks/node_group.go: ami_type ForceNew",
        "capacityType": f"{TF_AWS} internal/service/eks/node_group.go: capacity_type ForceNew",
        "clusterName": f"{TF_AWS} internal/service/eks/node_group.go: cluster_name ForceNew",
        "diskSize": f"{TF_AWS} internal/service/eks/node_group.go: disk_size ForceNew",
        "instanceTypes": f"{TF_AWS} internal/service/eks/node_group.go: instance_types ForceNew",
        "nodeGroupName": f"{TF_AWS} internal/service/eks/node_group.go: node_group_name ForceNew",
        "nodeGroupNamePrefix": f"{TF_AWS} internal/service/eks/node_group.go: node_group_name_prefix ForceNew",
        "nodeRoleArn": f"{TF_AWS} internal/service/eks/node_group.go: node_role_arn ForceNew",
        "remoteAccess": f"{TF_AWS} internal/service/eks/node_group.go: remote_access ForceNew",
        "subnetIds": f"{TF_AWS} internal/service/eks/node_group.go: subnet_ids ForceNew",
        "launchTemplate.id": f"{TF_AWS} internal/service/eks/node_group.go: launch_template.id ForceNew",
        "launchTemplate.name": f"{TF_AWS} internal/service/eks/node_group.go: launch_template.name ForceNew",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": {
        "name": f"{TF_AWS} internal/service/ec2/ec2_launch_template.go: name ForceNew",
        "namePrefix": f"{TF_AWS} internal/service/ec2/ec2_launch_template.go: name_prefix ForceNew",
    },
    "aws:s3/bucket:Bucket": {
        "bucket": f"{TF_AWS} internal/service/s3/bucket.go: bucket ForceNew",
        "bucketPrefix": f"{TF_AWS} internal/service/s3/bucket.go: bucket_prefix ForceNew",
        "objectLockEnabled": f"{TF_AWS} internal/service/s3/bucket.go: object_lock_enabled ForceNew",
    },
    "aws:s3/bucketVersioning:BucketVersioning": {
        "bucket": f"{TF_AWS} internal/service/s3/bucket_versioning.go: bucket ForceNew",
    },
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": {
        "bucket": f"{TF_AWS} internal/service/s3/bucket_object_lock_configuration.go: bucket ForceNew",
        "objectLockEnabled": f"{TF_AWS} internal/service/s3/bucket_object_lock_configuration.go: "
                             f"object_lock_enabled ForceNew",
    },
    "kubernetes:karpenter.sh/v1:NodePool": {
        "metadata.name": "pulumi/pulumi-kubernetes forceNewProperties: metadataForceNewProperties .metadata.name",
    },
    "kubernetes:helm.sh/v3:Release": {
        "name": "pulumi/pulumi-kubernetes provider/pkg/provider/helm_release.go Diff: forceNewFields .name",
        "namespace": "pulumi/pulumi-kubernetes provider/pkg/provider/helm_release.go Diff: forceNewFields "
                     ".namespace",
    },
}

REPLACED_WHEN_FED_BY_A_REPLACEMENT: dict[str, dict[str, str]] = {
    # vpc_config.subnet_ids is updatable in place, but only to subnets of the cluster's own VPC ("these subnets must
    # be in the same VPC as the original subnets", EKS user guide network-reqs): subnets of a replaced VPC cannot be
    # handed to the old cluster, and the old subnets cannot be deleted under it. An endpoint or CIDR allow-list
    # change in vpcConfig is an in-place update, so this applies only when the subnets themselves are replaced.
    "aws:eks/cluster:Cluster": {
        "vpcConfig": "EKS user guide (network-reqs): a cluster's subnets must stay in its original VPC",
    },
}

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
KARPENTER_NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
POOLS = (NODE_GROUP, KARPENTER_NODEPOOL)
QUERY_NODE_ROLE = "queryNode"
"""The role label (render/naming.py role_label) of a pool that holds query nodes: replacing it drops every loaded
segment and replica at once."""

STATEFUL: dict[str, str] = {
    "aws:eks/cluster:Cluster": "the EKS cluster (every workload and volume attachment)",
    "aws:s3/bucket:Bucket": "the Milvus bucket (segments, indexes, binlogs, backups)",
    # Deleting the resource suspends versioning (bucket_versioning.go resourceBucketVersioningDelete).
    "aws:s3/bucketVersioning:BucketVersioning": "the bucket's versioning (deleting it suspends versioning)",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "the bucket's Object Lock",
    "aws:ec2/vpc:Vpc": "the VPC the cluster runs in",
    "aws:ec2/subnet:Subnet": "a subnet of the cluster and its nodes",
    "kubernetes:helm.sh/v3:Release": "a Helm release (its uninstall removes the StatefulSets holding the etcd and "
                                     "Prometheus/Alertmanager volume claims)",
    NODE_GROUP: "a node group hosting query nodes (every loaded segment)",
    KARPENTER_NODEPOOL: "a Karpenter NodePool hosting query nodes (every loaded segment)",
}

# pulumi-kubernetes replaces a StatefulSet it manages itself on the same fields (forceNewProperties: statefulSet);
# the charts' StatefulSets here go through Helm, which is refused instead.
STATEFULSET_IMMUTABLE = ("spec.volumeClaimTemplates", "spec.selector", "spec.serviceName", "spec.podManagementPolicy")
"""Kubernetes refuses any other update of a live StatefulSet's spec than replicas, ordinals, template,
updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and minReadySeconds (apps validation,
"Forbidden: updates to statefulset spec for fields other than ..."): the Helm upgrade fails, and applying it takes
deleting the StatefulSet; claims of a changed template are new, empty volumes."""

OBJECT_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "StatefulSet": (STATEFULSET_IMMUTABLE, "immutable on a live StatefulSet (Kubernetes apps validation: only "
                                           "replicas, template, updateStrategy and a few others may change)"),
    "PersistentVolumeClaim": (("spec.storageClassName", "spec.accessModes", "spec.volumeName", "spec.selector",
                               "spec.volumeMode", "spec.dataSource"),
                              "immutable after creation except resources.requests (Kubernetes core validation of "
                              "PersistentVolumeClaim updates)"),
    # prometheus-operator copies spec.storage.volumeClaimTemplate into its StatefulSet's volumeClaimTemplates
    # (pkg/prometheus/statefulset.go makeStatefulSet; the Alertmanager controller does the same).
    "Prometheus": (("spec.storage",), "becomes the operator's StatefulSet volumeClaimTemplates, which are immutable"),
    "Alertmanager": (("spec.storage",), "becomes the operator's StatefulSet volumeClaimTemplates, which are "
                                        "immutable"),
}


@dataclass(frozen=True)
class Destructive:
    what: str
    """The resource or object, as the diff names it."""
    action: str
    """`replaced`, `deleted` or `renamed`."""
    reason: str


def _is_stateful(record: Mapping[str, Any]) -> bool:
    if record["type"] in POOLS:
        return QUERY_NODE_ROLE in (record.get("roles") or [])
    return record["type"] in STATEFUL


def _label(record: Mapping[str, Any]) -> str:
    return f"`{record['type']}` {record['name']}"


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> bool:
    top = path.split(".", 1)[0]
    if "." in path:
        return (old.get("fields") or {}).get(path) != (new.get("fields") or {}).get(path)
    return old["inputs"].get(top) != new["inputs"].get(top)


def replacements(base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]]
                 ) -> dict[str, str]:
    """Resource id → why it is replaced: a replace-forcing input that differs, or one fed by a replaced resource
    (followed until nothing more changes)."""
    common = sorted(base.keys() & head.keys())
    replaced: dict[str, str] = {}
    for key in common:
        old, new = base[key], head[key]
        for path, source in REPLACED_BY.get(new["type"], {}).items():
            if _changed(old, new, path):
                replaced[key] = f"`{path}` changes ({source})"
                break
    grew = True
    while grew:
        grew = False
        for key in common:
            if key in replaced:
                continue
            new = head[key]
            rules = {**REPLACED_BY.get(new["type"], {}), **REPLACED_WHEN_FED_BY_A_REPLACEMENT.get(new["type"], {})}
            for path, source in rules.items():
                feeders = (new.get("dependsOn") or {}).get(path.split(".", 1)[0], [])
                hit = next((f for f in feeders if f in replaced), None)
                if hit is not None:
                    replaced[key] = (f"`{path}` comes from `{head[hit]['type']}` {head[hit]['name']}, which is "
                                     f"replaced ({source})")
                    grew = True
                    break
    return replaced


def resource_findings(base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]]
                      ) -> list[Destructive]:
    found = []
    for key, why in sorted(replacements(base, head).items()):
        record = head[key]
        if _is_stateful(record) or _is_stateful(base[key]):
            found.append(Destructive(_label(record), "replaced", f"{STATEFUL[record['type']]}: {why}"))
    aliased = {old for record in head.values() for old in record.get("aliases", [])}
    removed = [base[k] for k in sorted(base.keys() - head.keys()) if _is_stateful(base[k]) and k not in aliased]
    added = [head[k] for k in sorted(head.keys() - base.keys())]
    for record in removed:
        twin = next((a for a in added if a["type"] == record["type"]), None)
        if twin is not None:
            added.remove(twin)
            found.append(Destructive(_label(record), "renamed",
                                     f"{STATEFUL[record['type']]}: logical name `{record['name']}` → "
                                     f"`{twin['name']}`; Pulumi deletes the old one and creates a new one unless "
                                     f"the new resource carries `aliases` naming the old"))
        else:
            found.append(Destructive(_label(record), "deleted", f"{STATEFUL[record['type']]}: removed from the "
                                                                f"program"))
    return found


ObjectKey = tuple[str, str, str, str]


def _stateful_object(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "StatefulSet":
        return bool(spec.get("volumeClaimTemplates"))
    if kind in ("Prometheus", "Alertmanager"):
        return bool(spec.get("storage"))
    return kind == "PersistentVolumeClaim"


def _object_label(key: ObjectKey) -> str:
    source, kind, namespace, name = key
    return f"{kind} {namespace}/{name} ({source})" if namespace else f"{kind} {name} ({source})"


def object_findings(base: Mapping[ObjectKey, Mapping[str, Any]], head: Mapping[ObjectKey, Mapping[str, Any]],
                    changed: Iterable[tuple[ObjectKey, list[tuple[str, Any, Any]]]]) -> list[Destructive]:
    found = []
    for key, fields in changed:
        old, new = base[key], head[key]
        if not (_stateful_object(old) or _stateful_object(new)):
            continue
        paths, why = OBJECT_RULES.get(key[1], ((), ""))
        hits = sorted({p for field, _, _ in fields for p in paths if field == p or field.startswith(p + ".")
                       or field.startswith(p + "[")})
        if hits:
            found.append(Destructive(_object_label(key), "replaced",
                                     f"{', '.join(f'`{h}`' for h in hits)} changes: {why}"))
    for key in sorted(base.keys() - head.keys()):
        if _stateful_object(base[key]):
            found.append(Destructive(_object_label(key), "deleted", "holds persistent volume claims and is no "
                                                                    "longer rendered"))
    return found
