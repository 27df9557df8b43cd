"""components/kube.py registers the bundle's objects as plain `pulumi.CustomResource`s with the provider's type token
instead of through the typed pulumi_kubernetes classes (which load hundreds of milliseconds of Python types). The
engine and the provider see only the RegisterResource request, so these tests send each object both ways under the
project's mocks and compare the requests whole: type token, name, parent, inputs (secretness included),
dependencies, provider version, aliases, secret outputs, ignore_changes and every other option.

The typed class of an object is found the way the SDK lays itself out (`kubernetes:networking.k8s.io/v1:NetworkPolicy`
→ pulumi_kubernetes.networking.v1.NetworkPolicy), not from components/kube.py's table, so a kind the table lacks
fails here. Custom resources compare with `pulumi_kubernetes.apiextensions.CustomResource`, which the program used
for them before.
"""

from __future__ import annotations

import copy
import importlib
import re
import subprocess
import sys
from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import rpc
import pytest
from google.protobuf.json_format import MessageToDict

from components import kube
from render.bundle import PROGRAM
from tests.conftest import graph_for
from tools.offline import PROJECT, ROOT, RecordingMocks, RecordingMonitor

# Where a request was made from, not what it asks: the typed call is made here, kube's in components/kube.py.
_CALL_SITE = ("sourcePosition", "stackTrace")


class _RequestMonitor(RecordingMonitor):
    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request):
        self.requests.append(request)
        return super().RegisterResource(request)


def _typed_class(api_version: str, kind: str) -> type | None:
    """The SDK's class for a built-in kind: API groups without a dot or ending in .k8s.io are Kubernetes' own
    (apiextensions.k8s.io, rbac.authorization.k8s.io → rbac); anything else is a custom resource."""
    group, _, version = api_version.rpartition("/")
    if group and "." in group and not group.endswith(".k8s.io"):
        return None
    module = importlib.import_module(f"pulumi_kubernetes.{group.split('.')[0] or 'core'}.{version}")
    return getattr(module, kind)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def typed(logical_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """How the program registered an object before: its typed class, top-level fields as snake_case arguments."""
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    cls = _typed_class(obj["apiVersion"], obj["kind"])
    if cls is None:
        return k8s.apiextensions.CustomResource(logical_name, api_version=obj["apiVersion"], kind=obj["kind"],
                                                **fields, opts=opts)
    return cls(logical_name, **{_snake(k): v for k, v in fields.items()}, opts=opts)


def _with_outputs(value: Any) -> Any:
    """Deploy-time placeholders replaced by secret Outputs, as the components fill them (a generated password's
    `result`, a bucket name)."""
    if isinstance(value, dict):
        return {k: _with_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_outputs(v) for v in value]
    if isinstance(value, str) and "deploy-time" in value:
        return pulumi.Output.secret(value.replace("deploy-time", "resolved"))
    return value


def request_for(register: Callable[..., pulumi.CustomResource], obj: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The RegisterResource request for `obj` made through `register`, under the project's mocks, with options
    like the components' (a parent, a dependency, ignore_changes, an explicit provider); and its call site."""
    mocks = RecordingMocks()
    monitor = _RequestMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="kube", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        parent = pulumi.ComponentResource("milvus-eks:test:Parent", "parent")
        provider = k8s.Provider("k8s", kubeconfig="{}", opts=pulumi.ResourceOptions(parent=parent))
        before = pulumi.CustomResource("test:index:Before", "before", {}, pulumi.ResourceOptions(parent=parent))
        opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[before],
                                      ignore_changes=["metadata.annotations"])
        return register("object", _with_outputs(copy.deepcopy(obj)), opts).urn

    program()
    [request] = [r for r in monitor.requests if r.type.startswith("kubernetes:") and r.name == "object"]
    found = MessageToDict(request, preserving_proto_field_name=False)
    return {k: v for k, v in found.items() if k not in _CALL_SITE}, found.get("sourcePosition")


def _bundle_objects() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every object the components register from the dev and prod bundles, by (apiVersion, kind)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for stack in ("dev", "prod"):
        bundle = graph_for(stack).program["bundle"]
        for o in bundle.objects:
            if o.source == PROGRAM:
                found.setdefault((o.obj["apiVersion"], o.obj["kind"]), []).append(copy.deepcopy(dict(o.obj)))
    return found


def _bare(api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "probe", "namespace": "milvus",
                                                                  "labels": {"app": "probe"}}}


def _minimal(api_version: str, kind: str) -> dict[str, Any]:
    """A kind the table lists but no shipped stack renders, with what its typed class requires: the shape that
    matters here is the registration (the bundle's OpenAPI validation covers the objects themselves)."""
    return {**_bare(api_version, kind), **{field: {"value": 0, "provisioner": "ebs.csi.aws.com"}.get(field, {})
                                           for field in kube.REQUIRED.get((api_version, kind), ())}}


def test_every_bundle_kind_and_table_kind_registers_as_its_typed_class_does():
    objects = _bundle_objects()
    assert len(objects) >= 15, sorted(objects)  # both stacks register well over a dozen kinds
    for key in kube.BUILT_IN:
        objects.setdefault(key, [_minimal(*key)])
    compared = 0
    for (api_version, kind), examples in sorted(objects.items()):
        built_in = _typed_class(api_version, kind) is not None
        assert built_in == ((api_version, kind) in kube.BUILT_IN), \
            f"{api_version} {kind}: add it to components/kube.py BUILT_IN with its typed class's aliases"
        for obj in examples:
            expected, _ = request_for(typed, obj)
            actual, _ = request_for(kube.register, obj)
            assert actual == expected, f"{api_version} {kind} {obj['metadata']['name']}"
            compared += 1
    assert compared >= 60, compared


@pytest.mark.parametrize("key", sorted(kube.BUILT_IN))
def test_a_required_field_missing_is_refused_as_by_the_typed_class(key):
    def refusal(register: Callable[..., pulumi.CustomResource]) -> str | None:
        try:
            request_for(register, _bare(*key))
        except TypeError as err:
            return re.search(r"required property '(\w+)'", str(err)).group(1)
        return None

    typed_refusal = refusal(typed)
    assert (typed_refusal is None) == (key not in kube.REQUIRED)
    assert refusal(kube.register) == (None if typed_refusal is None else
                                      re.sub(r"_(\w)", lambda m: m.group(1).upper(), typed_refusal))


def test_what_the_typed_classes_add_is_in_the_request():
    """The comparison above would pass vacuously if neither path sent these; they are what the typed classes add."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "milvus"},
              "stringData": {"password": "deploy-time-password"}, "type": "Opaque"}
    request, _ = request_for(kube.register, secret)
    assert request["type"] == "kubernetes:core/v1:Secret"
    assert sorted(request["additionalSecretOutputs"]) == ["data", "stringData"]
    assert request["version"] == k8s._utilities.get_version()
    assert request["object"]["stringData"][rpc._special_sig_key] == rpc._special_secret_sig
    deployment, _ = request_for(kube.register, _minimal("apps/v1", "Deployment"))
    assert deployment["type"] == "kubernetes:apps/v1:Deployment"
    assert "kubernetes:apps/v1beta1:Deployment" in str(deployment.get("aliasSpecs") or deployment.get("aliases"))
    monitor, _ = request_for(kube.register, {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                                             "metadata": {"name": "m"}, "spec": {"endpoints": []}})
    assert monitor["type"] == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def test_the_source_position_is_the_caller_of_register_as_with_the_typed_classes():
    """Pulumi records where a resource was declared: for a typed class, the line that called the class (before,
    inside `register`); the thin class keeps it there rather than at the component that called `register`."""
    obj = _minimal("v1", "ConfigMap")
    _, typed_position = request_for(typed, obj)
    _, position = request_for(kube.register, obj)
    assert typed_position["uri"].endswith("tests/unit/test_kube_register.py")
    assert position["uri"].endswith("components/kube.py"), position


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_loads_no_typed_kubernetes_object_class(stack):
    """The point of the generic path: a plan never imports the SDK's per-group modules (the typed classes it used took ~0.6 s).
    Helm releases and the CRD ConfigFile stay typed."""
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tools.offline import run_program; "
              f"run_program({stack!r}); print('\\n'.join(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=True)
    loaded = [m for m in result.stdout.split() if m.startswith("pulumi_kubernetes.")]
    assert "pulumi_kubernetes.helm.v3.Release" in loaded
    groups = ("core", "apps", "batch", "networking", "policy", "scheduling", "storage", "rbac", "autoscaling")
    assert not [m for m in loaded if m.split(".")[1] in groups and m.count(".") >= 2], loaded
