"""The vendored charts rendered offline by a real Helm engine (pure: no cluster, no network, no Pulumi).

helm-python-sdk embeds Helm's Go SDK (v4, through its C ABI `libhelm_c`) and renders a chart archive the way
`helm template` does: `lookup` returns nothing, and `.Capabilities` are Helm's built-in defaults unless the render
options say otherwise. Those defaults are Kubernetes v1.36.0 (the client-go Helm was built with) and
`chartutil.DefaultVersionSet`: every group/version client-go knows, including betas EKS no longer serves
(policy/v1beta1, batch/v1beta1, ...) and no group/version/Kind entries. A real install instead asks the cluster:
its server version, and every group/version *and* group/version/Kind it serves (helm/helm pkg/action/action.go,
`getCapabilities` and `GetVersionSet`), after creating the chart's crds/ (so their APIs are listed too).

So each render passes the stack's Kubernetes version and, as extra API versions, what that cluster serves beyond the
defaults and the templates ask about. helm-python-sdk 0.2.2's `Chart.render` forwards only name, namespace,
revision, is_install and is_upgrade (helm_python/chart.py, `render`), but the C ABI's render options also decode
`kube_version` and `api_versions` (the same as `helm template --kube-version --api-versions`; it rejects unknown
option keys, and tests/unit/test_charts.py proves both take effect on a probe chart), so `_render` passes them to
`helm_render` directly.

Where the vendored templates branch on `.Capabilities` (tests/unit/test_charts.py lists every `APIVersions.Has`
question in both archives, with EKS's answer, and fails on a new one):
- `KubeVersion`: kube-prometheus-stack rules, dashboards, Prometheus/Alertmanager Services and its kubeVersion helper
  compare against 1.14, 1.20, 1.22 and 1.23; MinIO's helpers against 1.4-1.21; etcd's common chart reads it for its
  own API choices. Every minor the settings allow (1.28-1.37) decides them alike: the test renders both charts at
  1.28, 1.37 and the stack's minor and gets the same objects.
- `APIVersions.Has`: Milvus' Ingress templates ask for "networking.k8s.io/v1/Ingress", a group/version/Kind entry
  only a real cluster lists: offline with Helm's defaults an enabled Ingress would silently render nothing. It and
  the three other such entries EKS serves are in `SERVED_EXTRA`. The rest ask for APIs EKS does not serve unless
  someone installs them (VPA autoscaling.k8s.io/v1, OpenShift security.openshift.io/v1, PodSecurityPolicy,
  autoscaling/v2beta2), which the defaults lack too, or for autoscaling/v2 and policy/v1, which both have.
  No vendored template asks for an API a vendored CRD serves (monitoring.coreos.com/...), so the CRD APIs a real
  install would add are not passed (a test fails if one is asked).
What cannot be modelled: the defaults can only be extended, not trimmed. One removed beta is asked,
networking.k8s.io/v1beta1, only by Pulsar's bundled kube-prometheus-stack and Grafana (disabled here) and only after
networking.k8s.io/v1, which both answer yes.
The engine is Helm v4.2.3 while Pulumi's `helm.v3.Release` installs with the Helm v3 SDK built into
pulumi-kubernetes: same archive, same values, but any behaviour change between the two Helm majors that these
charts hit would show only on the cluster; nothing here compares the two engines.

Hooks (objects annotated `helm.sh/hook`) are not post-rendered: Helm pipes only the release manifest through the
post-renderer and keeps hooks apart (pkg/action/action.go, `renderResources`: `pr.Run(b)` on the manifest buffer;
hooks are returned separately). CRDs from crds/ are installed before the release and not post-rendered either.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native

from stacks.errors import ConfigError, Problem
from stacks.versions import KUBERNETES_VERSION, ChartPin

ROOT = Path(__file__).resolve().parent.parent
HOOK_ANNOTATION = "helm.sh/hook"
# Resources every EKS version the settings allow serves, that Helm's offline version set lacks (it has group/versions
# only) and that a vendored template asks about (tests/unit/test_charts.py keeps this complete).
SERVED_EXTRA = ("networking.k8s.io/v1/Ingress", "autoscaling/v2/HorizontalPodAutoscaler",
                "discovery.k8s.io/v1/EndpointSlice", "policy/v1/PodDisruptionBudget")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as Kubernetes reads it (sigs.k8s.io/yaml: YAML to JSON): PyYAML's YAML 1.1 `=` (value) and timestamp
    types do not exist there, so `- =` in a CRD enum and a date-like label stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()}


class ChartRenderError(ConfigError):
    """Helm refused the chart or the values: names the chart, the release and Helm's own message."""

    def __init__(self, pin: ChartPin, what: str, cause: str):
        super().__init__([Problem(f"chart:{pin.name}-{pin.version}", f"{what}: {cause.strip()}")])


@dataclass(frozen=True)
class Source:
    chart: str
    """The chart that owns the template: the pinned chart or one of its subcharts (`etcd`, `grafana`, ...)."""
    template: str
    """Helm's path of the template, e.g. `milvus/charts/etcd/templates/statefulset.yaml`."""


@dataclass(frozen=True)
class RenderedObject:
    source: Source
    hook: bool
    obj: Mapping[str, Any]
    """The object, deep-frozen (mappings are read-only proxies, lists are tuples); `thaw` gives a plain copy."""
    crd: bool = False
    """A CustomResourceDefinition from a chart's crds/ folder (installed by Helm before the release)."""

    @property
    def kind(self) -> str:
        return self.obj.get("kind", "")

    @property
    def name(self) -> str:
        return (self.obj.get("metadata") or {}).get("name", "")

    @property
    def namespace(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("namespace")


def freeze(value: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is MappingProxyType:
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if kind is list or kind is tuple:
        return tuple([freeze(v) for v in value])
    if isinstance(value, Mapping):
        return freeze(dict(value))
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy (dicts and lists) of a frozen object or values tree."""
    kind = type(value)
    if kind is dict or kind is MappingProxyType:
        return {k: thaw(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return thaw(dict(value))
    return value


@functools.cache
def _archive(pin: ChartPin) -> bytes:
    return (ROOT / pin.archive).read_bytes()


def _load(pin: ChartPin) -> helm.Chart:
    path = ROOT / pin.archive
    try:
        return helm.Chart.load(path) if path.is_dir() else helm.Chart.load_archive(_archive(pin))
    except helm.HelmError as err:
        raise ChartRenderError(pin, f"Helm cannot load {pin.archive}", err.detail) from None


@functools.cache
def load_chart(pin: ChartPin) -> helm.Chart:
    """The pinned archive, loaded once per process for reading (metadata, CRDs). Never render it: Helm's render
    drops the dependencies the values disable from the loaded chart in place (chartutil.ProcessDependencies), so a
    second render of the same object would miss subcharts the first one disabled; `render_chart` loads afresh."""
    return _load(pin)


def _owner(path: str, folder: str) -> str:
    """The chart a file belongs to: the folder before its last `templates/` (or `crds/`) segment."""
    parts = path.split("/")
    index = max(i for i, part in enumerate(parts[:-1]) if part == folder)
    return parts[index - 1]


_SEPARATOR = re.compile(r"^---", re.MULTILINE)
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*")


def _parse_crd_file(data: str) -> list[dict[str, Any]]:
    """Go's parser (sigs.k8s.io/yaml through the SDK) reads YAML exactly as Kubernetes does and is twice as fast as
    libyaml on the 4.5 MB of kube-prometheus-stack CRDs; it reads one document, so files with several go to PyYAML."""
    body = _LEADING_COMMENTS.sub("", data)
    if len(_SEPARATOR.findall(body)) > int(body.startswith("---")):
        return [d for d in yaml.load_all(data, Loader=_Loader) if d]
    document = helm.values_from_yaml(data)
    return [document] if document else []


def _crd_owners_of(chart: helm.Chart) -> list[list[str]]:
    """[path of the chart as Helm's processed chart names it, path as the SDK lists its CRDs] for every chart of the
    archive with a crds/ folder. Helm names an aliased subchart by its alias once processed; the SDK lists CRDs of
    the unprocessed chart, by chart name (Milvus' `pulsar` is installed as `pulsarv3`)."""
    aliases = {d["name"]: d["alias"] for d in chart.metadata.get("dependencies") or () if d.get("alias")}
    owners = []
    for listed in sorted({entry["filename"].rsplit("/crds/", 1)[0] for entry in chart.crds}):
        parts = listed.split("/")
        if len(parts) > 2 and parts[1] == "charts":
            parts[2] = aliases.get(parts[2], parts[2])
        owners.append(["/".join(parts), listed])
    return owners


def crd_index_file(pin: ChartPin) -> str:
    """Where the CRDs of every crds/ folder of `pin` are kept pre-parsed, as JSON: next to the archive
    (`charts/<name>-<version>-crds.json`, relative to the project root).
    CRDs are static files Helm installs as they are (never templated), so parsing them once when the chart is
    vendored gives the same objects as parsing them on every run, which cost the plan ~0.5-1 s of YAML (4.5 MB for
    kube-prometheus-stack) plus loading each archive once more. Written by `python -m tools.vendor_crds`;
    tests/unit/test_charts.py fails while it differs from the archive."""
    return f"{pin.archive.removesuffix('.tgz')}-crds.json"


def crd_index_from_archive(pin: ChartPin) -> dict[str, Any]:
    """The crds/ folders of the pinned archive, parsed: what `crd_index_file` holds."""
    chart = load_chart(pin)
    return {"archive": pin.archive, "sha256": pin.sha256, "owners": _crd_owners_of(chart),
            "files": [{"filename": entry["filename"], "objects": _parse_crd_file(entry["data"])}
                      for entry in chart.crds]}


def crd_index_json(index: Mapping[str, Any]) -> str:
    """One crds/ file per line, keys in the order the chart writes them (a chart bump shows as a line diff)."""
    files = "".join(f"\n{json.dumps(f, separators=(',', ':'), ensure_ascii=False)}," for f in index["files"])
    head = {k: v for k, v in index.items() if k != "files"}
    return f'{json.dumps(head, ensure_ascii=False)[:-1]}, "files": [{files.rstrip(",")}\n]}}\n'


def write_crd_index(pin: ChartPin) -> dict[str, Any]:
    """Parse the archive's crds/ folders and write them to `crd_index_file` (what `python -m tools.vendor_crds`
    runs after a chart is vendored)."""
    index = crd_index_from_archive(pin)
    (ROOT / crd_index_file(pin)).write_text(crd_index_json(index))
    return index


@functools.cache
def _crd_index(pin: ChartPin) -> Mapping[str, Any]:
    path = crd_index_file(pin)
    try:
        index = json.loads((ROOT / path).read_text())
    except FileNotFoundError:
        raise ChartRenderError(pin, f"{path} is missing", "write it with `python -m tools.vendor_crds`") from None
    if index["sha256"] != pin.sha256:
        raise ChartRenderError(pin, f"{path} was parsed from another archive than the pinned {pin.archive}",
                               "regenerate it with `python -m tools.vendor_crds`")
    return index


@functools.cache
def _crds_of(pin: ChartPin, owner: str) -> tuple[RenderedObject, ...]:
    return tuple(RenderedObject(Source(_owner(entry["filename"], "crds"), entry["filename"]), False, freeze(d),
                                crd=True)
                 for entry in _crd_index(pin)["files"] if entry["filename"].rsplit("/crds/", 1)[0] == owner
                 for d in entry["objects"])


def _enabled_crds(pin: ChartPin, files: Mapping[str, str]) -> tuple[RenderedObject, ...]:
    """The CRDs Helm installs: those of the charts the values enable. Helm drops disabled dependencies before it
    installs crds/ (pkg/action/install.go: ProcessDependencies, then CRDObjects), and the engine's output lists every
    template of every enabled chart, rendered empty or not, so a chart is enabled iff it has a template in `files`.
    (Milvus' Pulsar subchart ships its own kube-prometheus-stack with CRDs; disabled, they are not installed.)"""
    enabled = {path.rsplit("/templates/", 1)[0] for path in files}
    return tuple(crd for processed, listed in _crd_index(pin)["owners"] if processed in enabled
                 for crd in _crds_of(pin, listed))


def render_options(release: str, namespace: str, kubernetes_version: str) -> dict[str, Any]:
    """What Helm's install would learn from the cluster (module docstring), as helm_render options."""
    return {"name": release, "namespace": namespace, "is_install": True,
            "kube_version": f"v{kubernetes_version}.0", "api_versions": list(SERVED_EXTRA)}


def _render(chart: helm.Chart, values: Any, options: Mapping[str, Any]) -> dict[str, str]:
    return json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options)))


def render_chart(pin: ChartPin, values: Mapping, *, release: str, namespace: str,
                 post_render: Callable[[dict], dict] | None,
                 kubernetes_version: str = KUBERNETES_VERSION) -> tuple[RenderedObject, ...]:
    """Every object a `helm install` of `pin` with `values` creates: the chart's CRDs first, then each template's
    documents (empty ones skipped) in template-path order, `post_render` applied to the non-hook ones."""
    try:
        with _load(pin) as chart:
            files = _render(chart, thaw(values), render_options(release, namespace, kubernetes_version))
    except TypeError as err:  # json.dumps: a value that is not plain data (e.g. an unresolved pulumi.Output)
        raise ChartRenderError(pin, f"the values of release {release!r} are not plain data", str(err)) from None
    except helm.HelmError as err:
        raise ChartRenderError(pin, f"Helm cannot render release {release!r} in namespace {namespace!r} with the "
                                    f"values the stack file produced", err.detail) from None
    objects = list(_enabled_crds(pin, files))
    for path in sorted(files):
        if path.endswith("NOTES.txt") or path.rsplit("/", 1)[-1].startswith("_"):
            continue  # Helm keeps notes and partials out of the release (action.go renderResources, SortManifests)
        try:
            documents = list(yaml.load_all(files[path], Loader=_Loader))
        except yaml.YAMLError as err:
            raise ChartRenderError(pin, f"template {path} rendered invalid YAML", str(err)) from None
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ChartRenderError(pin, f"template {path} rendered a document that is not an object",
                                       repr(document)[:200])
            hook = HOOK_ANNOTATION in ((document.get("metadata") or {}).get("annotations") or {})
            if post_render is not None and not hook:
                document = post_render(document)
            objects.append(RenderedObject(Source(_owner(path, "templates"), path), hook, freeze(document)))
    return tuple(objects)


def crds_file(pin: ChartPin) -> str:
    """Where the CRDs of `pin` are kept as one YAML file for the program to apply (relative to the project root):
    the chart's crds/ objects, extracted from the archive (`crds_yaml`), so Pulumi, not Helm, upgrades them."""
    return f"charts/{pin.name}-{pin.version}-crds.yaml"


def crds_yaml(crds: list[Mapping[str, Any]]) -> str:
    """The CRDs as one multi-document YAML file, by name (what `crds_file` holds)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    ordered = sorted((thaw(c) for c in crds), key=lambda c: c["metadata"]["name"])
    return yaml.dump_all(ordered, Dumper=dumper, sort_keys=True, default_flow_style=False, width=120)
