"""Alert rules: settings model, structure, golden file, and promtool (check + unit tests per alert)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pydantic
import pytest
import yaml

from render.rules import (
    RuleContext,
    alert_names,
    ksm_label_name,
    milvus_fullname,
    render_rules,
    rules_file_yaml,
    runbook_anchor,
    target_label_name,
)
from stacks.thresholds import AlertThresholds
from tests.monitoring.example import EXAMPLE_CONTEXT
from tests.monitoring.promql import metric_names

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "monitoring"
GOLDEN = ROOT / "tests" / "golden" / "monitoring" / "rules.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def _spec(thresholds: AlertThresholds | None = None) -> dict:
    return render_rules(thresholds or AlertThresholds(), EXAMPLE_CONTEXT)


def _rules() -> list[dict]:
    return [rule for group in _spec()["groups"] for rule in group["rules"]]


def _promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)


def _render_with_cases(tmp_path: Path, thresholds: AlertThresholds | None = None) -> list[Path]:
    (tmp_path / "rules.yaml").write_text(rules_file_yaml(thresholds or AlertThresholds(), EXAMPLE_CONTEXT))
    cases = sorted(CASES.glob("*.yaml"))
    for case in cases:
        shutil.copy(case, tmp_path / case.name)
    return [tmp_path / case.name for case in cases]


# ---- thresholds --------------------------------------------------------------------------------------------


def test_thresholds_accept_camel_case_aliases_and_snake_case_names():
    by_alias = AlertThresholds(**{"searchP99LatencyMs": 250, "componentDownFor": "5m"})
    by_name = AlertThresholds(search_p99_latency_ms=250, component_down_for="5m")
    assert by_alias == by_name
    assert by_alias.search_p99_latency_ms == 250


@pytest.mark.parametrize(
    "override",
    [{"searchP99LatencyMs": 0}, {"querynodeMemoryRatio": 1.5}, {"latencyFor": "10 minutes"}, {"unknownKey": 1}],
)
def test_thresholds_reject_bad_values_and_unknown_keys(override):
    with pytest.raises(pydantic.ValidationError):
        AlertThresholds(**override)


def test_every_threshold_field_is_documented_with_a_unit():
    fields = AlertThresholds.__pydantic_fields__
    for name, info in fields.items():
        assert info.alias and info.alias[0].islower() and "_" not in info.alias, name
        unit = (info.description or "").split(":")[0]
        assert unit in {"duration", "milliseconds", "seconds", "fraction", "tasks", "restarts"}, (name, unit)


def test_thresholds_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AlertThresholds().search_p99_latency_ms = 1  # type: ignore[misc]


# ---- context and label helpers -----------------------------------------------------------------------------


def test_context_normalises_the_default_resource_group_key():
    ctx = RuleContext("m", "r", "mon", {"": 1, "__default_resource_group": 2, "a": 3}, ("k", "v"), "http://x")
    assert ctx.planned_by_group == {"__default_resource_group": 3, "a": 3}


@pytest.mark.parametrize(
    "kwargs",
    [{"milvus_namespace": ""}, {"expected_query_nodes": {"a": -1}}, {"nvme_node_label": ("", "true")}],
)
def test_context_rejects_invalid_values(kwargs):
    base = dict(
        milvus_namespace="m", release="r", monitoring_namespace="mon", expected_query_nodes={"": 1},
        nvme_node_label=("k", "v"), runbook_base_url="http://x",
    )
    with pytest.raises(ValueError):
        RuleContext(**{**base, **kwargs})


def test_label_names_follow_the_operator_and_kube_state_metrics():
    assert target_label_name("app.kubernetes.io/instance") == "app_kubernetes_io_instance"
    assert ksm_label_name("eks.amazonaws.com/nodegroup") == "label_eks_amazonaws_com_nodegroup"
    assert ksm_label_name("milvus.io/resourceGroup") == "label_milvus_io_resource_group"
    assert milvus_fullname("prod") == "prod-milvus"
    assert milvus_fullname("milvus-prod") == "milvus-prod"


# ---- rule structure ----------------------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "MilvusComponentDown", "MilvusPodNotReady", "MilvusQueryNodesBelowPlan", "MilvusSearchLatencyHigh",
    "MilvusInsertLatencyHigh", "MilvusReadTaskBacklog", "MilvusTimeTickLagHigh", "MilvusCollectionLoadFailed",
    "MilvusCollectionLoadSlow", "MilvusQueryNodeMemoryNearLimit", "MilvusQueryNodeDiskNearLimit",
    "MilvusEtcdDatabaseNearQuota", "MilvusNamespaceQuotaNearlyFull", "MilvusNVMeNodeFilesystemNearlyFull",
    "MilvusNVMeNodeDiskPressure", "MilvusPodRestarting", "MilvusContainerOOMKilled", "MilvusBackupStale",
    "MilvusQueryNodeStopStuck",
}
# docs/runbook.md: one `## <Alert>` section per alert, then the procedures (restore, rotation) under this heading.
PROCEDURES_HEADING = "\n# Procedures\n"


def test_all_alerts_are_rendered():
    assert set(alert_names(_spec())) == EXPECTED_ALERTS


def test_every_rule_has_severity_summary_description_and_a_runbook_anchor():
    headings = {runbook_anchor(h) for h in re.findall(r"^## (\S+)$", RUNBOOK.read_text(), flags=re.M)}
    for rule in _rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(EXAMPLE_CONTEXT.runbook_base_url + "#")
        assert url.split("#", 1)[1] in headings, f"{rule['alert']} has no section in docs/runbook.md"


def test_runbook_sections_have_meaning_impact_diagnosis_fix():
    alerts_part = RUNBOOK.read_text().split(PROCEDURES_HEADING)[0]
    sections = re.split(r"^## ", alerts_part, flags=re.M)[1:]
    assert {s.split("\n", 1)[0].strip() for s in sections} == EXPECTED_ALERTS
    for section in sections:
        for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Fix.**"):
            assert part in section, (section.split("\n", 1)[0], part)


def test_thresholds_reach_the_expressions():
    raised = AlertThresholds(search_p99_latency_ms=1234, time_tick_lag_seconds=7, pod_restarts_per_hour=9)
    exprs = {rule["alert"]: rule["expr"] for group in _spec(raised)["groups"] for rule in group["rules"]}
    assert exprs["MilvusSearchLatencyHigh"].endswith("> 1234")
    assert exprs["MilvusTimeTickLagHigh"].endswith("> 7000")
    assert exprs["MilvusPodRestarting"].endswith("> 9")


def test_per_group_query_node_rules_follow_the_plan():
    rules = [r for r in _rules() if r["alert"] == "MilvusQueryNodesBelowPlan"]
    assert {r["labels"]["resource_group"] for r in rules} == {"all", "__default_resource_group", "rg-hot", "rg-cold"}
    total = next(r for r in rules if r["labels"]["resource_group"] == "all")
    assert total["expr"].endswith("< 4")
    only_default = RuleContext("m", "r", "mon", {"": 3}, ("k", "v"), "http://x")
    rules = [r for g in render_rules(AlertThresholds(), only_default)["groups"] for r in g["rules"]
             if r["alert"] == "MilvusQueryNodesBelowPlan"]
    assert [r["labels"]["resource_group"] for r in rules] == ["all"]


def test_backup_alert_follows_the_schedule_and_is_absent_without_backups():
    without = RuleContext("m", "r", "mon", {"": 3}, ("k", "v"), "http://x")
    assert "milvus-backup" not in [g["name"] for g in render_rules(AlertThresholds(), without)["groups"]]
    weekly = dataclasses.replace(without, backup_cronjob="r-milvus-backup", backup_stale_after_seconds=7 * 86400)
    rule = next(r for g in render_rules(AlertThresholds(), weekly)["groups"] for r in g["rules"]
                if r["alert"] == "MilvusBackupStale")
    assert rule["expr"].count("> 604800") == 2
    assert 'cronjob="r-milvus-backup"' in rule["expr"] and 'namespace="m"' in rule["expr"]


def test_milvus_selectors_use_the_service_monitor_target_labels():
    milvus_rules = [r for r in _rules() if any(n.startswith("milvus_") or n == "up" for n in metric_names(r["expr"]))]
    assert milvus_rules
    for rule in milvus_rules:
        assert 'app_kubernetes_io_instance="milvus"' in rule["expr"], rule["alert"]
        assert 'namespace="milvus"' in rule["expr"], rule["alert"]


def test_golden_rules_file():
    rendered = rules_file_yaml(AlertThresholds(), EXAMPLE_CONTEXT)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(rendered)
    assert GOLDEN.read_text() == rendered, "rules changed: review, then regenerate with UPDATE_GOLDEN=1"
    assert yaml.safe_load(rendered) == _spec()


# ---- promtool ----------------------------------------------------------------------------------------------


def _cases_by_alert() -> tuple[set[str], set[str]]:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in CASES.glob("*.yaml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    return firing, silent


def test_every_alert_has_a_firing_and_a_silent_promtool_case():
    firing, silent = _cases_by_alert()
    names = set(alert_names(_spec()))
    assert names - firing == set(), "alerts without a firing case"
    assert names - silent == set(), "alerts without a silent case"
    assert (firing | silent) - names == set(), "cases for alerts that do not exist"


@needs_promtool
def test_promtool_check_rules(tmp_path):
    (tmp_path / "rules.yaml").write_text(rules_file_yaml(AlertThresholds(), EXAMPLE_CONTEXT))
    result = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests(tmp_path):
    cases = _render_with_cases(tmp_path)
    assert len(cases) >= 4
    result = _promtool("test", "rules", *[c.name for c in cases], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_cases_fail_when_thresholds_move_past_them(tmp_path):
    # Proves the firing cases depend on the thresholds: raise every numeric threshold out of reach.
    out_of_reach = AlertThresholds(
        search_p99_latency_ms=1e9, insert_p99_latency_ms=1e9, querynode_memory_ratio=1, querynode_disk_ratio=1,
        read_task_queue_length=10**9, time_tick_lag_seconds=1e9, slow_load_seconds=1e9, etcd_quota_ratio=1,
        pod_restarts_per_hour=10**9, resource_quota_ratio=1, nvme_filesystem_ratio=1, query_node_stop_for="1h",
    )
    cases = _render_with_cases(tmp_path, out_of_reach)
    result = _promtool("test", "rules", *[c.name for c in cases], cwd=tmp_path)
    assert result.returncode != 0
    failed = set(re.findall(r"alertname: (\w+),", result.stdout + result.stderr))
    threshold_alerts = EXPECTED_ALERTS - {
        "MilvusComponentDown", "MilvusPodNotReady", "MilvusQueryNodesBelowPlan", "MilvusCollectionLoadFailed",
        "MilvusNVMeNodeDiskPressure", "MilvusContainerOOMKilled", "MilvusBackupStale",
    }
    assert threshold_alerts <= failed, threshold_alerts - failed


@needs_promtool
def test_promtool_backup_cases_fail_when_the_schedule_allows_more(tmp_path):
    # The staleness limit comes from the schedule (RuleContext), not from AlertThresholds: a weekly one is silent.
    weekly = dataclasses.replace(EXAMPLE_CONTEXT, backup_stale_after_seconds=7 * 86400)
    (tmp_path / "rules.yaml").write_text(rules_file_yaml(AlertThresholds(), weekly))
    shutil.copy(CASES / "backup.yaml", tmp_path / "backup.yaml")
    result = _promtool("test", "rules", "backup.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert set(re.findall(r"alertname: (\w+),", result.stdout + result.stderr)) == {"MilvusBackupStale"}
    output = result.stdout + result.stderr
    assert output.count("alertname: MilvusBackupStale") == 2  # both firing cases, no silent one
