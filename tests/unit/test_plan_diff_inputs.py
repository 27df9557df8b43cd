"""`tools.plan_diff` on folders it cannot read (one line, exit 1, never a traceback) and the object-level diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tools import plan_diff

PLAN = {"stack": "dev", "resourceCount": 1, "plan": {"queryNodes": 2}, "nodePools": {}, "quotas": {},
        "cost": {"total": 10.0, "lineItems": [{"item": "node group a", "key": "node group a", "monthly_usd": 10.0}]},
        "warnings": []}
RESOURCES = [{"id": "a$aws:eks/nodeGroup:NodeGroup::a", "type": "aws:eks/nodeGroup:NodeGroup", "name": "a",
              "parent": "", "inputsHash": "0" * 16, "inputs": {"scalingConfig": "1" * 16}}]


def _deployment(replicas: int, image: str = "milvusdb/milvus:v2.6.3") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "milvus-proxy", "namespace": "milvus"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "proxy", "image": image, "resources": {"limits": {"cpu": "2"}}}]}}}}


def _folder(path: Path, plan=PLAN, resources=RESOURCES, objects=None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, value in (("plan.json", plan), ("resources.json", resources), ("objects.json", objects)):
        if value is None:
            continue
        target = path / name
        if isinstance(value, bytes):
            target.write_bytes(value)
        elif isinstance(value, str):
            target.write_text(value)
        else:
            target.write_text(json.dumps(value))
    return path


BAD_FOLDERS = {
    # case → (plan.json, resources.json, objects.json) as written, and what the error names
    "plan-empty": (("", RESOURCES, None), "plan.json is empty"),
    "plan-truncated": ((json.dumps(PLAN)[:40], RESOURCES, None), "plan.json is not valid JSON"),
    "plan-latin1": (("{\"stack\": \"d\xe9v\"}".encode("latin-1"), RESOURCES, None), "plan.json is not UTF-8"),
    "plan-utf16": ((json.dumps(PLAN).encode("utf-16"), RESOURCES, None), "plan.json is not UTF-8"),
    "plan-list": (([1, 2], RESOURCES, None), "plan.json: the top level must be an object"),
    "cost-items-string": (({**PLAN, "cost": {"lineItems": "many"}}, RESOURCES, None), "cost.lineItems must be a list"),
    "cost-total-text": (({**PLAN, "cost": {"total": "ten"}}, RESOURCES, None), "cost.total must be a number"),
    "line-item-no-price": (({**PLAN, "cost": {"lineItems": [{"item": "x"}]}}, RESOURCES, None),
                           "cost.lineItems[0].monthly_usd must be a number"),
    "warnings-map": (({**PLAN, "warnings": {"a": 1}}, RESOURCES, None), "warnings must be a list"),
    "resources-missing": ((PLAN, None, None), "resources.json is missing"),
    "resources-object": ((PLAN, {"id": "x"}, None), "resources.json: the top level must be a list"),
    "resource-without-id": ((PLAN, [{"type": "t"}], None), "resources.json: [0].id must be a string"),
    "resource-duplicate": ((PLAN, RESOURCES * 2, None), "appears twice"),
    "deep-nesting": (("[" * 100_000 + "]" * 100_000, RESOURCES, None), "nested"),
    "deep-but-parsable": (({**PLAN, "plan": json.loads("[" * 200 + "]" * 200)}, RESOURCES, None),
                          "nested more than 64 levels"),
    "objects-wrong-shape": ((PLAN, RESOURCES, {"objects": {"a": 1}}), "objects.json: objects must be a list"),
    "object-without-kind": ((PLAN, RESOURCES, {"objects": [{"source": "milvus", "object": {"metadata": {}}}]}),
                            "objects[0].object.kind must be a string"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_an_unreadable_head_is_one_line_and_exit_1(case, tmp_path, capsys):
    (plan, resources, objects), fragment = BAD_FOLDERS[case]
    base = _folder(tmp_path / "base")
    head = _folder(tmp_path / "head", plan, resources, objects)
    assert plan_diff.main([str(base), str(head)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert fragment in captured.err and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    # The same folder as the base is just as unreadable.
    assert plan_diff.main([str(head), str(base)]) == 1


def test_missing_head_no_plans_and_a_file_for_a_folder(tmp_path, capsys):
    base = _folder(tmp_path / "base")
    cases = {"missing head": (base, tmp_path / "nope", "does not exist"),
             "no plans": (base, _empty(tmp_path / "empty"), "no plans found"),
             "file as folder": (base, base / "plan.json", "is a file")}
    for name, (b, h, fragment) in cases.items():
        assert plan_diff.main([str(b), str(h)]) == 1, name
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, (name, err)


def _empty(path: Path) -> Path:
    (path / "dev").mkdir(parents=True)
    return path


def test_bad_folders_through_the_command_line(tmp_path):
    base = _folder(tmp_path / "base")
    head = _folder(tmp_path / "head", "{\"stack\": ", RESOURCES)
    result = subprocess.run([sys.executable, "-m", "tools.plan_diff", str(base), str(head)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "plan.json is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_object_level_diff_by_source_with_changed_fields(tmp_path):
    config_text = "x" * 500
    base_objects = {"objects": [
        {"source": "milvus", "object": _deployment(2)},
        {"source": "program", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "spec", "namespace": "milvus"},
                                         "data": {"spec.json": config_text}}},
        {"source": "kube-prometheus-stack", "object": {"apiVersion": "v1", "kind": "Service",
                                                       "metadata": {"name": "old", "namespace": "monitoring"}}},
    ]}
    head_objects = {"objects": [
        {"source": "milvus", "object": _deployment(3, "milvusdb/milvus:v2.6.4")},
        {"source": "program", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "spec", "namespace": "milvus"},
                                         "data": {"spec.json": config_text + "y"}}},
        {"source": "program", "object": {"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": "root", "namespace": "milvus"},
                                         "data": {"password": "[secret]"}}},
        {"source": "kube-prometheus-stack", "object": {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": "monitoring"}}},
    ]}
    base = _folder(tmp_path / "base", objects=base_objects)
    head = _folder(tmp_path / "head", objects=head_objects)
    markdown = plan_diff.render(base, head)
    assert "### Kubernetes objects" in markdown
    assert "2 to add, 2 to change, 1 to remove (4 in total)." in markdown
    assert "| `dev` | +0 ~0 -0 | +2 ~2 -1 |" in markdown
    sections = markdown.split("#### ")
    milvus = next(s for s in sections if s.startswith("milvus"))
    assert "| `Deployment milvus/milvus-proxy` | `spec.replicas` | 2 | 3 |" in milvus
    assert ("| `Deployment milvus/milvus-proxy` | `spec.template.spec.containers[name=proxy].image` | "
            "milvusdb/milvus:v2.6.3 | milvusdb/milvus:v2.6.4 |") in milvus
    program = next(s for s in sections if s.startswith("program"))
    assert "**Added**: `Secret milvus/root`" in program
    assert "… (500 chars)" in program and "… (501 chars)" in program
    kps = next(s for s in sections if s.startswith("kube-prometheus-stack"))
    assert "**Added**: `Namespace monitoring`" in kps and "**Removed**: `Service monitoring/old`" in kps
    assert markdown.index("#### kube-prometheus-stack") < markdown.index("#### milvus") < \
        markdown.index("#### program")


def test_a_folder_without_objects_json_is_a_note(tmp_path):
    base = _folder(tmp_path / "base")
    head = _folder(tmp_path / "head", objects={"objects": [{"source": "milvus", "object": _deployment(1)}]})
    assert "The base plan has no objects.json" in plan_diff.render(base, head)
    assert "The head plan has no objects.json" in plan_diff.render(head, base)


# ------------------------------------------------------------------------------------ property-based

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=20)
_near_plan = st.fixed_dictionaries({}, optional={
    "stack": _json, "resourceCount": _json, "plan": _json, "nodePools": _json, "quotas": _json, "warnings": _json,
    "cost": st.fixed_dictionaries({}, optional={"total": _json, "lineItems": st.lists(
        st.fixed_dictionaries({}, optional={"item": _json, "key": _json, "monthly_usd": _json}), max_size=3)})})
_file = st.none() | _json.map(json.dumps) | _near_plan.map(json.dumps) | st.binary(max_size=40)


@settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=_file, resources=_file, objects=_file)
def test_any_plan_folder_is_a_diff_or_a_plan_diff_error(tmp_path_factory, plan, resources, objects):
    root = tmp_path_factory.mktemp("prop")
    base = _folder(root / "base")
    head = _folder(root / "head", plan, resources, objects)
    for b, h in ((base, head), (head, base)):
        try:
            plan_diff.render(b, h)
        except plan_diff.PlanDiffError as err:
            assert "\n" not in str(err)
