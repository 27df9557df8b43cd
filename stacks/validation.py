"""Turn a raw stack configuration into Settings, or into one ConfigError listing every problem.

Pass 1 lets pydantic check shapes, types, ranges and syntax (all fields at once). Pass 2 checks what spans keys:
instance types against the catalog, pool roles, endpoint exposure. Both passes report keys as the user writes them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from typing import Any, Iterable, Iterator, Mapping, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from stacks.catalog import load_catalog
from stacks.errors import ConfigError, Problem
from stacks.settings import ROLES, TOP_LEVEL_KEYS, NodePoolSettings, Settings
from stacks.sizing import sizing_problems


def load_settings(raw: Mapping[str, Any], region: str | None) -> Settings:
    """Validate the `milvus-eks:*` config (keys without the namespace) and the AWS region, all at once.

    Each top-level key, and each node pool, is parsed on its own so that a broken part does not hide the
    problems of the others; checks across keys run on whatever parsed.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            problems.append(Problem(key, _unknown_key_message(key, TOP_LEVEL_KEYS)))
    if not region:
        problems.append(Problem("aws:region", "is not set; run `pulumi config set aws:region us-west-2`"))
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
        settings = Settings.model_validate_json(json.dumps(document), strict=True)
        problems.extend(check(settings))
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


def _from_pydantic(err: ValidationError, section: str) -> Iterator[Problem]:
    for e in err.errors(include_url=False):
        loc = [section, *e["loc"]]
        # Dict keys validated by a key validator show up as `[key, "[key]"]`; keep one.
        if len(loc) >= 2 and loc[-1] == "[key]":
            loc = loc[:-1]
        path = key_path(loc)
        kind = e["type"]
        bad = e.get("input")
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
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


def check(settings: Settings) -> list[Problem]:
    return [*_check_network(settings), *_check_cluster(settings), *_check_pools(settings), *_check_milvus(settings),
            *_check_sizing(settings)]


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


def _check_cluster(s: Settings) -> Iterator[Problem]:
    ep = s.cluster.endpoint
    if not ep.private_access and not ep.public_access:
        yield Problem("cluster.endpoint", "privateAccess and publicAccess are both false; nothing could reach the "
                                          "API server. Set privateAccess: true")
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
    if s.milvus.service.type == "internalNlb" and not s.milvus.service.allowed_cidrs:
        # The chart would otherwise leave loadBalancerSourceRanges unset: any address that can route to the NLB.
        yield Problem("milvus.service.allowedCidrs",
                      "is empty but service.type is internalNlb; list the client CIDRs (e.g. the VPC CIDR)")
    yield from _check_backup(s)


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
