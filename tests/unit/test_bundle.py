"""The bundle: every object rendered once (charts by the real Helm engine, the program's own), validated, and read by
the capacity chain, the scheduling check, the components and the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from render import bundle as b
from render import charts
from render.validate import validate_objects
from stacks import sizing
from stacks.versions import chart_pin
from stacks.config import StackConfigError
from tests.conftest import ROOT, STACKS, graph_for
from tools.offline import run_program
from tools.plan import _stack_settings

OLD_DEV = ROOT / "tests" / "data" / "stacks" / "Pulumi.dev-3d704d9.yaml"


def bundle_of(stack: str) -> b.Bundle:
    return graph_for(stack).program["bundle"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_of_the_bundle_validates(stack: str):
    bundle = bundle_of(stack)
    settings = graph_for(stack).program["settings"]
    problems = validate_objects([o.obj for o in bundle.objects], settings.cluster.kubernetes_version)
    assert problems == []
    assert {"milvus", "program"} <= set(bundle.counts())


@pytest.mark.parametrize("stack", STACKS)
def test_the_pod_inventory_is_the_rendered_pods(stack: str):
    bundle = bundle_of(stack)
    rendered = {(o.namespace, o.name) for o in bundle.objects
                if o.kind in ("Deployment", "StatefulSet", "DaemonSet") and not o.hook}
    counted = {(w.namespace, w.name) for w in _inventory(bundle)
               if w.kind in ("Deployment", "StatefulSet", "DaemonSet")}
    assert rendered == counted
    querynodes = [o for o in bundle.objects if o.kind == "Deployment" and "querynode" in o.name]
    settings = graph_for(stack).program["settings"]
    plan = graph_for(stack).program["plan"]
    assert len(querynodes) == max(1, len(plan.resource_groups))
    assert all(q.obj["spec"]["replicas"] == plan.query_node_replicas for q in querynodes)
    assert all(q.obj["spec"]["template"]["spec"]["priorityClassName"] for q in querynodes), \
        "the post-renderer ran on the chart's workloads"
    assert settings.milvus.namespace == querynodes[0].namespace


def _inventory(bundle: b.Bundle):
    from render import workloads as wl
    return wl.workloads([o.obj for o in bundle.objects if not o.crd], {})


def test_each_chart_is_rendered_once_per_run(monkeypatch):
    calls = []
    real = charts.render_chart

    def counting(pin, *args, **kwargs):
        calls.append(pin.name)
        return real(pin, *args, **kwargs)

    monkeypatch.setattr(b, "render_chart", counting)
    run_program("dev")
    assert sorted(calls) == ["kube-prometheus-stack", "milvus"]


def test_deploy_time_leaves_are_swapped_and_nothing_else():
    values = {"externalS3": {"bucketName": b.BUCKET, "host": "s3.us-west-2.amazonaws.com"},
              "list": [b.PASSWORD, "x"]}
    filled = b.deploy_time_values(values, {b.BUCKET: "real-bucket", b.PASSWORD: "pw"})
    assert filled == {"externalS3": {"bucketName": "real-bucket", "host": "s3.us-west-2.amazonaws.com"},
                      "list": ["pw", "x"]}
    assert values["externalS3"]["bucketName"] == b.BUCKET


def test_components_register_the_bundle_objects(graph):
    bundle = graph.program["bundle"]
    registered = {(r.inputs.get("kind") or r.type.split(":")[-1], (r.inputs.get("metadata") or {}).get("name"))
                  for r in graph.resources if r.type.startswith("kubernetes:") and r.custom
                  and not r.type.startswith("kubernetes:helm.sh/")}
    own = {(o.kind, o.name) for o in bundle.objects if o.source == b.PROGRAM}
    assert own == registered


def test_a_chart_version_that_is_not_vendored_is_refused(tmp_path: Path):
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "  milvus-eks:milvus:\n", "  milvus-eks:milvus:\n    chartVersion: 5.0.20\n")
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(text)
    with pytest.raises(StackConfigError) as caught:
        run_program(stack)
    assert "milvus.chartVersion" in str(caught.value) and "5.0.20" in str(caught.value)
    assert caught.value.registered == []


def test_the_3d704d9_dev_stack_cannot_roll_or_fit():
    settings = _stack_settings(OLD_DEV)
    report = b.build(settings, sizing.plan(settings)).scheduling
    text = "\n".join(str(p) for p in report.problems)
    assert "querynode" in text
    assert "m6id.xlarge" in text
    assert any("roll" in str(p) for p in report.problems)


def test_a_render_does_not_change_the_next_one():
    """Helm drops the subcharts a render disables from the loaded chart: each render must start from the archive."""
    from tests.unit.test_milvus_values import settings_for

    woodpecker = settings_for("dev")
    b.build(woodpecker, sizing.plan(woodpecker))
    pulsar = settings_for("dev", {"messageQueue": "pulsar"})
    names = {o.name for o in b.build(pulsar, sizing.plan(pulsar)).objects if o.kind == "StatefulSet"}
    assert {"milvus-pulsarv3-bookie", "milvus-pulsarv3-broker", "milvus-pulsarv3-zookeeper"} <= names


def test_kube_prometheus_stack_crds_follow_the_chart(graph):
    """Applied by Pulumi from the file extracted from the vendored archive, so a chart bump upgrades them; Helm
    skips them; kept on delete. The file is exactly the archive's CRDs (regenerate: python -m tools.vendor_crds)."""
    release = graph.one("kubernetes:helm.sh/v3:Release", "monitoring-kps")
    assert release.inputs["skipCrds"] is True
    config = graph.one("kubernetes:yaml/v2:ConfigFile", "monitoring-crds")
    assert config.retain_on_delete and config.urn in release.depends_on
    pin = chart_pin("kube-prometheus-stack", graph.program["settings"].monitoring.chart_version)
    assert config.inputs["file"] == charts.crds_file(pin)
    bundled = graph.program["bundle"].crds("kube-prometheus-stack")
    assert len(bundled) == 10
    assert (ROOT / charts.crds_file(pin)).read_text() == charts.crds_yaml(bundled)
