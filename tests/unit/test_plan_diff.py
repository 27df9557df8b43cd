"""`python -m tools.plan_diff`: Markdown sections and numbers for dev vs prod, a changed stack, a missing base."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import graph_for, stack_document
from tools import plan as plan_command
from tools import plan_diff


def _plan_into(out: Path, stack: str, graph=None) -> Path:
    result = plan_command.build(stack, graph=graph)
    plan_command.write(result.files, out)
    return out


@pytest.fixture(scope="module")
def dev_prod(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plans")
    return (_plan_into(root / "dev", "dev", graph_for("dev")), _plan_into(root / "prod", "prod", graph_for("prod")))


def _cost(directory: Path) -> dict:
    return json.loads((directory / "plan.json").read_text())["cost"]


def test_dev_vs_prod_has_every_section_and_the_numbers(dev_prod):
    dev, prod = dev_prod
    markdown = plan_diff.render(dev, prod)
    for heading in ("# Offline plan diff", "## Stack `dev → prod`", "### Resources", "**Added**",
                    "### Capacity and quotas", "### Monthly cost (USD)"):
        assert heading in markdown
    dev_cost, prod_cost = _cost(dev), _cost(prod)
    delta = prod_cost["total"] - dev_cost["total"]
    assert f"| **total** | {dev_cost['total']:,.2f} | {prod_cost['total']:,.2f} | +{delta:,.2f} |" in markdown
    nat = {c["key"]: c["monthly_usd"] for c in prod_cost["lineItems"]}["NAT gateways"]
    assert f"| NAT gateways | 32.85 | {nat:,.2f} |" in markdown
    dev_plan, prod_plan = (json.loads((d / "plan.json").read_text())["plan"] for d in (dev, prod))
    if dev_plan and prod_plan:
        old, new = dev_plan["queryNodes"], prod_plan["queryNodes"]
        assert f"| `plan.queryNodes` | {old} | {new} | +{new - old} |" in markdown
    # prod's pools that dev lacks are new on the head side; the long table is cut with a count.
    assert re.search(r"\| `plan\.pools\.coord\.max` \| — \| \d+ \| new \|", markdown)
    assert re.search(r"… and \d+ more rows", markdown)


def test_identical_plans_show_no_change(dev_prod):
    dev, _ = dev_prod
    markdown = plan_diff.render(dev, dev)
    assert "0 to add, 0 to change, 0 to remove" in markdown
    assert "No capacity or quota change." in markdown


def test_a_config_change_shows_as_changed_inputs_capacity_and_cost(dev_prod, tmp_path):
    dev, _ = dev_prod
    config = copy.deepcopy(stack_document("dev"))
    config["milvus-eks:nodePools"]["system"]["minSize"] = 3
    config["milvus-eks:nodePools"]["system"]["maxSize"] = 4
    changed_file = tmp_path / "Pulumi.dev.yaml"
    changed_file.write_text(yaml.safe_dump({"config": config}))
    head = _plan_into(tmp_path / "head", str(changed_file))
    markdown = plan_diff.render(dev, head)
    assert "**Changed**" in markdown
    assert re.search(r"\| `aws:eks/nodeGroup:NodeGroup` \| pool-system-ng \| [^|]*scalingConfig", markdown)
    assert "| `nodePools.system.desiredSize` | 2 | 3 | +1 |" in markdown
    before = {c["key"]: c["monthly_usd"] for c in _cost(dev)["lineItems"]}["node group system"]
    after = {c["key"]: c["monthly_usd"] for c in _cost(head)["lineItems"]}["node group system"]
    assert f"| node group system | {before:,.2f} | {after:,.2f} | +{after - before:,.2f} |" in markdown


def test_parent_dirs_get_one_section_per_stack_and_an_empty_base_is_new(dev_prod, tmp_path):
    dev, prod = dev_prod
    head = tmp_path / "head"
    for name, source in (("dev", dev), ("prod", prod)):
        (head / name).mkdir(parents=True)
        for path in source.rglob("*"):
            if path.is_file():
                target = head / name / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(path.read_text())
    base = tmp_path / "base"
    (base / "dev").mkdir(parents=True)
    (base / "prod").mkdir()
    markdown = plan_diff.render(base, head)
    assert "## Stack `dev`" in markdown and "## Stack `prod`" in markdown
    assert markdown.count("The base has no plan for this stack") == 2
    assert plan_diff.main([str(base), str(head)]) == 0
