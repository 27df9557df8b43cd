"""The monitoring objects the program writes itself (pure): the Milvus alert rules, dashboards as ConfigMaps, the
Grafana admin Secret, and what the rules compare against."""

from __future__ import annotations

import json
from typing import Any

from render.monitoring_values import DASHBOARD_LABEL, GRAFANA_ADMIN_SECRET, RELEASE
from render.naming import NVME_LABEL, k8s_labels
from render.backup import rule_context as backup_rule_context
from render.rules import RuleContext
from stacks.settings import Settings
from stacks.sizing import Plan


def prometheus_rule_manifest(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "milvus-alerts", "namespace": namespace,
                         "labels": k8s_labels("monitoring", {"release": RELEASE})},
            "spec": spec}


def dashboard_configmap_manifest(namespace: str, name: str, dashboard: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"dashboard-{name}", "namespace": namespace,
                         "labels": k8s_labels("monitoring", {DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1]})},
            "data": {f"{name}.json": json.dumps(dashboard, indent=2, sort_keys=True)}}


def rule_context(settings: Settings, plan: Plan) -> RuleContext:
    """What the rules and dashboards compare against: where Milvus runs and the planned query nodes per group."""
    return RuleContext(
        milvus_namespace=settings.milvus.namespace,
        release=settings.milvus.release_name,
        monitoring_namespace=settings.monitoring.namespace,
        expected_query_nodes={g.name: g.nodes for g in plan.groups},
        nvme_node_label=(NVME_LABEL, "true"),
        runbook_base_url=settings.monitoring.runbook_url,
        **backup_rule_context(settings),
    )


def grafana_admin_secret_manifest(namespace: str, password: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": GRAFANA_ADMIN_SECRET, "namespace": namespace, "labels": k8s_labels("monitoring")},
            "stringData": {"admin-user": "admin", "admin-password": password}}
