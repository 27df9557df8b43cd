"""Metric names used by a PromQL expression, found with a small tokenizer instead of a regex over the text.

It skips what cannot be a metric name: string literals, label matchers `{...}`, range and subquery brackets
`[...]`, grouping label lists after by/without/on/ignoring/group_left/group_right, function and aggregation
names (an identifier followed by `(`), keywords, numbers and durations.
"""

from __future__ import annotations

import re

_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"})
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9][0-9a-zA-Z_.]*(?:[eE][+-]?[0-9]+)?)")


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    if i >= len(text):
        raise ValueError(f"unterminated string in {text!r}")
    return i + 1


def _skip_group(text: str, i: int, open_: str, close: str) -> int:
    """Index after the bracket group starting at text[i] == open_, honouring strings inside it."""
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'`":
            i = _skip_string(text, i)
            continue
        if ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_}{close} in {text!r}")


def _next_non_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch == "#":  # comment to end of line
            end = expr.find("\n", i)
            i = len(expr) if end < 0 else end
        elif ch in "\"'`":
            i = _skip_string(expr, i)
        elif ch == "{":
            i = _skip_group(expr, i, "{", "}")
        elif ch == "[":
            i = _skip_group(expr, i, "[", "]")
        elif ch.isdigit() or (ch == "." and i + 1 < len(expr) and expr[i + 1].isdigit()):
            i = _NUMBER.match(expr, i).end() if ch != "." else i + 1
        elif ch == "_" or ch == ":" or ch.isalpha():
            token = _IDENT.match(expr, i).group(0)
            i += len(token)
            following = _next_non_space(expr, i)
            lower = token.lower()
            if lower in _GROUPING:
                if following < len(expr) and expr[following] == "(":
                    i = _skip_group(expr, following, "(", ")")
            elif lower in _KEYWORDS:
                continue
            elif following < len(expr) and expr[following] == "(":
                continue  # function or aggregation call
            elif (nxt := _IDENT.match(expr, following)) and nxt.group(0).lower() in ("by", "without"):
                continue  # aggregation with its grouping clause first: `sum by (le) (...)`
            else:
                names.add(token)
        else:
            i += 1
    return names


def dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) of every target, including panels nested in collapsed rows."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", ""), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found


def substitute_grafana_variables(expr: str, variables: dict[str, str]) -> str:
    """Replace `$name` and `${name}` (longest names first, so `$namespace` is not eaten by a `$name`)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    return expr
