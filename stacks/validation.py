"""Turn a raw stack configuration into Settings, or into one ConfigError listing every problem.

Pass 1 lets pydantic check shapes, types, ranges and syntax (all fields at once). Pass 2 checks what spans keys:
instance types against the catalog, pool roles, endpoint exposure. Both passes report keys as the user writes them.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import ipaddress
import json
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from stacks import versions
from stacks.catalog import load_catalog
from stacks.errors import NAMESPACE, ConfigError, Problem
from stacks.network_plan import plan_subnets
from stacks.quantity import parse_quantity
from stacks.settings import RENAMED_KEYS, ROLES, TOP_LEVEL_KEYS, NodePoolSettings, Resources, Settings
from stacks.sizing import sizing_problems

AWS_APPLIED = {"region": "region", "profile": "awsProfile", "allowedAccountIds": "allowedAccountIds"}
"""`aws:*` stack-file keys the program passes to its explicit AWS provider (which, unlike Pulumi's default provider,
reads no `aws:*` config by itself), by the Settings field that carries each."""
AWS_CREDENTIALS = ("accessKey", "secretKey", "token")
"""Also passed to the provider, but only as secrets (`pulumi config set --secret`)."""
_SECRET_WORDS = ("secret", "password", "passwd", "token", "accesskey", "privatekey", "apikey")


def load_stack_config(config: Mapping[str, Any], stack: str | None = None,
                      secret_keys: Iterable[str] = ()) -> Settings:
    """Validate a whole stack configuration (`namespace:key` → value, as in the stack file's `config:` map).

    Secret values arrive either as the stack file writes them (`{secure: ...}`) or, from the engine, decrypted
    with their keys listed in `secret_keys`. Keys of other projects, misspelt namespaces, plaintext secrets and
    `aws:*` keys the program would not apply are refused here, with the keys of this project.
    """
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    aws: dict[str, Any] = {}
    secret_keys = set(secret_keys)
    foreign: dict[str, list[str]] = {}
    for key, value in config.items():
        if not isinstance(key, str) or ":" not in key:
            problems.append(Problem("", f"config key {key!r} has no namespace; config keys are written namespace:key "
                                        f"(e.g. {NAMESPACE}:network or aws:region)"))
            continue
        namespace, name = key.split(":", 1)
        secure = key in secret_keys or (isinstance(value, Mapping) and set(value) == {"secure"})
        if _looks_secret(name) and not secure:
            problems.append(Problem(key, f"holds a secret in plaintext in the stack file; remove it and run "
                                         f"`pulumi config set --secret {key} <value>`"))
            continue
        if namespace == NAMESPACE:
            raw[name] = value
        elif namespace == "aws":
            aws[name] = value
        elif namespace == "pulumi":
            continue  # the engine's own settings (pulumi:tags, pulumi:disable-default-providers), not the program's
        else:
            foreign.setdefault(namespace, []).append(key)
    problems.extend(_foreign_namespaces(foreign, bool(raw)))
    region = aws.pop("region", None)
    if foreign and not raw:
        # Another project's file, or this project's keys under a misspelt namespace: "nodePools: required" would
        # only mislead.
        region_problem = _region_problem(region)
        raise ConfigError([*problems, *([region_problem] if region_problem else [])])
    try:
        settings = load_settings(raw, region, stack=stack, aws=aws)
    except ConfigError as err:
        problems.extend(err.problems)
        raise ConfigError(problems) from None
    problems.extend(_plaintext_receiver_secrets(settings, f"{NAMESPACE}:monitoring" in secret_keys))
    if problems:
        raise ConfigError(problems)
    return settings


def _plaintext_receiver_secrets(settings: Settings, monitoring_is_secret: bool) -> list[Problem]:
    # Alert receivers' URLs and keys must reach the program as Pulumi secrets: structured config marks the whole
    # top-level key secret when any value under it was set with --secret; a `{secure: ...}` value read from the
    # stack file is not plain text.
    if monitoring_is_secret:
        return []
    key = f"{NAMESPACE}:monitoring"
    return [Problem(f"monitoring.alerting.receivers[{i}]",
                    f"receiver {r.name!r} holds its secret in plain text; set it with "
                    f"`pulumi config set --secret --path '{key}.alerting.receivers[{i}].<integration>.<field>'`")
            for i, r in enumerate(settings.monitoring.alerting.receivers)
            if any(isinstance(getattr(getattr(r, k), f, None), str)
                   for k, f in (("slack", "api_url"), ("pagerduty", "routing_key"), ("webhook", "url"))
                   if getattr(r, k) is not None)]


def _looks_secret(name: str) -> bool:
    lowered = name.lower().replace("_", "").replace("-", "")
    return any(word in lowered for word in _SECRET_WORDS)


def _foreign_namespaces(foreign: Mapping[str, list[str]], has_ours: bool) -> Iterator[Problem]:
    for namespace, keys in sorted(foreign.items()):
        close = difflib.get_close_matches(namespace, [NAMESPACE], n=1, cutoff=0.6)
        ours = [k for k in keys if k.split(":", 1)[1].split(".")[0] in TOP_LEVEL_KEYS]
        if close:
            fix = f"namespace '{namespace}' is not this project's; did you mean '{NAMESPACE}'? Rename the keys " \
                  f"to {NAMESPACE}:<key>"
        elif ours and not has_ours:
            fix = f"these keys belong to project '{namespace}', not '{NAMESPACE}': this looks like another " \
                  f"project's stack file. Use a stack file of this project (keys {NAMESPACE}:<key>)"
        else:
            fix = f"namespace '{namespace}' is not read by this program (it reads {NAMESPACE}:* and " \
                  f"aws:{', aws:'.join(AWS_APPLIED)}); remove the key"
        for key in keys:
            yield Problem(key, fix)


def _aws_keys(aws: Mapping[str, Any]) -> Iterator[Problem]:
    for name, value in aws.items():
        if name in AWS_CREDENTIALS or name in AWS_APPLIED:
            continue
        yield Problem(f"aws:{name}", f"is not applied: the program builds its own AWS provider, which reads only "
                                     f"aws:{', aws:'.join(AWS_APPLIED)} (and {', '.join(AWS_CREDENTIALS)} as "
                                     f"secrets) from the stack; remove aws:{name}")
    profile = aws.get("profile")
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        yield Problem("aws:profile", f"must be the name of an AWS CLI profile, got {json.dumps(profile)}")
    accounts = aws.get("allowedAccountIds")
    if accounts is not None and (not isinstance(accounts, list) or not accounts or not all(
            isinstance(a, str) and a.isdigit() and len(a) == 12 for a in accounts)):
        yield Problem("aws:allowedAccountIds", f"must be a list of 12-digit AWS account ids as text "
                                               f"(['123456789012']), got {json.dumps(accounts)}")


def _json_list(value: Any) -> Any:
    """The engine passes list values as JSON text."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region the pinned AWS provider knows: its own `Region` enum (pulumi_aws/_enums.py), read as source so
    that refusing a stack file does not cost the provider SDK's import time."""
    spec = importlib.util.find_spec("pulumi_aws")
    source = Path(spec.origin).with_name("_enums.py").read_text(encoding="utf-8")
    region = next(node for node in ast.parse(source).body if isinstance(node, ast.ClassDef) and node.name == "Region")
    return frozenset(node.value.value for node in region.body
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))


def _region_problem(region: Any) -> Problem | None:
    if region is None or region == "":
        return Problem("aws:region", "is not set; run `pulumi config set aws:region us-west-2`")
    if not isinstance(region, str):
        return Problem("aws:region", f"must be a region name such as us-west-2, got {json.dumps(region)}")
    regions = known_regions()
    if region not in regions:
        close = difflib.get_close_matches(region, sorted(regions), n=1, cutoff=0.7)
        hint = f"did you mean {close[0]}?" if close else "use a region name such as us-west-2"
        return Problem("aws:region", f"unknown AWS region {region!r}; {hint}")
    return None


def load_settings(raw: Mapping[str, Any], region: Any, *, stack: str | None = None,
                  aws: Mapping[str, Any] | None = None, today: date | None = None) -> Settings:
    """Validate the `milvus-eks:*` config (keys without the namespace) and the AWS region, all at once.

    `today` (UTC by default) is the date the Kubernetes version's support window is checked against.

    Each top-level key, and each node pool, is parsed on its own so that a broken part does not hide the
    problems of the others; checks across keys run on whatever parsed. With `stack`, every name the program will
    build from the stack name and the config is checked against AWS, Kubernetes and Helm rules.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            problems.append(Problem(key, _unknown_key_message(key, TOP_LEVEL_KEYS)))
    region_problem = _region_problem(region)
    if region_problem:
        problems.append(region_problem)
        region = None
    aws = {k: _json_list(v) if k == "allowedAccountIds" else v for k, v in (aws or {}).items()}
    provider_problems = list(_aws_keys(aws))
    problems.extend(provider_problems)
    bad_provider_keys = {p.path.removeprefix("aws:") for p in provider_problems}
    parsed: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        if key not in raw:
            continue
        if key == "nodePools" and isinstance(raw[key], Mapping):
            for name, pool in raw[key].items():
                pools[name] = _parse(_POOLS, {name: pool}, problems, "nodePools")
                if pools[name] is None:
                    problems.extend(_salvaged_pool_problems(name, pool))
            parsed[key] = pools if None not in pools.values() else None
        else:
            parsed[key] = _parse(_SECTIONS[key], raw[key], problems, key)
    if "nodePools" not in raw:
        problems.append(Problem("nodePools", "required; define at least one pool (see the README's nodePools keys)"))
    if all(v is not None for v in parsed.values()) and "nodePools" in parsed and region:
        document = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS} | {"region": region}
        document |= {AWS_APPLIED[k]: v for k, v in aws.items() if k in AWS_APPLIED and k not in bad_provider_keys}
        settings = Settings.model_validate_json(json.dumps(document), strict=True)
        problems.extend(check(settings, today))
        if stack is not None:
            problems.extend(name_problems(settings, stack))
    else:
        settings = None
        for name, pool in pools.items():
            if pool is not None:
                problems.extend(_check_pool(name, pool[name]))
    if problems:
        raise ConfigError(problems)
    return settings


_SECTIONS = {name: Settings.model_fields[field].annotation for field, name in
             ((f, Settings.model_fields[f].alias or f) for f in Settings.model_fields) if name in TOP_LEVEL_KEYS}
_POOLS = Settings.model_fields["node_pools"].annotation


def _salvaged_pool_problems(name: str, pool: Any) -> list[Problem]:
    """A pool with a malformed key still gets its instance types checked: parse it again without the keys that
    failed and, if `instanceTypes` and `nvme` survived, check those (checks across other keys could be misled by
    the defaults that replace the dropped ones)."""
    if not isinstance(pool, Mapping):
        return []
    try:
        TypeAdapter(_POOLS).validate_json(json.dumps({name: pool}), strict=True)
        return []
    except ValidationError as err:
        bad = {e["loc"][1] for e in err.errors() if len(e["loc"]) > 1}
    if "instanceTypes" in bad or "nvme" in bad or name in bad:
        return []
    kept = {k: v for k, v in pool.items() if k not in bad}
    try:
        parsed = TypeAdapter(_POOLS).validate_json(json.dumps({name: kept}), strict=True)
    except ValidationError:
        return []
    return list(_check_instance_types(f"nodePools.{name}", parsed[name]))


def _parse(annotation: Any, value: Any, problems: list[Problem], section: str) -> Any:
    try:
        return TypeAdapter(annotation).validate_json(json.dumps(value), strict=True)
    except ValidationError as err:
        problems.extend(_from_pydantic(err, section))
        return None


def key_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# ------------------------------------------------------------------------------------------ pass 1: shapes

_FIXES = {
    "missing": "required; add it",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string (quote it)",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a map of keys to values",
    "model_type": "must be a map of keys to values",
}


_UNION_TAG = re.compile(r"^[\w-]+\[.*\]$|^(str|int|float|bool)$")
"""How pydantic names the member of a union that failed (`function-after[_dns_label(), str]`, `literal['default']`):
its internals, never part of a key the user writes."""


def _from_pydantic(err: ValidationError, section: str) -> Iterator[Problem]:
    union_paths: set[str] = set()
    for e in sorted(err.errors(include_url=False), key=lambda e: e["type"] != "value_error"):
        loc = [section, *e["loc"]]
        # Dict keys validated by a key validator show up as `[key, "[key]"]`; keep one.
        if len(loc) >= 2 and loc[-1] == "[key]":
            loc = loc[:-1]
        kept = [part for part in loc if not (isinstance(part, str) and _UNION_TAG.match(part))]
        path = key_path(kept)
        if len(kept) != len(loc):
            # One error per union member; the first (a value_error, which explains itself) is enough.
            if path in union_paths:
                continue
            union_paths.add(path)
        loc = kept
        kind = e["type"]
        bad = e.get("input")
        if kind in ("extra_forbidden", "unexpected_keyword_argument") and path in RENAMED_KEYS:
            yield Problem(path, f"{RENAMED_KEYS[path]}; got {json.dumps(bad)}")
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            allowed = _allowed_keys(Settings, loc[:-1])
            yield Problem(path, _unknown_key_message(str(loc[-1]), allowed))
        elif kind == "missing":
            yield Problem(path, _FIXES["missing"])
        elif kind in _FIXES:
            yield Problem(path, f"{_FIXES[kind]}, got {json.dumps(bad)}")
        elif kind == "literal_error":
            yield Problem(path, f"got {json.dumps(bad)}; use one of {e['ctx']['expected']}")
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            yield Problem(path, f"{e['msg'].replace('Input should be', 'must be')}, got {bad}")
        elif kind in ("too_short", "too_long"):
            yield Problem(path, f"{e['msg'].replace('List should have', 'needs')}")
        elif kind == "string_pattern_mismatch":
            yield Problem(path, f"got {json.dumps(bad)}; it must match {e['ctx']['pattern']}")
        elif kind == "value_error":
            yield Problem(path, str(e["ctx"]["error"]))
        else:
            yield Problem(path, f"{e['msg']}, got {json.dumps(bad, default=str)}")


def fields_of(annotation: Any) -> dict[str, Any] | None:
    """The fields of a settings model or pydantic dataclass, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.model_fields
    return getattr(annotation, "__pydantic_fields__", None) if isinstance(annotation, type) else None


def _allowed_keys(model: type[BaseModel], loc: Iterable[Any]) -> list[str]:
    """Walk the settings models along `loc` to list the keys valid at that place."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        fields = fields_of(annotation)
        if fields is not None:
            by_alias = {f.alias or n: f for n, f in fields.items()}
            field = by_alias.get(part) or fields.get(part)
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (dict, tuple, list):
            annotation = get_args(annotation)[-1 if get_origin(annotation) is dict else 0]
    fields = fields_of(_unwrap(annotation))
    return [f.alias or n for n, f in fields.items()] if fields is not None else []


def _unwrap(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and get_origin(annotation) not in (dict, tuple, list) and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def _unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key '{key}'; {hint}valid keys here: {', '.join(allowed)}"


# ------------------------------------------------------------------------------------------ pass 2: across keys


def check(settings: Settings, today: date | None = None) -> list[Problem]:
    return [*_check_network(settings), *_check_cluster(settings), *_check_pools(settings), *_check_milvus(settings),
            *_check_namespaces(settings), *_check_topology(settings), *_check_resources(settings),
            *_check_free_text(settings), *_check_sizing(settings),
            *_check_kubernetes_version(settings, today or utc_today()), *_check_client_cidrs(settings),
            *_check_alerting(settings)]


def name_problems(settings: Settings, stack: str) -> list[Problem]:
    """Build every name the program will build (render.naming.planned_names) and report those AWS, Kubernetes or
    Helm would refuse: under the key that feeds the name, or under the stack name when it alone breaks it."""
    from render.naming import NameRuleError, planned_names

    problems: list[Problem] = []
    by_stack: list[str] = []
    for planned in planned_names(settings, stack):
        try:
            planned.build()
        except NameRuleError as err:
            text = f"makes the {err.rule.what} {err.name!r}, which {err.problem}"
            if planned.keys:
                limit = err.rule.limit - (len(err.name) - len(planned.value))
                fix = (f"; shorten it to at most {limit} characters" if limit > 0 and len(err.name) > err.rule.limit
                       else "")
                problems.append(Problem(planned.keys[0], text + fix))
            elif text not in by_stack:
                by_stack.append(f"the {err.rule.what} {err.name!r} {err.problem}")
    if by_stack:
        problems.append(Problem("", f"the stack name {stack!r} breaks names the program builds from it: "
                                    f"{'; '.join(by_stack)}. Use a short lowercase stack name (letters, digits, "
                                    f"'-'), e.g. `pulumi stack init {_suggest_stack(stack)}`"))
    return problems


def _suggest_stack(stack: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")
    return cleaned[:12].rstrip("-") or "dev"


RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Kubernetes' own namespaces: quotas and LimitRanges there would throttle cluster add-ons, and deleting the stack
would try to delete the namespace."""


def _check_namespaces(s: Settings) -> Iterator[Problem]:
    own = [("milvus.namespace", s.milvus.namespace)]
    if s.monitoring.enabled:
        own.append(("monitoring.namespace", s.monitoring.namespace))
    own += [(f"quotas.extraNamespaces[{i}]", ns) for i, ns in enumerate(s.quotas.extra_namespaces)]
    for key, ns in own:
        if ns in RESERVED_NAMESPACES:
            yield Problem(key, f"'{ns}' is a namespace Kubernetes reserves for itself ({', '.join(RESERVED_NAMESPACES)}"
                               f"); use a namespace of your own, e.g. 'milvus'")
    if s.monitoring.enabled and s.milvus.namespace == s.monitoring.namespace:
        yield Problem("monitoring.namespace", f"is '{s.monitoring.namespace}', the same as milvus.namespace; the "
                                              f"program creates and quotas each namespace once, so give them "
                                              f"different names (e.g. 'monitoring')")


def _check_topology(s: Settings) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, group in enumerate(s.topology.resource_groups):
        if group.name in seen:
            yield Problem(f"topology.resourceGroups[{i}].name", f"'{group.name}' is already declared at "
                                                                f"topology.resourceGroups[{seen[group.name]}]; "
                                                                f"declare each group once")
        seen.setdefault(group.name, i)
    collections: dict[tuple[str, str], int] = {}
    for i, c in enumerate(s.topology.collections):
        key = (c.database, c.name)
        if key in collections:
            yield Problem(f"topology.collections[{i}].name", f"'{c.database}.{c.name}' is already declared at "
                                                             f"topology.collections[{collections[key]}]; declare "
                                                             f"each collection once")
        collections.setdefault(key, i)


_MUST_RUN = ("mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode")


def _resource_sets(s: Settings) -> Iterator[tuple[str, Resources]]:
    components = s.milvus.components
    for name in _MUST_RUN:
        yield f"milvus.components.{name}.resources", getattr(components, _snake(name)).resources
    yield "milvus.etcd.resources", s.milvus.etcd.resources
    yield "milvus.woodpecker.resources", s.milvus.woodpecker.resources


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _check_resources(s: Settings) -> Iterator[Problem]:
    for name in _MUST_RUN:
        replicas = getattr(s.milvus.components, _snake(name)).replicas
        if replicas == 0:
            yield Problem(f"milvus.components.{name}.replicas",
                          f"is 0, but Milvus cannot serve without its {name}; remove the key (the default or the "
                          f"planner decides) or set at least 1")
    pairs = [*_resource_sets(s)]
    for where, res in pairs:
        for resource in ("cpu", "memory", "ephemeral_storage"):
            request, limit = getattr(res.requests, resource), getattr(res.limits, resource)
            yield from _request_vs_limit(where, resource, request, limit)
    yield from _request_vs_limit_defaults(s)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _request_vs_limit(where: str, resource: str, request: str | None, limit: str | None) -> Iterator[Problem]:
    key = _camel(resource)
    if limit is not None and parse_quantity(limit) == 0:
        yield Problem(f"{where}.limits.{key}", f"is {limit}: a zero limit lets the container use nothing (it could "
                                               f"never start); remove the limit or set a positive value")
    elif request is not None and limit is not None and parse_quantity(request) > parse_quantity(limit):
        yield Problem(f"{where}.requests.{key}", f"{request} is above the limit {limit}; Kubernetes refuses a "
                                                 f"request larger than its limit, so lower the request or raise "
                                                 f"limits.{key}")


def _request_vs_limit_defaults(s: Settings) -> Iterator[Problem]:
    q = s.quotas
    for resource in ("cpu", "memory", "ephemeral_storage"):
        request, limit = getattr(q.default_request, resource), getattr(q.default_limit, resource)
        key = _camel(resource)
        if limit is not None and parse_quantity(limit) == 0:
            yield Problem(f"quotas.defaultLimit.{key}", f"is {limit}; containers without their own limit could use "
                                                        f"nothing. Set a positive value")
        elif request is not None and limit is not None and parse_quantity(request) > parse_quantity(limit):
            yield Problem(f"quotas.defaultRequest.{key}", f"{request} is above quotas.defaultLimit.{key} {limit}; "
                                                          f"lower the request or raise the limit")


_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""The OCI distribution spec's tag grammar (opencontainers/distribution-spec spec.md, "Pulling manifests")."""


def _check_free_text(s: Settings) -> Iterator[Problem]:
    if not _IMAGE_TAG.fullmatch(s.milvus.image_tag):
        yield Problem("milvus.imageTag", f"{s.milvus.image_tag!r} is not an image tag (letters, digits, '_', '.', "
                                         f"'-', at most 128, no spaces or '/'); give only the tag, e.g. "
                                         f"'{_default_image_tag()}'")
    url = s.monitoring.runbook_url
    if "{{" in url or "}}" in url or any(ch.isspace() for ch in url):
        yield Problem("monitoring.runbookUrl", f"{url!r} contains '{{{{', '}}}}' or spaces; the alert annotations "
                                               f"are Prometheus templates, so template braces would be expanded or "
                                               f"break them. Give a plain URL or path; each alert appends its anchor")


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _check_kubernetes_version(s: Settings, today: date) -> Iterator[Problem]:
    version = s.cluster.kubernetes_version
    found = versions.support_problem(version, s.cluster.support_type, today)
    if found is not None and found[0] == "error":
        yield Problem("cluster.kubernetesVersion", found[1])
    elif version not in versions.ADDON_VERSIONS:
        pinned = ", ".join(sorted(versions.ADDON_VERSIONS))
        yield Problem("cluster.kubernetesVersion",
                      f"{version} has no pinned add-on versions (pinned: {pinned}); use one of those, or add the "
                      f"{version} add-on versions to ADDON_VERSIONS in stacks/versions.py")


def _check_sizing(s: Settings) -> list[Problem]:
    # The planner needs one query pool whose sizing type is known; without it the role/catalog checks speak.
    query_pools = [pool for pool in s.node_pools.values() if "queryNode" in pool.roles]
    if len(query_pools) != 1 or query_pools[0].instance_types[0] not in load_catalog():
        return []
    return sizing_problems(s)


def _check_network(s: Settings) -> Iterator[Problem]:
    vpc = ipaddress.IPv4Network(s.network.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 22:
        yield Problem("network.vpcCidr", f"{s.network.vpc_cidr} has prefix /{vpc.prefixlen}; use a /16 to /22")
    if not vpc.is_private:
        yield Problem("network.vpcCidr", f"{s.network.vpc_cidr} is not a private range; use one inside 10.0.0.0/8, "
                                         f"172.16.0.0/12 or 192.168.0.0/16")


def _default_image_tag() -> str:
    from stacks import versions

    return versions.MILVUS_IMAGE_TAG


def _check_cluster(s: Settings) -> Iterator[Problem]:
    ep = s.cluster.endpoint
    networks = [ipaddress.IPv4Network(c) for c in ep.public_access_cidrs]
    whole = [n for n in ipaddress.collapse_addresses(networks) if n.prefixlen == 0]
    if ep.public_access and whole and not any(n.prefixlen == 0 for n in networks) and not ep.allow_any_public_cidr:
        yield Problem("cluster.endpoint.publicAccessCidrs",
                      f"{', '.join(ep.public_access_cidrs)} together cover 0.0.0.0/0, opening the API server to the "
                      f"whole internet; list your own CIDRs, or set cluster.endpoint.allowAnyPublicCidr: true for a "
                      f"throwaway cluster")
    restricted = ep.public_access and ep.public_access_cidrs and not whole
    if not ep.private_access and restricted:
        # Without the private endpoint, node traffic leaves the VPC (through the NAT gateways, whose addresses are
        # not in the list): "you must ensure that the CIDR blocks that you specify include the addresses that worker
        # nodes ... access the public endpoint from" (docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_eks.
        # EndpointAccess.html, PUBLIC).
        yield Problem("cluster.endpoint.privateAccess",
                      "is false while publicAccessCidrs restricts the public endpoint; the nodes (in private "
                      "subnets, behind NAT) could not reach the API server and would never join. Set "
                      "privateAccess: true")
    if not ep.private_access and not ep.public_access:
        yield Problem("cluster.endpoint", "privateAccess and publicAccess are both false; nothing could reach the "
                                          "API server. Set privateAccess: true")
    if not s.cluster.admin_principals:
        # bootstrapClusterCreatorAdminPermissions is false: without a declared admin nobody, including the
        # identity running `pulumi up`, could reach the Kubernetes API.
        yield Problem("cluster.adminPrincipals", "is empty; list the IAM role that runs `pulumi up` (and your "
                                                 "administrators), e.g. arn:aws:iam::123456789012:role/deploy")
    if ep.private_access_cidrs and not ep.private_access:
        yield Problem("cluster.endpoint.privateAccessCidrs", "is set but privateAccess is false, so no private "
                                                             "endpoint exists for it; set privateAccess: true or "
                                                             "remove the list")
    if ep.public_access and not ep.public_access_cidrs:
        yield Problem("cluster.endpoint.publicAccessCidrs", "is empty while publicAccess is true, which EKS reads as "
                                                            "0.0.0.0/0; list the CIDRs allowed to reach the API server")
    for i, cidr in enumerate(ep.public_access_cidrs):
        if ipaddress.IPv4Network(cidr).prefixlen == 0 and not ep.allow_any_public_cidr:
            yield Problem(f"cluster.endpoint.publicAccessCidrs[{i}]",
                          f"{cidr} opens the API server to the whole internet; list your own CIDRs, or set "
                          f"cluster.endpoint.allowAnyPublicCidr: true for a throwaway cluster")


def _check_pools(s: Settings) -> Iterator[Problem]:
    for name, pool in s.node_pools.items():
        yield from _check_pool(name, pool)
        if "system" in pool.roles and pool.provisioner == "karpenter":
            # The controller runs on the system pool: nodes it launched itself would vanish with it.
            yield Problem(f"nodePools.{name}.provisioner",
                          "is karpenter, but this pool hosts the system role, where the Karpenter controller runs; "
                          "keep provisioner: managedNodeGroup here")
    yield from _check_roles(s)


def _check_pool(name: str, pool: NodePoolSettings) -> Iterator[Problem]:
    where = f"nodePools.{name}"
    yield from _check_instance_types(where, pool)
    if pool.min_size > pool.max_size:
        yield Problem(f"{where}.minSize", f"minSize {pool.min_size} is larger than maxSize {pool.max_size}; "
                                          f"raise maxSize or lower minSize")
    if pool.desired_size is not None and not pool.min_size <= pool.desired_size <= pool.max_size:
        yield Problem(f"{where}.desiredSize", f"{pool.desired_size} is outside minSize..maxSize "
                                              f"({pool.min_size}..{pool.max_size})")
    duplicates = {t.key for t in pool.taints if sum(u.key == t.key and u.effect == t.effect for u in pool.taints) > 1}
    for key in sorted(duplicates):
        yield Problem(f"{where}.taints", f"taint '{key}' is listed twice with the same effect; keep one")


def _check_instance_types(where: str, pool: NodePoolSettings) -> Iterator[Problem]:
    catalog = load_catalog()
    known = []
    for i, itype in enumerate(pool.instance_types):
        info = catalog.get(itype)
        if info is None:
            close = difflib.get_close_matches(itype, catalog.keys(), n=3, cutoff=0.7)
            hint = f"; did you mean {', '.join(close)}?" if close else "; use an EC2 instance type name"
            yield Problem(f"{where}.instanceTypes[{i}]", f"unknown EC2 instance type '{itype}'{hint}")
            continue
        known.append(info)
        if pool.nvme and not info.nvme:
            yield Problem(f"{where}.instanceTypes[{i}]",
                          f"'{itype}' has no local NVMe instance store but the pool sets nvme: true; use a type "
                          f"with a 'd' suffix or an i-family type (e.g. r6id, m6id, i4i), or set nvme: false")
        if info.gpu:
            yield Problem(f"{where}.instanceTypes[{i}]", f"'{itype}' is a GPU type; Milvus pools here are CPU-only")
    arches = sorted({t.arch for t in known})
    if len(arches) > 1:
        listing = ", ".join(f"{t.name} ({t.arch})" for t in known)
        yield Problem(f"{where}.instanceTypes", f"mixes CPU architectures ({listing}); one node group runs one AMI, "
                                                f"so use types of a single architecture")


def _required_roles(s: Settings) -> list[str]:
    roles = ["system", "mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode", "etcd", "messageQueue"]
    if s.monitoring.enabled:
        roles.append("monitoring")
    if s.milvus.object_storage == "minio":
        roles.append("minio")
    return roles


def _check_roles(s: Settings) -> Iterator[Problem]:
    hosts: dict[str, list[str]] = {role: [] for role in ROLES}
    for name, pool in s.node_pools.items():
        for role in pool.roles:
            hosts[role].append(name)
    for role in _required_roles(s):
        if not hosts[role]:
            yield Problem("nodePools", f"no pool hosts role '{role}'; add '{role}' to the roles of one pool")
    hard = ("NO_SCHEDULE", "NO_EXECUTE")
    untainted = [name for name, pool in s.node_pools.items() if not any(t.effect in hard for t in pool.taints)]
    if hosts["system"] and not untainted:
        system = hosts["system"][0]
        yield Problem(f"nodePools.{system}.taints",
                      f"every pool is tainted, including '{system}' which hosts the system role; the cluster "
                      f"add-ons (CoreDNS, the EBS CSI controller) tolerate no custom taint and would have nowhere "
                      f"to run. Remove the taints of pool '{system}'")
    for role, pools in hosts.items():
        if len(pools) > 1:
            yield Problem("nodePools", f"role '{role}' is hosted by several pools ({', '.join(pools)}); "
                                       f"keep it in one so placement is unambiguous")


def _check_milvus(s: Settings) -> Iterator[Problem]:
    coord = s.milvus.components.mix_coordinator
    if coord.active_standby and (coord.replicas or 1) < 2:
        yield Problem("milvus.components.mixCoordinator.replicas",
                      f"activeStandby needs at least 2 replicas, got {coord.replicas or 1}; set replicas: 2")
    if s.milvus.bucket.force_destroy and s.milvus.bucket.protect:
        yield Problem("milvus.bucket.forceDestroy", "contradicts protect: true; set one of them to false")
    if not coord.active_standby and (coord.replicas or 1) > 1:
        # Without active-standby the chart forces one Recreate coordinator (charts/milvus values.yaml mixCoordinator).
        yield Problem("milvus.components.mixCoordinator.replicas",
                      f"{coord.replicas} coordinators need activeStandby: true (only one may be active); "
                      f"set activeStandby: true or replicas: 1")
    proxy = s.milvus.components.proxy
    if proxy.autoscaling.enabled and proxy.replicas is not None:
        yield Problem("milvus.components.proxy.replicas",
                      f"is {proxy.replicas} while autoscaling.enabled is true; the HorizontalPodAutoscaler owns the "
                      f"count, so remove replicas and set autoscaling.minReplicas instead")
    if proxy.autoscaling.min_replicas > proxy.autoscaling.max_replicas:
        yield Problem("milvus.components.proxy.autoscaling.minReplicas",
                      f"{proxy.autoscaling.min_replicas} is above maxReplicas {proxy.autoscaling.max_replicas}; lower "
                      f"minReplicas or raise maxReplicas")
    if s.milvus.service.type == "internalNlb" and not s.milvus.service.allowed_cidrs:
        # The chart would otherwise leave loadBalancerSourceRanges unset: any address that can route to the NLB.
        yield Problem("milvus.service.allowedCidrs",
                      "is empty but service.type is internalNlb; list the client CIDRs (e.g. the VPC CIDR)")
    if (s.milvus.service_account_binding is not None and "service_account_binding" in s.cluster.model_fields_set
            and s.milvus.service_account_binding != s.cluster.service_account_binding):
        yield Problem("milvus.serviceAccountBinding",
                      f"is {s.milvus.service_account_binding!r} but cluster.serviceAccountBinding is "
                      f"{s.cluster.service_account_binding!r}; one binding serves every workload role, so remove "
                      f"milvus.serviceAccountBinding and keep the value you want in cluster.serviceAccountBinding")
    yield from _check_backup(s)


def _check_client_cidrs(s: Settings) -> Iterator[Problem]:
    # Pods take addresses from the private subnets (VPC CNI). A client range inside one would admit pods of every
    # namespace to the proxy, bypassing allowedNamespaces; a range around one gets the subnet excepted instead
    # (render.milvus_values.client_ip_blocks).
    pods = [ipaddress.IPv4Network(c) for c in plan_subnets(s.network.vpc_cidr, s.network.az_count).private]
    for i, cidr in enumerate(s.milvus.service.allowed_cidrs):
        net = ipaddress.IPv4Network(cidr)
        inside = [str(p) for p in pods if net.subnet_of(p)]
        if inside:
            yield Problem(f"milvus.service.allowedCidrs[{i}]",
                          f"{cidr} lies inside the pod subnet {inside[0]}, so it would admit pods of any namespace; "
                          f"admit pods with milvus.service.allowedNamespaces and keep allowedCidrs for clients "
                          f"outside the cluster")


def _check_alerting(s: Settings) -> Iterator[Problem]:
    # node-exporter runs in `<namespace>-nodes` (render.monitoring_values.node_exporter_namespace).
    if s.monitoring.enabled and len(s.monitoring.namespace) > 63 - len("-nodes"):
        yield Problem("monitoring.namespace", f"{s.monitoring.namespace!r} is {len(s.monitoring.namespace)} "
                                              f"characters; at most 57, because node-exporter runs in "
                                              f"'<namespace>-nodes', which must fit in 63")
    seen: set[str] = set()
    for i, receiver in enumerate(s.monitoring.alerting.receivers):
        where = f"monitoring.alerting.receivers[{i}]"
        kinds = [k for k in ("slack", "pagerduty", "webhook") if getattr(receiver, k) is not None]
        if len(kinds) != 1:
            yield Problem(where, f"receiver {receiver.name!r} sets {kinds or 'none'} of slack, pagerduty, webhook; "
                                 f"set exactly one (add another receiver for a second destination)")
        if receiver.name in seen:
            yield Problem(f"{where}.name", f"{receiver.name!r} is used twice; receiver names must be unique")
        if receiver.name == "unrouted":
            yield Problem(f"{where}.name", "'unrouted' is reserved for alerts no receiver takes; pick another name")
        seen.add(receiver.name)
        if not receiver.severities:
            yield Problem(f"{where}.severities", "is empty; list the severities it gets, e.g. [critical, warning]")


def _check_backup(s: Settings) -> Iterator[Problem]:
    from stacks.cron import parse

    b = s.milvus.backup
    if not b.enabled:
        return
    if s.milvus.object_storage != "s3":
        yield Problem("milvus.backup.enabled", "backups need objectStorage: s3 (in-cluster MinIO is not backed up "
                                               "here); set milvus.objectStorage: s3 or milvus.backup.enabled: false")
    if b.destination == "prefix" and b.prefix == s.milvus.release_name:
        yield Problem("milvus.backup.prefix", f"'{b.prefix}' is the folder Milvus itself writes (its release name); "
                                              f"choose another, e.g. backup")
    if b.destination == "bucket" and b.force_destroy and b.protect:
        yield Problem("milvus.backup.forceDestroy", "contradicts protect: true; set one of them to false")
    interval = parse(b.schedule).max_interval_seconds()
    if b.retention_days * 86400 < interval:
        yield Problem("milvus.backup.retentionDays",
                      f"{b.retention_days} day(s) is shorter than the longest gap between two runs of "
                      f"'{b.schedule}' ({interval / 86400:g} days); raise it to at least "
                      f"{-(-interval // 86400)}")
