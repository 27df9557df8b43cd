"""Grafana dashboards (JSON models, provisioned through the Grafana sidecar) generated from the rule context.

Per-resource-group and per-node-pool panels join on Kubernetes labels that kube-state-metrics exports only when
they are in its `--metric-labels-allowlist` (kube-prometheus-stack value `kube-state-metrics.metricLabelsAllowlist`);
`ksm_metric_labels_allowlist` returns the entries the deployer must set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from render.rules import (
    DEFAULT_RESOURCE_GROUP,
    MIB,
    RuleContext,
    ksm_label_name,
    milvus_fullname,
    regex_literal,
    selector,
    target_label_name,
)

SCHEMA_VERSION = 39
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
# Set by the Milvus chart on per-resource-group query-node pods (charts/milvus/templates/querynode-deployment.yaml).
RESOURCE_GROUP_POD_LABEL = "milvus.io/resource-group"
# The allowlist entry the node-pool panels need, as kube-state-metrics' `--metric-labels-allowlist` spells it.
KSM_NODEGROUP_ALLOWLIST_ENTRY = f"nodes=[{NODEGROUP_LABEL}]"
NODEGROUP = ksm_label_name(NODEGROUP_LABEL)
POD_RESOURCE_GROUP = ksm_label_name(RESOURCE_GROUP_POD_LABEL)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def ksm_metric_labels_allowlist(ctx: RuleContext) -> tuple[str, ...]:
    """Every `--metric-labels-allowlist` entry the rules and dashboards rely on (one entry per resource kind)."""
    return (f"nodes=[{NODEGROUP_LABEL},{ctx.nvme_node_label[0]}]", f"pods=[{RESOURCE_GROUP_POD_LABEL}]")


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


# ---- shared selectors --------------------------------------------------------------------------------------


def _milvus(ctx: RuleContext, **extra: str) -> str:
    return selector(namespace="$namespace", **{target_label_name("app.kubernetes.io/instance"): ctx.release}, **extra)


def _querynode_pods(ctx: RuleContext, **extra: str) -> str:
    pod_re = f"{regex_literal(milvus_fullname(ctx.release))}-querynode-.*"
    return selector(namespace="$namespace", pod__re=pod_re, container="querynode", **extra)


def _per_resource_group(per_pod: str, pod_labels: str) -> str:
    """Sum a per-pod series by the pod's resource group; pods without the label belong to the default group."""
    joined = (
        f"sum by ({POD_RESOURCE_GROUP}) ({per_pod} * on (namespace, pod) group_left ({POD_RESOURCE_GROUP}) "
        f"max by (namespace, pod, {POD_RESOURCE_GROUP}) (kube_pod_labels{pod_labels}))"
    )
    named = f'label_replace({joined}, "resource_group", "$1", "{POD_RESOURCE_GROUP}", "(.+)")'
    return f'label_replace({named}, "resource_group", "{DEFAULT_RESOURCE_GROUP}", "resource_group", "")'


def _quantiles(metric: str, sel: str, by: str) -> tuple[Target, ...]:
    return tuple(
        Target(
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}{sel}[{RATE}])))",
            f"p{int(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.99)
    )


# ---- overview ------------------------------------------------------------------------------------------------


def overview_rows(ctx: RuleContext) -> tuple[Row, ...]:
    m = _milvus(ctx)
    qn = _querynode_pods(ctx)
    rg_pods = selector(namespace="$namespace", **{f"{POD_RESOURCE_GROUP}__re": "$resource_group"})
    return (
        Row(
            "Traffic",
            (
                Panel(
                    "Requests per second by method",
                    (
                        Target(
                            f"sum by (function_name) (rate(milvus_proxy_req_count"
                            f"{_milvus(ctx, status='success')}[{RATE}]))",
                            "{{function_name}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Failed requests per second",
                    (
                        Target(
                            f"sum by (function_name) (rate(milvus_proxy_req_count"
                            f"{_milvus(ctx, status='fail')}[{RATE}]))",
                            "{{function_name}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Search / query latency",
                    _quantiles("milvus_proxy_sq_latency_bucket", m, "query_type"),
                    unit="ms",
                ),
                Panel(
                    "Insert / delete latency",
                    _quantiles("milvus_proxy_mutation_latency_bucket", m, "msg_type"),
                    unit="ms",
                ),
                Panel(
                    "Vectors searched and inserted per second",
                    (
                        Target(f"sum(rate(milvus_proxy_search_vectors_count{m}[{RATE}]))", "searched"),
                        Target(f"sum(rate(milvus_proxy_insert_vectors_count{m}[{RATE}]))", "inserted"),
                    ),
                    unit="short",
                ),
            ),
        ),
        Row(
            "Data",
            (
                Panel(
                    "Entities loaded by collection",
                    (Target(f"sum by (collection_id) (milvus_querynode_entity_num{m})", "{{collection_id}}"),),
                ),
                Panel(
                    "Segments loaded by state",
                    (Target(f"sum by (segment_state) (milvus_querynode_segment_num{m})", "{{segment_state}}"),),
                ),
                Panel(
                    "Collections",
                    (Target(f"max(milvus_rootcoord_collection_num{m})", "collections"),),
                    kind="stat",
                ),
            ),
        ),
        Row(
            "Query nodes",
            (
                Panel(
                    "Memory working set vs limit",
                    (
                        Target(f"sum by (pod) (container_memory_working_set_bytes{qn})", "{{pod}} used"),
                        Target(
                            "max by (pod) (kube_pod_container_resource_limits"
                            f"{_querynode_pods(ctx, resource='memory')})",
                            "{{pod}} limit",
                        ),
                    ),
                    unit="bytes",
                ),
                Panel(
                    "Local disk vs ephemeral-storage limit",
                    (
                        Target(f"max by (pod) (milvus_querynode_disk_used_size{m}) * {MIB}", "{{pod}} used"),
                        Target(
                            "max by (pod) (kube_pod_container_resource_limits"
                            f"{_querynode_pods(ctx, resource='ephemeral_storage')})",
                            "{{pod}} limit",
                        ),
                    ),
                    unit="bytes",
                ),
                Panel(
                    "Ready read tasks queued",
                    (Target(f"max by (pod) (milvus_querynode_read_task_ready_len{m})", "{{pod}}"),),
                ),
                Panel(
                    "Time-tick lag (data freshness)",
                    (Target(f"max by (pod) (milvus_querynode_consume_tt_lag_ms{m})", "{{pod}}"),),
                    unit="ms",
                ),
            ),
        ),
        Row(
            "Resource groups",
            (
                Panel(
                    "Query nodes per resource group",
                    (
                        Target(
                            f"count by (rg) (milvus_querycoord_resource_group_info"
                            f"{_milvus(ctx, rg__re='$resource_group')})",
                            "{{rg}}",
                        ),
                    ),
                ),
                Panel(
                    "Query-node memory per resource group",
                    (
                        Target(
                            _per_resource_group(
                                f"sum by (namespace, pod) (container_memory_working_set_bytes{qn})", rg_pods
                            ),
                            "{{resource_group}}",
                        ),
                    ),
                    unit="bytes",
                    description=f"Needs kube-state-metrics to export the pod label {RESOURCE_GROUP_POD_LABEL}.",
                ),
                Panel(
                    "Search queue latency p99 per resource group",
                    (
                        Target(
                            "histogram_quantile(0.99, sum by (le, rg) (rate(milvus_querynode_sq_queue_latency_bucket"
                            f"{_milvus(ctx, rg__re='$resource_group')}[{RATE}])))",
                            "{{rg}}",
                        ),
                    ),
                    unit="ms",
                ),
            ),
        ),
    )


# ---- capacity ------------------------------------------------------------------------------------------------


def _planned_memory(planned: Mapping[str, int]) -> str:
    vectors = [
        f'label_replace(vector({bytes_}), "resource_group", "{group or DEFAULT_RESOURCE_GROUP}", "", "")'
        for group, bytes_ in sorted(planned.items())
    ]
    return " or ".join(vectors) if vectors else "vector(0)"


def capacity_rows(ctx: RuleContext, planned: Mapping[str, int]) -> tuple[Row, ...]:
    qn = selector(
        namespace=ctx.milvus_namespace,
        pod__re=f"{regex_literal(milvus_fullname(ctx.release))}-querynode-.*",
        container="querynode",
    )
    qn_limits = selector(
        namespace=ctx.milvus_namespace,
        pod__re=f"{regex_literal(milvus_fullname(ctx.release))}-querynode-.*",
        container="querynode",
        resource="memory",
    )
    pod_labels = selector(namespace=ctx.milvus_namespace)
    used = _per_resource_group(f"sum by (namespace, pod) (container_memory_working_set_bytes{qn})", pod_labels)
    limits = _per_resource_group(f"max by (namespace, pod) (kube_pod_container_resource_limits{qn_limits})", pod_labels)
    planned_expr = _planned_memory(planned)
    quota_ns = "|".join(regex_literal(n) for n in sorted({ctx.milvus_namespace, ctx.monitoring_namespace}))
    quota_keys = "namespace, resource"
    quota = (
        f"max by ({quota_keys}) (kube_resourcequota{selector(namespace__re=quota_ns, type='used')})\n"
        f"/ on ({quota_keys})\n"
        f"(max by ({quota_keys}) (kube_resourcequota{selector(namespace__re=quota_ns, type='hard')}) > 0)"
    )
    node_pool = f"max by (node, {NODEGROUP}) (kube_node_labels{selector(**{f'{NODEGROUP}__ne': ''})})"

    def per_pool(per_node: str) -> str:
        return f"sum by ({NODEGROUP}) ({per_node} * on (node) group_left ({NODEGROUP}) {node_pool})"

    def pool_panel(resource: str, unit: str) -> Panel:
        requests = f"sum by (node) (kube_pod_container_resource_requests{selector(resource=resource)})"
        allocatable = f"sum by (node) (kube_node_status_allocatable{selector(resource=resource)})"
        return Panel(
            f"{resource.capitalize()} requested vs allocatable per node pool",
            (
                Target(per_pool(requests), f"{{{{{NODEGROUP}}}}} requested"),
                Target(per_pool(allocatable), f"{{{{{NODEGROUP}}}}} allocatable"),
            ),
            unit=unit,
            description=f"Needs kube-state-metrics `--metric-labels-allowlist={KSM_NODEGROUP_ALLOWLIST_ENTRY}`.",
        )

    return (
        Row(
            "Query-node memory: plan vs actual",
            (
                Panel(
                    "Planned loading memory vs working set vs limits per resource group",
                    (
                        Target(planned_expr, "{{resource_group}} planned"),
                        Target(used, "{{resource_group}} used"),
                        Target(limits, "{{resource_group}} limits"),
                    ),
                    unit="bytes",
                ),
                Panel(
                    "Working set as a share of the plan",
                    (Target(f"({used})\n/ on (resource_group)\n({planned_expr})", "{{resource_group}}"),),
                    unit="percentunit",
                    kind="bargauge",
                ),
            ),
        ),
        Row(
            "Namespace quotas",
            (
                Panel(
                    "ResourceQuota used / hard",
                    (Target(quota, "{{namespace}} {{resource}}"),),
                    unit="percentunit",
                    kind="bargauge",
                ),
            ),
        ),
        Row(
            "Node pools",
            (
                Panel(
                    "Nodes per node pool",
                    (Target(f"count by ({NODEGROUP}) ({node_pool})", f"{{{{{NODEGROUP}}}}}"),),
                ),
                pool_panel("memory", "bytes"),
                pool_panel("cpu", "short"),
            ),
        ),
    )


# ---- JSON model ----------------------------------------------------------------------------------------------


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": t.expr, "legendFormat": t.legend}
            for i, t in enumerate(panel.targets)
        ],
    }


def _layout(rows: Sequence[Row]) -> list[dict]:
    """Rows full width, two panels side by side below each; ids and positions follow reading order."""
    panels: list[dict] = []
    y = 0
    next_id = 1
    for row in rows:
        panels.append(
            {"id": next_id, "type": "row", "title": row.title, "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )
        next_id += 1
        y += 1
        for i, panel in enumerate(row.panels):
            panels.append(_panel_json(panel, next_id, 12 * (i % 2), y + 8 * (i // 2)))
            next_id += 1
        y += 8 * ((len(row.panels) + 1) // 2)
    return panels


def _datasource_variable() -> dict:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1}


def _query_variable(name: str, label: str, query: str, default: str, include_all: bool = False) -> dict:
    variable = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-query"},
        "definition": query,
        "current": {"text": default, "value": default},
        "refresh": 2,
        "hide": 0,
        "multi": include_all,
        "includeAll": include_all,
        "sort": 1,
    }
    if include_all:
        # A regex that also matches series without the label, so "All" includes the unlabelled default group.
        variable["allValue"] = ".*"
    return variable


def _dashboard(uid: str, title: str, variables: list[dict], rows: Sequence[Row]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["milvus", "milvus-eks"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "annotations": {"list": []},
        "templating": {"list": variables},
        "panels": _layout(rows),
    }


def render_overview(ctx: RuleContext) -> dict:
    """Traffic, latency, data, per-query-node and per-resource-group health of one Milvus release."""
    instance = target_label_name("app.kubernetes.io/instance")
    variables = [
        _datasource_variable(),
        _query_variable(
            "namespace", "Namespace", f'label_values(milvus_proxy_req_count{{{instance}="{ctx.release}"}}, namespace)',
            ctx.milvus_namespace,
        ),
        _query_variable(
            "resource_group", "Resource group",
            'label_values(milvus_querycoord_resource_group_info{namespace="$namespace"}, rg)', "$__all",
            include_all=True,
        ),
    ]
    return _dashboard(f"milvus-overview-{ctx.release}"[:40], f"Milvus overview ({ctx.release})", variables,
                      overview_rows(ctx))


def render_capacity(ctx: RuleContext, planned: Mapping[str, int]) -> dict:
    """Planned vs actual query-node memory per resource group, namespace quotas and node-pool usage."""
    return _dashboard(f"milvus-capacity-{ctx.release}"[:40], f"Milvus capacity ({ctx.release})",
                      [_datasource_variable()], capacity_rows(ctx, planned))
