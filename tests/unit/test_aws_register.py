"""components/aws.py registers the program's AWS resources as plain `pulumi.CustomResource`s with the provider's type
token and camelCase inputs, instead of through the typed pulumi_aws classes (whose service modules cost most of a
plan's time to load). The engine and the provider see only the RegisterResource request, so:

- the whole program runs twice per stack, once as shipped and once with every class of components/aws.py swapped for
  the typed pulumi_aws class of its token (top-level inputs passed as the class's snake_case arguments, outputs read
  through its typed properties), and every request of the two runs must be equal: type, name, parent, inputs
  (secretness included), dependencies, provider, version, plugin URL, aliases and every other option. Outputs the
  program reads go through the typed run's output types, so a value that differs once typed (a number the typed
  class turns into an int) shows up in the requests that use it;
- every input key, at every depth, must be one the SDK's types name for that field (the typed run would pass a
  mistyped nested key through unchanged, as the shipped run does);
- each class's required inputs and aliases are the typed class's.

The typed class of a token is found the way the SDK lays itself out (`aws:ec2/launchTemplate:LaunchTemplate` →
pulumi_aws.ec2.LaunchTemplate), not from components/aws.py.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
import typing
from typing import Any

import pulumi
import pytest
from google.protobuf.json_format import MessageToDict
from pulumi import _types

from components import aws
from tests.conftest import as_engine_config, stack_document
from tools import offline

CLASSES = {cls.token: cls for cls in vars(aws).values()
           if isinstance(cls, type) and issubclass(cls, aws.AwsResource) and cls is not aws.AwsResource}
# The shipped stacks, plus prod with Pod Identity (the association resource only exists under that binding).
RUNS = {"dev": None, "prod": None,
        "prod-pod-identity": ("prod", {"milvus-eks:cluster": {"serviceAccountBinding": "podIdentity"}})}


def typed_class(token: str) -> type:
    _, path, name = token.split(":")
    return getattr(importlib.import_module(f"pulumi_aws.{path.split('/')[0]}"), name)


def _plain(value: Any) -> Any:
    """An output value as the generic resource sees it: output types as dicts in the provider's spelling."""
    if _types.is_output_type(type(value)):
        return {k: _plain(v) for k, v in _types.output_type_to_dict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _typed_stand_in(cls: type[aws.AwsResource]):
    """A callable with the signature of `cls` that registers through the typed pulumi_aws class instead."""
    sdk = typed_class(cls.token)
    py_names = {pulumi_name: py for py, pulumi_name in _types.resource_py_to_pulumi_names(sdk).items()}

    def register(logical_name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        unknown = set(inputs) - set(py_names)
        assert not unknown, f"{cls.token} {logical_name}: {sorted(unknown)} are not inputs of {sdk.__name__}"
        resource = sdk(logical_name, opts=opts, **{py_names[k]: v for k, v in inputs.items()})
        for key in {*inputs, *cls.outputs}:  # what the program reads, in the spelling it reads it
            resource.__dict__[key] = getattr(resource, py_names[key]).apply(_plain)
        return resource
    return register


class _Requests(offline.RecordingMonitor):
    requests: list[dict[str, Any]]

    def RegisterResource(self, request):
        found = MessageToDict(request, preserving_proto_field_name=False)
        found.pop("sourcePosition", None)  # where the call was made, not what it asks
        found.pop("stackTrace", None)
        # Dependencies are collected in a set: their order varies from run to run.
        found["dependencies"] = sorted(found.get("dependencies", []))
        found["propertyDependencies"] = {k: sorted(v.get("urns", []))
                                         for k, v in found.get("propertyDependencies", {}).items()}
        type(self).requests.append(found)
        return super().RegisterResource(request)


def _run(run: str, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], dict[str, Any]]:
    _Requests.requests = []
    monkeypatch.setattr(offline, "RecordingMonitor", _Requests)
    stack, overrides = RUNS[run] or (run, None)
    config = None
    if overrides:
        document = stack_document(stack)
        for key, values in overrides.items():
            document[key] = {**document[key], **values}
        config = as_engine_config(document)
    offline.run_program(stack, config)
    monkeypatch.undo()
    return {(r["type"], r["name"]): r for r in _Requests.requests}


_shipped: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}


def shipped(run: str) -> dict[tuple[str, str], dict[str, Any]]:
    if run not in _shipped:
        with pytest.MonkeyPatch.context() as monkeypatch:
            _shipped[run] = _run(run, monkeypatch)
    return _shipped[run]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_every_request_equals_the_typed_classes_request(run: str, monkeypatch: pytest.MonkeyPatch):
    expected = shipped(run)
    for cls in CLASSES.values():
        monkeypatch.setattr(aws, cls.__name__, _typed_stand_in(cls))
    typed = _run(run, monkeypatch)
    assert set(typed) == set(expected)
    compared = 0
    for key, request in expected.items():
        assert request == typed[key], key
        compared += key[0].startswith("aws:")
    assert compared >= 45, compared  # the smallest stack registers ~50 AWS resources


def test_every_class_is_registered_by_some_run():
    tokens = {key[0] for run in RUNS for key in shipped(run)}
    assert set(CLASSES) <= tokens, sorted(set(CLASSES) - tokens)
    assert {t for t in tokens if t.startswith("aws:")} <= set(CLASSES)


def _check_keys(value: Any, typ: Any, path: str, problems: list[str]) -> None:
    """Every key of `value` is a field of `typ` (an SDK output type, which names every input field too)."""
    typ = _types.unwrap_type(typ)
    origin = typing.get_origin(typ)
    if isinstance(value, dict) and _types.is_output_type(typ):
        fields = _types.output_type_types(typ)
        for key, item in value.items():
            if key not in fields:
                problems.append(f"{path}.{key}: not a field of {typ.__name__} ({sorted(fields)})")
            elif item is not None:
                _check_keys(item, fields[key], f"{path}.{key}", problems)
    elif isinstance(value, list) and origin in (list, typing.get_origin(typing.Sequence[int])):
        for i, item in enumerate(value):
            _check_keys(item, typing.get_args(typ)[0], f"{path}[{i}]", problems)
    elif isinstance(value, dict) and origin in (dict, typing.get_origin(typing.Mapping[str, int])):
        return  # a map (tags, labels): its keys are data
    elif isinstance(value, (dict, list)):
        problems.append(f"{path}: a {type(value).__name__} where the SDK has {typ}")


def _key_problems(requests: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[str], int]:
    problems: list[str] = []
    checked = 0
    for (token, name), request in requests.items():
        if token not in CLASSES:
            continue
        fields = _types.resource_types(typed_class(token))
        for key, value in request.get("object", {}).items():
            if key not in fields:
                problems.append(f"{token} {name}: {key} is not an input")
            else:
                _check_keys(value, fields[key], f"{token} {name}: {key}", problems)
            checked += 1
    return problems, checked


@pytest.mark.parametrize("run", sorted(RUNS))
def test_every_input_key_at_every_depth_is_a_field_the_sdk_knows(run: str):
    problems, checked = _key_problems(shipped(run))
    assert not problems, "\n".join(problems)
    assert checked >= 150, checked  # dev, the smallest, sends ~190 top-level inputs


def test_a_misspelt_nested_key_is_found_and_map_keys_are_data():
    requests = copy.deepcopy(shipped("dev"))
    cluster = requests[("aws:eks/cluster:Cluster", "cluster-eks")]["object"]
    cluster["vpcConfig"]["subnet_ids"] = cluster["vpcConfig"].pop("subnetIds")
    cluster["tags"]["any/key.here"] = "data"
    template = requests[("aws:ec2/launchTemplate:LaunchTemplate", "pool-system-lt")]["object"]
    template["blockDeviceMappings"][0]["ebs"]["volumeSzie"] = 20
    problems, _ = _key_problems(requests)
    assert len(problems) == 2, problems
    found = "\n".join(problems)
    assert "cluster-eks: vpcConfig.subnet_ids: not a field of ClusterVpcConfig" in found
    assert "blockDeviceMappings[0].ebs.volumeSzie: not a field of LaunchTemplateBlockDeviceMappingEbs" in found


def _typed_required(token: str) -> set[str]:
    """The inputs the typed class refuses to go without, in the provider's spelling."""
    sdk = typed_class(token)
    names = _types.resource_py_to_pulumi_names(sdk)
    return {names[p] for p in re.findall(r"Missing required property '(\w+)'", inspect.getsource(sdk._internal_init))}


@pytest.mark.parametrize("token", sorted(CLASSES))
def test_required_inputs_are_the_typed_classes(token: str):
    cls = CLASSES[token]
    assert set(cls.required) == _typed_required(token)
    assert set(cls.outputs) <= set(_types.resource_py_to_pulumi_names(typed_class(token)).values())


@pytest.mark.parametrize("token", sorted(t for t in CLASSES if CLASSES[t].required))
def test_a_missing_required_input_is_refused_before_registering(token: str):
    cls = CLASSES[token]
    with pytest.raises(TypeError, match=rf"{cls.__name__} probe: missing required property '{cls.required[0]}'"):
        cls("probe", {k: "x" for k in cls.required[1:]})


def test_aliases_are_the_typed_classes():
    """Only the S3 resources the provider renamed carry aliases; the request comparison checks the rest."""
    for token, cls in CLASSES.items():
        source = inspect.getsource(typed_class(token)._internal_init)
        assert list(cls.aliases) == re.findall(r'pulumi\.Alias\(type_="([^"]+)"\)', source), token


def test_a_copy_of_inputs_is_sent_not_the_callers_dict():
    inputs = {"assumeRolePolicy": "{}"}
    before = copy.deepcopy(inputs)
    mocks = offline.RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=offline.PROJECT, stack="aws", preview=False,
                             monitor=offline.RecordingMonitor(mocks))

    @pulumi.runtime.test
    def program():
        return aws.Role("role", inputs).arn

    program()
    assert inputs == before
