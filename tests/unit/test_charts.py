"""The vendored chart archives and the in-process Helm render (render/charts.py), with the program's own values."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tarfile
from collections import Counter
from pathlib import Path
from types import MappingProxyType

import helm_python as helm
import pytest
import yaml

from render import charts, helm_postrender, milvus_values as mv, monitoring_values as kps
from render.charts import ROOT, ChartRenderError, RenderedObject, render_chart
from render.dashboards import ksm_metric_labels_allowlist
from render.monitoring_objects import rule_context
from render.naming import pool_tolerations
from stacks import sizing, versions
from stacks.errors import ConfigError
from stacks.settings import Settings
from tests.unit.test_milvus_values import settings_for

PLANNED_BUCKET = "planned-bucket"  # as the bundle renders the values with placeholders: the name changes no object


@functools.cache
def milvus_objects(stack: str) -> tuple[RenderedObject, ...]:
    s = settings_for(stack)
    plan = sizing.plan(s)
    values = mv.render_milvus_values(s, query_node_replicas=plan.query_node_replicas,
                                     streaming_node_replicas=plan.streaming_node_replicas,
                                     resource_groups=plan.resource_groups, bucket_name=PLANNED_BUCKET)
    return render_chart(versions.MILVUS, values, release=s.milvus.release_name, namespace=s.milvus.namespace,
                        post_render=helm_postrender.post_render, kubernetes_version=s.cluster.kubernetes_version)


def kps_values(s: Settings) -> dict:
    tolerations = pool_tolerations(s.node_pools[s.pool_for("monitoring")])
    return kps.render_kps_values(s, tolerations, ksm_metric_labels_allowlist(rule_context(s, sizing.plan(s))))


@functools.cache
def kps_objects(stack: str) -> tuple[RenderedObject, ...]:
    s = settings_for(stack)
    return render_chart(versions.KUBE_PROMETHEUS_STACK, kps_values(s), release=kps.RELEASE,
                        namespace=s.monitoring.namespace, post_render=None,
                        kubernetes_version=s.cluster.kubernetes_version)


def _archive_member(archive: Path, name: str) -> dict:
    with tarfile.open(archive) as tar:
        return yaml.safe_load(tar.extractfile(name).read())


# ---------------------------------------------------------------------------------------------- the archives


@pytest.mark.parametrize("pin", versions.CHARTS, ids=lambda p: p.name)
def test_archive_is_the_recorded_bytes_of_the_pinned_version(pin: versions.ChartPin):
    archive = ROOT / pin.archive
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == pin.sha256, \
        f"{pin.archive} changed: re-vendor it as charts/README.md says and record its digest in stacks/versions.py"
    assert helm.digest(archive) == f"sha256:{pin.sha256}"
    chart = _archive_member(archive, f"{pin.name}/Chart.yaml")
    assert (chart["name"], chart["version"]) == (pin.name, pin.version)
    for sub in pin.subcharts:
        assert _archive_member(archive, f"{pin.name}/charts/{sub.name}/Chart.yaml")["version"] == sub.version


@pytest.mark.parametrize("pin", versions.CHARTS, ids=lambda p: p.name)
def test_the_pre_parsed_crds_are_the_archives(pin: versions.ChartPin):
    """The render reads each chart's crds/ folders from the committed JSON instead of parsing the archive's YAML on
    every run: it must hold exactly what the archive holds, parsed as before (regenerate: python -m tools.vendor_crds)."""
    committed = (ROOT / charts.crd_index_file(pin)).read_text()
    fresh = charts.crd_index_from_archive(pin)
    assert committed == charts.crd_index_json(fresh), f"{charts.crd_index_file(pin)} is stale: python -m tools.vendor_crds"
    # What the render gets back from the JSON is what parsing the archive gives (no type lost on the way).
    assert json.loads(committed) == fresh


def test_pre_parsed_crds_from_another_archive_are_refused(tmp_path, monkeypatch):
    """A chart bumped without regenerating its CRD file would render the old chart's CRDs: the render refuses."""
    pin = versions.KUBE_PROMETHEUS_STACK
    index = json.loads((ROOT / charts.crd_index_file(pin)).read_text())
    (tmp_path / "charts").mkdir()
    (tmp_path / charts.crd_index_file(pin)).write_text(json.dumps({**index, "sha256": "0" * 64}))
    monkeypatch.setattr(charts, "ROOT", tmp_path)
    monkeypatch.setattr(charts, "_crd_index", charts._crd_index.__wrapped__)
    with pytest.raises(ChartRenderError) as caught:
        charts._crd_index(pin)
    assert "another archive" in str(caught.value) and "python -m tools.vendor_crds" in str(caught.value)
    (tmp_path / charts.crd_index_file(pin)).unlink()
    with pytest.raises(ChartRenderError, match="is missing"):
        charts._crd_index(pin)


@pytest.mark.parametrize("pin", versions.CHARTS, ids=lambda p: p.name)
def test_every_declared_dependency_is_in_the_archive(pin: versions.ChartPin):
    chart = charts.load_chart(pin)
    declared = {d["name"] for d in chart.metadata.get("dependencies") or ()}
    loaded = {d["name"] for d in chart.dependencies}
    assert declared <= loaded, "Helm refuses to install a chart with a declared dependency missing"
    # Milvus and kube-prometheus-stack declare subcharts; Karpenter's two charts declare none.
    assert bool(declared) is (pin not in (versions.KARPENTER, versions.KARPENTER_CRD))


def test_milvus_pin_is_the_release_the_image_tag_names():
    assert _archive_member(ROOT / versions.MILVUS.archive, "milvus/Chart.yaml")["appVersion"] == \
        versions.MILVUS_IMAGE_TAG.removeprefix("v")


def test_readme_lists_every_archive_with_its_digest():
    readme = (ROOT / "charts" / "README.md").read_text()
    for pin in versions.CHARTS:
        assert pin.archive.removeprefix("charts/") in readme and pin.sha256 in readme and pin.source.commit in readme
    assert sorted(p.name for p in (ROOT / "charts").glob("*.tgz")) == \
        sorted(Path(p.archive).name for p in versions.CHARTS), "every vendored archive has a pin and vice versa"


def test_a_chart_version_that_is_not_vendored_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        settings_for("dev", {"chartVersion": "5.0.20"})
    assert "milvus.chartVersion" in str(caught.value) and "not vendored" in str(caught.value)


# ---------------------------------------------------------------------------------------------- the render


def _component(obj: RenderedObject) -> str:
    return obj.obj["spec"]["template"]["metadata"]["labels"].get("component", "")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_milvus_renders_every_component_and_etcd(stack: str):
    objects = milvus_objects(stack)
    s = settings_for(stack)
    plan = sizing.plan(s)
    deployments = [o for o in objects if o.kind == "Deployment"]
    assert {_component(o) for o in deployments} == {"mixcoord", "proxy", "querynode", "datanode", "streamingnode"}
    groups = max(len(plan.resource_groups), 1)
    per_component = Counter(_component(o) for o in deployments)
    assert per_component["querynode"] == per_component["streamingnode"] == groups
    query = [o for o in deployments if _component(o) == "querynode"]
    assert [o.obj["spec"]["replicas"] for o in query] == [plan.query_node_replicas] * groups
    etcd = [o for o in objects if o.kind == "StatefulSet"]
    assert [o.source.chart for o in etcd] == ["etcd"]
    assert etcd[0].obj["spec"]["replicas"] == s.milvus.etcd.replicas
    assert all(o.namespace in (None, s.milvus.namespace) for o in objects)
    assert not [o for o in objects if o.crd], "Pulsar's bundled kube-prometheus-stack CRDs are not installed"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kube_prometheus_stack_renders_with_the_programs_values(stack: str):
    objects = kps_objects(stack)
    kinds = Counter(o.kind for o in objects if not o.hook)
    assert {"Prometheus", "Alertmanager", "ServiceMonitor", "PrometheusRule", "DaemonSet"} <= set(kinds)
    assert kinds["Deployment"] == 3  # operator, grafana, kube-state-metrics
    crds = {o.obj["spec"]["names"]["kind"] for o in objects if o.crd}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Prometheus", "Alertmanager"} <= crds
    prometheus = next(o for o in objects if o.kind == "Prometheus")
    assert prometheus.obj["spec"]["replicas"] == settings_for(stack).monitoring.prometheus_replicas
    # The admission-webhook certificate Jobs are Helm hooks: Pulumi's Release runs them, they are not post-rendered.
    assert {o.kind for o in objects if o.hook} >= {"Job"}


def test_rendered_objects_are_frozen():
    obj = milvus_objects("dev")[0].obj
    assert isinstance(obj, MappingProxyType)
    with pytest.raises(TypeError):
        obj["kind"] = "Other"  # type: ignore[index]
    assert charts.thaw(obj) == charts.thaw(milvus_objects("dev")[0].obj)


def test_post_renderer_sets_the_class_on_every_milvus_workload():
    workloads = [o for o in milvus_objects("dev") if o.kind in helm_postrender.WORKLOAD_KINDS]
    assert workloads and not any(o.hook for o in workloads)
    for o in workloads:
        labels = dict(o.obj["spec"]["template"]["metadata"]["labels"])
        klass = o.obj["spec"]["template"]["spec"]["priorityClassName"]
        assert klass == (helm_postrender.priority_for(labels) if o.source.chart == "milvus"
                         else helm_postrender.SUBCHART_PRIORITY), o.name
    # The chart's own components have no priorityClassName key: without the post-renderer they have no class.
    s = settings_for("dev")
    plan = sizing.plan(s)
    values = mv.render_milvus_values(s, query_node_replicas=plan.query_node_replicas,
                                     streaming_node_replicas=plan.streaming_node_replicas,
                                     resource_groups=plan.resource_groups, bucket_name=PLANNED_BUCKET)
    bare = render_chart(versions.MILVUS, values, release="milvus", namespace="milvus", post_render=None)
    assert not [o for o in bare if o.kind == "Deployment" and "priorityClassName" in o.obj["spec"]["template"]["spec"]]


def _probe_chart(tmp_path: Path, templates: dict[str, str]) -> versions.ChartPin:
    folder = tmp_path / "probe"
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    for name, text in templates.items():
        (folder / "templates" / name).write_text(text)
    archive = helm.package(folder, destination=tmp_path)
    # An absolute archive path: ROOT / absolute is the absolute path itself.
    pin = versions.ChartPin("probe", "0.1.0", archive, "", versions.ChartSource("", "", ""))
    charts.write_crd_index(pin)  # as tools.vendor_crds does for a vendored chart
    return pin


JOB = """apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  {annotations}
spec:
  template:
    metadata: {{labels: {{app.kubernetes.io/name: milvus, component: proxy}}}}
    spec: {{restartPolicy: Never, containers: [{{name: c, image: busybox}}]}}
"""


def test_hooks_are_not_post_rendered(tmp_path: Path):
    pin = _probe_chart(tmp_path, {
        "job.yaml": JOB.format(name="plain", annotations=""),
        "hook.yaml": JOB.format(name="hook", annotations='annotations: {"helm.sh/hook": post-install}'),
        "empty.yaml": "---\n# nothing\n---\n",
        "NOTES.txt": "not an object",
    })
    objects = {o.name: o for o in render_chart(pin, {}, release="r", namespace="n",
                                               post_render=helm_postrender.post_render)}
    assert set(objects) == {"plain", "hook"}
    assert objects["hook"].hook and not objects["plain"].hook
    assert objects["plain"].obj["spec"]["template"]["spec"]["priorityClassName"] == helm_postrender.SERVING
    assert "priorityClassName" not in objects["hook"].obj["spec"]["template"]["spec"]
    assert objects["plain"].source == charts.Source("probe", "probe/templates/job.yaml")


def test_helm_errors_name_the_chart_and_the_cause():
    values = {"grafana": {"operator": {"dashboardsConfigMapRefEnabled": True}}}
    with pytest.raises(ChartRenderError) as caught:
        render_chart(versions.KUBE_PROMETHEUS_STACK, values, release="kps", namespace="monitoring", post_render=None)
    message = str(caught.value)
    assert "chart:kube-prometheus-stack-88.5.3" in message
    assert "grafana.operator.matchLabels must be specified" in message
    assert "Traceback" not in message


# ---------------------------------------------------------------------------------------------- capabilities

# Every `.Capabilities.APIVersions.Has` argument in the vendored archives (subcharts included, enabled or not) and
# whether EKS at every version the settings allow (1.28-1.37) serves it with the add-ons this program installs (no
# VPA, not OpenShift). Beta APIs removed long ago (autoscaling/v2beta2 in 1.26, PodSecurityPolicy in 1.25) and
# beta groups new betas keep off by default are not served.
EKS_SERVES = {
    "autoscaling/v2": True, "autoscaling/v2/HorizontalPodAutoscaler": True,
    "discovery.k8s.io/v1/EndpointSlice": True, "networking.k8s.io/v1": True, "networking.k8s.io/v1/Ingress": True,
    "policy/v1": True, "policy/v1/PodDisruptionBudget": True, "rbac.authorization.k8s.io/v1": True,
    "autoscaling.k8s.io/v1": False, "autoscaling.k8s.io/v1/VerticalPodAutoscaler": False,
    "autoscaling/v2beta2/HorizontalPodAutoscaler": False, "batch/v1alpha1": False,
    "networking.k8s.io/v1beta1": False, "policy/v1beta1/PodSecurityPolicy": False,
    "security.openshift.io/v1": False,
}
# Helm's offline set can only be extended: it says yes to this removed beta. Only Pulsar's bundled
# kube-prometheus-stack and grafana ask, in an `else if` after networking.k8s.io/v1 (yes on both), and they are
# disabled (tests above: no Pulsar CRDs are installed).
OFFLINE_ONLY = {"networking.k8s.io/v1beta1"}
# Questions whose answer changes nothing we render: the karpenter chart asks for monitoring.coreos.com/v1 only in
# `and .Values.serviceMonitor.enabled (...)` (templates/servicemonitor.yaml), and the controller values never enable
# its ServiceMonitor (test below).
GATED_OFF = {"monitoring.coreos.com/v1"}
_HAS = re.compile(r'\.Capabilities\.APIVersions\.Has\s+"([^"]+)"')


def _capability_checks(pin: versions.ChartPin) -> set[str]:
    found = set()
    with tarfile.open(ROOT / pin.archive) as tar:
        for member in tar:
            if member.isfile() and "/templates/" in member.name:
                found.update(_HAS.findall(tar.extractfile(member).read().decode()))
    return found


def _probe(tmp_path: Path, checks: list[str], options: dict | None) -> dict[str, str]:
    lines = "".join(f'  k{i}: {{{{ .Capabilities.APIVersions.Has "{c}" | quote }}}}\n' for i, c in enumerate(checks))
    template = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata:\n"
                "  version: {{ .Capabilities.KubeVersion.Version | quote }}\n" + lines)
    pin = _probe_chart(tmp_path, {"cm.yaml": template})
    chart = helm.Chart.load(pin.archive)
    rendered = chart.render(name="probe") if options is None else charts._render(chart, {}, options)
    data = yaml.safe_load(rendered["probe/templates/cm.yaml"])["data"]
    return {"version": data["version"], **{c: data[f"k{i}"] for i, c in enumerate(checks)}}


def test_karpenters_service_monitor_stays_off():
    from render import karpenter as kp

    values = kp.controller_values(settings_for("prod"), "c", "q", [])
    assert not (values.get("serviceMonitor") or {}).get("enabled")
    assert "monitoring.coreos.com/v1" in _capability_checks(versions.KARPENTER)


def test_the_offline_render_answers_capabilities_as_the_cluster_would(tmp_path: Path):
    asked = set().union(*(_capability_checks(pin) for pin in versions.CHARTS)) - GATED_OFF
    assert asked == set(EKS_SERVES), "a vendored template asks a new Capabilities question: classify it here " \
                                     "and extend render.charts.SERVED_EXTRA if EKS serves it"
    checks = sorted(asked)
    # helm-python-sdk's public Chart.render cannot set them: Helm's built-in Kubernetes v1.36.0 and version set.
    default = _probe(tmp_path / "default", checks, None)
    assert default["version"] == "v1.36.0"
    assert default["networking.k8s.io/v1/Ingress"] == "false", "a Milvus Ingress would silently vanish offline"
    ours = _probe(tmp_path / "ours", checks, charts.render_options("probe", "n", "1.33"))
    assert ours["version"] == "v1.33.0"
    for check in checks:
        expected = "true" if EKS_SERVES[check] or check in OFFLINE_ONLY else "false"
        assert ours[check] == expected, check


def test_no_template_asks_about_a_crd_api():
    """Helm lists the APIs of a chart's crds/ in `.Capabilities` (it installs them first); the offline render does not
    need to, because no vendored template asks about any API a vendored CRD serves."""
    crd_groups = {o.obj["spec"]["group"] for o in kps_objects("dev") if o.crd}
    asked = set().union(*(_capability_checks(pin) for pin in versions.CHARTS)) - GATED_OFF
    assert crd_groups and not {a for a in asked if a.split("/")[0] in crd_groups}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_render_does_not_depend_on_the_kubernetes_minor(stack: str):
    """Every KubeVersion comparison in the vendored templates (1.14, 1.20, 1.22, 1.23 in kube-prometheus-stack, <1.21
    in MinIO, etcd's common chart) is decided the same for every minor the settings allow and for Helm's default."""
    s = settings_for(stack)
    newest = render_chart(versions.KUBE_PROMETHEUS_STACK, kps_values(s), release=kps.RELEASE,
                          namespace=s.monitoring.namespace, post_render=None, kubernetes_version="1.37")
    oldest = render_chart(versions.KUBE_PROMETHEUS_STACK, kps_values(s), release=kps.RELEASE,
                          namespace=s.monitoring.namespace, post_render=None, kubernetes_version="1.28")
    assert newest == oldest == kps_objects(stack)
    plan = sizing.plan(s)
    values = mv.render_milvus_values(s, query_node_replicas=plan.query_node_replicas,
                                     streaming_node_replicas=plan.streaming_node_replicas,
                                     resource_groups=plan.resource_groups, bucket_name=PLANNED_BUCKET)
    assert render_chart(versions.MILVUS, values, release=s.milvus.release_name, namespace=s.milvus.namespace,
                        post_render=helm_postrender.post_render, kubernetes_version="1.28") == milvus_objects(stack)


def test_each_render_sees_every_subchart_the_values_enable():
    """Helm drops disabled subcharts from a loaded chart in place: a render after one that disabled Pulsar must still
    render Pulsar when its values enable it (render_chart loads the archive afresh each time)."""
    assert not [o for o in milvus_objects("dev") if o.source.chart.startswith("pulsar")]
    s = settings_for("dev", {"messageQueue": "pulsar"})
    plan = sizing.plan(s)
    values = mv.render_milvus_values(s, query_node_replicas=plan.query_node_replicas,
                                     streaming_node_replicas=plan.streaming_node_replicas,
                                     resource_groups=plan.resource_groups, bucket_name=PLANNED_BUCKET)
    objects = render_chart(versions.MILVUS, values, release="milvus", namespace="milvus",
                           post_render=helm_postrender.post_render)
    pulsar = [o for o in objects if o.source.template.startswith("milvus/charts/pulsarv3/")]
    assert {"StatefulSet", "Job"} <= {o.kind for o in pulsar}
    assert all(o.obj["spec"]["template"]["spec"]["priorityClassName"] == helm_postrender.SUBCHART_PRIORITY
               for o in pulsar if o.kind in helm_postrender.WORKLOAD_KINDS and not o.hook)
