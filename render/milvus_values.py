"""Everything MilvusCluster decides, as pure data: the Helm values, the Kubernetes objects it writes itself, and the
IAM/S3 policy documents. No Pulumi here: tests, golden files and the offline plan call these directly.

Chart facts below cite zilliztech/milvus-helm @ 98324768 (chart 5.0.19): `V:` = charts/milvus/values.yaml,
`T/` = charts/milvus/templates/ (see /tmp/ctx chart notes, re-read from the fetched snapshot).
"""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from typing import Any, Mapping

import yaml

from render.storage import GP3_STORAGE_CLASS
from render.helm_postrender import CONTROL, QUERY_NODE_STOP_SECONDS, ZONES_ANNOTATION
from render.iam import IRSA_ANNOTATION
from render.naming import POOL_LABEL, k8s_labels, milvus_fullname as fullname
from render.naming import pool_tolerations
from stacks.catalog import load_catalog
from stacks.network_plan import plan_subnets
from stacks.quantity import GIB, cpu, memory
from stacks.settings import ResourceList, Resources, Settings
from stacks.sizing import DAEMONSET_OVERHEAD_MEMORY_BYTES, DAEMONSET_OVERHEAD_MILLICPU, query_node_disk_limit
from stacks.versions import MILVUS_IMAGE_REPOSITORY

CHART_NAME = "milvus"
PROXY_PORT = 19530
METRICS_PORT = 9091
ETCD_CLIENT_PORT = 2379
ROOT_USER = "root"
ROOT_PASSWORD_KEY = "password"
# Milvus reads environment variables as config keys after lower-casing and dropping '_' and '.'
# (milvus-io/milvus pkg/util/paramtable/base_table.go `init` formatter; pkg/config/config.go `formatKey`), and the
# environment source outranks the YAML files (pkg/config/source.go NormalPriority < file LowPriority). So this env
# var sets `common.security.defaultRootPassword` without the password ever appearing in Helm values or a ConfigMap.
ROOT_PASSWORD_ENV = "COMMON_SECURITY_DEFAULTROOTPASSWORD"
# etcd authentication: Milvus reads `etcd.auth.enabled` / `etcd.auth.userName` / `etcd.auth.password` (milvus-io/milvus
# pkg/util/paramtable/service_param.go EtcdEnableAuth/EtcdAuthUserName/EtcdAuthPassword, since 2.3.7); the password
# comes in through the environment like the root password (ETCD_AUTH_PASSWORD formats to `etcdauthpassword`).
# The bitnami etcd subchart (8.12.0) creates the `root` user and turns auth on from `auth.rbac.*`
# (templates/statefulset.yaml ETCD_ROOT_PASSWORD; values.yaml auth.rbac.existingSecret[PasswordKey]).
ETCD_ROOT_USER = "root"
ETCD_PASSWORD_KEY = "etcd-root-password"
ETCD_PASSWORD_ENV = "ETCD_AUTH_PASSWORD"
ETCD_PEER_PORT = 2380

# Milvus images run as the `milvus` user, uid 999, from milvus-io/milvus commit 7cb7651 on (zilliztech/milvus-operator
# #434; milvus-io/milvus #46897, #51221); earlier 2.6 images ship /milvus/bin and /milvus/lib as root:root 0774 and no
# user (an arbitrary uid then fails with exit 126, "exec milvus failed: Permission denied"). uid 999 with gid 0 can
# execute both layouts: the owner in the new one, the root group in the old one. Pod Security `restricted` checks
# runAsNonRoot and runAsUser, not the group.
MILVUS_UID = 999
MILVUS_GID = 0
# Milvus writes its local storage under /var/lib/milvus (localStorage.path /var/lib/milvus/data); the older images do
# not create the directory and a non-root process cannot, so every component gets an emptyDir there (the query
# node's own `disk` emptyDir mounts below it, T/querynode-deployment.yaml:174-177).
MILVUS_DATA_ROOT = "/var/lib/milvus"
POD_SECURITY_CONTEXT = {"runAsNonRoot": True, "runAsUser": MILVUS_UID, "runAsGroup": MILVUS_GID,
                        "fsGroup": MILVUS_GID, "seccompProfile": {"type": "RuntimeDefault"}}
# readOnlyRootFilesystem stays false: which paths besides /var/lib/milvus Milvus 2.6 writes (Go and C++ temp files,
# jemalloc profiles) is not established from the image source (see policy/checkov_accepted.yaml CKV_K8S_22).
CONTAINER_SECURITY_CONTEXT = {"allowPrivilegeEscalation": False, "privileged": False,
                              "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"]},
                              "seccompProfile": {"type": "RuntimeDefault"}}
# The bitnami etcd image runs as 1001 (etcd values.yaml podSecurityContext/containerSecurityContext); the chart
# drops the `enabled` key and renders the rest (templates/statefulset.yaml:73-75,116-118).
ETCD_UID = 1001

# Milvus component → (values key, the chart's `component` pod label, settings attribute, placement role).
# Pod labels: T/_helpers.tpl:195-198 (`milvus.matchLabels`) plus `component: "<x>"` in each T/*-deployment.yaml.
COMPONENTS: dict[str, tuple[str, str]] = {
    "mixCoordinator": ("mixcoord", "mix_coordinator"),
    "proxy": ("proxy", "proxy"),
    "queryNode": ("querynode", "query_node"),
    "dataNode": ("datanode", "data_node"),
    "streamingNode": ("streamingnode", "streaming_node"),
}

# Requests and limits a user gets when the stack file sets none (the query node is sized from its node instead).
# Coordinators and proxies are light; data and streaming nodes flush, compact and (with embedded Woodpecker) buffer
# the WAL on local disk, hence more memory and ephemeral storage.
DEFAULT_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "mixCoordinator": {"requests": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "1Gi"},
                       "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "10Gi"}},
    "proxy": {"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
              "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "10Gi"}},
    "dataNode": {"requests": {"cpu": "1", "memory": "4Gi", "ephemeral-storage": "5Gi"},
                 "limits": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "50Gi"}},
    "streamingNode": {"requests": {"cpu": "1", "memory": "4Gi", "ephemeral-storage": "5Gi"},
                      "limits": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "50Gi"}},
    # etcd keeps its whole backend (up to ETCD_QUOTA_BACKEND_BYTES) in page cache; leave room above the quota.
    "etcd": {"requests": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "1Gi"},
             "limits": {"cpu": "2", "memory": "6Gi", "ephemeral-storage": "5Gi"}},
    "woodpecker": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "minio": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    # Pulsar v3 parts: the chart's requests (V:779-1031) with limits above their JVM heaps (PULSAR_MEM).
    "pulsarZookeeper": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "pulsarBookkeeper": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "12Gi"}},
    "pulsarAutorecovery": {"requests": {"cpu": "100m", "memory": "128Mi"},
                           "limits": {"cpu": "500m", "memory": "512Mi"}},
    "pulsarBroker": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "12Gi"}},
    "pulsarProxy": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}},
}
# Pods and volumes of the stateful subcharts, made explicit so the namespace quota counts them exactly
# (chart defaults: Pulsar V:779-1031; MinIO distributed mode, 4 replicas of 500Gi, V:656-690).
PULSAR_REPLICAS = {"zookeeper": 3, "bookkeeper": 3, "autorecovery": 1, "broker": 2, "proxy": 2}
PULSAR_VOLUMES_GI = {"zookeeper": {"data": 20}, "bookkeeper": {"journal": 100, "ledgers": 200}}
MINIO_REPLICAS = 4
MINIO_VOLUME_GI = 500

# Node autoscalers cannot choose the zone of a multi-AZ managed node group, so a hard zone constraint can leave a
# pod pending forever; spread as well as the nodes allow and rely on per-node anti-affinity for the hard rule.
ZONE_SPREAD_WHEN_UNSATISFIABLE = "ScheduleAnyway"

# Rolling updates that never take a component below its replica count (surge first, then retire).
NEVER_BELOW_REPLICAS = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
# A query node fills its node (one per node, requests = the node), so a surge pod needs a spare node that a managed
# node group may not have: there, with several query nodes retire one first instead (never zero); with one, surging
# is the only way. On a Karpenter pool the surge pod gets a new node, and the pod it replaces then has somewhere to
# move its segments during its graceful stop (render/helm_postrender.py): a retired-first pod's segments must fit on
# the rest of its replica, which the sizing fills.
ONE_AT_A_TIME = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


def rollout_strategy(component: str, pods: int, pool_grows: bool = False) -> dict:
    if component == "queryNode" and pods > 1 and not pool_grows:
        return ONE_AT_A_TIME
    return NEVER_BELOW_REPLICAS


# ---------------------------------------------------------------------------------------------- names


def service_account_name(release: str) -> str:
    return fullname(release)


def root_secret_name(release: str) -> str:
    return f"{fullname(release)}-root-credentials"


def endpoint(release: str, namespace: str) -> str:
    """The proxy Service (`<fullname>`, T/service.yaml) as seen from inside the cluster."""
    return f"{fullname(release)}.{namespace}.svc.cluster.local:{PROXY_PORT}"


def pod_labels(release: str, component: str) -> dict[str, str]:
    """The labels every pod of a Milvus component carries (and its Deployment selects on)."""
    return {"app.kubernetes.io/name": CHART_NAME, "app.kubernetes.io/instance": release, "component": component}


# ---------------------------------------------------------------------------------------------- resources


def _resource_list(values: ResourceList) -> dict[str, str]:
    return {k: v for k, v in (("cpu", values.cpu), ("memory", values.memory),
                              ("ephemeral-storage", values.ephemeral_storage)) if v is not None}


def merge_resources(defaults: Mapping[str, Mapping[str, str]], configured: Resources) -> dict[str, dict[str, str]]:
    """Defaults per field, overridden field by field by what the stack file sets."""
    return {
        "requests": {**defaults.get("requests", {}), **_resource_list(configured.requests)},
        "limits": {**defaults.get("limits", {}), **_resource_list(configured.limits)},
    }


def query_node_resources(settings: Settings) -> dict[str, dict[str, str]]:
    """One query node per node: it gets the node's allocatable CPU and memory minus the DaemonSets, and its local
    disk minus what images, logs and the eviction threshold need. Requests equal limits (Guaranteed QoS), so the
    kubelet never evicts a query node for another pod, and `LOCAL_STORAGE_SIZE` (from the ephemeral-storage limit)
    matches the disk the node really has. Values the stack file sets win.

    The sizing planner (stacks/sizing.py) may import or replace this function."""
    pool = settings.node_pools[settings.pool_for("queryNode")]
    node = load_catalog()[pool.instance_types[0]]
    millicpu = node.alloc_millicpu - DAEMONSET_OVERHEAD_MILLICPU
    memory_bytes = node.alloc_memory_bytes - DAEMONSET_OVERHEAD_MEMORY_BYTES
    disk_bytes = query_node_disk_limit(settings)
    if millicpu <= 0 or memory_bytes <= 0 or disk_bytes < GIB:
        raise ValueError(f"instance type {node.name} of pool {settings.pool_for('queryNode')!r} is too small for a "
                         f"query node ({millicpu}m CPU, {memory_bytes} bytes memory, {disk_bytes} bytes disk left)")
    sized = {
        "cpu": cpu(Decimal(millicpu) / 1000),
        "memory": memory(memory_bytes),
        # Whole GiB (stacks.sizing.query_node_disk_limit): the chart passes the limit to Milvus in GiB (divisor 1Gi,
        # rounded up by the downward API), so a whole number keeps Milvus' disk budget inside the limit.
        "ephemeral-storage": f"{disk_bytes // GIB}Gi",
    }
    return merge_resources({"requests": sized, "limits": sized}, settings.milvus.components.query_node.resources)


# ---------------------------------------------------------------------------------------------- placement


def placement(settings: Settings, role: str) -> dict[str, Any]:
    """nodeSelector + tolerations of the pool hosting `role`."""
    name = settings.pool_for(role)
    return {"nodeSelector": {POOL_LABEL: name}, "tolerations": pool_tolerations(settings.node_pools[name])}


def _spread(labels: Mapping[str, str], topology_key: str, match_label_keys: tuple[str, ...] = ()) -> dict:
    constraint: dict[str, Any] = {"maxSkew": 1, "topologyKey": topology_key,
                                  "whenUnsatisfiable": ZONE_SPREAD_WHEN_UNSATISFIABLE,
                                  "labelSelector": {"matchLabels": dict(labels)}}
    if match_label_keys:
        constraint["matchLabelKeys"] = list(match_label_keys)
    return constraint


def spread_constraints(labels: Mapping[str, str], per_resource_group: bool = False) -> list[dict]:
    # With replicaResourceGroups each group is its own Deployment sharing one constraint list; matchLabelKeys adds
    # the pod's own group label to the selector, so every group is spread on its own (ignored when absent).
    keys = ("milvus.io/resource-group",) if per_resource_group else ()
    return [_spread(labels, "topology.kubernetes.io/zone", keys), _spread(labels, "kubernetes.io/hostname", keys)]


def one_per_node(labels: Mapping[str, str]) -> dict:
    """Required anti-affinity: no two query nodes (of any resource group) share a node and its NVMe (milvus #28713)."""
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": dict(labels)}}]}}


# ---------------------------------------------------------------------------------------------- values


def replicas(settings: Settings, component: str, query_node_replicas: int, streaming_node_replicas: int) -> int:
    """Pods per Deployment (per resource group for query and streaming nodes)."""
    if component == "queryNode":
        return query_node_replicas
    if component == "streamingNode":
        return streaming_node_replicas
    configured = getattr(settings.milvus.components, COMPONENTS[component][1])
    if component == "mixCoordinator" and configured.active_standby:
        return configured.replicas or 2
    if component == "proxy" and configured.autoscaling.enabled:
        return configured.autoscaling.min_replicas
    return configured.replicas or 1


def max_replicas(settings: Settings, component: str, planned: int) -> int:
    """The most pods a Deployment may run: the HPA's maximum for autoscaled proxies, else its planned count."""
    proxy = settings.milvus.components.proxy
    if component == "proxy" and proxy.autoscaling.enabled:
        return proxy.autoscaling.max_replicas
    return planned


def pods_per_component(settings: Settings, query_node_replicas: int, streaming_node_replicas: int,
                       resource_groups: tuple[str, ...]) -> dict[str, int]:
    groups = max(1, len(resource_groups))
    counts = {c: replicas(settings, c, query_node_replicas, streaming_node_replicas) for c in COMPONENTS}
    counts["queryNode"] *= groups
    counts["streamingNode"] *= groups
    return counts


def zones_annotation(group_zones: Mapping[str, str]) -> str:
    """The value of the query nodes' zone-map annotation (render/helm_postrender.py reads it)."""
    return json.dumps(dict(sorted(group_zones.items())))


def user_config(settings: Settings) -> dict[str, Any]:
    """Milvus config overrides, mounted as user.yaml (the only override file pods mount,
    T/querynode-deployment.yaml:157-165)."""
    pool = settings.node_pools[settings.pool_for("queryNode")]
    mmap = pool.nvme and settings.milvus.mmap
    return {
        "common": {"security": {"authorizationEnabled": settings.milvus.authorization}},
        # The password comes from the environment (ETCD_PASSWORD_ENV), never from this ConfigMap.
        "etcd": {"auth": {"enabled": True, "userName": ETCD_ROOT_USER}},
        # mmap keys: milvus-io/milvus pkg/util/paramtable/component_param.go queryNode.mmap.vectorField/vectorIndex
        # (default false). Only on NVMe: mmapped pages are read back from local disk under memory pressure.
        # queryNode.gracefulStopTimeout (seconds; component_param.go): how long a stopping query node waits for
        # QueryCoord to move its segments away; the post-renderer gives its pods this much grace, plus a margin.
        "queryNode": {"mmap": {"vectorField": mmap, "vectorIndex": mmap},
                      "gracefulStopTimeout": QUERY_NODE_STOP_SECONDS},
    }


def render_milvus_values(
    settings: Settings,
    *,
    query_node_replicas: int,
    streaming_node_replicas: int,
    resource_groups: tuple[str, ...],
    bucket_name: str | None,
    irsa_role_arn: str | None = None,
    group_zones: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Helm values for charts/milvus: cluster mode, every component on its pool, S3 through IAM (or MinIO).
    `group_zones` (resource group → zone, `topology.zoneFailure: replicaPerZone`) rides on the query-node pods for
    the post-renderer, which pins each group's Deployment to its zone (render/helm_postrender.py)."""
    m = settings.milvus
    release = m.release_name
    values: dict[str, Any] = {
        "cluster": {"enabled": True},
        "image": {"all": {"repository": MILVUS_IMAGE_REPOSITORY, "tag": m.image_tag}},
        "serviceAccount": {
            "create": True,
            "name": service_account_name(release),
            **({"annotations": {IRSA_ANNOTATION: irsa_role_arn}} if irsa_role_arn else {}),
        },
        # Consolidated 2.6 layout: one mixCoordinator, no separate coordinators, no index node (V:329-561).
        **{key: {"enabled": False} for key in
           ("rootCoordinator", "queryCoordinator", "dataCoordinator", "indexCoordinator", "indexNode")},
        "extraConfigFiles": {"user.yaml": yaml.safe_dump(user_config(settings), sort_keys=True)},
        # Global keys every Milvus component template reads when its own is empty (V:44-48, T/*-deployment.yaml).
        "securityContext": POD_SECURITY_CONTEXT,
        "containerSecurityContext": CONTAINER_SECURITY_CONTEXT,
        "volumes": [{"name": "milvus-data-root", "emptyDir": {}}],
        "volumeMounts": [{"name": "milvus-data-root", "mountPath": MILVUS_DATA_ROOT}],
    }
    if resource_groups:
        values["replicaResourceGroups"] = list(resource_groups)  # chart >= 5.0.17, a list of names (V:11-15)

    for component, (label, attr) in COMPONENTS.items():
        labels = pod_labels(release, label)
        block: dict[str, Any] = {
            "replicas": replicas(settings, component, query_node_replicas, streaming_node_replicas),
            **placement(settings, component),
        }
        if component != "streamingNode":  # streamingNode has no `enabled` key (V:572-585)
            block["enabled"] = True
        if component == "queryNode":
            block["resources"] = query_node_resources(settings)
            block["affinity"] = one_per_node(labels)
            block["topologySpreadConstraints"] = [
                _spread(labels, "topology.kubernetes.io/zone", ("milvus.io/resource-group",))]
            # disk.enabled mounts an emptyDir at /var/lib/milvus/data; disk.size.enabled passes the
            # ephemeral-storage limit as LOCAL_STORAGE_SIZE (T/querynode-deployment.yaml:107-113,174-177).
            block["disk"] = {"enabled": True, "size": {"enabled": True}}
            if group_zones:
                block["annotations"] = {ZONES_ANNOTATION: zones_annotation(group_zones)}
        else:
            block["resources"] = merge_resources(DEFAULT_RESOURCES[component],
                                                 getattr(m.components, attr).resources)
            block["topologySpreadConstraints"] = spread_constraints(
                labels, per_resource_group=component == "streamingNode")
        block["extraEnv"] = [{"name": ETCD_PASSWORD_ENV, "valueFrom": {"secretKeyRef": {
            "name": root_secret_name(release), "key": ETCD_PASSWORD_KEY}}}]
        if component == "mixCoordinator":
            block["activeStandby"] = {"enabled": m.components.mix_coordinator.active_standby}
            # Without activeStandby the chart forces `Recreate` and ignores `strategy`
            # (T/mixcoord-deployment.yaml:18-26): two coordinators must never run at once unless one is standby.
            if m.components.mix_coordinator.active_standby:
                block["strategy"] = NEVER_BELOW_REPLICAS
            block["extraEnv"].append({"name": ROOT_PASSWORD_ENV, "valueFrom": {"secretKeyRef": {
                "name": root_secret_name(release), "key": ROOT_PASSWORD_KEY}}})
        else:
            pool = settings.node_pools[settings.pool_for(component)]
            block["strategy"] = rollout_strategy(component, block["replicas"], pool.provisioner == "karpenter")
        if component == "proxy" and m.components.proxy.autoscaling.enabled:
            scaling = m.components.proxy.autoscaling
            # The chart's own HPA (T/proxy-hpa.yaml: autoscaling/v2 on CPU utilisation); replicas -1 drops the
            # Deployment's replica count (T/proxy-deployment.yaml:16-18) so a Helm upgrade never resets the HPA's.
            block["hpa"] = {"enabled": True, "minReplicas": scaling.min_replicas,
                            "maxReplicas": scaling.max_replicas, "cpuUtilization": scaling.cpu_utilization}
            block["replicas"] = -1
        values[component] = block

    values.update(_message_queue(settings))
    values.update(_object_storage(settings, bucket_name))
    values["etcd"] = _etcd(settings)
    values["service"] = {"type": "ClusterIP"}
    # Plain JSON-shaped data with no shared sub-objects: safe to mutate, serializes without YAML anchors.
    return json.loads(json.dumps(values))


PULSAR_PARTS = ("zookeeper", "bookkeeper", "broker", "proxy", "autorecovery", "toolset")


def _message_queue(settings: Settings) -> dict[str, Any]:
    mq = placement(settings, "messageQueue")
    if settings.milvus.message_queue == "pulsar":
        # Pulsar v3 subchart (V:779); the chart writes no mq.type for it when woodpecker is off (T/config.tpl:122-137).
        return {
            "streaming": {"enabled": True},
            "woodpecker": {"enabled": False},
            "pulsar": {"enabled": False},
            "kafka": {"enabled": False},
            "pulsarv3": {"enabled": True, **{part: {**mq, **_pulsar_sizes().get(part, {})} for part in PULSAR_PARTS}},
        }
    return {
        # Woodpecker embedded in the streaming nodes, its log on the object store (V:79-84). `woodpecker.enabled`
        # is what makes the chart write `mq.type: woodpecker` (T/config.tpl:114-119); embedded mode runs no
        # separate StatefulSet (T/_helpers.tpl:369-375), and the external one would need static S3 keys.
        "streaming": {"enabled": True, "woodpecker": {"embedded": True, "storage": {"type": "minio"}}},
        "woodpecker": {"enabled": True, **mq},
        "pulsarv3": {"enabled": False},
        "pulsar": {"enabled": False},
        "kafka": {"enabled": False},
    }


def _pulsar_sizes() -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for part, count in PULSAR_REPLICAS.items():
        sizes[part] = {"replicaCount": count,
                       "resources": merge_resources(DEFAULT_RESOURCES[f"pulsar{part.title()}"], Resources())}
        if part in PULSAR_VOLUMES_GI:
            sizes[part]["volumes"] = {v: {"size": f"{gi}Gi"} for v, gi in PULSAR_VOLUMES_GI[part].items()}
    return sizes


def _object_storage(settings: Settings, bucket_name: str | None) -> dict[str, Any]:
    if settings.milvus.object_storage == "minio":
        return {
            "externalS3": {"enabled": False},
            "minio": {"enabled": True, **placement(settings, "minio"), "replicas": MINIO_REPLICAS,
                      "resources": merge_resources(DEFAULT_RESOURCES["minio"], Resources()),
                      "persistence": {"enabled": True, "storageClass": GP3_STORAGE_CLASS,
                                      "size": f"{MINIO_VOLUME_GI}Gi"}},
        }
    if not bucket_name:
        raise ValueError("object storage is s3 but no bucket name was given")
    region = settings.region
    return {
        "minio": {"enabled": False},
        # Rendered into Milvus' `minio:` config (T/config.tpl:46-59). No accessKey/secretKey: the pods' service
        # account carries the role (milvus #18523: regional host without scheme, useIAM, port 443).
        "externalS3": {
            "enabled": True,
            "host": f"s3.{region}.amazonaws.com",
            "port": "443",
            "useSSL": True,
            "useIAM": True,
            "cloudProvider": "aws",
            "region": region,
            "bucketName": bucket_name,
            "rootPath": settings.milvus.release_name,
            "useVirtualHost": False,
        },
    }


def _etcd(settings: Settings) -> dict[str, Any]:
    etcd = settings.milvus.etcd
    labels = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": settings.milvus.release_name}
    return {
        "enabled": True,
        "replicaCount": etcd.replicas,
        # The subchart reads `accessModes` (etcd values.yaml:596-598); Milvus' `accessMode` is dead.
        "persistence": {"enabled": True, "storageClass": GP3_STORAGE_CLASS, "size": f"{etcd.storage_gi}Gi",
                        "accessModes": ["ReadWriteOnce"]},
        "autoCompactionMode": "revision",
        "autoCompactionRetention": "1000",
        # Helm replaces lists whole: repeat Milvus' other two entries (V:763-769) next to the quota.
        "extraEnvVars": [
            {"name": "ETCD_QUOTA_BACKEND_BYTES", "value": str(etcd.quota_backend_gi * GIB)},
            {"name": "ETCD_HEARTBEAT_INTERVAL", "value": "500"},
            {"name": "ETCD_ELECTION_TIMEOUT", "value": "2500"},
        ],
        "resources": merge_resources(DEFAULT_RESOURCES["etcd"], etcd.resources),
        # The Milvus components get theirs from the post-renderer (the chart has no key); etcd has one.
        "priorityClassName": CONTROL,
        **placement(settings, "etcd"),
        "topologySpreadConstraints": [_spread(labels, "topology.kubernetes.io/zone")],
        # The parent chart turns the subchart's PDB off (V:720-721); a quorum of 3 survives one voluntary eviction.
        "pdb": {"create": True, "minAvailable": etcd.replicas // 2 + 1} if etcd.replicas > 1 else {"create": False},
        # Milvus' values turn RBAC off (V:740-746); on, the subchart sets ETCD_ROOT_PASSWORD from our Secret and
        # refuses unauthenticated clients (ALLOW_NONE_AUTHENTICATION=no). Simple tokens: a JWT key the chart
        # generated would change on every render unless pinned in another Secret.
        "auth": {"rbac": {"create": True, "allowNoneAuthentication": False,
                          "existingSecret": root_secret_name(settings.milvus.release_name),
                          "existingSecretPasswordKey": ETCD_PASSWORD_KEY},
                 "token": {"enabled": False}},
        # etcd never calls the Kubernetes API: its own ServiceAccount, without a token (etcd
        # templates/serviceaccount.yaml; the chart's default is the namespace's `default` account).
        "serviceAccount": {"create": True, "automountServiceAccountToken": False},
        "podSecurityContext": {"enabled": True, "fsGroup": ETCD_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"enabled": True, "runAsUser": ETCD_UID, "runAsNonRoot": True,
                                     "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                     "seccompProfile": {"type": "RuntimeDefault"}},
    }


def load_balancer_service_manifest(settings: Settings) -> dict | None:
    """The internal NLB in front of the proxies, written here rather than through the chart's `service` because the
    chart has no externalTrafficPolicy key (T/service.yaml): with the default `Cluster`, kube-proxy rewrites the
    source of load-balanced connections to a node address, so a NetworkPolicy could only admit them by admitting the
    node subnets, which with the VPC CNI are also every pod's addresses. `Local` keeps the client address, so the
    proxy policy admits `service.allowedCidrs` and nothing else; the NLB health-checks the node's
    healthCheckNodePort and sends traffic only to nodes that run a proxy."""
    service = settings.milvus.service
    if service.type != "internalNlb":
        return None
    release = settings.milvus.release_name
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"{fullname(release)}-nlb", "namespace": settings.milvus.namespace,
                     "labels": k8s_labels("milvus-service"),
                     # Handled by the EKS cloud controller (no AWS Load Balancer Controller is installed): an internal
                     # NLB. `aws-load-balancer-scheme` keeps it internal if the AWS Load Balancer Controller takes over.
                     "annotations": {
                         "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                         "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                         "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                     }},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": pod_labels(release, "proxy"),
            # The proxy container's port is named `milvus` (T/proxy-deployment.yaml:98-101).
            "ports": [{"name": "milvus", "port": PROXY_PORT, "targetPort": "milvus", "protocol": "TCP"}],
            "loadBalancerSourceRanges": list(service.allowed_cidrs),
        },
    }


# ---------------------------------------------------------------------------------------------- manifests


def pod_security_level(settings: Settings) -> str:
    """`restricted` when every pod of the namespace is one whose security context this program sets (the Milvus
    components, etcd, the topology Job); Pulsar and MinIO come from subcharts whose pods are not verified against it,
    so a namespace running them enforces `baseline` and only warns and audits at `restricted`."""
    m = settings.milvus
    return "restricted" if m.message_queue == "woodpecker" and m.object_storage == "s3" else "baseline"


def pod_security_labels(enforce: str) -> dict[str, str]:
    return {"pod-security.kubernetes.io/enforce": enforce,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted"}


def namespace_manifest(settings: Settings) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": settings.milvus.namespace, "labels": {
                **k8s_labels("milvus"), **pod_security_labels(pod_security_level(settings))}}}


def root_password_keepers(namespace: str, release: str) -> dict[str, str]:
    """What replaces the generated root password (pulumi-random `keepers`): a new release identity only."""
    return {"milvusRelease": f"{namespace}/{release}"}


def root_secret_manifest(namespace: str, release: str, password: Any, etcd_password: Any) -> dict:
    """The root credentials of Milvus and of its etcd; the passwords are whatever the caller holds (secret Outputs
    in the program)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": root_secret_name(release), "namespace": namespace,
                         "labels": k8s_labels("milvus-auth")},
            "stringData": {"username": ROOT_USER, ROOT_PASSWORD_KEY: password, ETCD_PASSWORD_KEY: etcd_password}}


def pdb_manifests(namespace: str, release: str, pods: Mapping[str, int]) -> list[dict]:
    """A PodDisruptionBudget per Milvus component that runs more than one pod: the chart renders none.
    One budget per component across resource groups, so a drain never takes two query nodes at once."""
    manifests = []
    for component, count in pods.items():
        if count <= 1:
            continue
        label = COMPONENTS[component][0]
        manifests.append({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": f"{fullname(release)}-{label}", "namespace": namespace,
                         "labels": k8s_labels("milvus-availability")},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": pod_labels(release, label)}},
        })
    return manifests


DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
# CoreDNS pods (EKS add-on) carry k8s-app=kube-dns in kube-system.
DNS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
# S3 (regional endpoint), STS (IRSA's AssumeRoleWithWebIdentity) and PyPI have no fixed addresses.
ANYWHERE = {"ipBlock": {"cidr": "0.0.0.0/0"}}
# EKS Pod Identity agent: link-local address on every node, port 80 (EKS user guide, pod-id-agent-setup).
POD_IDENTITY_AGENT = {"ipBlock": {"cidr": "169.254.170.23/32"}}
# Prometheus pods made by the operator carry app.kubernetes.io/name=prometheus (prometheus-operator statefulset).
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
TOPOLOGY_COMPONENT = "milvus-topology"


def from_namespace(name: str, pods: Mapping[str, str] | None = None) -> dict:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
    if pods:
        peer["podSelector"] = {"matchLabels": dict(pods)}
    return peer


def pod_subnets(settings: Settings) -> tuple[str, ...]:
    """Where pods get their addresses: the VPC CNI gives them addresses of the private subnets, like the nodes."""
    return plan_subnets(settings.network.vpc_cidr, settings.network.az_count).private


def client_ip_blocks(settings: Settings) -> list[dict]:
    """`service.allowedCidrs` as ipBlocks that never cover a pod: a block containing a pod subnet excepts it, so
    pods are admitted only through `service.allowedNamespaces` (validation refuses a CIDR inside a pod subnet)."""
    pods = [ipaddress.IPv4Network(c) for c in pod_subnets(settings)]
    blocks = []
    for cidr in settings.milvus.service.allowed_cidrs:
        net = ipaddress.IPv4Network(cidr)
        inside = sorted(str(p) for p in pods if p.subnet_of(net))
        blocks.append({"ipBlock": {"cidr": cidr, **({"except": inside} if inside else {})}})
    return blocks


def network_policy_manifests(settings: Settings) -> list[dict]:
    """Default-deny ingress and egress for the namespace, then only the paths Milvus uses:

    - ingress: pods of the namespace reach each other except etcd; etcd's client port only from Milvus' pods (and
      its peers), its metrics from Prometheus; the proxy port from the allowed namespaces and CIDRs; Milvus' metrics
      port from Prometheus;
    - egress: DNS, the namespace itself, HTTPS (S3 and STS for Milvus, PyPI for the topology Job), and the Pod
      Identity agent when that is the binding.
    """
    m = settings.milvus
    ns, release = m.namespace, m.release_name
    milvus_pods = {"app.kubernetes.io/name": CHART_NAME, "app.kubernetes.io/instance": release}
    etcd_pods = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": release}

    def policy(name: str, spec: dict, types: tuple[str, ...] = ("Ingress",)) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": f"{fullname(release)}-{name}", "namespace": ns,
                             "labels": k8s_labels("milvus-network")},
                "spec": {"policyTypes": list(types), **spec}}

    client_namespaces = sorted({ns, *m.service.allowed_namespaces})
    proxy_sources = [from_namespace(n) for n in client_namespaces] + client_ip_blocks(settings)
    policies = [
        policy("default-deny", {"podSelector": {}}, ("Ingress", "Egress")),
        policy("allow-same-namespace", {
            "podSelector": {"matchExpressions": [
                {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["etcd"]}]},
            "ingress": [{"from": [{"podSelector": {}}]}]}),
        # etcd holds every collection's metadata: only Milvus (and the other members) may use its API.
        policy("allow-etcd-clients", {
            "podSelector": {"matchLabels": etcd_pods},
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": milvus_pods}}],
                 "ports": [{"protocol": "TCP", "port": ETCD_CLIENT_PORT}]},
                {"from": [{"podSelector": {"matchLabels": etcd_pods}}],
                 "ports": [{"protocol": "TCP", "port": ETCD_CLIENT_PORT},
                           {"protocol": "TCP", "port": ETCD_PEER_PORT}]},
            ]}),
        policy("allow-proxy-clients", {
            "podSelector": {"matchLabels": pod_labels(release, "proxy")},
            "ingress": [{"from": proxy_sources, "ports": [{"protocol": "TCP", "port": PROXY_PORT}]}]}),
        policy("allow-egress-dns-and-namespace", {
            "podSelector": {},
            "egress": [{"to": [DNS_PEER], "ports": DNS_PORTS}, {"to": [{"podSelector": {}}]}]}, ("Egress",)),
        policy("allow-egress-https", {
            "podSelector": {"matchExpressions": [
                {"key": "app.kubernetes.io/name", "operator": "In", "values": [CHART_NAME]}]},
            "egress": [{"to": [ANYWHERE], "ports": [{"protocol": "TCP", "port": 443}]},
                       *([{"to": [POD_IDENTITY_AGENT], "ports": [{"protocol": "TCP", "port": 80}]}]
                         if settings.service_account_binding == "podIdentity" else [])]}, ("Egress",)),
    ]
    if not settings.topology.reconciler_image:
        # The topology Job installs its hash-pinned packages from PyPI (render/topology_job.py).
        policies.append(policy("allow-topology-egress", {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": TOPOLOGY_COMPONENT}},
            "egress": [{"to": [ANYWHERE], "ports": [{"protocol": "TCP", "port": 443}]}]}, ("Egress",)))
    if settings.monitoring.enabled:
        prometheus = from_namespace(settings.monitoring.namespace, PROMETHEUS_POD)
        policies.append(policy("allow-metrics", {
            "podSelector": {"matchLabels": milvus_pods},
            "ingress": [{"from": [prometheus], "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}]}))
        # etcd serves /metrics only on its client port (bitnami etcd chart templates/podmonitor.yaml; the chart has
        # no key for a separate --listen-metrics-urls port). Only Prometheus' pods get there, and with auth on the
        # port answers them nothing but /metrics and /health without the root password.
        policies.append(policy("allow-etcd-metrics", {
            "podSelector": {"matchLabels": etcd_pods},
            "ingress": [{"from": [prometheus], "ports": [{"protocol": "TCP", "port": ETCD_CLIENT_PORT}]}]}))
    return policies


# ---------------------------------------------------------------------------------------------- IAM / S3


def bucket_access_policy(bucket_arn: str) -> str:
    """Least privilege for Milvus on its own bucket: list/locate the bucket, read/write/delete its objects."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Bucket", "Effect": "Allow",
         "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
         "Resource": bucket_arn},
        {"Sid": "Objects", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"],
         "Resource": f"{bucket_arn}/*"},
    ]})


INCOMPLETE_UPLOAD_DAYS = 7
"""Multipart uploads left unfinished (a killed flush or backup) are aborted after this many days."""


def bucket_lifecycle_rules(versioning: bool, noncurrent_version_days: int) -> list[dict[str, Any]]:
    """Both buckets' lifecycle (S3 BucketLifecycleConfiguration rules, in the provider's spelling): incomplete
    uploads aborted; with versioning, overwritten or deleted objects kept `noncurrent_version_days`."""
    rules: list[dict[str, Any]] = [
        {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
         "abortIncompleteMultipartUpload": {"daysAfterInitiation": INCOMPLETE_UPLOAD_DAYS}}]
    if versioning:
        rules.append({"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
                      "noncurrentVersionExpiration": {"noncurrentDays": noncurrent_version_days}})
    return rules


def tls_only_bucket_policy(bucket_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]})
