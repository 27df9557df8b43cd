"""A stack's life in three `pulumi up`s: deployed, one collection added, the collection removed again.

Each step runs the whole program under mocks and computes what the engine would send EKS for every managed node
group: the program's inputs with the group's `ignore_changes` paths put back to their values in the state the
previous step left (Pulumi's engine, pkg/resource/deploy/step_generator.go `processIgnoreChanges`: "sets the value
for each ignoreChanges property in inputs to the value from oldInputs"). That state's desired size is whatever the
group had when the step ran: the previous plan's, or any value a person or `pulumi refresh` put there between
min and max. EKS refuses an UpdateNodegroupConfig whose sizes break min <= desired <= max, so every combination must
hold.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tools.offline import Graph, read_config, run_program, stack_file

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

# One collection per stack, big enough that the plan needs more query nodes than the stack file's workload.
ADDED = {
    "dev": {"name": "extra", "dim": 768, "vectors": 3_000_000},
    "prod": {"database": "search", "name": "extra", "dim": 768, "vectors": 40_000_000, "replicas": 2,
             "resourceGroups": ["rga", "rgb"]},
}


def _path(path: str) -> list[str]:
    return path.split(".")


def apply_ignore_changes(new: dict[str, Any], old: dict[str, Any] | None, paths: list[str]) -> dict[str, Any]:
    """The inputs the engine diffs and sends: `new` with each ignored path reset to `old` (deleted when absent)."""
    if old is None:  # a create ignores nothing
        return copy.deepcopy(new)
    sent = copy.deepcopy(new)
    for path in paths:
        *parents, leaf = _path(path)
        source: Any = old
        target: Any = sent
        for key in parents:
            source = source.get(key, {}) if isinstance(source, dict) else {}
            target = target.setdefault(key, {})
        if isinstance(source, dict) and leaf in source:
            target[leaf] = copy.deepcopy(source[leaf])
        else:
            target.pop(leaf, None)
    return sent


def test_the_engine_model_restores_ignored_paths_from_the_old_inputs():
    # The control for the lifecycle test: with `ignore_changes` on the desired size, the old value travels.
    new = {"scalingConfig": {"desiredSize": 12, "minSize": 12, "maxSize": 24}}
    old = {"scalingConfig": {"desiredSize": 10, "minSize": 10, "maxSize": 24}}
    sent = apply_ignore_changes(new, old, ["scalingConfig.desiredSize"])
    assert sent == {"scalingConfig": {"desiredSize": 10, "minSize": 12, "maxSize": 24}}
    assert apply_ignore_changes(new, None, ["scalingConfig.desiredSize"]) == new
    assert apply_ignore_changes(new, old, []) == new


def _config(stack: str, extra: dict | None) -> dict[str, str]:
    config = read_config(stack_file(stack))
    topology = json.loads(config["milvus-eks:topology"])
    if extra is not None:
        topology["collections"].append(extra)
    config["milvus-eks:topology"] = json.dumps(topology)
    return config


def _groups(graph: Graph) -> dict[str, Any]:
    return {g.name: g for g in graph.of_type(NODE_GROUP)}


def _sizes(inputs: dict[str, Any]) -> tuple[int, int, int]:
    scaling = inputs["scalingConfig"]
    return int(scaling["minSize"]), int(scaling["desiredSize"]), int(scaling["maxSize"])


@pytest.mark.parametrize("stack", sorted(ADDED))
def test_growing_and_shrinking_the_workload_is_deployable_whatever_the_groups_desired_size(stack):
    steps = [("deployed", None), ("collection added", ADDED[stack]), ("collection removed", None)]
    state: dict[str, dict[str, Any]] = {}  # group name -> inputs EKS accepted in the previous step
    planned_min: dict[str, list[int]] = {}
    karpenter_planned: dict[str, list[int]] = {}  # Karpenter pools: the plan's count, carried on the NodePool
    for step, extra in steps:
        graph = run_program(stack, _config(stack, extra))
        for pool in graph.of_type("kubernetes:karpenter.sh/v1:NodePool"):
            karpenter_planned.setdefault(pool.inputs["metadata"]["name"], []).append(
                int(pool.inputs["metadata"]["annotations"]["milvus-eks/planned-nodes"]))
        groups = _groups(graph)
        assert set(groups) == set(state) or not state, step
        accepted = {}
        for name, group in groups.items():
            planned_min.setdefault(name, []).append(_sizes(group.inputs)[0])
            old = state.get(name)
            # Whatever desired size the group had when this step ran: anything EKS allowed after the last step.
            currents = [None] if old is None else range(_sizes(old)[0], _sizes(old)[2] + 1)
            for current in currents:
                carried = None
                if old is not None:
                    carried = copy.deepcopy(old)
                    carried["scalingConfig"]["desiredSize"] = current
                sent = apply_ignore_changes(group.inputs, carried, group.ignore_changes)
                low, desired, high = _sizes(sent)
                assert low <= desired <= high, (
                    f"{stack}, {step}: {name} would send min {low}, desired {desired}, max {high} "
                    f"(the group had desired {current}); EKS refuses min > desired")
            accepted[name] = apply_ignore_changes(group.inputs, old, group.ignore_changes)
        state = accepted
    # The added collection really moved a minimum up and back down, so both directions were exercised.
    moved = [mins for mins in [*planned_min.values(), *karpenter_planned.values()] if mins[1] > mins[0]]
    assert moved and all(mins[2] == mins[0] for mins in moved), (planned_min, karpenter_planned)
