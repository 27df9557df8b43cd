#!/usr/bin/env python3
"""Helm post-renderer for the Milvus release: gives every pod a PriorityClass, and pins each resource group's
query nodes to its zone.

The Milvus chart 5.0.19 has no priorityClassName key for its components (no template references one), so Helm
pipes the rendered manifests through this script (`helm.v3.Release(postrender=...)`, Helm's --post-renderer):
multi-document YAML on stdin, the same documents on stdout, with `spec.template.spec.priorityClassName` set on each
Deployment, StatefulSet and Job that has none, chosen by the chart's `component` pod label. Pods of the subcharts
(etcd, Pulsar, MinIO) hold the cluster's state and get the control class.

With `topology.zoneFailure: replicaPerZone` each resource group's query nodes live in one zone. The chart renders one
query-node Deployment per entry of `replicaResourceGroups`, all from the one shared `queryNode` block (milvus-helm
@ 9832476 charts/milvus/templates/querynode-deployment.yaml: nodeSelector and affinity come from `.Values.queryNode`
for every group; no per-group key exists), so the values carry the group → zone map as a pod annotation
(`ZONES_ANNOTATION`) and this script sets `topology.kubernetes.io/zone` in the nodeSelector of each group's pods,
chosen by the group label the chart puts on them (`milvus.io/resource-group`).

Query nodes get the time their graceful stop needs. On SIGTERM a query node marks its session stopping, QueryCoord
moves its segments and channels to the other nodes of each replica, and the node waits until it holds none, at most
`queryNode.gracefulStopTimeout` seconds (milvus-io/milvus internal/querynodev2/server.go `Stop`; the key falls back
to `common.gracefulStopTimeout`, 1800 s, pkg/util/paramtable/component_param.go). The chart sets no
terminationGracePeriodSeconds on query nodes, so the kubelet kills them after Kubernetes' default 30 s, in the middle
of that move: a scale-in or a rollout then drops segments that must be loaded again while their replica is
incomplete. This script sets the pods' grace to the Milvus timeout plus a margin (the Milvus Operator sets a month:
milvus-operator pkg/controllers/deployment_updater.go `updateSomeFieldsOnlyWhenRolling`).

This file is also imported by the program (render/quotas.py, render/workloads.py, render/charts.py
callers): the classes, the mapping and `post_render` below are the one source for the script and the offline render.
`SCRIPT` is its path relative to the project root, which is what the Release records (the same on every machine;
Pulumi runs the Kubernetes provider, and so Helm, from the project directory).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONTROL = "milvus-eks-control"
SERVING = "milvus-eks-serving"
MONITORING = "milvus-eks-monitoring"
# Above the default (0) and below system-cluster-critical (2000000000): coordinators, etcd and streaming nodes
# (the WAL) first, then the pods that serve and ingest, then monitoring.
PRIORITY_VALUES = {CONTROL: 1_000_000, SERVING: 900_000, MONITORING: 500_000}
# The chart's `component` pod label (T/_helpers.tpl + T/*-deployment.yaml) → class.
MILVUS_COMPONENT_PRIORITY = {"mixcoord": CONTROL, "streamingnode": CONTROL, "querynode": SERVING,
                             "datanode": SERVING, "proxy": SERVING}
SUBCHART_PRIORITY = CONTROL
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
MILVUS_NAME_LABEL = ("app.kubernetes.io/name", "milvus")
SCRIPT = "render/helm_postrender.py"
ZONES_ANNOTATION = "milvus-eks/resource-group-zones"
"""Pod annotation on the query nodes: JSON object, resource group → availability zone name."""
GROUP_LABEL = "milvus.io/resource-group"
# Milvus' own default (common.gracefulStopTimeout); render/milvus_values.py writes it as queryNode.gracefulStopTimeout
# so the pod's grace below and the server's timeout cannot drift apart.
QUERY_NODE_STOP_SECONDS = 1800
# From the timeout to the exit: Milvus then stops what is left of the node (etcd session, segcore).
STOP_MARGIN_SECONDS = 60
ZONE_LABEL = "topology.kubernetes.io/zone"


def priority_for(labels: dict) -> str:
    if labels.get(MILVUS_NAME_LABEL[0]) == MILVUS_NAME_LABEL[1] and labels.get("component") in \
            MILVUS_COMPONENT_PRIORITY:
        return MILVUS_COMPONENT_PRIORITY[labels["component"]]
    return SUBCHART_PRIORITY


def post_render(document: dict) -> dict:
    """The post-renderer's whole transform, for one rendered object: the script below applies it to each document
    Helm pipes through, and render/charts.py applies it in-process to each non-hook object, as Helm does.

    Returns a new object when it changes one; the input is never changed."""
    return stop_gracefully(pin_zone(add_priority(document)))


def add_priority(document: dict) -> dict:
    if document.get("kind") not in WORKLOAD_KINDS:
        return document
    spec = document.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec")
    if pod is None or pod.get("priorityClassName"):
        return document
    klass = priority_for((template.get("metadata") or {}).get("labels") or {})
    return {**document, "spec": {**spec, "template": {**template, "spec": {**pod, "priorityClassName": klass}}}}


def stop_gracefully(document: dict) -> dict:
    """A query node's pods may run their graceful stop to the end (Milvus' timeout plus a margin)."""
    if document.get("kind") != "Deployment":
        return document
    spec = document.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if labels.get(MILVUS_NAME_LABEL[0]) != MILVUS_NAME_LABEL[1] or labels.get("component") != "querynode":
        return document
    pod = template.get("spec") or {}
    grace = QUERY_NODE_STOP_SECONDS + STOP_MARGIN_SECONDS
    if (pod.get("terminationGracePeriodSeconds") or 0) >= grace:
        return document
    return {**document, "spec": {**spec, "template": {**template, "spec": {
        **pod, "terminationGracePeriodSeconds": grace}}}}


def pin_zone(document: dict) -> dict:
    """The zone nodeSelector of one resource group's pods, from the zone map its pods carry."""
    if document.get("kind") != "Deployment":
        return document
    spec = document.get("spec") or {}
    template = spec.get("template") or {}
    metadata = template.get("metadata") or {}
    zones = (metadata.get("annotations") or {}).get(ZONES_ANNOTATION)
    group = (metadata.get("labels") or {}).get(GROUP_LABEL)
    if zones is None or group is None:
        return document
    mapping = json.loads(zones)
    if group not in mapping:
        raise ValueError(f"resource group {group!r} has no zone in {ZONES_ANNOTATION} ({zones}); the values and "
                         f"replicaResourceGroups disagree")
    pod = template.get("spec") or {}
    selector = {**(pod.get("nodeSelector") or {}), ZONE_LABEL: mapping[group]}
    return {**document, "spec": {**spec, "template": {**template, "spec": {**pod, "nodeSelector": selector}}}}


def main() -> int:
    try:
        import yaml
    except ImportError:
        # Helm runs this with whatever `python3` is first on PATH; the project's own interpreter has PyYAML.
        venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
        sys.stderr.write("helm_postrender: PyYAML is not importable; install it or run from the project venv\n")
        return 1
    documents = [post_render(d) if isinstance(d, dict) else d for d in yaml.safe_load_all(sys.stdin)]
    yaml.safe_dump_all([d for d in documents if d is not None], sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
