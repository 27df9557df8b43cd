"""Alert delivery and the monitoring namespace's security baseline (issue 11, items 3 and 14)."""

from __future__ import annotations

import json

import pytest
import yaml

from render import monitoring_values as mon
from render.chart_keys import load_key_paths, unknown_keys
from stacks.errors import ConfigError
from stacks.settings import SecretText
from tests.conftest import as_engine_config, stack_document
from tests.unit.test_milvus_values import settings_for
from tests.unit.test_milvus_cluster import _strings
from tools.offline import Graph, run_program

KEYS = load_key_paths("render/data/kube_prometheus_stack_keys.txt")
RELEASE = "kubernetes:helm.sh/v3:Release"
SLACK_URL = "https://hooks.slack.example/services/T000/B000/secret-token"
PAGER_KEY = "0123456789abcdef0123456789abcdef"
RECEIVERS = [
    {"name": "oncall", "severities": ["critical"], "pagerduty": {"routingKey": PAGER_KEY}},
    {"name": "team-chat", "severities": ["critical", "warning"], "slack": {"apiUrl": SLACK_URL,
                                                                          "channel": "#milvus"}},
]


def _with_receivers(stack: str, receivers: list) -> dict:
    config = stack_document(stack)
    config["milvus-eks:monitoring"] = {**config.get("milvus-eks:monitoring", {}),
                                       "alerting": {"receivers": receivers}}
    return config


def _settings(receivers: list, stack: str = "prod"):
    from stacks.validation import load_settings
    config = _with_receivers(stack, receivers)
    raw = {k.removeprefix("milvus-eks:"): v for k, v in config.items() if k.startswith("milvus-eks:")}
    return load_settings(raw, config["aws:region"])


@pytest.fixture(scope="module")
def receivers_graph() -> Graph:
    return run_program("prod", as_engine_config(_with_receivers("prod", RECEIVERS)),
                       secret_keys=("milvus-eks:monitoring",))


def test_default_routes_to_a_named_receiver_and_the_plan_says_so():
    s = settings_for("prod")
    config = mon.alertmanager_config(s)
    # 3d704d9 set no alertmanager.config: the chart's default routes everything to its `null` receiver.
    assert config["route"]["receiver"] == mon.UNROUTED
    assert config["receivers"] == [{"name": mon.UNROUTED}]
    assert "reach nobody" in mon.delivery_warning(s)


def test_receivers_get_their_severities_and_read_secrets_from_files():
    s = _settings(RECEIVERS)
    assert mon.delivery_warning(s) is None
    config = mon.alertmanager_config(s)
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["oncall"]["matchers"] == ['severity =~ "critical"'] and routes["oncall"]["continue"] is True
    assert routes["team-chat"]["matchers"] == ['severity =~ "critical|warning"']
    assert routes[mon.UNROUTED]["matchers"] == ['alertname =~ "Watchdog|InfoInhibitor"']
    assert list(routes)[0] == mon.UNROUTED  # before the severity routes, which `continue`
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["oncall"]["pagerduty_configs"] == [
        {"routing_key_file": f"{mon.SECRETS_DIR}/oncall", "send_resolved": True}]
    assert receivers["team-chat"]["slack_configs"] == [
        {"api_url_file": f"{mon.SECRETS_DIR}/team-chat", "send_resolved": True, "channel": "#milvus"}]
    assert not any(SLACK_URL in t or PAGER_KEY in t for t in _strings(config))
    assert mon.receiver_secret_values(s) == {"oncall": PAGER_KEY, "team-chat": SLACK_URL}


def test_ciphertext_from_the_stack_file_is_accepted_offline():
    s = _settings([{"name": "hook", "webhook": {"url": {"secure": "v1:AAAA"}}}])
    assert isinstance(s.monitoring.alerting.receivers[0].webhook.url, SecretText)
    assert mon.receiver_secret_values(s) == {"hook": None}
    (receiver,) = [r for r in mon.alertmanager_config(s)["receivers"] if r["name"] == "hook"]
    assert receiver["webhook_configs"][0]["url_file"] == f"{mon.SECRETS_DIR}/hook"


@pytest.mark.parametrize("receiver, path", [
    ({"name": "x", "slack": {"apiUrl": "u"}, "webhook": {"url": "u"}}, "monitoring.alerting.receivers[0]"),
    ({"name": "x"}, "monitoring.alerting.receivers[0]"),
    ({"name": "unrouted", "webhook": {"url": "u"}}, "monitoring.alerting.receivers[0].name"),
    ({"name": "x", "severities": [], "webhook": {"url": "u"}}, "monitoring.alerting.receivers[0].severities"),
])
def test_bad_receivers_are_refused_naming_the_key(receiver: dict, path: str):
    with pytest.raises(ConfigError) as err:
        _settings([receiver])
    assert err.value.paths() == [path]


def test_a_receiver_secret_in_plain_text_is_refused():
    with pytest.raises(Exception) as err:
        run_program("prod", as_engine_config(_with_receivers("prod", RECEIVERS)))
    assert "pulumi config set --secret --path" in str(err.value)
    assert "monitoring.alerting.receivers[0]" in str(err.value)


def test_receiver_secrets_reach_alertmanager_only_as_a_secret(receivers_graph: Graph):
    values = receivers_graph.one(RELEASE, "monitoring-kps").inputs["values"]
    assert unknown_keys(values, KEYS) == []
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [mon.RECEIVERS_SECRET]
    assert values["alertmanager"]["config"] == mon.alertmanager_config(_settings(RECEIVERS))
    secret = receivers_graph.one("kubernetes:core/v1:Secret", "monitoring-alert-receivers")
    assert secret.inputs["metadata"]["name"] == mon.RECEIVERS_SECRET
    assert "stringData" in secret.secret_inputs
    assert secret.inputs["stringData"] == {"oncall": PAGER_KEY, "team-chat": SLACK_URL}
    for resource in receivers_graph.resources:
        public = {k: v for k, v in resource.inputs.items() if k not in resource.secret_inputs}
        assert not any(SLACK_URL in t or PAGER_KEY in t for t in _strings(public)), resource.name


def test_control_plane_targets_eks_hides_are_off(graph: Graph):
    values = graph.one(RELEASE, "monitoring-kps").inputs["values"]
    # 3d704d9 left them on: KubeControllerManagerDown and KubeSchedulerDown (no targets) and TargetDown for
    # kube-proxy (targets that never answer) fired for ever.
    for target in ("kubeControllerManager", "kubeScheduler", "kubeProxy"):
        assert values[target] == {"enabled": False}
    # etcd's rules stay (they match Milvus' etcd PodMonitor job); its kube-system scrape does not.
    assert values["kubeEtcd"] == {"enabled": True, "service": {"enabled": False},
                                  "serviceMonitor": {"enabled": False}}
    assert unknown_keys(values, KEYS) == []


def test_etcd_rules_match_the_milvus_etcd_pod_monitor_job():
    import re
    s = settings_for("prod")
    monitor = mon.etcd_pod_monitor(s)
    job = f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}"  # prometheus-operator's job label
    assert re.fullmatch(".*etcd.*", job)


def test_monitoring_namespace_enforces_baseline_and_node_exporter_runs_apart(graph: Graph):
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
                  for r in graph.of_type("kubernetes:core/v1:Namespace")}
    # 3d704d9: the monitoring namespace had no Pod Security label.
    assert namespaces["monitoring"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces["monitoring"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert namespaces["monitoring-nodes"]["pod-security.kubernetes.io/enforce"] == "privileged"
    values = graph.one(RELEASE, "monitoring-kps").inputs["values"]
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-nodes"


def test_monitoring_namespace_denies_by_default_and_opens_what_it_uses(graph: Graph):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in
                graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if r.inputs["metadata"]["namespace"] == "monitoring"}
    # 3d704d9: no NetworkPolicy in the monitoring namespace.
    assert policies["default-deny"] == {"policyTypes": ["Ingress", "Egress"], "podSelector": {}}
    scrape = policies["allow-prometheus-scrapes"]["egress"]
    targets = {json.dumps(peer, sort_keys=True): rule["ports"] for rule in scrape for peer in rule["to"]}
    milvus = json.dumps({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "milvus"}},
                         "podSelector": {"matchLabels": {"app.kubernetes.io/name": "milvus",
                                                         "app.kubernetes.io/instance": "milvus"}}}, sort_keys=True)
    assert targets[milvus] == [{"protocol": "TCP", "port": 9091}]
    am = policies["allow-alertmanager-receivers"]
    assert am["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}
    assert am["egress"] == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]
    api = policies["allow-egress-dns-and-api"]["egress"]
    vpc = yaml.safe_load(json.dumps(stack_document(graph.stack)["milvus-eks:network"]))["vpcCidr"]
    assert {"to": [{"ipBlock": {"cidr": vpc}}], "ports": [{"protocol": "TCP", "port": 443}]} in api


def test_every_namespace_the_program_creates_denies_egress_by_default(graph: Graph):
    namespaces = {r.inputs["metadata"]["name"] for r in graph.of_type("kubernetes:core/v1:Namespace")}
    denying = {r.inputs["metadata"]["namespace"] for r in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
               if r.inputs["spec"]["podSelector"] == {} and "Egress" in r.inputs["spec"]["policyTypes"]
               and not r.inputs["spec"].get("egress")}
    # node-exporter's namespace holds only host-network pods, which NetworkPolicy does not govern.
    assert namespaces - denying == {"monitoring-nodes"}


def test_a_monitoring_namespace_too_long_for_its_node_exporter_namespace_is_refused():
    from stacks.validation import load_settings
    config = stack_document("dev")
    raw = {k.removeprefix("milvus-eks:"): v for k, v in config.items() if k.startswith("milvus-eks:")}
    raw["monitoring"] = {**raw.get("monitoring", {}), "namespace": "m" * 58}
    with pytest.raises(ConfigError) as err:
        load_settings(raw, config["aws:region"])
    assert err.value.paths() == ["monitoring.namespace"]
    raw["monitoring"]["namespace"] = "m" * 57
    assert mon.node_exporter_namespace(load_settings(raw, config["aws:region"])) == "m" * 57 + "-nodes"
