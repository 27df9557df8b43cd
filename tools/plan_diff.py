"""Compare two offline plans and write the difference as Markdown for a pull request.

    python -m tools.plan_diff [--allow-destructive] BASE_DIR HEAD_DIR > plan-diff.md

Each directory is either one plan (it holds `plan.json` and `resources.json`, as written by `tools.plan --out`) or a
parent of several (`<dir>/<stack>/plan.json`): then there is one section per stack. A side with no plan — a base from
before the plan command existed — compares as empty.

Per stack: the scale sequence when the query tier grows or shrinks (reports/sequence.py: the order `pulumi up` takes
the node pools, the Milvus release and the topology Job in, and what Milvus and Karpenter do in each step), resources
added, removed and changed (same type and name, different input hash; the changed input keys
are listed), Kubernetes objects added, removed and changed per source (`objects.json`: the rendered charts and the
program's own objects; the changed fields as JSON paths with old → new), capacity and quota deltas (every number in
the exported plan, the node pools and the ResourceQuotas that differs), and the monthly cost per line item and in
total.

Above everything, "Destructive changes" lists what replaces or deletes a stateful resource or object (the EKS
cluster, the bucket, the VPC and subnets, the Helm releases and StatefulSets holding the etcd and Prometheus volumes,
a node group with query nodes), each with the input that forces it and where that rule comes from
(`tools.destructive`). When there is any, the exit status is 3 (EXIT_DESTRUCTIVE) so a CI step fails; with
`--allow-destructive` they are still listed and the exit status is 0.

A plan folder that cannot be read (a file missing, empty, truncated, not UTF-8, not the JSON shape the plan command
writes) is an error: one line naming the file, and exit status 1. So are a HEAD that does not exist or holds no plan.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from reports import sequence
from tools import destructive as destructive_rules

EXIT_DESTRUCTIVE = 3
REFUSED = "refused"
"""The action of a change EKS itself would reject (skipping a minor, a downgrade): never allowed by the flag."""
"""Exit status when the diff holds a destructive change and `--allow-destructive` was not given (1 is a bad plan
folder, 2 a usage error)."""

MAX_ROWS = 60
"""Longer tables are cut (with a count of what was left out) so a PR comment stays under GitHub's size limit."""


MAX_DEPTH = 200
"""Deeper than anything the plan command writes (a CRD's OpenAPI schema nests a few dozen levels)."""
MAX_FILE_BYTES = 256 * 2**20


class PlanDiffError(Exception):
    """A plan folder that cannot be compared; the message is one line naming the file and the fix."""


@dataclass(frozen=True)
class Plan:
    document: Mapping[str, Any]
    resources: Mapping[str, Mapping[str, Any]]
    """By resource id (parent-qualified type and name)."""
    objects: Mapping[tuple[str, str, str, str], Mapping[str, Any]] | None = None
    """By (source, kind, namespace, name); None when the folder predates objects.json."""

    @property
    def empty(self) -> bool:
        return not self.document and not self.resources


EMPTY = Plan({}, {}, {})
_RERUN = "re-run `python -m tools.plan STACK --out DIR` to write the folder again"


def _read_json(path: Path) -> Any:
    if path.is_dir():
        raise PlanDiffError(f"{path} is a directory, not a file; {_RERUN}")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PlanDiffError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB; it is not a plan file")
        data = path.read_bytes()
    except OSError as err:
        raise PlanDiffError(f"{path} cannot be read ({err.strerror}); {_RERUN}") from None
    if not data.strip():
        raise PlanDiffError(f"{path} is empty; {_RERUN}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PlanDiffError(f"{path} is not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
                            f"{_RERUN}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanDiffError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}; "
                            f"truncated?); {_RERUN}") from None
    except RecursionError:
        raise PlanDiffError(f"{path} is nested too deeply to be a plan file; {_RERUN}") from None
    if _depth(value) > MAX_DEPTH:
        raise PlanDiffError(f"{path} is nested more than {MAX_DEPTH} levels deep; it is not a plan file")
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _shape(path: Path, where: str, value: Any, expected: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, expected) or isinstance(value, bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)):
        got = type(value).__name__ if value is not None else "null"
        raise PlanDiffError(f"{path}: {where or 'the top level'} must be {what}, got {got}; {_RERUN}")


_NUMBER = (int, float)


def _check_document(path: Path, document: Any) -> Mapping[str, Any]:
    _shape(path, "", document, dict, "an object")
    for key in ("plan", "nodePools", "quotas", "cost", "outputs", "resourceCounts"):
        if document.get(key) is not None and key != "plan":
            _shape(path, key, document[key], dict, "an object")
    if document.get("stack") is not None:
        _shape(path, "stack", document["stack"], str, "a string")
    if document.get("resourceCount") is not None:
        _shape(path, "resourceCount", document["resourceCount"], int, "a whole number")
    warnings = document.get("warnings")
    if warnings is not None:
        _shape(path, "warnings", warnings, list, "a list")
        for i, w in enumerate(warnings):
            _shape(path, f"warnings[{i}]", w, str, "a string")
    cost = document.get("cost") or {}
    if cost.get("total") is not None:
        _shape(path, "cost.total", cost["total"], _NUMBER, "a number")
    items = cost.get("lineItems")
    if items is not None:
        _shape(path, "cost.lineItems", items, list, "a list")
        for i, item in enumerate(items):
            _shape(path, f"cost.lineItems[{i}]", item, dict, "an object")
            _shape(path, f"cost.lineItems[{i}].item", item.get("item"), str, "a string")
            _shape(path, f"cost.lineItems[{i}].monthly_usd", item.get("monthly_usd"), _NUMBER, "a number")
            if item.get("key") is not None:
                _shape(path, f"cost.lineItems[{i}].key", item["key"], str, "a string")
    return document


def _check_records(path: Path, records: Any) -> dict[str, Mapping[str, Any]]:
    _shape(path, "", records, list, "a list of resources")
    found: dict[str, Mapping[str, Any]] = {}
    for i, record in enumerate(records):
        _shape(path, f"[{i}]", record, dict, "an object")
        for key in ("id", "type", "name", "inputsHash"):
            _shape(path, f"[{i}].{key}", record.get(key), str, "a string")
        _shape(path, f"[{i}].parent", record.get("parent", ""), str, "a string")
        _shape(path, f"[{i}].inputs", record.get("inputs"), dict, "an object of input hashes")
        # Written by newer plan commands only (tools.destructive reads them); an older folder lacks them.
        _shape(path, f"[{i}].fields", record.get("fields", {}), dict, "an object of nested input hashes")
        depends = record.get("dependsOn", {})
        _shape(path, f"[{i}].dependsOn", depends, dict, "an object of resource id lists")
        for key, ids in depends.items():
            _shape(path, f"[{i}].dependsOn.{key}", ids, list, "a list of resource ids")
        aliases = record.get("aliases", [])
        _shape(path, f"[{i}].aliases", aliases, list, "a list of resource ids")
        for j, alias in enumerate(aliases):
            _shape(path, f"[{i}].aliases[{j}]", alias, str, "a string")
        roles = record.get("roles", [])
        _shape(path, f"[{i}].roles", roles, list, "a list of role names")
        for j, role in enumerate(roles):
            _shape(path, f"[{i}].roles[{j}]", role, str, "a string")
        if record["id"] in found:
            raise PlanDiffError(f"{path}: [{i}].id {record['id']!r} appears twice; {_RERUN}")
        found[record["id"]] = record
    return found


def _check_objects(path: Path, document: Any) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    _shape(path, "", document, dict, "an object with an `objects` list")
    entries = document.get("objects")
    _shape(path, "objects", entries, list, "a list")
    found: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for i, entry in enumerate(entries):
        _shape(path, f"objects[{i}]", entry, dict, "an object")
        _shape(path, f"objects[{i}].source", entry.get("source"), str, "a string")
        obj = entry.get("object")
        _shape(path, f"objects[{i}].object", obj, dict, "a Kubernetes object")
        _shape(path, f"objects[{i}].object.kind", obj.get("kind"), str, "a string")
        metadata = obj.get("metadata")
        _shape(path, f"objects[{i}].object.metadata", metadata, dict, "an object")
        _shape(path, f"objects[{i}].object.metadata.name", metadata.get("name"), str, "a string")
        namespace = metadata.get("namespace", "")
        _shape(path, f"objects[{i}].object.metadata.namespace", namespace, str, "a string")
        key = (entry["source"], obj["kind"], namespace, metadata["name"])
        if key in found:
            raise PlanDiffError(f"{path}: objects[{i}] ({obj['kind']} {namespace}/{metadata['name']} from "
                                f"{entry['source']}) appears twice; {_RERUN}")
        found[key] = obj
    return found


def load_plan(directory: Path) -> Plan:
    """One plan folder; a folder with neither plan.json nor resources.json is a stack with no plan (EMPTY)."""
    plan_file, resources_file, objects_file = (directory / "plan.json", directory / "resources.json",
                                               directory / "objects.json")
    if not plan_file.exists() and not resources_file.exists():
        return EMPTY
    for required in (plan_file, resources_file):
        if not required.exists():
            raise PlanDiffError(f"{required} is missing (the folder holds only part of a plan); {_RERUN}")
    document = _check_document(plan_file, _read_json(plan_file))
    records = _check_records(resources_file, _read_json(resources_file))
    objects = _check_objects(objects_file, _read_json(objects_file)) if objects_file.exists() else None
    return Plan(document, records, objects)


def stacks_in(directory: Path) -> dict[str, Plan]:
    if not directory.exists():
        return {}
    if not directory.is_dir():
        raise PlanDiffError(f"{directory} is a file; give the plan folder (`tools.plan --out DIR`) or its parent")
    if _single(directory):
        plan = load_plan(directory)
        return {plan.document.get("stack") or directory.name: plan}
    try:
        children = sorted(child for child in directory.iterdir() if child.is_dir())
    except OSError as err:
        raise PlanDiffError(f"{directory} cannot be listed ({err.strerror})") from None
    return {child.name: load_plan(child) for child in children}


# ------------------------------------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class ResourceChanges:
    added: list[Mapping[str, Any]]
    removed: list[Mapping[str, Any]]
    changed: list[tuple[Mapping[str, Any], list[str]]]
    moved: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=list)
    """(base record, head record) pairs the head's `aliases` join: Pulumi keeps the resource under its new name."""


def moves(base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Base id → head id for every resource the head aliases to a base id it no longer has."""
    gone = base.keys() - head.keys()
    return {old: key for key in sorted(head.keys() - base.keys()) for old in head[key].get("aliases", [])
            if old in gone}


def _differing_inputs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = old["inputs"].keys() | new["inputs"].keys()
    return sorted(k for k in keys if old["inputs"].get(k) != new["inputs"].get(k))


def resource_changes(base: Plan, head: Plan) -> ResourceChanges:
    moved = moves(base.resources, head.resources)
    added = [head.resources[k] for k in sorted(head.resources.keys() - base.resources.keys())
             if k not in moved.values()]
    removed = [base.resources[k] for k in sorted(base.resources.keys() - head.resources.keys()) if k not in moved]
    changed = []
    for key in sorted(base.resources.keys() & head.resources.keys()):
        old, new = base.resources[key], head.resources[key]
        if old["inputsHash"] != new["inputsHash"]:
            changed.append((new, _differing_inputs(old, new)))
    return ResourceChanges(added, removed, changed,
                           [(base.resources[old], head.resources[new]) for old, new in sorted(moved.items())])


ObjectKey = tuple[str, str, str, str]
"""(source, kind, namespace, name)."""


@dataclass(frozen=True)
class ObjectChanges:
    added: list[ObjectKey]
    removed: list[ObjectKey]
    changed: list[tuple[ObjectKey, list[tuple[str, Any, Any]]]]
    """Per changed object, every differing leaf: (JSON path, old, new); a side that lacks the path is MISSING."""


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


def object_changes(base: Mapping[ObjectKey, Any], head: Mapping[ObjectKey, Any]) -> ObjectChanges:
    changed = []
    for key in sorted(base.keys() & head.keys()):
        fields = list(field_changes(base[key], head[key]))
        if fields:
            changed.append((key, fields))
    return ObjectChanges(sorted(head.keys() - base.keys()), sorted(base.keys() - head.keys()), changed)


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """List items keyed by their `name` (containers, ports, env) when every item has a distinct one: an inserted
    container then shows as one added entry, not as every later index changed."""
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items):
        return None
    names = [i["name"] for i in items]
    return dict(zip(names, items)) if len(set(names)) == len(names) else None


def field_changes(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(old.keys() | new.keys(), key=str):
            child = f"{path}.{key}" if path else str(key)
            yield from field_changes(old.get(key, MISSING), new.get(key, MISSING), child)
    elif isinstance(old, list) and isinstance(new, list):
        old_named, new_named = _by_name(old), _by_name(new)
        if old_named is not None and new_named is not None:
            for name in sorted(old_named.keys() | new_named.keys()):
                yield from field_changes(old_named.get(name, MISSING), new_named.get(name, MISSING),
                                         f"{path}[name={name}]")
        else:
            for i in range(max(len(old), len(new))):
                yield from field_changes(old[i] if i < len(old) else MISSING, new[i] if i < len(new) else MISSING,
                                         f"{path}[{i}]")
    elif old != new or type(old) is not type(new):
        yield path, old, new


SHOW = 60
"""Values longer than this are abbreviated in the table (a ConfigMap's whole file is one value)."""


def _shown(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= SHOW else f"{text[:SHOW - 1]}… ({len(text)} chars)"


def _object_label(key: ObjectKey) -> str:
    _, kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def objects_section(base: Plan, head: Plan) -> list[str]:
    out = ["### Kubernetes objects", ""]
    if head.objects is None or (base.objects is None and not base.empty):
        side = "head" if head.objects is None else "base"
        return out + [f"The {side} plan has no objects.json (written by an older plan command): no object-level "
                      f"diff.", ""]
    changes = object_changes(base.objects or {}, head.objects)
    out += [f"{len(changes.added)} to add, {len(changes.changed)} to change, {len(changes.removed)} to remove "
            f"({len(head.objects)} in total).", ""]
    sources = sorted({k[0] for k in (*changes.added, *changes.removed)} | {k[0] for k, _ in changes.changed})
    for source in sources:
        out += [f"#### {source}", ""]
        added = [_object_label(k) for k in changes.added if k[0] == source]
        removed = [_object_label(k) for k in changes.removed if k[0] == source]
        for title, labels in (("Added", added), ("Removed", removed)):
            if labels:
                out += [f"**{title}**: " + ", ".join(f"`{label}`" for label in labels[:MAX_ROWS])
                        + (f" … and {len(labels) - MAX_ROWS} more" if len(labels) > MAX_ROWS else ""), ""]
        rows = [[f"`{_object_label(k)}`", f"`{field}`", _shown(old), _shown(new)]
                for k, fields in changes.changed if k[0] == source for field, old, new in fields]
        if rows:
            out += ["**Changed**", ""] + _table(["object", "field", "base", "head"], rows) + [""]
    return out


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every numeric leaf with its dotted path; list items are keyed by their `name` when they have one."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            label = item.get("name", i) if isinstance(item, Mapping) else i
            yield from numbers(item, f"{path}[{label}]")


def numeric_deltas(base: Any, head: Any) -> list[tuple[str, float | None, float | None]]:
    old, new = dict(numbers(base)), dict(numbers(head))
    return [(k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def capacity_sections(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"plan": document.get("plan") if isinstance(document.get("plan"), Mapping) else {},
            "nodePools": document.get("nodePools") or {}, "quotas": document.get("quotas") or {}}


def cost_items(document: Mapping[str, Any]) -> dict[str, float]:
    items = (document.get("cost") or {}).get("lineItems") or []
    return {item.get("key", item["item"]): item["monthly_usd"] for item in items}


# ------------------------------------------------------------------------------------------------ markdown


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


def _delta(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "new" if old is None else "gone"
    change = new - old
    sign = "+" if change > 0 else ""
    return f"{sign}{change:,.2f}" if not float(change).is_integer() else f"{sign}{change:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_ROWS} more rows.")
    return lines


LIST_EACH = 25
"""Up to this many added/removed resources are listed one by one; more are summarised per type."""


def _resource_table(items: list[Mapping[str, Any]]) -> list[str]:
    if len(items) <= LIST_EACH:
        return _table(["type", "name", "parent"], [[f"`{r['type']}`", r["name"], r["parent"]] for r in items])
    by_type: dict[str, list[str]] = {}
    for r in items:
        by_type.setdefault(r["type"], []).append(r["name"])
    return _table(["type", "count", "names"], [[f"`{t}`", str(len(names)), ", ".join(names[:4]) +
                                                 (", …" if len(names) > 4 else "")]
                                                for t, names in sorted(by_type.items())])


def stack_section(stack: str, base: Plan, head: Plan) -> list[str]:
    out = [f"## Stack `{stack}`", ""]
    if head.empty:
        return out + ["The head has no plan for this stack.", ""]
    if base.empty:
        out += ["The base has no plan for this stack (it predates the plan command or the stack is new): "
                "everything below is new.", ""]

    changes = resource_changes(base, head)
    out += ["### Resources", "",
            f"{len(changes.added)} to add, {len(changes.changed)} to change, {len(changes.removed)} to remove"
            f"{f', {len(changes.moved)} to move' if changes.moved else ''} "
            f"({head.document.get('resourceCount', len(head.resources))} in total).", ""]
    for title, items in (("Added", changes.added), ("Removed", changes.removed)):
        if items:
            out += [f"**{title}**", ""] + _resource_table(items) + [""]
    if changes.moved:
        out += ["**Moved** (an alias names the old resource: Pulumi keeps it, nothing is replaced)", ""] + _table(
            ["type", "from", "to", "inputs that differ"],
            [[f"`{new['type']}`", f"{old['name']} ({old['parent']})", f"{new['name']} ({new['parent']})",
              ", ".join(_differing_inputs(old, new)) or "none"] for old, new in changes.moved]) + [""]
    if changes.changed:
        out += ["**Changed**", ""] + _table(["type", "name", "inputs that differ"],
                                            [[f"`{r['type']}`", r["name"], ", ".join(keys)]
                                             for r, keys in changes.changed]) + [""]

    out += sequence.sequence(sequence.shape(base.document, base.objects), sequence.shape(head.document, head.objects))
    out += objects_section(base, head)

    out += ["### Capacity and quotas", ""]
    base_cap, head_cap = capacity_sections(base.document), capacity_sections(head.document)
    rows = []
    for section in ("plan", "nodePools", "quotas"):
        for path, old, new in numeric_deltas(base_cap[section], head_cap[section]):
            rows.append([f"`{section}.{path}`", _fmt(old), _fmt(new), _delta(old, new)])
    out += (_table(["value", "base", "head", "change"], rows) if rows else ["No capacity or quota change."]) + [""]

    out += ["### Monthly cost (USD)", ""]
    old_items, new_items = cost_items(base.document), cost_items(head.document)
    rows = [[name, _fmt(old_items.get(name)), _fmt(new_items.get(name)), _delta(old_items.get(name),
                                                                               new_items.get(name))]
            for name in list(dict.fromkeys([*new_items, *old_items]))
            if old_items.get(name) != new_items.get(name)]
    old_total = (base.document.get("cost") or {}).get("total")
    new_total = (head.document.get("cost") or {}).get("total")
    rows.append(["**total**", _fmt(old_total), _fmt(new_total), _delta(old_total, new_total)])
    out += _table(["line item", "base", "head", "change"], rows) + [""]
    warnings = [w for w in head.document.get("warnings") or [] if w not in (base.document.get("warnings") or [])]
    if warnings:
        out += ["New warnings:", ""] + [f"- {w}" for w in warnings] + [""]
    return out


def destructive_changes(base: Plan, head: Plan) -> list[destructive_rules.Destructive]:
    """What replaces or deletes data in one stack. A stack that is new (empty base) destroys nothing; a stack
    whose head has no plan is reported by the stack section, not here."""
    if base.empty or head.empty:
        return []
    found = [*upgrade_order(base.document, head.document),
             *destructive_rules.resource_findings(base.resources, head.resources)]
    if base.objects is not None and head.objects is not None:
        found += destructive_rules.object_findings(base.objects, head.objects,
                                                   object_changes(base.objects, head.objects).changed)
    return found


def _minor(version: Any) -> tuple[int, int] | None:
    try:
        major, minor = str(version).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def upgrade_order(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[destructive_rules.Destructive]:
    """EKS moves a cluster one Kubernetes minor at a time and never back (EKS user guide, "Update existing cluster to
    new Kubernetes version": "you can update only to the next minor version"; there is no downgrade). A plan that
    skips a minor or goes back would fail in `pulumi up` after the plan looked fine: `refused`, which no label
    allows."""
    old = _minor(((base.get("cluster") or {}) if isinstance(base.get("cluster"), Mapping) else {})
                 .get("kubernetesVersion"))
    new = _minor(((head.get("cluster") or {}) if isinstance(head.get("cluster"), Mapping) else {})
                 .get("kubernetesVersion"))
    if old is None or new is None or old == new or (old[0] == new[0] and new[1] == old[1] + 1):
        return []
    what, shown = "EKS cluster Kubernetes version", f"{old[0]}.{old[1]} → {new[0]}.{new[1]}"
    if new < old:
        return [destructive_rules.Destructive(what, REFUSED, f"{shown}: EKS cannot downgrade a cluster")]
    return [destructive_rules.Destructive(
        what, REFUSED, f"{shown}: EKS upgrades one minor at a time; upgrade to {old[0]}.{old[1] + 1} first "
                       f"(control plane, add-ons, nodes: docs/upgrade.md), then the next minor in another change")]


def destructive_section(findings: Mapping[str, list[destructive_rules.Destructive]], allowed: bool) -> list[str]:
    total = sum(len(f) for f in findings.values())
    out = ["## Destructive changes", ""]
    if not total:
        return out + ["None: no stateful resource or object is replaced or deleted.", ""]
    verdict = ("allowed for this change (`--allow-destructive`)" if allowed else
               "the check fails until they are removed or the pull request is labelled `allow-destructive`")
    out += [f"**{total} change(s) replace or delete data**; {verdict}.", ""]
    rows = [[f"`{stack}`", f.what, f.action, f.reason] for stack, items in findings.items() for f in items]
    return out + _table(["stack", "resource or object", "action", "why"], rows) + [""]


def pairs(base_dir: Path, head_dir: Path) -> dict[str, tuple[Plan, Plan]]:
    base, head = stacks_in(base_dir), stacks_in(head_dir)
    if _single(base_dir) and _single(head_dir) and base.keys() != head.keys():
        # Two single plans of different stacks (dev vs prod): compare them as one pair.
        name = f"{next(iter(base))} → {next(iter(head))}"
        base, head = {name: next(iter(base.values()))}, {name: next(iter(head.values()))}
    if not any(not plan.empty for plan in head.values()):
        raise PlanDiffError(f"no plans found in {head_dir} (expected plan.json and resources.json there or in "
                            f"its subfolders); run `python -m tools.plan STACK --out DIR` first")
    return {name: (base.get(name, EMPTY), head.get(name, EMPTY)) for name in sorted(base.keys() | head.keys())}


def render(base_dir: Path, head_dir: Path, allow_destructive: bool = False) -> str:
    return diff(base_dir, head_dir, allow_destructive)[0]


def diff(base_dir: Path, head_dir: Path, allow_destructive: bool = False
         ) -> tuple[str, dict[str, list[destructive_rules.Destructive]]]:
    """The Markdown and the destructive changes per stack."""
    stacks = pairs(base_dir, head_dir)
    base = {name: b for name, (b, _) in stacks.items()}
    head = {name: h for name, (_, h) in stacks.items()}
    names = list(stacks)
    findings = {name: found for name in names if (found := destructive_changes(*stacks[name]))}
    out = ["# Offline plan diff", ""] + destructive_section(findings, allow_destructive)
    summary = []
    for name in names:
        b, h = base.get(name, EMPTY), head.get(name, EMPTY)
        ch = resource_changes(b, h)
        old = (b.document.get("cost") or {}).get("total")
        new = (h.document.get("cost") or {}).get("total")
        if h.objects is not None and (b.objects is not None or b.empty):
            oc = object_changes(b.objects or {}, h.objects)
            objects = f"+{len(oc.added)} ~{len(oc.changed)} -{len(oc.removed)}"
        else:
            objects = "—"
        summary.append([f"`{name}`", f"+{len(ch.added)} ~{len(ch.changed)} -{len(ch.removed)}", objects,
                        _fmt(old), _fmt(new), _delta(old, new)])
    out += _table(["stack", "resources", "Kubernetes objects", "cost base", "cost head", "change"], summary) + [""]
    for name in names:
        out += stack_section(name, base.get(name, EMPTY), head.get(name, EMPTY))
    return "\n".join(out), findings


def _single(directory: Path) -> bool:
    return (directory / "plan.json").exists() or (directory / "resources.json").exists()


ALLOW_FLAG = "--allow-destructive"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    allow = ALLOW_FLAG in args
    args = [a for a in args if a != ALLOW_FLAG]
    if len(args) != 2 or any(a.startswith("--") for a in args):
        print(f"usage: python -m tools.plan_diff [{ALLOW_FLAG}] BASE_DIR HEAD_DIR", file=sys.stderr)
        return 2
    base, head = Path(args[0]), Path(args[1])
    try:
        if not head.exists():
            raise PlanDiffError(f"the head plan folder {head} does not exist; run `python -m tools.plan STACK "
                                f"--out {head}` first")
        markdown, findings = diff(base, head, allow)
    except PlanDiffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(markdown)
    refused = [f for items in findings.values() for f in items if f.action == REFUSED]
    if refused:
        print(f"error: {refused[0].what}: {refused[0].reason}", file=sys.stderr)
        return EXIT_DESTRUCTIVE
    if findings and not allow:
        count = sum(len(f) for f in findings.values())
        print(f"error: {count} destructive change(s) (see \"Destructive changes\"); label the pull request "
              f"`allow-destructive` or pass {ALLOW_FLAG} once they are intended", file=sys.stderr)
        return EXIT_DESTRUCTIVE
    return 0


if __name__ == "__main__":
    sys.exit(main())
