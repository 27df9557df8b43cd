"""Generate docs/configuration.md — every stack-file key with its type, default and meaning — from the settings models.

`python -m tools.config_reference` rewrites the file; a unit test fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Iterator, Literal, Union, get_args, get_origin

from pydantic_core import PydanticUndefined

from stacks.settings import TOP_LEVEL_KEYS, Settings
from stacks.validation import fields_of

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _model_of(annotation: Any) -> tuple[Any, str]:
    """The nested model (if any) and how the key is written: `key`, `key[]` (list), `key.<name>` (map)."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if fields_of(annotation) is not None:
        return annotation, ""
    if origin is tuple and args and fields_of(args[0]) is not None:
        return args[0], "[]"
    if origin is dict and len(args) == 2 and fields_of(args[1]) is not None:
        return args[1], ".<name>"
    return None, ""


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, getattr(
        annotation, "__name__", str(annotation)))


def _rows(model: Any, prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in fields_of(model).items():
        key = f"{prefix}{field.alias or name}"
        nested, suffix = _model_of(field.annotation)
        default = field.default
        if default is PydanticUndefined:
            shown = "required"
        elif fields_of(type(default)) is not None:
            shown = ""
        else:
            shown = f"`{json.dumps(default)}`"
        if nested is not None and suffix == "":
            yield from _rows(nested, f"{key}.")
        else:
            yield key + suffix, _type_name(field.annotation) if nested is None else nested.__name__, shown, \
                (field.description or "").replace("\n", " ")
            if nested is not None:
                yield from _rows(nested, f"{key}{suffix}.")


def render() -> str:
    lines = [
        "# Stack configuration reference",
        "",
        "Every key under `milvus-eks:` in `Pulumi.<stack>.yaml`, generated from `stacks/settings.py` by",
        "`python -m tools.config_reference`. `[]` marks a list of maps, `.<name>` a map keyed by a name you choose.",
        "Besides these, `aws:region` is required, and the program's AWS provider also takes `aws:profile` (an AWS",
        "CLI profile), `aws:allowedAccountIds` (a list of account ids it may act in) and, set with",
        "`pulumi config set --secret`, `aws:accessKey` / `aws:secretKey` / `aws:token`. Any other `aws:*` key, a",
        "secret in plaintext, or a key of another namespace is refused.",
        "",
    ]
    for field_name, field in Settings.model_fields.items():
        key = field.alias or field_name
        if key not in TOP_LEVEL_KEYS:
            continue
        lines += [f"## `milvus-eks:{key}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        nested, suffix = _model_of(field.annotation)
        for row in _rows(nested, f"{key}{suffix}." if suffix else f"{key}."):
            lines.append("| `" + row[0] + "` | " + " | ".join(c.replace("|", "\\|") for c in row[1:]) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    OUTPUT.write_text(render())
    sys.stdout.write(f"wrote {OUTPUT}\n")
