"""Compare two offline plans and write the difference as Markdown for a pull request.

    python -m tools.plan_diff BASE_DIR HEAD_DIR > plan-diff.md

Each directory is either one plan (it holds `plan.json` and `resources.json`, as written by `tools.plan --out`) or a
parent of several (`<dir>/<stack>/plan.json`): then there is one section per stack. A side with no plan — a base from
before the plan command existed — compares as empty.

Per stack: resources added, removed and changed (same type and name, different input hash; the changed input keys
are listed), capacity and quota deltas (every number in the exported plan, the node pools and the ResourceQuotas
that differs), and the monthly cost per line item and in total.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

MAX_ROWS = 60
"""Longer tables are cut (with a count of what was left out) so a PR comment stays under GitHub's size limit."""


@dataclass(frozen=True)
class Plan:
    document: Mapping[str, Any]
    resources: Mapping[str, Mapping[str, Any]]
    """By resource id (parent-qualified type and name)."""

    @property
    def empty(self) -> bool:
        return not self.document and not self.resources


EMPTY = Plan({}, {})


def load_plan(directory: Path) -> Plan:
    plan_file, resources_file = directory / "plan.json", directory / "resources.json"
    document = json.loads(plan_file.read_text()) if plan_file.exists() else {}
    records = json.loads(resources_file.read_text()) if resources_file.exists() else []
    return Plan(document, {r["id"]: r for r in records})


def stacks_in(directory: Path) -> dict[str, Plan]:
    if not directory.exists():
        return {}
    if (directory / "plan.json").exists():
        plan = load_plan(directory)
        return {plan.document.get("stack", directory.name): plan}
    return {child.name: load_plan(child) for child in sorted(directory.iterdir()) if child.is_dir()}


# ------------------------------------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class ResourceChanges:
    added: list[Mapping[str, Any]]
    removed: list[Mapping[str, Any]]
    changed: list[tuple[Mapping[str, Any], list[str]]]


def resource_changes(base: Plan, head: Plan) -> ResourceChanges:
    added = [head.resources[k] for k in sorted(head.resources.keys() - base.resources.keys())]
    removed = [base.resources[k] for k in sorted(base.resources.keys() - head.resources.keys())]
    changed = []
    for key in sorted(base.resources.keys() & head.resources.keys()):
        old, new = base.resources[key], head.resources[key]
        if old["inputsHash"] != new["inputsHash"]:
            keys = sorted(k for k in old["inputs"].keys() | new["inputs"].keys()
                          if old["inputs"].get(k) != new["inputs"].get(k))
            changed.append((new, keys))
    return ResourceChanges(added, removed, changed)


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
            f"{len(changes.added)} to add, {len(changes.changed)} to change, {len(changes.removed)} to remove "
            f"({head.document.get('resourceCount', len(head.resources))} in total).", ""]
    for title, items in (("Added", changes.added), ("Removed", changes.removed)):
        if items:
            out += [f"**{title}**", ""] + _resource_table(items) + [""]
    if changes.changed:
        out += ["**Changed**", ""] + _table(["type", "name", "inputs that differ"],
                                            [[f"`{r['type']}`", r["name"], ", ".join(keys)]
                                             for r, keys in changes.changed]) + [""]

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


def render(base_dir: Path, head_dir: Path) -> str:
    base, head = stacks_in(base_dir), stacks_in(head_dir)
    if _single(base_dir) and _single(head_dir) and base.keys() != head.keys():
        # Two single plans of different stacks (dev vs prod): compare them as one pair.
        name = f"{next(iter(base))} → {next(iter(head))}"
        base, head = {name: next(iter(base.values()))}, {name: next(iter(head.values()))}
    out = ["# Offline plan diff", ""]
    names = sorted(base.keys() | head.keys())
    if not names:
        return "\n".join(out + ["No plans found.", ""])
    summary = []
    for name in names:
        b, h = base.get(name, EMPTY), head.get(name, EMPTY)
        ch = resource_changes(b, h)
        old = (b.document.get("cost") or {}).get("total")
        new = (h.document.get("cost") or {}).get("total")
        summary.append([f"`{name}`", f"+{len(ch.added)} ~{len(ch.changed)} -{len(ch.removed)}", _fmt(old), _fmt(new),
                        _delta(old, new)])
    out += _table(["stack", "resources", "cost base", "cost head", "change"], summary) + [""]
    for name in names:
        out += stack_section(name, base.get(name, EMPTY), head.get(name, EMPTY))
    return "\n".join(out)


def _single(directory: Path) -> bool:
    return (directory / "plan.json").exists()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tools.plan_diff BASE_DIR HEAD_DIR", file=sys.stderr)
        return 2
    sys.stdout.write(render(Path(args[0]), Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
