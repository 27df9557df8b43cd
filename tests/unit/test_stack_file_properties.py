"""Property-based: any YAML text, and any document shaped like a stack file, either loads or raises the project's
ConfigError — never another exception (which the plan command would print as a traceback)."""

from __future__ import annotations

import datetime
import os

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.errors import ConfigError
from stacks.stack_file import parse
from stacks.validation import load_stack_config
from tests.conftest import stack_document

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
"""Kept small for the unit suite; raise it (e.g. PROPERTY_EXAMPLES=2000) for a longer hunt."""

_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.binary(max_size=6)
            | st.dates() | st.datetimes() | st.sampled_from(["~", "2024-01-01", "0.0.0.0/1", "{{", "m6id.xlarge",
                                                              "NO_SCHEDULE", "-1", "1e400", ".nan"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=10) | st.sampled_from(["name", "roles", "replicas"]),
                                         inner, max_size=4)
                       | st.frozensets(st.integers(), max_size=3), max_leaves=25)
_keys = st.sampled_from(["aws:region", "aws:profile", "aws:secretKey", "milvus-eks:network", "milvus-eks:cluster",
                         "milvus-eks:nodePools", "milvus-eks:milvus", "milvus-eks:topology", "milvus-eks:quotas",
                         "milvus-eks:monitoring", "other:thing", "nocolon"])


def _load(text: str) -> None:
    try:
        load_stack_config(parse(text), "dev")
    except ConfigError as err:
        assert err.problems and all(isinstance(p.message, str) and p.message for p in err.problems)
        rendered = str(err)
        assert not any(internal in rendered for internal in LIBRARY_INTERNALS), rendered


LIBRARY_INTERNALS = ("function-after", "literal[", "Input should be", "For further information", "pydantic",
                     "Traceback")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=200))
def test_any_text(text):
    _load(text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_any_document_shaped_like_a_stack_file(config):
    _load(yaml.dump({"config": config}, allow_unicode=True))


@settings(max_examples=EXAMPLES, deadline=None)
@given(key=st.sampled_from(sorted(k for k in stack_document("dev") if k.startswith("milvus-eks:"))),
       path=st.lists(st.text(max_size=8) | st.integers(0, 2), max_size=3), value=_values)
def test_one_leaf_of_the_dev_stack_replaced_by_anything(key, path, value):
    config = stack_document("dev")
    node = config[key]
    for part in path:
        if isinstance(node, dict) and node:
            part = sorted(node)[part % len(node)] if isinstance(part, int) else part
            if isinstance(node.get(part), (dict, list)):
                node = node[part]
                continue
            node[part] = value
            break
        if isinstance(node, list) and node and isinstance(part, int):
            node[part % len(node)] = value
            break
    else:
        config[key] = value
    _load(yaml.dump({"config": config}, allow_unicode=True, default_flow_style=False))


def test_the_generators_reach_the_non_json_tags():
    text = yaml.dump({"config": {"milvus-eks:monitoring": {"a": datetime.date(2024, 1, 1), "b": b"x",
                                                           "c": frozenset({1})}}})
    try:
        parse(text)
    except ConfigError as err:
        messages = " ".join(p.message for p in err.problems)
    assert "!!binary" in messages and "!!python/object/apply:builtins.frozenset" in messages
