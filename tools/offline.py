"""Run the Pulumi program for a stack file with no cloud, no credentials and no Pulumi CLI.

The program runs under Pulumi's mock monitor. A recording monitor keeps every registered resource (type, name,
inputs, parent, options) so tests, the plan command and the policy tests see the whole graph. Invokes that are not
in the table fail loudly: a new data source must be added here on purpose, with its mocked answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from stacks.stack_file import stack_file, stack_name  # noqa: F401 (re-exported: tests and tools use them)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "milvus-eks"
MOCK_ACCOUNT = "123456789012"
MOCK_DEPLOYER = f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/pulumi-deploy/ci"
"""Who runs `pulumi up` under mocks: the CI role both stack files declare in cluster.adminPrincipals."""
_SECRET_SIG = rpc._special_secret_sig  # the marker Pulumi puts on secret values in serialized properties


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    provider: str
    custom: bool
    protect: bool
    ignore_changes: list[str]
    retain_on_delete: bool
    depends_on: list[str]
    secret_inputs: list[str]
    """Input keys whose value arrived marked secret."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input key, the URNs of the resources whose outputs flow into it: what a replacement propagates along."""
    aliases: list[str] = field(default_factory=list)
    """The URNs the resource declares it had before (`aliases`): Pulumi moves the existing resource, no replacement."""


@dataclass(frozen=True)
class Invoke:
    token: str
    args: dict[str, Any]
    provider: str
    """`<provider urn>::<id>` of the provider the call went to; empty for the default provider."""


@dataclass
class Graph:
    stack: str
    resources: list[Resource] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    program: dict[str, Any] = field(default_factory=dict)
    """The program's top-level names after the run (`settings`, `plan`, `bundle`, …): what it computed once,
    for the plan command to report without computing it again."""

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> Resource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def ancestors(self, resource: Resource) -> Iterator[Resource]:
        parent = self.by_urn(resource.parent)
        while parent is not None:
            yield parent
            parent = self.by_urn(parent.parent)


def _unwrap_secrets(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == _SECRET_SIG:
            inner, _ = _unwrap_secrets(value.get("value"))
            return inner, True
        items = {k: _unwrap_secrets(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_unwrap_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


# Computed outputs a real provider would return, per resource type; anything else echoes the inputs.
def _computed(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:mock:us-west-2:{MOCK_ACCOUNT}:{type_.split(':')[-1].lower()}/{name}"
    common = {"arn": arn}
    if type_ == "aws:eks/cluster:Cluster":
        return {**common, "endpoint": f"https://{name}.gr7.us-west-2.eks.amazonaws.com",
                "certificateAuthority": {"data": "bW9jay1jYQ=="},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.us-west-2.amazonaws.com/id/{name}"}]}],
                "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{name}-mock"}}
    if type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {**common, "latestVersion": 1}
    if type_ == "aws:eks/nodeGroup:NodeGroup":
        return {**common, "nodeGroupName": f"{inputs.get('nodeGroupNamePrefix', name)}mock"}
    if type_ == "aws:sqs/queue:Queue":
        queue = inputs.get("name") or name
        return {"arn": f"arn:aws:sqs:us-west-2:{MOCK_ACCOUNT}:{queue}", "name": queue,
                "url": f"https://sqs.us-west-2.amazonaws.com/{MOCK_ACCOUNT}/{queue}"}
    if type_ == "aws:cloudwatch/eventRule:EventRule":
        return {**common, "name": inputs.get("name") or f"{name}-mock"}
    if type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        # IAM names a provider after its issuer, not after anything Pulumi calls it: a provider moved under another
        # logical name (aliases) keeps its ARN, and so do the trust policies that name it.
        issuer = str(inputs.get("url", "")).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/{issuer}"}
    if type_ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{MOCK_ACCOUNT}:role/{name}", "name": name}
    if type_ == "aws:s3/bucket:Bucket" or type_ == "aws:s3/bucketV2:BucketV2":
        bucket = inputs.get("bucket") or f"{name}-mock"
        return {"arn": f"arn:aws:s3:::{bucket}", "bucket": bucket, "id": bucket}
    if type_ == "random:index/randomPassword:RandomPassword":
        # Distinct per resource, so a test can tell which generated password leaked where.
        seed = hashlib.sha256(name.encode()).hexdigest()
        return {"result": (f"mock-{seed}" * 4)[: int(inputs.get("length", 16))]}
    return common


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args: {
        "names": ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"],
        "zoneIds": ["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"]},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": MOCK_ACCOUNT, "arn": MOCK_DEPLOYER, "userId": "MOCK"},
    "aws:index/getRegion:getRegion": lambda args: {"name": "us-west-2", "region": "us-west-2"},
    "aws:index/getPartition:getPartition": lambda args: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:eks/getAddonVersion:getAddonVersion": lambda args: {
        "addonName": args["addonName"], "kubernetesVersion": args["kubernetesVersion"],
        "version": f"v0.0.0-mock-{args['addonName']}"},
}


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.invokes: list[Invoke] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs, _ = _unwrap_secrets(args.inputs)
        state = {**inputs, **_computed(args.typ, args.name, inputs)}
        resource_id = state.pop("id", None) or f"{args.name}-id"
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append(Invoke(args.token, dict(args.args), args.provider or ""))
        handler = INVOKES.get(args.token)
        if handler is None:
            raise LookupError(f"invoke {args.token} is not mocked; add it to tools/offline.py INVOKES")
        return handler(args.args)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.graph: list[Resource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = rpc.deserialize_properties(request.object)
            inputs, _ = _unwrap_secrets(raw)
            secret_inputs = [k for k, v in raw.items() if _unwrap_secrets(v)[1]]
            state = self.resources[response.urn].state
            self.graph.append(Resource(
                type=request.type, name=request.name, urn=response.urn, parent=request.parent, inputs=inputs,
                outputs=dict(state), provider=request.provider, custom=request.custom, protect=request.protect,
                ignore_changes=list(request.ignoreChanges), retain_on_delete=bool(request.retainOnDelete),
                depends_on=list(request.dependencies),
                secret_inputs=secret_inputs,
                property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                                       if deps.urns},
                aliases=[alias_urn(request, a, response.urn) for a in request.aliases]))
        return response


def alias_urn(request: Any, alias: Any, urn: str) -> str:
    """The URN an alias names, as the engine resolves it: a spec's unset fields default to the resource's own name,
    type, stack, project and parent; a child of the root stack has no parent type in its URN."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    stack, project = urn.removeprefix("urn:pulumi:").split("::")[:2]
    parent = "" if spec.noParent else (spec.parentUrn or request.parent)
    parent_type = parent.split("::")[2] if parent else ""
    kind = spec.type or request.type
    qualified = f"{parent_type}${kind}" if parent_type and parent_type != "pulumi:pulumi:Stack" else kind
    return f"urn:pulumi:{spec.stack or stack}::{spec.project or project}::{qualified}::{spec.name or request.name}"


def read_config(path: Path) -> dict[str, str]:
    """The stack file's config as the engine hands it to a program: object values as JSON strings."""
    from stacks.stack_file import read_stack_file

    return engine_config(read_stack_file(path))


def engine_config(config: dict[str, Any]) -> dict[str, str]:
    """A stack file's `config:` map as the engine hands it to a program: object values as JSON strings."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def run_program(stack: str | Path, config: dict[str, str] | None = None,
                secret_keys: tuple[str, ...] = (), validated: tuple[dict[str, Any], Any] | None = None) -> Graph:
    """Run `__main__.py` for a stack name ("dev"), a stack file, or an explicit config map; return the graph.
    `secret_keys` are the config keys the engine would mark secret (set with `pulumi config set --secret`);
    `validated` is the stack file's config map as the caller has just read it and the settings `load_stack_config`
    made of it: the program runs with that map (unless `config` is given) and takes those settings if it is exactly
    the config it is handed (`stacks.config.validated`)."""
    from stacks.config import validated as already_validated

    name = stack_name(stack)
    if config is None:  # the stack file, unless the caller has just read it to validate it
        config = engine_config(validated[0]) if validated else read_config(stack_file(stack))
    pulumi.runtime.set_all_config(config, list(secret_keys))
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    # A fresh root stack per run: set_mocks keeps an existing one, and with it the previous run's exports.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=name, preview=False, monitor=monitor)
    graph = Graph(stack=name)

    async def collect(exports: dict[str, Any]) -> None:
        for key, value in exports.items():
            output = pulumi.Output.from_input(value)
            graph.outputs[key] = await output.future()
            if await output.is_secret():
                graph.secret_outputs.add(key)

    @pulumi.runtime.test
    def program():
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        graph.program.update(runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
        exports = dict(pulumi.runtime.get_root_resource().outputs)
        return pulumi.Output.from_input(asyncio.ensure_future(collect(exports)))

    try:
        with (already_validated(validated[0], name, validated[1], frozenset(secret_keys)) if validated
              else contextlib.nullcontext()):
            program()
    except Exception as err:
        # Callers (tests) check that a rejected stack registered nothing.
        err.registered = list(monitor.graph)  # type: ignore[attr-defined]
        raise
    graph.resources = monitor.graph
    graph.invokes = mocks.invokes
    return graph
