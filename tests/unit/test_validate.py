"""Every object the vendored charts render, and the program's own custom resources, pass the schemas the API server
applies (render/validate.py); a broken object fails with a message naming it."""

from __future__ import annotations

import copy

import pytest
from packaging.version import Version

from render.monitoring_objects import prometheus_rule_manifest, rule_context
from render import validate
from render.charts import RenderedObject, thaw
from render.monitoring_values import etcd_pod_monitor, milvus_service_monitor
from render.rules import render_rules
from stacks import sizing
from tests.unit.test_charts import kps_objects, milvus_objects
from tests.unit.test_milvus_values import settings_for


def own_custom_resources(stack: str) -> list[dict]:
    s = settings_for(stack)
    ctx = rule_context(s, sizing.plan(s))
    return [milvus_service_monitor(s), etcd_pod_monitor(s),
            prometheus_rule_manifest(s.monitoring.namespace, render_rules(s.monitoring.alerts, ctx))]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_object_and_our_custom_resources_are_valid(stack: str):
    objects = [*milvus_objects(stack), *kps_objects(stack), *own_custom_resources(stack)]
    kinds = {o.kind if isinstance(o, RenderedObject) else o["kind"] for o in objects}
    # Built-in kinds and custom resources of every Prometheus Operator kind the stack creates are all checked.
    assert {"Deployment", "StatefulSet", "DaemonSet", "CustomResourceDefinition", "ServiceMonitor", "PodMonitor",
            "PrometheusRule", "Prometheus", "Alertmanager"} <= kinds
    assert validate.validate_objects(objects, settings_for(stack).cluster.kubernetes_version) == []


def test_schema_version_is_the_clusters_minor_for_every_allowed_version():
    # stacks/settings.py allows 1.28-1.37; kubernetes-validate 1.37.0 ships 1.25-1.37.
    for minor in range(28, 38):
        assert Version(validate.schema_version(f"1.{minor}")) == Version(f"1.{minor}.0")
    assert Version(validate.schema_version("1.24")) == Version("1.25.0")  # nearest newer
    with pytest.raises(LookupError):
        validate.schema_version("1.99")


def _first(objects, kind: str) -> dict:
    return thaw(next(o.obj for o in objects if o.kind == kind))


def _crds() -> list[RenderedObject]:
    return [o for o in kps_objects("dev") if o.crd]


def test_wrong_type_and_unknown_field_in_a_built_in_kind_fail_naming_the_object():
    deployment = _first(milvus_objects("dev"), "Deployment")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "three"
    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    problems = validate.validate_objects([wrong_type, unknown, deployment], "1.33")
    name = deployment["metadata"]["name"]
    assert len(problems) == 2
    assert problems[0].startswith(f"Deployment milvus/{name} (apps/v1): spec.replicas:") and "'three'" in problems[0]
    assert f"Deployment milvus/{name}" in problems[1] and "resourcez" in problems[1]


def test_wrong_type_and_unknown_field_in_a_custom_resource_fail_against_its_crd():
    monitor = milvus_service_monitor(settings_for("dev"))
    wrong_type = copy.deepcopy(monitor)
    wrong_type["spec"]["endpoints"][0]["interval"] = 30
    unknown = copy.deepcopy(monitor)
    unknown["spec"]["endpoints"][0]["intervall"] = "30s"
    prometheus = _first(kps_objects("dev"), "Prometheus")
    prometheus["spec"]["replicas"] = "two"
    problems = validate.validate_objects([wrong_type, unknown, prometheus, monitor, *_crds()], "1.33")
    name = f"ServiceMonitor {monitor['metadata']['namespace']}/{monitor['metadata']['name']}"
    assert len(problems) == 3
    assert problems[0].startswith(f"{name} (monitoring.coreos.com/v1): spec.endpoints.0.interval:")
    assert problems[1].startswith(name) and "intervall" in problems[1]
    assert problems[2].startswith("Prometheus monitoring/kps-prometheus") and "'two'" in problems[2]


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {"type": "object", "properties": {
                     "port": {"x-kubernetes-int-or-string": True,
                              "anyOf": [{"type": "integer"}, {"type": "string"}]},
                     "note": {"type": "string", "nullable": True},
                     "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                     "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                  "properties": {"spec": {"type": "object"}}},
                 }}}}}}]},
}


def _widget(**spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
            "spec": spec}


def test_crd_extensions_are_honoured():
    """int-or-string, nullable, preserve-unknown-fields and embedded resources accept what the API server accepts
    (the vendored CRDs use int-or-string, e.g. ServiceMonitor targetPort, and preserve-unknown-fields)."""
    monitor = milvus_service_monitor(settings_for("dev"))
    as_number, as_name = copy.deepcopy(monitor), copy.deepcopy(monitor)
    as_number["spec"]["endpoints"][0]["targetPort"] = 9091
    as_name["spec"]["endpoints"][0]["targetPort"] = "metrics"
    assert validate.validate_objects([as_number, as_name, *_crds()], "1.33") == []
    as_number["spec"]["endpoints"][0]["targetPort"] = 1.5
    assert len(validate.validate_objects([as_number, *_crds()], "1.33")) == 1

    good = [_widget(port=80), _widget(port="http", note=None, free={"any": {"thing": 1}}),
            _widget(template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})]
    assert validate.validate_objects([WIDGET_CRD, *good], "1.33") == []
    bad = [_widget(port=1.5), _widget(note=5), _widget(template={"extra": 1}), _widget(unknown=1)]
    problems = validate.validate_objects([WIDGET_CRD, *bad], "1.33")
    assert [p.split(": ")[1] for p in problems] == ["spec.port", "spec.note", "spec.template", "spec"]


def test_root_metadata_is_object_meta_and_kind_must_be_served():
    monitor = milvus_service_monitor(settings_for("dev"))
    bad_meta = copy.deepcopy(monitor)
    bad_meta["metadata"]["labels"] = {"app": 5}
    unserved = copy.deepcopy(monitor)
    unserved["apiVersion"] = "monitoring.coreos.com/v2"
    problems = validate.validate_objects([bad_meta, unserved, *_crds()], "1.33")
    assert len(problems) == 2
    assert "metadata.labels.app" in problems[0]
    assert "no schema" in problems[1] and "ServiceMonitor" in problems[1]


def test_a_kind_without_schema_is_an_error_not_a_pass():
    monitor = milvus_service_monitor(settings_for("dev"))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}}
    problems = validate.validate_objects([widget, monitor], "1.33")  # no CRDs among the objects
    assert problems == [
        "Widget n/w (example.com/v1): no schema: Widget is neither a built-in kind of Kubernetes 1.33.0 nor defined "
        "by a CustomResourceDefinition among the objects validated",
        f"ServiceMonitor milvus/{monitor['metadata']['name']} (monitoring.coreos.com/v1): no schema: ServiceMonitor "
        "is neither a built-in kind of Kubernetes 1.33.0 nor defined by a CustomResourceDefinition among the objects "
        "validated"]
