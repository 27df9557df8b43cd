"""Read a `Pulumi.<stack>.yaml` file into plain JSON-like data, or one ConfigError saying what is wrong with it.

The Pulumi engine hands a program its config as strings and JSON objects, so a stack file may only hold what JSON
can: maps with string keys, lists, strings, numbers, true/false and null. PyYAML knows more (dates, `!!binary`,
`!!set`, Python tags) and lets a repeated key silently win; here the YAML node tree is walked by hand instead, so
every such value is reported with its key and line, and no tag ever constructs anything.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from stacks.errors import ConfigError, Problem

MAX_DEPTH = 64
"""Deeper than any real stack file (the deepest key today is 6 levels); stops pathological nesting early."""
MAX_NODES = 200_000
"""YAML aliases can expand a small file into billions of values ("billion laughs"); stop long before that."""

_SCALARS = {
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:str": "str",
    # An unquoted date is text to Pulumi (its config values are strings); keep it as written.
    "tag:yaml.org,2002:timestamp": "text",
}
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16"))


ROOT = Path(__file__).resolve().parent.parent


def stack_file(stack: str | Path) -> Path:
    """`dev` → the project's Pulumi.dev.yaml; a path ending in .yaml/.yml is itself."""
    path = Path(stack)
    if path.suffix in (".yaml", ".yml"):
        return path
    return ROOT / f"Pulumi.{stack}.yaml"


def stack_name(stack: str | Path) -> str:
    path = Path(stack)
    if path.suffix in (".yaml", ".yml"):
        return path.stem.removeprefix("Pulumi.")
    return str(stack)


def _problem(message: str) -> ConfigError:
    return ConfigError([Problem("", message)])


def read_text(path: Path) -> str:
    """The file's text, refusing what is not a readable UTF-8 file."""
    if path.is_dir():
        raise _problem(f"{path} is a directory; give a stack file such as Pulumi.dev.yaml")
    if not path.exists():
        raise _problem(f"{path} does not exist; give a stack name (dev, prod) or a Pulumi.<stack>.yaml file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _problem(f"{path} cannot be read ({err.strerror}); check its permissions") from None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise _problem(f"{path.name} is encoded as {encoding}; save it as UTF-8 (Pulumi reads stack files as "
                           f"UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise _problem(f"{path.name} is not UTF-8: byte 0x{data[err.start]:02x} on line {line}; save the file as "
                       f"UTF-8") from None


def parse(text: str, name: str = "the stack file") -> dict[str, Any]:
    """The stack file's `config:` map with every value JSON-like; every problem reported at once."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise _problem(f"{name} is not valid YAML: {err.problem or err.context}{where}") from None
    except yaml.YAMLError as err:
        raise _problem(f"{name} is not valid YAML: {err}") from None
    except RecursionError:
        raise _problem(f"{name} is nested too deeply to be a stack file") from None
    if node is None:
        raise _problem(f"{name} is empty; a stack file is a map with a `config:` key (see Pulumi.dev.yaml)")
    walker = _Walker()
    document = walker.value(node, "")
    if walker.problems:
        raise ConfigError(walker.problems)
    if not isinstance(document, dict):
        raise _problem(f"{name} must be a map with a `config:` key at the top, got {_kind(document)}")
    if "config" not in document:
        raise _problem(f"{name} has no `config:` map; add one with aws:region and the milvus-eks:* keys "
                       f"(see Pulumi.dev.yaml)")
    config = document["config"]
    if not isinstance(config, dict):
        raise _problem(f"{name}: `config:` must be a map of namespace:key entries, got {_kind(config)}")
    return config


def read_stack_file(path: Path) -> dict[str, Any]:
    return parse(read_text(path), path.name)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a map"
    return f"the {type(value).__name__ if not isinstance(value, str) else 'text'} {value!r}"


class _Walker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.nodes = 0

    def _fail(self, path: str, node: yaml.Node, message: str) -> None:
        # Keys are reported as the user writes them with `pulumi config`: without the `config.` they sit under.
        # Outside `config:` (or `config` itself) there is no such key: the file's own key leads the message.
        line = f"(line {node.start_mark.line + 1})"
        if path.startswith("config."):
            self.problems.append(Problem(path.removeprefix("config."), f"{message} {line}"))
        else:
            self.problems.append(Problem("", f"{path or 'the top level'}: {message} {line}"))

    def value(self, node: yaml.Node, path: str, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            if not any("too deeply" in p.message or "too many" in p.message for p in self.problems):
                what = "nested too deeply" if depth > MAX_DEPTH else "expands to too many values (YAML aliases?)"
                self._fail(path, node, f"{what} to be a stack file")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self._fail(path, node, f"uses the YAML tag {_tag(node.tag)}; stack files hold plain text, numbers, "
                                       f"true/false, lists and maps")
                return None
            return [self.value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        if node.tag != "tag:yaml.org,2002:map":
            hint = "write a plain list" if node.tag == "tag:yaml.org,2002:set" else "write a plain map"
            self._fail(path, node, f"uses the YAML tag {_tag(node.tag)}; {hint}")
            return None
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._fail(path, key_node, "uses a YAML merge key (<<); write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(path, key_node, "has a key that is a list or a map; keys are plain names")
                continue
            key = key_node.value
            child = f"{path}.{key}" if path else key
            if key_node.tag == "tag:yaml.org,2002:null":
                shown = key if key else "(empty)"
                self._fail(f"{path}.{shown}" if path else shown, key_node,
                           f"key {shown!r} is YAML null, not a name; write a name (quote it if you mean the text)")
                continue
            if key in seen:
                self._fail(child, key_node, f"is set twice (first on line {seen[key]}); YAML keeps only the last, "
                                            f"so remove one")
                continue
            seen[key] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        kind = _SCALARS.get(node.tag)
        if kind is None:
            self._fail(path, node, f"uses the YAML tag {_tag(node.tag)}; stack files hold plain text, numbers, "
                                   f"true/false, lists and maps")
            return None
        if kind in ("str", "text"):
            return node.value
        constructor = yaml.SafeLoader.yaml_constructors[node.tag]
        value = constructor(_CONSTRUCTOR, node)
        if kind == "float" and value != value:  # NaN never equals itself
            self._fail(path, node, f"{node.value!r} is not a number JSON can hold; write a number")
            return None
        if kind == "float" and value in (float("inf"), float("-inf")):
            self._fail(path, node, f"{node.value!r} is infinite; write a finite number")
            return None
        return value


def _tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


_CONSTRUCTOR = yaml.SafeLoader("")
