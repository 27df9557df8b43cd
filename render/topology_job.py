"""The topology Job, as pure data: the reconciler's spec from the plan, the ConfigMap carrying it with the
reconciler and its hashed requirements, and the Job that runs it (components/milvus_topology.py registers them).

The Job runs the project's reconciler (topology/reconcile.py) from a ConfigMap that also carries the spec; its name
carries a hash of both, so a changed spec or script is a new Job that `pulumi up` runs and waits for (the
Kubernetes provider awaits a Job's Complete condition and fails on Failed: pulumi_kubernetes batch/v1 Job docs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from render.helm_postrender import SERVING
from render.naming import POOL_LABEL, TOPOLOGY_DIGEST_LENGTH, k8s_labels
from render.naming import pool_tolerations
from stacks import sizing
from stacks.settings import Settings
from stacks.sizing import Plan
from stacks.versions import RECONCILER_IMAGE

RECONCILER_FILE = Path(__file__).resolve().parent.parent / "topology" / "reconcile.py"
# pymilvus and its dependencies with every artifact hash from uv.lock (tools/reconciler_requirements.py).
REQUIREMENTS_FILE = RECONCILER_FILE.parent / "requirements.txt"
# pip refuses any artifact whose hash the file does not list, installs nothing the file does not name, and builds
# nothing from source (no compiler, no setup.py run inside the cluster).
PIP_INSTALL = ("pip install --quiet --no-cache-dir --disable-pip-version-check --require-hashes --no-deps "
               "--only-binary :all:")
# Stack files spell build parameters in camelCase; Milvus/knowhere take DiskANN's in snake_case
# (zilliztech/knowhere src/index/diskann/diskann_config.h: max_degree, search_list_size).
MILVUS_PARAM_NAMES = {"maxDegree": "max_degree", "searchListSize": "search_list_size"}

# The reconciler's own deadline covers retries while Milvus starts and every load it waits for; the pod adds the
# package install, the Job a margin, and `pulumi up` waits a little longer than the Job may run.
RECONCILE_TIMEOUT_SECONDS = 1200
ACTIVE_DEADLINE_SECONDS = RECONCILE_TIMEOUT_SECONDS + 300
AWAIT_TIMEOUT = f"{(ACTIVE_DEADLINE_SECONDS + 300) // 60}m"
BACKOFF_LIMIT = 1
DRIFT_EXIT_CODE = 2
# Finished Jobs are kept for a day for `kubectl logs`; a re-run after deletion is harmless (idempotent).
TTL_SECONDS_AFTER_FINISHED = 86400
RUN_AS = 10001
WORK_DIR = "/work"
SCRIPT_DIR = "/topology"
# The root password as a file from a Secret volume, not an environment variable (which `kubectl describe`, crash
# dumps and child processes see; checkov CKV_K8S_35).
CREDENTIALS_DIR = "/credentials"


def render_spec(settings: Settings, plan: Plan) -> dict[str, Any]:
    """The reconciler's spec (topology/reconcile.py `parse_spec`): declared groups at the node count each really
    gets, databases, collections with the index parameters the planner sized (defaults made explicit)."""
    nodes = {g.name: g.nodes for g in plan.groups}
    collections = settings.topology.collections
    return {
        # With declared groups the chart starts each group's query nodes with MILVUS_SERVER_LABEL_RESOURCE_GROUP
        # (render/milvus_values.py replicaResourceGroups; chart querynode-deployment.yaml:115-116), so on Milvus
        # >= 2.6.8 the labels own membership and the reconciler only declares groups that accept them.
        "membership": "labels" if settings.topology.resource_groups else "counts",
        "resourceGroups": [{"name": g.name, "nodes": nodes[g.name]} for g in settings.topology.resource_groups],
        "databases": sorted({c.database for c in collections} - {"default"}),
        "collections": [{
            "database": c.database,
            "name": c.name,
            "dim": c.dim,
            "metric": c.metric,
            "index": {"type": c.index.type,
                      "params": {MILVUS_PARAM_NAMES.get(k, k): v for k, v in sizing.index_params(c).items()}},
            "shards": c.shards,
            "replicas": c.replicas,
            "resourceGroups": list(c.resource_groups),
        } for c in collections],
    }


def reconciler_source() -> str:
    return RECONCILER_FILE.read_text(encoding="utf-8")


def reconciler_requirements() -> str:
    return REQUIREMENTS_FILE.read_text(encoding="utf-8")


def content_hash(spec_json: str, script: str, requirements: str = "") -> str:
    return hashlib.sha256(f"{spec_json}\0{script}\0{requirements}".encode()).hexdigest()[:TOPOLOGY_DIGEST_LENGTH]


def configmap_manifest(name: str, namespace: str, spec_json: str, script: str, requirements: str = "") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": k8s_labels("milvus-topology")},
            # Named by content: a change is a new ConfigMap, never an edit under a running Job.
            "immutable": True,
            "data": {"spec.json": spec_json, "reconcile.py": script,
                     **({"requirements.txt": requirements} if requirements else {})}}


def job_manifest(settings: Settings, *, name: str, configmap: str, uri: str, secret_name: str,
                 secret_key: str) -> dict:
    pool = settings.pool_for("system")
    install = f"{WORK_DIR}/lib"
    run = (f"exec python {SCRIPT_DIR}/reconcile.py --uri {uri} --spec {SCRIPT_DIR}/spec.json "
           f"--password-file {CREDENTIALS_DIR}/{secret_key} --timeout {RECONCILE_TIMEOUT_SECONDS}")
    image = settings.topology.reconciler_image
    # A user-built image (docker/reconciler.Dockerfile) has the packages; the pinned base image installs them.
    command = run if image else f"{PIP_INSTALL} --target {install} -r {SCRIPT_DIR}/requirements.txt && {run}"
    container = {
        "name": "reconcile",
        "image": image or RECONCILER_IMAGE,
        "command": ["sh", "-c", command],
        "env": [
            # The image runs as root by default; as a plain uid, pip and Python need a writable home and tmp.
            {"name": "HOME", "value": WORK_DIR},
            {"name": "TMPDIR", "value": WORK_DIR},
            {"name": "PYTHONPATH", "value": install},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
                      "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        # The reconciler's one-line error becomes the pod's termination message, shown with the failed Job.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "topology", "mountPath": SCRIPT_DIR, "readOnly": True},
                         {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
                         {"name": "work", "mountPath": WORK_DIR}],
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": settings.milvus.namespace, "labels": k8s_labels("milvus-topology")},
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
            # Drift (exit 2) needs a person, not a retry.
            "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                "containerName": "reconcile", "operator": "In", "values": [DRIFT_EXIT_CODE]}}]},
            "template": {
                "metadata": {"labels": k8s_labels("milvus-topology")},
                "spec": {
                    "restartPolicy": "Never",
                    "priorityClassName": SERVING,
                    "automountServiceAccountToken": False,
                    "nodeSelector": {POOL_LABEL: pool},
                    "tolerations": pool_tolerations(settings.node_pools[pool]),
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                        "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "topology", "configMap": {"name": configmap}},
                                {"name": "credentials", "secret": {
                                    "secretName": secret_name, "defaultMode": 0o400,
                                    "items": [{"key": secret_key, "path": secret_key}]}},
                                {"name": "work", "emptyDir": {"sizeLimit": "2Gi"}}],
                },
            },
        },
    }
