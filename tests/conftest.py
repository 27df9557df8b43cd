"""Shared fixtures: the whole program run once per stack file under mocks, and the stack files as data."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from tools.offline import Graph, run_program, stack_file

ROOT = Path(__file__).resolve().parent.parent
# Every stack file in the project: a new environment is tested by adding its Pulumi.<stack>.yaml, nothing else.
STACKS = tuple(sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")))
_graphs: dict[str, Graph] = {}


def graph_for(stack: str) -> Graph:
    if stack not in _graphs:
        _graphs[stack] = run_program(stack)
    return _graphs[stack]


@pytest.fixture(params=STACKS)
def graph(request) -> Graph:
    return graph_for(request.param)


@pytest.fixture
def dev_graph() -> Graph:
    return graph_for("dev")


@pytest.fixture
def prod_graph() -> Graph:
    return graph_for("prod")


def stack_document(stack: str) -> dict:
    """The `milvus-eks:*` part of a stack file as plain data (keys without the namespace) plus the region."""
    config = yaml.safe_load(stack_file(stack).read_text())["config"]
    return copy.deepcopy(config)


def as_engine_config(config: dict) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
