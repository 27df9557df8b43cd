"""kube-prometheus-stack values and the monitors that make its Prometheus scrape Milvus and etcd (pure).

Keys checked against kube-prometheus-stack 88.5.3 values.yaml (render/data/kube_prometheus_stack_keys.txt).
"""

from __future__ import annotations

from typing import Any, Mapping

from render.helm_postrender import MONITORING as PRIORITY_CLASS
from render.naming import POOL_LABEL, k8s_labels
from stacks.settings import AlertReceiver, SecretText, Settings

RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = ("grafana_dashboard", "1")

# Requests/limits of every pod the chart runs, so the namespace quota is exact rather than guessed.
DEFAULT_RESOURCES: Mapping[str, dict[str, dict[str, str]]] = {
    "prometheus": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    "alertmanager": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
    "grafana": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    "grafanaSidecar": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
    "kubeStateMetrics": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
    "nodeExporter": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
    "operator": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "300m", "memory": "256Mi"}},
    "configReloader": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    "webhookPatch": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    # Grafana's init-chown-data (runs with persistence; grafana values.yaml initChownData.enabled true).
    "grafanaInitChownData": {"requests": {"cpu": "10m", "memory": "32Mi"},
                             "limits": {"cpu": "100m", "memory": "64Mi"}},
}


# Control-plane scrape targets EKS does not expose to the cluster. No kube-controller-manager or kube-scheduler pods
# exist in kube-system (the managed control plane runs outside the cluster): their Services have no endpoints, and
# KubeControllerManagerDown / KubeSchedulerDown (`absent(up{job=...})`, templates/prometheus/rules-1.14/
# kubernetes-system-{controller-manager,scheduler}.yaml) fire for ever. The EKS kube-proxy add-on binds its metrics
# to 127.0.0.1:10249 on the host network (eksctl-io/eksctl#4081, aws/containers-roadmap#657,
# prometheus-community/helm-charts#977): its targets exist but never answer, so TargetDown
# (general.rules.yaml, `up == 0` for over 10% of a job's targets) fires for ever.
DISABLED_CONTROL_PLANE_TARGETS = ("kubeControllerManager", "kubeScheduler", "kubeProxy")
# kubeEtcd stays enabled for its rules only: they select `job=~".*etcd.*"` (rules-1.14/etcd.yaml), which is Milvus'
# etcd PodMonitor job (`<namespace>/<name>`), and they have no absent() alert. Its Service and ServiceMonitor, which
# would look for control-plane etcd pods in kube-system, are off.
KUBE_ETCD = {"enabled": True, "service": {"enabled": False}, "serviceMonitor": {"enabled": False}}

# Receivers read their secret values from files (Alertmanager's *_file fields), mounted from one Secret by the
# operator at /etc/alertmanager/secrets/<name> (Alertmanager CRD `spec.secrets`, crd-alertmanagers.yaml), so no
# secret is in the Helm values, the release history or the offline plan.
RECEIVERS_SECRET = "alertmanager-receivers"
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
UNROUTED = "unrouted"
"""The receiver alerts go to when no configured receiver takes their severity: no integration, so they stay
visible in Alertmanager's UI and API only."""
# Alertmanager field holding each integration's secret, and its *_file twin (prometheus/alertmanager config/notifiers.go).
_SECRET_FIELDS = {"slack": ("api_url", "api_url_file", "slack_configs"),
                  "pagerduty": ("routing_key", "routing_key_file", "pagerduty_configs"),
                  "webhook": ("url", "url_file", "webhook_configs")}


def _secret_key(receiver: AlertReceiver) -> str:
    return f"{receiver.name}"


def _integration(receiver: AlertReceiver) -> tuple[str, Any]:
    kind = next(k for k in _SECRET_FIELDS if getattr(receiver, k) is not None)
    return kind, getattr(receiver, kind)


def _receiver_config(receiver: AlertReceiver) -> dict[str, Any]:
    kind, integration = _integration(receiver)
    _, file_field, configs = _SECRET_FIELDS[kind]
    config: dict[str, Any] = {file_field: f"{SECRETS_DIR}/{_secret_key(receiver)}", "send_resolved": True}
    if kind == "slack" and integration.channel:
        config["channel"] = integration.channel
    return {"name": receiver.name, configs: [config]}


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    """Routes by severity: each alert goes to every receiver that lists its severity (`continue`), and to
    `unrouted` if none does. Watchdog (always firing, a dead-man's switch for an external pager) and InfoInhibitor go
    to `unrouted` too. Inhibition as the chart's default: a critical alert silences the warning/info of the same
    alert and namespace."""
    a = settings.monitoring.alerting
    routes: list[dict[str, Any]] = [
        {"receiver": UNROUTED, "matchers": ['alertname =~ "Watchdog|InfoInhibitor"']}]
    for receiver in a.receivers:
        routes.append({"receiver": receiver.name, "continue": True,
                       "matchers": [f'severity =~ "{"|".join(receiver.severities)}"']})
    return {
        "global": {"resolve_timeout": "5m"},
        "inhibit_rules": [
            {"source_matchers": ["severity = critical"], "target_matchers": ["severity =~ warning|info"],
             "equal": ["namespace", "alertname"]},
            {"source_matchers": ["severity = warning"], "target_matchers": ["severity = info"],
             "equal": ["namespace", "alertname"]},
        ],
        "route": {"receiver": UNROUTED, "group_by": ["namespace", "alertname"],
                  "group_wait": a.group_wait, "group_interval": a.group_interval,
                  "repeat_interval": a.repeat_interval, "routes": routes},
        "receivers": [{"name": UNROUTED}, *(_receiver_config(r) for r in a.receivers)],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def receiver_secret_values(settings: Settings) -> dict[str, str | None]:
    """Secret key → the receiver's secret value (None when the stack file holds ciphertext the offline plan cannot
    read)."""
    values: dict[str, str | None] = {}
    for receiver in settings.monitoring.alerting.receivers:
        kind, integration = _integration(receiver)
        secret = getattr(integration, _SECRET_FIELDS[kind][0])
        values[_secret_key(receiver)] = None if isinstance(secret, SecretText) else secret
    return values


def receivers_secret_manifest(namespace: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": RECEIVERS_SECRET, "namespace": namespace, "labels": k8s_labels("monitoring")},
            "stringData": dict(values)}


def delivery_warning(settings: Settings) -> str | None:
    if settings.monitoring.enabled and not settings.monitoring.alerting.receivers:
        return ("monitoring.alerting.receivers is empty: alerts are kept in Alertmanager only (UI/API) and reach "
                "nobody; add a slack, pagerduty or webhook receiver")
    return None


def _placement(settings: Settings, tolerations: list[dict[str, str]]) -> dict[str, Any]:
    return {"nodeSelector": {POOL_LABEL: settings.pool_for("monitoring")}, "tolerations": tolerations,
            "priorityClassName": PRIORITY_CLASS}


def render_kps_values(settings: Settings, tolerations: list[dict[str, str]],
                      ksm_label_allowlist: tuple[str, ...]) -> dict[str, Any]:
    """Values for kube-prometheus-stack: monitoring pool placement, storage, selectors that pick up our monitors.

    kube-state-metrics exports Kubernetes labels only when allow-listed; the rules and dashboards join on the ones in
    `ksm_label_allowlist` (render.dashboards.ksm_metric_labels_allowlist).
    """
    m = settings.monitoring
    place = _placement(settings, tolerations)
    r = DEFAULT_RESOURCES
    return {
        "fullnameOverride": "kps",
        "prometheusOperator": {
            **place, "resources": r["operator"],
            "prometheusConfigReloader": {"resources": r["configReloader"]},
            "admissionWebhooks": {"patch": {**place, "resources": r["webhookPatch"]}},
        },
        "prometheus": {"prometheusSpec": {
            **place,
            "replicas": m.prometheus_replicas,
            "retention": m.retention,
            "resources": r["prometheus"],
            # Select every ServiceMonitor/PodMonitor/PrometheusRule, not only this release's: ours live in the Milvus
            # namespace and carry no `release` label by default (milvus-helm issues about empty Grafana dashboards).
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "podAntiAffinity": "hard" if m.prometheus_replicas > 1 else "soft",
            "storageSpec": {"volumeClaimTemplate": {"spec": {
                "storageClassName": "gp3", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{m.storage_gi}Gi"}}}}},
        }},
        "alertmanager": {
            "config": alertmanager_config(settings),
            "alertmanagerSpec": {**place, "resources": r["alertmanager"],
                                 **({"secrets": [RECEIVERS_SECRET]} if m.alerting.receivers else {})},
        },
        **{target: {"enabled": False} for target in DISABLED_CONTROL_PLANE_TARGETS},
        "kubeEtcd": KUBE_ETCD,
        "grafana": {
            **place,
            "resources": r["grafana"],
            "initChownData": {"resources": r["grafanaInitChownData"]},
            # A Role in the monitoring namespace, not a ClusterRole: the sidecars read dashboards and datasources
            # there only (searchNamespace), so Grafana need not read every Secret in the cluster (checkov CKV2_K8S_5).
            "rbac": {"namespaced": True},
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "resources": r["grafanaSidecar"],
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1],
                               "searchNamespace": m.namespace},
            },
            "persistence": {"enabled": m.grafana.persistence, "storageClassName": "gp3",
                            "size": f"{m.grafana.storage_gi}Gi"},
        },
        "kube-state-metrics": {**place, "resources": r["kubeStateMetrics"],
                               "metricLabelsAllowlist": list(ksm_label_allowlist)},
        # The exporter must run on every node, NVMe pools included, whatever their taints (its default tolerates
        # NoSchedule only).
        "prometheus-node-exporter": {"resources": r["nodeExporter"], "tolerations": [{"operator": "Exists"}],
                                     "priorityClassName": PRIORITY_CLASS,
                                     # hostNetwork, hostPID and hostPath mounts: privileged by Pod Security's
                                     # definition, so it runs apart and the monitoring namespace enforces baseline.
                                     "namespaceOverride": node_exporter_namespace(settings)},
    }


def milvus_service_monitor(settings: Settings) -> dict[str, Any]:
    """Scrape every Milvus component's `metrics` port (9091); labels keep the chart's component name."""
    ms = settings.milvus
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": f"{ms.release_name}-milvus", "namespace": ms.namespace,
                     "labels": k8s_labels("monitoring", {"release": RELEASE})},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "milvus",
                                         "app.kubernetes.io/instance": ms.release_name}},
            "namespaceSelector": {"matchNames": [ms.namespace]},
            "targetLabels": ["app.kubernetes.io/name", "app.kubernetes.io/instance", "component"],
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
                           "honorLabels": True}],
        },
    }


def etcd_pod_monitor(settings: Settings) -> dict[str, Any]:
    """etcd serves /metrics on its client port (bitnami etcd chart, templates/podmonitor.yaml)."""
    ms = settings.milvus
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": f"{ms.release_name}-etcd", "namespace": ms.namespace,
                     "labels": k8s_labels("monitoring", {"release": RELEASE})},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "etcd",
                                         "app.kubernetes.io/instance": ms.release_name}},
            "namespaceSelector": {"matchNames": [ms.namespace]},
            "podMetricsEndpoints": [{"port": "client", "path": "/metrics", "interval": "30s"}],
        },
    }


def effective_selector(values: dict[str, Any], kind: str) -> dict[str, Any]:
    """The label selector the chart renders for `kind` (serviceMonitor, podMonitor, rule), following
    templates/prometheus/prometheus.yaml: an explicit selector wins; else NilUsesHelmValues true → the release label;
    else `{}` (everything)."""
    spec = values["prometheus"]["prometheusSpec"]
    explicit = spec.get(f"{kind}Selector")
    if explicit:
        return explicit
    if spec.get(f"{kind}SelectorNilUsesHelmValues", True):
        return {"matchLabels": {"release": RELEASE}}
    return {}


def selects(selector: dict[str, Any], labels: Mapping[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in match.items()) and not selector.get("matchExpressions")


# ---------------------------------------------------------------------------------------------- namespaces, policies

# The operator's admission webhook listens here (values.yaml prometheusOperator.tls.internalPort); its pods carry
# `app: <chart name>-operator` (templates/prometheus-operator/deployment.yaml).
OPERATOR_WEBHOOK_PORT = 10250
OPERATOR_POD = {"app": "kube-prometheus-stack-operator"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
ALERTMANAGER_POD = {"app.kubernetes.io/name": "alertmanager"}
KUBELET_PORT = 10250
NODE_EXPORTER_PORT = 9100
COREDNS_METRICS_PORT = 9153  # values.yaml coreDns.service.port


def node_exporter_namespace(settings: Settings) -> str:
    return f"{settings.monitoring.namespace}-nodes"


def namespace_manifests(settings: Settings) -> list[dict[str, Any]]:
    """The monitoring namespace enforces Pod Security `baseline` (warns and audits `restricted`: Grafana's
    init-chown-data runs as root with CHOWN when persistence is on); node-exporter, which needs the host's network,
    PIDs and filesystems, runs in a namespace of its own that allows it."""
    m = settings.monitoring

    def namespace(name: str, enforce: str, warn: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {
                    **k8s_labels("monitoring"),
                    "pod-security.kubernetes.io/enforce": enforce,
                    "pod-security.kubernetes.io/warn": warn,
                    "pod-security.kubernetes.io/audit": warn}}}

    return [namespace(m.namespace, "baseline", "restricted"),
            namespace(node_exporter_namespace(settings), "privileged", "privileged")]


def network_policy_manifests(settings: Settings) -> list[dict[str, Any]]:
    """Default-deny ingress and egress in the monitoring namespace, then: the namespace to itself, the API server to
    the operator's webhook, every pod to DNS and the API server, Prometheus to what it scrapes, Alertmanager to its
    receivers over HTTPS."""
    from render import milvus_values as mv  # the Milvus side's ports and labels

    m, ms = settings.monitoring, settings.milvus
    vpc = {"ipBlock": {"cidr": settings.network.vpc_cidr}}

    def policy(name: str, spec: dict, types: tuple[str, ...]) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": m.namespace, "labels": k8s_labels("monitoring-network")},
                "spec": {"policyTypes": list(types), **spec}}

    def tcp(*ports: int) -> list[dict]:
        return [{"protocol": "TCP", "port": p} for p in ports]

    milvus_pods = {"app.kubernetes.io/name": mv.CHART_NAME, "app.kubernetes.io/instance": ms.release_name}
    etcd_pods = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": ms.release_name}
    return [
        policy("default-deny", {"podSelector": {}}, ("Ingress", "Egress")),
        policy("allow-same-namespace", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}],
                                        "egress": [{"to": [{"podSelector": {}}]}]}, ("Ingress", "Egress")),
        # The EKS API server reaches webhooks from its network interfaces in the cluster's subnets.
        policy("allow-operator-webhook", {"podSelector": {"matchLabels": OPERATOR_POD},
                                          "ingress": [{"from": [vpc], "ports": tcp(OPERATOR_WEBHOOK_PORT)}]},
               ("Ingress",)),
        # DNS, and the API server (the `kubernetes` Service's endpoints are those interfaces, port 443).
        policy("allow-egress-dns-and-api", {"podSelector": {},
                                            "egress": [{"to": [mv.DNS_PEER], "ports": mv.DNS_PORTS},
                                                       {"to": [vpc], "ports": tcp(443)}]}, ("Egress",)),
        policy("allow-prometheus-scrapes", {"podSelector": {"matchLabels": PROMETHEUS_POD}, "egress": [
            # kubelet/cAdvisor and node-exporter (host network) on the nodes.
            {"to": [vpc], "ports": tcp(KUBELET_PORT, NODE_EXPORTER_PORT)},
            {"to": [mv.from_namespace(ms.namespace, milvus_pods)], "ports": tcp(mv.METRICS_PORT)},
            {"to": [mv.from_namespace(ms.namespace, etcd_pods)], "ports": tcp(mv.ETCD_CLIENT_PORT)},
            {"to": [mv.from_namespace("kube-system", {"k8s-app": "kube-dns"})], "ports": tcp(COREDNS_METRICS_PORT)},
        ]}, ("Egress",)),
        # Slack, PagerDuty and webhooks have no fixed addresses.
        policy("allow-alertmanager-receivers", {"podSelector": {"matchLabels": ALERTMANAGER_POD},
                                                "egress": [{"to": [mv.ANYWHERE], "ports": tcp(443)}]}, ("Egress",)),
    ]
