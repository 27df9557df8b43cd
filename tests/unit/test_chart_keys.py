"""The committed chart key lists and the checker that uses them to catch misspelt Helm values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from render.chart_keys import format_path, load_key_paths, parse_path, unknown_keys
from stacks import versions

DATA = Path(__file__).resolve().parents[2] / "render" / "data"
MILVUS_KEYS = DATA / "milvus_chart_keys.txt"
KPS_KEYS = DATA / "kube_prometheus_stack_keys.txt"


@pytest.fixture(scope="module")
def milvus():
    return load_key_paths(MILVUS_KEYS)


@pytest.fixture(scope="module")
def kps():
    return load_key_paths(KPS_KEYS)


def milvus_cluster_values() -> dict:
    """Shaped like the values the MilvusCluster component renders: every block it is expected to set."""
    placement = {
        "nodeSelector": {"milvus-eks/role": "querynode"},
        "tolerations": [{"key": "milvus-eks/role", "operator": "Equal", "value": "querynode", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone"}],
    }
    return {
        "cluster": {"enabled": True},
        "image": {"all": {"repository": "milvusdb/milvus", "tag": "v2.6.15"}},
        "replicaResourceGroups": ["rg1", "rg2"],
        "serviceAccount": {
            "create": True,
            "name": "milvus",
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/milvus"},
        },
        "service": {
            "type": "LoadBalancer",
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "mon"}}},
        "extraConfigFiles": {"user.yaml": "common:\n  security:\n    authorizationEnabled: true\n"},
        "mixCoordinator": {"replicas": 2, "activeStandby": {"enabled": True}, "strategy": {"type": "RollingUpdate"}},
        "proxy": {"replicas": 2, "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}, **placement},
        "queryNode": {
            "replicas": 3,
            "disk": {"enabled": True, "size": {"enabled": True}},
            "resources": {"limits": {"memory": "64Gi", "ephemeral-storage": "800Gi"}},
            "annotations": {"example.com/owner": "search"},
            **placement,
        },
        "dataNode": {"replicas": 2, "extraEnv": [{"name": "GOGC", "value": "100"}]},
        "streamingNode": {"replicas": 2, **placement},
        "indexNode": {"enabled": False},
        "streaming": {"enabled": True, "woodpecker": {"embedded": True, "storage": {"type": "minio"}}},
        "woodpecker": {"enabled": False},
        "pulsarv3": {"enabled": False},
        "kafka": {"enabled": False},
        "minio": {"enabled": False},
        "externalS3": {
            "enabled": True,
            "host": "s3.eu-west-1.amazonaws.com",
            "port": 443,
            "useSSL": True,
            "bucketName": "milvus-data",
            "rootPath": "milvus",
            "useIAM": True,
            "cloudProvider": "aws",
            "region": "eu-west-1",
        },
        "etcd": {
            "replicaCount": 3,
            "persistence": {"enabled": True, "storageClass": "gp3", "size": "20Gi"},
            "resources": {"requests": {"cpu": "500m"}},
            "autoCompactionMode": "revision",
            "autoCompactionRetention": "1000",
            "extraEnvVars": [{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": "8589934592"}],
            "pdb": {"create": True, "minAvailable": 2},
            "nodeSelector": {"milvus-eks/role": "system"},
            "metrics": {"enabled": True, "podMonitor": {"enabled": True, "namespace": "milvus"}},
        },
    }


def test_known_good_milvus_values_pass(milvus):
    assert unknown_keys(milvus_cluster_values(), milvus) == []


def test_misspelt_milvus_key_is_reported(milvus):
    values = milvus_cluster_values()
    values["queryNode"]["dsik"] = {"enabled": True}
    assert unknown_keys(values, milvus) == ["queryNode.dsik.enabled"]


def test_every_leaf_below_an_unknown_key_is_reported(milvus):
    values = {"queryNode": {"dsik": {"enabled": True, "size": {"enabled": True}}}, "clutser": {"enabled": True}}
    assert unknown_keys(values, milvus) == ["queryNode.dsik.enabled", "queryNode.dsik.size.enabled", "clutser.enabled"]


def test_readme_woodpecker_path_is_not_a_chart_key(milvus):
    # The chart README names streamingNode.woodpecker.*; the templates read streaming.woodpecker.*.
    values = {"streamingNode": {"woodpecker": {"embedded": False}}}
    assert unknown_keys(values, milvus) == ["streamingNode.woodpecker.embedded"]


def test_subchart_keys_are_checked_not_just_opened(milvus):
    values = {"etcd": {"replicaCont": 3, "persistence": {"sise": "10Gi"}}}
    assert unknown_keys(values, milvus) == ["etcd.replicaCont", "etcd.persistence.sise"]


def test_a_map_under_a_scalar_key_is_reported(milvus):
    assert unknown_keys({"cluster": {"enabled": {"really": True}}}, milvus) == ["cluster.enabled.really"]


def test_template_only_keys_are_allowed(milvus):
    # Read by the templates but absent from values.yaml (streamingnode-deployment.yaml, service.yaml).
    values = {"streamingNode": {"topologySpreadConstraints": [{"maxSkew": 1}]}, "service": {"loadBalancerIP": "x"}}
    assert unknown_keys(values, milvus) == []


def kps_values() -> dict:
    return {
        "prometheus": {
            "prometheusSpec": {
                "replicas": 2,
                "retention": "15d",
                "storageSpec": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "100Gi"}}}}},
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "priorityClassName": "monitoring",
                "nodeSelector": {"milvus-eks/role": "system"},
            }
        },
        "alertmanager": {"alertmanagerSpec": {"replicas": 2, "resources": {"requests": {"memory": "128Mi"}}}},
        "grafana": {
            "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
            "persistence": {"enabled": True, "size": "10Gi"},
            "grafana.ini": {"server": {"root_url": "https://grafana.example.com"}},
        },
        "kube-state-metrics": {"metricLabelsAllowlist": ["pods=[*]"], "resources": {}},
        "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
        "prometheusOperator": {"admissionWebhooks": {"patch": {"resources": {"requests": {"cpu": "10m"}}}}},
    }


def test_known_good_kube_prometheus_stack_values_pass(kps):
    assert unknown_keys(kps_values(), kps) == []


def test_misspelt_kube_prometheus_stack_keys_are_reported(kps):
    values = kps_values()
    values["prometheus"]["prometheusSpec"]["retension"] = "15d"
    values["grafana"]["sidecar"]["dashboard"] = {"enabled": True}
    assert unknown_keys(values, kps) == [
        "prometheus.prometheusSpec.retension",
        "grafana.sidecar.dashboard.enabled",
    ]


def test_headers_name_the_pinned_chart_versions(milvus, kps):
    assert (milvus.chart, milvus.version) == ("milvus", versions.MILVUS_CHART)
    assert "v" + milvus.app_version == versions.MILVUS_IMAGE_TAG
    assert (kps.chart, kps.version) == ("kube-prometheus-stack", versions.KUBE_PROMETHEUS_STACK_CHART)
    for kp in (milvus, kps):
        assert re.fullmatch(r"[0-9a-f]{40}", kp.commit)


def test_quoted_segments_keep_their_dots():
    assert parse_path('grafana."grafana.ini".server') == ("grafana", "grafana.ini", "server")
    assert format_path(("grafana", "grafana.ini", "*")) == 'grafana."grafana.ini".*'
    with pytest.raises(ValueError):
        parse_path('grafana."grafana.ini')


def _write_keys(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text("# chart: demo\n# version: 1.0.0\n# appVersion: 1\n# commit: " + "a" * 40 + "\n" + body)
    return path


def test_list_items_are_checked_only_where_the_key_list_describes_them(tmp_path):
    kp = load_key_paths(_write_keys(tmp_path, "rules.[].host\nrules.[].path\nhosts\n"))
    values = {"rules": [{"host": "a", "pth": "/"}, "plain"], "hosts": [{"anything": 1}]}
    assert unknown_keys(values, kp) == ["rules.[].pth"]


def test_a_key_list_without_its_header_is_rejected(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("# chart: demo\na.b\n")
    with pytest.raises(ValueError, match="appVersion, commit, version"):
        load_key_paths(path)
