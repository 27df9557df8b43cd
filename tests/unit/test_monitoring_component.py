"""The Monitoring component as registered under mocks: chart, monitors that select, rules, dashboards, admin Secret."""

from __future__ import annotations

import json

from components import outputs
from render.chart_keys import load_key_paths, unknown_keys
from render.monitoring_values import (
    DASHBOARD_LABEL, GRAFANA_ADMIN_SECRET, effective_selector, selects)
from render.charts import ROOT
from render.naming import POOL_LABEL
from tools.offline import Graph, read_config, run_program, stack_file

KEYS = load_key_paths("render/data/kube_prometheus_stack_keys.txt")
RELEASE = "kubernetes:helm.sh/v3:Release"


def _kps(graph: Graph):
    return graph.one(RELEASE, "monitoring-kps")


def test_chart_is_pinned_and_placed_on_the_monitoring_pool(graph: Graph):
    release = _kps(graph)
    assert release.inputs["chart"] == "charts/kube-prometheus-stack-88.5.3.tgz"
    assert (ROOT / release.inputs["chart"]).is_file()
    assert "version" not in release.inputs and "repositoryOpts" not in release.inputs
    values = release.inputs["values"]
    pool = "monitoring" if graph.stack == "prod" else "system"
    for path in (values["prometheus"]["prometheusSpec"], values["alertmanager"]["alertmanagerSpec"],
                 values["grafana"], values["kube-state-metrics"], values["prometheusOperator"]):
        assert path["nodeSelector"] == {POOL_LABEL: pool}
    # node-exporter runs everywhere, NVMe pools' taints included
    assert values["prometheus-node-exporter"]["tolerations"] == [{"operator": "Exists"}]


def test_every_key_set_exists_in_the_pinned_chart(graph: Graph):
    assert unknown_keys(_kps(graph).inputs["values"], KEYS) == []


def test_a_misspelt_key_would_be_caught():
    values = {"prometheus": {"prometheusSpec": {"retension": "10d"}}}
    assert unknown_keys(values, KEYS) == ["prometheus.prometheusSpec.retension"]


def test_prod_prometheus_is_ha_with_retention_and_storage(prod_graph: Graph):
    spec = _kps(prod_graph).inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == 2 and spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3" and claim["resources"]["requests"]["storage"] == "200Gi"
    assert _kps(prod_graph).inputs["values"]["grafana"]["persistence"]["enabled"] is True


def test_prometheus_selects_the_milvus_and_etcd_monitors_and_the_rule(graph: Graph):
    values = _kps(graph).inputs["values"]
    monitors = {r.type.rsplit(":", 1)[1]: r for r in graph.resources if "monitoring.coreos.com" in r.type}
    assert set(monitors) == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for kind, selector_kind in (("ServiceMonitor", "serviceMonitor"), ("PodMonitor", "podMonitor"),
                                ("PrometheusRule", "rule")):
        labels = monitors[kind].inputs["metadata"]["labels"]
        assert selects(effective_selector(values, selector_kind), labels), kind
    milvus = monitors["ServiceMonitor"].inputs["spec"]
    assert milvus["selector"]["matchLabels"] == {"app.kubernetes.io/name": "milvus",
                                                 "app.kubernetes.io/instance": "milvus"}
    assert milvus["endpoints"][0]["port"] == "metrics"
    assert monitors["PodMonitor"].inputs["spec"]["podMetricsEndpoints"][0]["port"] == "client"


def test_the_selector_check_can_fail():
    # With the chart defaults, only monitors labelled with the release are picked up.
    defaults = {"prometheus": {"prometheusSpec": {}}}
    assert not selects(effective_selector(defaults, "serviceMonitor"), {"app": "milvus"})
    assert selects(effective_selector(defaults, "serviceMonitor"), {"release": "kube-prometheus-stack"})


def test_rule_is_the_rendered_rule_set(graph: Graph):
    rule = graph.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    names = [r["alert"] for g in rule.inputs["spec"]["groups"] for r in g["rules"]]
    assert "MilvusQueryNodesBelowPlan" in names and "MilvusEtcdDatabaseNearQuota" in names
    assert all(r["annotations"]["runbook_url"].startswith("docs/runbook.md#")
               for g in rule.inputs["spec"]["groups"] for r in g["rules"])


def test_dashboards_carry_the_sidecar_label(graph: Graph):
    maps = [r for r in graph.of_type("kubernetes:core/v1:ConfigMap")
            if r.inputs["metadata"].get("labels", {}).get(DASHBOARD_LABEL[0]) == DASHBOARD_LABEL[1]]
    assert sorted(m.inputs["metadata"]["name"] for m in maps) == ["dashboard-milvus-capacity",
                                                                   "dashboard-milvus-overview"]
    for m in maps:
        (body,) = m.inputs["data"].values()
        assert json.loads(body)["panels"]
    sidecar = _kps(graph).inputs["values"]["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == DASHBOARD_LABEL


def test_grafana_admin_password_is_generated_and_never_plain(graph: Graph):
    values = _kps(graph).inputs["values"]
    assert values["grafana"]["admin"]["existingSecret"] == GRAFANA_ADMIN_SECRET
    password = graph.one("random:index/randomPassword:RandomPassword", "monitoring-grafana-admin").outputs["result"]
    secret = graph.one("kubernetes:core/v1:Secret", "monitoring-grafana-admin")
    assert "stringData" in secret.secret_inputs
    for resource in graph.resources:
        if resource.type.startswith("random:"):
            continue
        plain = {k: v for k, v in resource.inputs.items() if k not in resource.secret_inputs}
        assert password not in json.dumps(plain), f"{resource.type} {resource.name}"
    exported = {k: v for k, v in graph.outputs.items() if k not in graph.secret_outputs}
    assert password not in json.dumps(exported)
    assert graph.outputs[outputs.GRAFANA_ADMIN_SECRET] == f"monitoring/{GRAFANA_ADMIN_SECRET}"


def test_monitoring_can_be_switched_off():
    config = read_config(stack_file("dev"))
    config["milvus-eks:monitoring"] = json.dumps({"enabled": False})
    graph = run_program("dev", config=config)
    assert not [r for r in graph.resources if r.type == "milvus-eks:monitoring:Monitoring"]
    assert outputs.GRAFANA_ADMIN_SECRET not in graph.outputs


def test_kubernetes_workloads_wait_for_nodes_and_storage(graph: Graph):
    """Components' depends_on reach their children: add-ons wait for the node groups, charts for the add-ons."""
    groups = {r.urn for r in graph.of_type("aws:eks/nodeGroup:NodeGroup")}
    addons = {r.inputs["addonName"]: r for r in graph.of_type("aws:eks/addon:Addon")}
    assert groups <= set(addons["coredns"].depends_on)
    for release in graph.of_type(RELEASE):
        assert addons["aws-ebs-csi-driver"].urn in release.depends_on, release.name
