"""Grafana dashboards: JSON model shape, variables, layout, planned numbers, golden files; the PromQL tokenizer."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from render.dashboards import (
    KSM_NODEGROUP_ALLOWLIST_ENTRY,
    NODEGROUP,
    ksm_metric_labels_allowlist,
    render_capacity,
    render_overview,
)
from render.metrics_26_only import EXTERNAL_METRICS, MILVUS_26_ONLY
from render.rules import render_rules
from stacks.thresholds import AlertThresholds
from tests.monitoring.example import EXAMPLE_CONTEXT, EXAMPLE_PLANNED_MEMORY
from tests.monitoring.promql import dashboard_exprs, metric_names, substitute_grafana_variables

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "monitoring"
VARIABLES = {"namespace": "milvus", "resource_group": ".*", "__rate_interval": "1m", "datasource": "prom"}


def _dashboards() -> dict[str, dict]:
    return {
        "overview.json": render_overview(EXAMPLE_CONTEXT),
        "capacity.json": render_capacity(EXAMPLE_CONTEXT, EXAMPLE_PLANNED_MEMORY),
    }


@pytest.mark.parametrize("name", ["overview.json", "capacity.json"])
def test_golden_dashboard(name):
    rendered = json.dumps(_dashboards()[name], indent=2, sort_keys=True) + "\n"
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{name} changed: review, then regenerate with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", ["overview.json", "capacity.json"])
def test_dashboard_model_is_well_formed(name):
    dashboard = _dashboards()[name]
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        cover = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & cover, f"panel {panel['title']!r} overlaps another"
        cells |= cover
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))


def test_overview_has_namespace_and_resource_group_variables_used_by_its_queries():
    dashboard = render_overview(EXAMPLE_CONTEXT)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["namespace"]["current"]["value"] == "milvus"
    assert variables["resource_group"]["includeAll"] and variables["resource_group"]["allValue"] == ".*"
    exprs = [e for _, e in dashboard_exprs(dashboard)]
    assert all('namespace="$namespace"' in e for e in exprs)
    assert sum("$resource_group" in e for e in exprs) >= 3
    titles = {title for title, _ in dashboard_exprs(dashboard)}
    for wanted in ("Requests per second by method", "Search / query latency", "Entities loaded by collection",
                   "Segments loaded by state", "Memory working set vs limit", "Local disk vs ephemeral-storage limit",
                   "Time-tick lag (data freshness)", "Query nodes per resource group",
                   "Vectors searched and inserted per second"):
        assert wanted in titles


def test_capacity_carries_the_planned_bytes_per_resource_group():
    exprs = [e for _, e in dashboard_exprs(render_capacity(EXAMPLE_CONTEXT, EXAMPLE_PLANNED_MEMORY))]
    planned = next(e for e in exprs if e.startswith("label_replace(vector("))
    pairs = re.findall(r'vector\((\d+)\), "resource_group", "([^"]+)"', planned)
    assert {group: int(value) for value, group in pairs} == EXAMPLE_PLANNED_MEMORY
    assert any("kube_resourcequota" in e and 'namespace=~"milvus|monitoring"' in e for e in exprs)
    assert any(f"count by ({NODEGROUP})" in e for e in exprs)


def test_capacity_accepts_the_empty_string_for_the_default_group():
    exprs = [e for _, e in dashboard_exprs(render_capacity(EXAMPLE_CONTEXT, {"": 5}))]
    assert 'label_replace(vector(5), "resource_group", "__default_resource_group", "", "")' in exprs


def test_kube_state_metrics_allowlist_names_every_label_the_queries_join_on():
    assert KSM_NODEGROUP_ALLOWLIST_ENTRY == "nodes=[eks.amazonaws.com/nodegroup]"
    assert ksm_metric_labels_allowlist(EXAMPLE_CONTEXT) == (
        "nodes=[eks.amazonaws.com/nodegroup,milvus-eks.io/nvme]",
        "pods=[milvus.io/resource-group]",
    )
    rules = json.dumps(render_rules(AlertThresholds(), EXAMPLE_CONTEXT))
    dashboards = json.dumps(_dashboards())
    assert "label_milvus_eks_io_nvme" in rules
    assert "label_eks_amazonaws_com_nodegroup" in dashboards and "label_milvus_io_resource_group" in dashboards


def test_every_non_milvus_metric_name_is_in_the_external_list():
    exprs = [r["expr"] for g in render_rules(AlertThresholds(), EXAMPLE_CONTEXT)["groups"] for r in g["rules"]]
    exprs += [substitute_grafana_variables(e, VARIABLES) for d in _dashboards().values() for _, e in dashboard_exprs(d)]
    names = set().union(*(metric_names(e) for e in exprs))
    assert names - {n for n in names if n.startswith("milvus_")} == set(EXTERNAL_METRICS)
    assert not set(MILVUS_26_ONLY) & set(EXTERNAL_METRICS)
    assert set(MILVUS_26_ONLY) <= names, "a 2.6-only name that nothing uses any more"


# ---- tokenizer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y",z=~"b{1}|c"}[5m])) > 1000', {"a_bucket"}),
        ("sum(rate(a[5m:1m])) by (le) / ignoring (type) b", {"a", "b"}),
        ('label_replace(vector(1.8e+06), "g", "rg", "", "") or sum(x offset 15m) unless on () y', {"x", "y"}),
        ("max by (node) (k{l=\"a\\\"b\"}) == 1 and on (node) group_left (foo, bar) z", {"k", "z"}),
        ("absent(up{c=\"proxy\"} == 1)", {"up"}),
        ("topk without (a) (3, q) * 1048576 + 0.5", {"q"}),
        ("x:recorded:rate5m > bool 1", {"x:recorded:rate5m"}),
    ],
)
def test_metric_names_tokenizer(expr, names):
    assert metric_names(expr) == names


def test_grafana_variables_are_substituted_longest_first():
    assert substitute_grafana_variables("{n=\"$namespace\"}[$__rate_interval] ${datasource}", VARIABLES) == (
        '{n="milvus"}[1m] prom'
    )
