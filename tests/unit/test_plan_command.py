"""`python -m tools.plan`: the report, the artifact folder, secrets kept out, and bad stack files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import STACKS, graph_for, stack_document
from tools import plan as plan_command

SECRET_MARKERS = ("mock-password",)
"""What the mocks return for generated passwords: must never reach a written file."""


@pytest.fixture(scope="module", params=STACKS)
def planned(request, tmp_path_factory) -> tuple[str, Path, str]:
    out = tmp_path_factory.mktemp(f"plan-{request.param}")
    result = plan_command.build(request.param, graph=graph_for(request.param))
    plan_command.write(result.files, out)
    return request.param, out, result.report


def test_report_shows_tree_pools_cost_and_warnings(planned):
    stack, _, report = planned
    graph = graph_for(stack)
    assert f"Offline plan for stack {stack}" in report
    assert f"{len(graph.resources)} resources" in report
    for section in ("Resources", "Node pools", "Capacity plan", "Monthly cost estimate", "Warnings"):
        assert f"\n{section}" in report
    for pool in stack_document(stack)["milvus-eks:nodePools"]:
        assert f"  {pool}: " in report
    components = [r for r in graph.resources if r.type.startswith("milvus-eks:")]
    assert all(f"{c.name}  [{c.type}]" in report for c in components)
    assert "us-west-2" in report and "us-east-1" in report


def test_component_tree_accounts_for_every_resource(planned):
    stack, _, _ = planned
    graph = graph_for(stack)
    assert plan_command.component_tree(graph).total == len(graph.resources)


def test_artifacts_cover_helm_manifests_plan_and_diagram(planned):
    stack, out, _ = planned
    graph = graph_for(stack)
    document = json.loads((out / "plan.json").read_text())
    assert document["resourceCount"] == len(graph.resources)
    assert document["cost"]["total"] > 0
    assert set(document["nodePools"]) == set(stack_document(stack)["milvus-eks:nodePools"])
    records = json.loads((out / "resources.json").read_text())
    assert len(records) == len(graph.resources) == len({r["id"] for r in records})

    releases = graph.of_type(plan_command.HELM_RELEASE)
    for release in releases:
        name = release.inputs.get("name") or release.name
        values = yaml.safe_load((out / "helm" / f"{name}.yaml").read_text()) or {}
        assert values == plan_command.normalize(release.inputs.get("values") or {})
    bundle = graph.program["bundle"]
    files = sorted((out / "manifests").glob("*/*.yaml"))
    assert len(files) == len([o for o in bundle.objects if not o.crd]) > 0
    assert {p.parent.name for p in files} == set(bundle.counts())
    for path in files:
        obj = yaml.safe_load(path.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]
    objects = json.loads((out / "objects.json").read_text())["objects"]
    assert len(objects) == len(bundle.objects)
    assert {o["source"] for o in objects} == set(bundle.counts())
    secrets = [o["object"] for o in objects if o["object"]["kind"] == "Secret"]
    assert secrets and all(set((s.get("stringData") or {}).values()) <= {plan_command.SECRET} and
                           set((s.get("data") or {}).values()) <= {plan_command.SECRET} for s in secrets)

    diagram = (out / "topology.mmd").read_text()
    assert diagram.startswith("flowchart")
    for pool in stack_document(stack)["milvus-eks:nodePools"]:
        assert f"pool {pool} (" in diagram
    for collection in stack_document(stack)["milvus-eks:topology"]["collections"]:
        assert f".{collection['name']}<br/>" in diagram


def test_no_secret_value_is_written(planned):
    stack, out, report = planned
    graph = graph_for(stack)
    secret_values = [json.dumps(graph.outputs[k]) for k in graph.secret_outputs]
    secret_values += [str(v) for r in graph.of_type("random:index/randomPassword:RandomPassword")
                      for v in [r.outputs.get("result")] if v]
    texts = [report] + [p.read_text() for p in out.rglob("*") if p.is_file()]
    for text in texts:
        assert not any(marker in text for marker in SECRET_MARKERS)
        assert not any(value.strip('"') in text for value in secret_values if len(value) > 8)
    plan_document = json.loads((out / "plan.json").read_text())
    assert all(plan_document["outputs"][k] == plan_command.SECRET for k in graph.secret_outputs
               if k in plan_document["outputs"])


def test_command_runs_the_program_and_json_prints_the_plan_document(tmp_path, capsys, monkeypatch):
    from stacks import config, validation

    validated, original = [], validation.load_stack_config

    def counted(*args, **kwargs):
        validated.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(config, "load_stack_config", counted)
    monkeypatch.setattr(validation, "load_stack_config", counted)
    assert plan_command.main(["dev", "--out", str(tmp_path), "--json"]) == 0
    # Validated before the program runs (a bad file fails fast), and not again by the program for the same map.
    assert validated == ["dev"]
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed == json.loads((tmp_path / "plan.json").read_text())
    assert printed["resourceCount"] == len(graph_for("dev").resources)
    assert "running the program under mocks" in captured.err and "done" in captured.err


def test_the_program_takes_the_plan_s_settings_only_for_the_config_they_were_validated_from():
    from tools.offline import engine_config, run_program

    config, settings = plan_command._stack_config("dev")
    assert run_program("dev", validated=(config, settings)).program["settings"] is settings
    other = {**config, "milvus-eks:cluster": {**config["milvus-eks:cluster"], "logTypes": ["api"]}}
    ran = run_program("dev", engine_config(other), validated=(config, settings)).program["settings"]
    assert ran is not settings and ran.cluster != settings.cluster  # validated by the program, from its own map


def test_the_command_writes_what_main_writes_in_a_process_set_up_for_one_run(tmp_path):
    """`python -m tools.plan` runs `command`: the same plan, with the garbage collector set for a batch process and
    the heap frozen before the interpreter's exit (tools/plan.py, `command`)."""
    import subprocess
    import sys

    from tools.offline import ROOT

    script = ("import gc, json, sys; from tools import plan; code = plan.command(sys.argv[1:]); "
              "print(); print(json.dumps([code, gc.get_threshold(), gc.get_freeze_count()]))")
    result = subprocess.run([sys.executable, "-c", script, "dev", "--out", str(tmp_path / "command")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    code, threshold, frozen = json.loads(result.stdout.strip().splitlines()[-1])
    assert code == 0 and threshold == [200_000, 30, 30] and frozen > 100_000
    assert plan_command.main(["dev", "--out", str(tmp_path / "main")]) == 0
    written = {p.relative_to(tmp_path / "main"): p.read_bytes() for p in (tmp_path / "main").rglob("*") if p.is_file()}
    assert written and written == {p.relative_to(tmp_path / "command"): p.read_bytes()
                                   for p in (tmp_path / "command").rglob("*") if p.is_file()}


def test_bad_stack_file_exits_nonzero_with_every_problem(tmp_path, capsys):
    document = stack_document("dev")
    document["milvus-eks:network"]["azCount"] = 1
    document["milvus-eks:nodePools"]["system"]["instanceTypes"] = ["m7i.lage"]
    bad = tmp_path / "Pulumi.broken.yaml"
    bad.write_text(yaml.safe_dump({"config": document}))
    assert plan_command.main([str(bad), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "network.azCount" in err and "nodePools.system.instanceTypes[0]" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_stack_file_is_an_error_not_a_traceback(tmp_path, capsys):
    assert plan_command.main([str(tmp_path / "Pulumi.nope.yaml")]) == 2
    assert "no stack file" in capsys.readouterr().err


def test_stale_files_are_removed_from_the_out_folder(tmp_path):
    stale = tmp_path / "manifests" / "gone.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    plan_command.write({"plan.json": "{}"}, tmp_path)
    assert not stale.exists() and (tmp_path / "plan.json").read_text() == "{}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_plan_states_the_kubernetes_version_and_the_volumes_fate(stack):
    from datetime import date

    result = plan_command.build(stack, graph=graph_for(stack), today=date(2026, 11, 30))
    cluster = stack_document(stack)["milvus-eks:cluster"]
    assert result.document["cluster"]["storageReclaimPolicy"] == cluster["storageReclaimPolicy"]
    assert f"gp3 StorageClass reclaimPolicy {cluster['storageReclaimPolicy']}: " in result.report
    assert "Kubernetes 1.35 (STANDARD support, standard support ends 2027-03-27)" in result.report
    assert not [w for w in result.document["warnings"] if "standard support" in w]


def test_the_plan_warns_when_standard_support_ends_within_90_days():
    from datetime import date

    result = plan_command.build("dev", graph=graph_for("dev"), today=date(2027, 1, 15))
    (warning,) = [w for w in result.document["warnings"] if "standard support" in w]
    assert "1.35 leaves EKS standard support on 2027-03-27 (71 days)" in warning
    assert warning in result.report.split("\nWarnings\n", 1)[1]
