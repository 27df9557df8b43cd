"""A stack's life in three plans, shared by the lifecycle tests: v1 (the project's stack file), v2 (the same file
with only `topology.collections` grown, under tests/data/stacks/lifecycle/) and v1 again (a fresh run of the first
file). Each step runs the whole program under mocks, so its bundle is the real one, and writes the plan folder
`python -m tools.plan STACK --out DIR` would write; `tools.plan_diff` reads the folders back.

Running prod takes about 7 s a step (dev 6 s), so the steps are computed once per session and shared between test files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from tests.conftest import ROOT, graph_for
from tools import plan as plan_command
from tools import plan_diff
from tools.offline import Graph, run_program

STACKS = ROOT / "tests" / "data" / "stacks" / "lifecycle"
# The folder names the version; the file keeps the stack's own name, so every physical name derived from the stack
# (cluster, buckets, roles) is the one the real stack has: a v2 planned under another name would replace them all.
GROWN = {"prod": STACKS / "prod-v2" / "Pulumi.prod.yaml", "dev": STACKS / "dev-v2" / "Pulumi.dev.yaml"}
STEP_NAMES = ("v1", "v2", "v1 again")
FRESH_RETURN = frozenset({"prod"})


@dataclass(frozen=True, eq=False)
class Step:
    name: str
    graph: Graph
    folder: Path

    @cached_property
    def plan(self) -> plan_diff.Plan:
        return plan_diff.load_plan(self.folder)

    @property
    def document(self) -> dict:
        return dict(self.plan.document)

    @property
    def objects(self) -> list[dict]:
        """The bundle's objects, as the program computed them (not read back from the folder)."""
        return [dict(o.obj) for o in self.graph.program["bundle"].objects]


_steps: dict[str, tuple[Step, Step, Step]] = {}


def _planned(name: str, graph: Graph, folder: Path) -> Step:
    plan_command.write(plan_command.build(graph.stack, graph=graph).files, folder)
    return Step(name, graph, folder)


def steps(stack: str, scratch: Path) -> tuple[Step, Step, Step]:
    """v1 → v2 → v1 for `stack`, planned into folders under `scratch` (the first caller's; later callers share)."""
    if stack not in _steps:
        root = scratch / f"lifecycle-{stack}"
        v1 = _planned("v1", graph_for(stack), root / "v1")
        v2 = _planned("v2", run_program(GROWN[stack]), root / "v2")
        # prod goes back through a fresh run, not v1's graph: shrinking must land on exactly what v1 planned, with
        # nothing carried over from v2's run. dev's way back reuses v1's plan (one program run less, ~6 s).
        again = (_planned("v1 again", run_program(stack), root / "v1-again") if stack in FRESH_RETURN
                 else Step("v1 again", v1.graph, v1.folder))
        _steps[stack] = (v1, v2, again)
    return _steps[stack]


def config_without_collections(path: Path) -> dict:
    config = yaml.safe_load(path.read_text())["config"]
    topology = dict(config.get("milvus-eks:topology") or {})
    topology.pop("collections", None)
    return {**config, "milvus-eks:topology": topology}
