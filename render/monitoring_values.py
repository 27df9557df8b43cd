"""kube-prometheus-stack values and the monitors that make its Prometheus scrape Milvus and etcd (pure).

Keys checked against kube-prometheus-stack 88.5.3 values.yaml (render/data/kube_prometheus_stack_keys.txt).
"""

from __future__ import annotations

from typing import Any, Mapping

from render.helm_postrender import MONITORING as PRIORITY_CLASS
from render.naming import POOL_LABEL, k8s_labels
from stacks.settings import Settings

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
        "alertmanager": {"alertmanagerSpec": {**place, "resources": r["alertmanager"]}},
        "grafana": {
            **place,
            "resources": r["grafana"],
            "initChownData": {"resources": r["grafanaInitChownData"]},
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
                                     "priorityClassName": PRIORITY_CLASS},
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
