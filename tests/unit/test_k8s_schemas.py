"""Every Kubernetes object the program writes itself passes the real OpenAPI schemas (kubernetes-validate, strict)
of the cluster's Kubernetes version. The objects the vendored charts render are validated in test_validate.py."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils
from packaging.version import Version

from render import milvus_values as mv, monitoring_values as mon
from render.validate import schema_version
from stacks.settings import Settings
from tests.unit.test_milvus_values import settings_for
from tests.conftest import STACKS
from tools.offline import Graph

SKIPPED = {"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"}
# Prometheus Operator custom resources have no schema in kubernetes-validate; test_validate.py checks them against the
# CRDs the vendored kube-prometheus-stack ships, and promtool checks their rules.
# Karpenter's are validated against the vendored CRDs in tests/unit/test_karpenter.py.
CUSTOM_RESOURCE_GROUPS = ("kubernetes:monitoring.coreos.com/", "kubernetes:karpenter.sh/",
                          "kubernetes:karpenter.k8s.aws/")


def _ints(value: Any) -> Any:
    """The recording mock passes inputs through protobuf Struct, where every number is a float; the program sent
    integers (ports, maxUnavailable), so restore them before validating."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _validate(manifest: dict, kubernetes_version: str) -> None:
    kubernetes_validate.validate(manifest, schema_version(kubernetes_version), strict=True)


def _cluster_version(settings: Settings) -> str:
    return settings.cluster.kubernetes_version


def test_schema_version_is_the_clusters_or_the_nearest_newer():
    assert Version(schema_version("1.33")) == Version("1.33.0")
    newest = kv_utils.latest_version()
    assert schema_version(newest) == newest
    assert Version(schema_version("1.24")) >= Version("1.24")
    with pytest.raises(LookupError):
        schema_version("9.99")


def test_every_kubernetes_object_in_the_graph_is_valid(graph: Graph):
    version = settings_for(graph.stack).cluster.kubernetes_version
    objects = [r for r in graph.resources if r.custom and r.type.startswith("kubernetes:") and r.type not in SKIPPED
               and not r.type.startswith(CUSTOM_RESOURCE_GROUPS)]
    assert any(r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" for r in objects)
    kinds = {r.type for r in objects}
    assert {"kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange",
            "kubernetes:scheduling.k8s.io/v1:PriorityClass"} <= kinds
    for resource in objects:
        _validate(_ints(resource.inputs), version)


@pytest.mark.parametrize("stack", STACKS)
def test_pure_manifests_are_valid_with_every_option(stack: str):
    s = settings_for(stack, {"service": {"type": "internalNlb", "allowedNamespaces": ["apps", "batch"],
                                         "allowedCidrs": ["10.0.0.0/8", "192.168.0.0/16"]}})
    version = _cluster_version(s)
    pods = mv.pods_per_component(s, 3, 2, ("rga", "rgb"))
    manifests = [mv.namespace_manifest(s),
                 mv.root_secret_manifest(s.milvus.namespace, s.milvus.release_name, "example-password", "etcd-pw"),
                 mv.load_balancer_service_manifest(s),
                 *mv.pdb_manifests(s.milvus.namespace, s.milvus.release_name, pods),
                 *mv.network_policy_manifests(s),
                 *mon.namespace_manifests(s), *mon.network_policy_manifests(s),
                 mon.receivers_secret_manifest(s.monitoring.namespace, {"oncall": "https://example.invalid/x"})]
    # Milvus NetworkPolicies: default deny, same namespace, etcd clients, proxy clients, egress DNS+namespace,
    # egress HTTPS, topology egress, Milvus metrics, etcd metrics; monitoring: 2 namespaces, 6 policies, 1 secret.
    assert len(manifests) == 3 + sum(1 for n in pods.values() if n > 1) + 9 + 2 + 6 + 1
    for manifest in manifests:
        _validate(manifest, version)


def test_strict_validation_catches_a_misspelt_field():
    pdb = mv.pdb_manifests("milvus", "milvus", {"proxy": 2})[0]
    pdb["spec"]["maxUnavailabel"] = pdb["spec"].pop("maxUnavailable")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(pdb, "1.33")
