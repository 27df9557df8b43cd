"""Monitoring: kube-prometheus-stack, monitors that select Milvus and etcd, the Milvus alert rules and dashboards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from render.monitoring_values import (
    DASHBOARD_LABEL, GRAFANA_ADMIN_SECRET, RELEASE, etcd_pod_monitor, milvus_service_monitor, render_kps_values)
from render.naming import NVME_LABEL, k8s_labels
from render.naming import pool_tolerations
from components.options import inherited_dependencies
from render.dashboards import ksm_metric_labels_allowlist, render_capacity, render_overview
from render.backup import rule_context as backup_rule_context
from render.rules import RuleContext, render_rules
from stacks import versions
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


@dataclass(frozen=True)
class MonitoringArgs:
    settings: Settings
    plan: Plan


class Monitoring(pulumi.ComponentResource):
    namespace: str
    grafana_admin_secret: str
    grafana_password: pulumi.Output[str]
    namespace_resource: k8s.core.v1.Namespace

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:monitoring:Monitoring", name, None, opts)
        m = args.settings.monitoring
        child = pulumi.ResourceOptions(parent=self)
        ctx = rule_context(args.settings, args.plan)
        tolerations = pool_tolerations(args.settings.node_pools[args.settings.pool_for("monitoring")])
        planned_memory = {g.name: g.loading_memory_bytes for g in args.plan.groups}

        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": m.namespace, "labels": k8s_labels("monitoring")},
                                   opts=child)
        # Explicit keepers, as for Milvus' root password: only a different Grafana identity replaces it.
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                         keepers={"grafanaAdmin": f"{m.namespace}/{GRAFANA_ADMIN_SECRET}"},
                                         opts=child)
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": m.namespace, "labels": k8s_labels("monitoring")},
            type="Opaque", string_data={"admin-user": "admin", "admin-password": password.result},
            # A rotated password (docs/runbook.md) lives in the Secret; `pulumi up` must not put the first one back.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns], ignore_changes=["stringData", "data"]))

        release = k8s.helm.v3.Release(
            f"{name}-kps",
            name=RELEASE,
            chart="kube-prometheus-stack",
            version=m.chart_version or versions.KUBE_PROMETHEUS_STACK_CHART,
            repository_opts={"repo": versions.KUBE_PROMETHEUS_STACK_REPO},
            namespace=m.namespace,
            values=render_kps_values(args.settings, tolerations, ksm_metric_labels_allowlist(ctx)),
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, secret, *inherited_dependencies(opts)]),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        for manifest in (milvus_service_monitor(args.settings), etcd_pod_monitor(args.settings),
                         prometheus_rule_manifest(m.namespace, render_rules(m.alerts, ctx))):
            k8s.apiextensions.CustomResource(
                f"{name}-{manifest['kind'].lower()}-{manifest['metadata']['name']}",
                api_version=manifest["apiVersion"], kind=manifest["kind"], metadata=manifest["metadata"],
                spec=manifest["spec"], opts=after_crds)
        for key, dashboard in (("milvus-overview", render_overview(ctx)),
                               ("milvus-capacity", render_capacity(ctx, planned_memory))):
            manifest = dashboard_configmap_manifest(m.namespace, key, dashboard)
            k8s.core.v1.ConfigMap(f"{name}-{key}", metadata=manifest["metadata"], data=manifest["data"],
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]))

        self.namespace = m.namespace
        self.namespace_resource = ns
        self.grafana_admin_secret = GRAFANA_ADMIN_SECRET
        self.grafana_password = pulumi.Output.secret(password.result)
        self.register_outputs({"namespace": self.namespace, "grafanaAdminSecret": self.grafana_admin_secret})
