"""Catch misspelt Helm values before `helm install` silently ignores them.

Helm merges unknown keys into `.Values` without complaint, so `queryNode.dsik.enabled: true` deploys a query node
without its local disk and nobody notices. The key lists in `render/data/*_keys.txt` are facts extracted from
the pinned charts' values.yaml files (and their subcharts' and templates'); this module checks a rendered values
dict against them.

Key-list format: one dotted path per line, `#` comments. `path.*` marks an open map, a list or a Kubernetes object
(resources, nodeSelector, annotations, ...): anything at or below `path` is allowed. A segment that itself contains a
dot (`grafana.ini`) is written in double quotes: `grafana."grafana.ini".*`. A `[]` segment describes the dict items
of a list (`a.b.[].c`); lists without such entries are opaque.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

OPEN = "*"
ITEMS = "[]"

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class KeyPaths:
    """The valid value paths of one chart version, with the header facts naming where they came from."""

    chart: str
    version: str
    app_version: str
    commit: str
    leaves: frozenset[KeyPath]
    open_prefixes: frozenset[KeyPath]
    interiors: frozenset[KeyPath]

    def is_open(self, path: KeyPath) -> bool:
        return any(path[:i] in self.open_prefixes for i in range(len(path) + 1))

    def is_known(self, path: KeyPath) -> bool:
        return path in self.leaves or path in self.interiors


def parse_path(text: str) -> KeyPath:
    """Split a dotted path, keeping double-quoted segments (which may contain dots) whole."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise ValueError(f"unbalanced quote in key path {text!r}")
    segments.append("".join(current))
    if any(s == "" for s in segments):
        raise ValueError(f"empty segment in key path {text!r}")
    return tuple(segments)


def format_path(path: KeyPath) -> str:
    return ".".join(f'"{s}"' if "." in s else s for s in path)


def load_key_paths(path: Path | str) -> KeyPaths:
    header: dict[str, str] = {}
    leaves: set[KeyPath] = set()
    open_prefixes: set[KeyPath] = set()
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            name, sep, value = line[1:].strip().partition(": ")
            if sep and name in {"chart", "version", "appVersion", "commit"}:
                header[name] = value.strip()
            continue
        segments = parse_path(line)
        if segments[-1] == OPEN:
            open_prefixes.add(segments[:-1])
        else:
            leaves.add(segments)
    missing = {"chart", "version", "appVersion", "commit"} - header.keys()
    if missing:
        raise ValueError(f"{path}: header lacks {', '.join(sorted(missing))}")
    interiors = {p[:i] for p in leaves | open_prefixes for i in range(len(p))}
    return KeyPaths(
        chart=header["chart"],
        version=header["version"],
        app_version=header["appVersion"],
        commit=header["commit"],
        leaves=frozenset(leaves),
        open_prefixes=frozenset(open_prefixes),
        interiors=frozenset(interiors),
    )


def unknown_keys(values: Mapping, key_paths: KeyPaths) -> list[str]:
    """Every dotted path in `values` the chart does not read, down to the leaves below the first unknown key."""
    return [format_path(p) for p in _unknown(values, (), key_paths)]


def _unknown(node: Mapping, prefix: KeyPath, kp: KeyPaths) -> Iterator[KeyPath]:
    for key, value in node.items():
        path = prefix + (str(key),)
        if kp.is_open(path):
            continue
        if not kp.is_known(path):
            yield from _leaf_paths(value, path)
        elif isinstance(value, Mapping):
            yield from _unknown(value, path, kp)
        elif isinstance(value, list) and kp.is_known(path + (ITEMS,)):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _unknown(item, path + (ITEMS,), kp)


def _leaf_paths(value: object, path: KeyPath) -> Iterator[KeyPath]:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _leaf_paths(child, path + (str(key),))
    else:
        yield path
