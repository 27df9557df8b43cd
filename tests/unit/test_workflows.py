"""The GitHub Actions workflows: schema-valid (SchemaStore's github-workflow schema as vendored by PyPI
`check-jsonschema`, so no network), plus the rules this project relies on."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
PULL_REQUEST = WORKFLOWS / "pull-request.yml"
DEPLOY = WORKFLOWS / "deploy.yml"

# A tag (major, minor or patch) or a full commit SHA: never a branch such as @main that changes under us.
PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def lint(*paths: Path, schema: str = "vendor.github-workflows") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as boolean true.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def uses_of(workflow: dict[str, Any]) -> list[str]:
    return [step["uses"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "uses" in step]


def unpinned_uses(workflow: dict[str, Any]) -> list[str]:
    return [u for u in uses_of(workflow) if not u.startswith("./") and not PINNED_USES.match(u)]


def secrets_in_job(job: dict[str, Any]) -> list[str]:
    text = json.dumps(job)
    return re.findall(r"secrets\.\w+|secrets\[", text)


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps that run a Pulumi command (without one, the action only installs the CLI)."""
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith("pulumi/actions@")
            and "command" in (s.get("with") or {})]


# --- the linter itself -------------------------------------------------------------------------------------


def test_workflows_pass_the_github_workflow_schema() -> None:
    result = lint(PULL_REQUEST, DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_job_has_a_timeout() -> None:
    result = lint(PULL_REQUEST, DEPLOY, schema="custom.github-workflows-require-timeout")
    assert result.returncode == 0, result.stdout + result.stderr


VALID_MINIMAL = """\
on: pull_request
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("misspelt-steps", VALID_MINIMAL.replace("steps:", "step:")),
        ("unknown-event", VALID_MINIMAL.replace("pull_request", "pull_requets")),
        ("uses-and-run-in-one-step", VALID_MINIMAL.replace("- run: echo ok", "- uses: actions/checkout@v7\n        run: echo ok")),
        ("bad-permission-value", VALID_MINIMAL.replace("    steps:", "    permissions:\n      id-token: maybe\n    steps:")),
        ("no-jobs", "on: pull_request\n"),
    ],
)
def test_linter_rejects_a_broken_workflow(tmp_path: Path, name: str, text: str) -> None:
    broken = tmp_path / f"{name}.yml"
    broken.write_text(text)
    result = lint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken.name in result.stdout


def test_linter_accepts_the_minimal_valid_workflow(tmp_path: Path) -> None:
    # The control for the test above: the broken variants fail because of their one change.
    valid = tmp_path / "valid.yml"
    valid.write_text(VALID_MINIMAL)
    result = lint(valid)
    assert result.returncode == 0, result.stdout + result.stderr


# --- project rules -----------------------------------------------------------------------------------------


def test_pull_request_workflow_runs_on_pull_request_only() -> None:
    # pull_request_target would run with secrets on a fork's code.
    triggers = load(PULL_REQUEST)["on"]
    assert triggers == "pull_request" or set(triggers) == {"pull_request"}


def test_plan_job_uses_no_secrets_and_no_cloud_identity() -> None:
    plan = load(PULL_REQUEST)["jobs"]["plan"]
    assert secrets_in_job(plan) == []
    assert "id-token" not in plan.get("permissions", {})
    assert not [s for s in plan["steps"] if "configure-aws-credentials" in s.get("uses", "")]


def test_secret_detection_catches_a_secret_in_the_plan_job() -> None:
    plan = copy.deepcopy(load(PULL_REQUEST)["jobs"]["plan"])
    plan["steps"][-1].setdefault("env", {})["TOKEN"] = "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    assert secrets_in_job(plan) == ["secrets.PULUMI_ACCESS_TOKEN"]


def test_plan_job_plans_base_and_head_for_both_stacks_and_posts_the_diff() -> None:
    plan = load(PULL_REQUEST)["jobs"]["plan"]
    checkouts = [s for s in plan["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert {c["with"]["path"] for c in checkouts} == {"base", "head"}
    base = next(c for c in checkouts if c["with"]["path"] == "base")
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    scripts = "\n".join(s.get("run", "") for s in plan["steps"])
    assert "uv run --frozen python -m tools.plan " in scripts
    assert "for file in head/Pulumi.*.yaml" in scripts
    assert "uv run --frozen python -m tools.plan_diff $flag ../plan-out/base ../plan-out/head > ../plan-diff.md" in scripts
    comment = next(s for s in plan["steps"] if "sticky-pull-request-comment" in s.get("uses", ""))
    assert comment["with"]["path"] == "plan-diff.md"
    assert plan["permissions"]["pull-requests"] == "write"


def test_preview_needs_configured_credentials_and_uses_oidc() -> None:
    preview = load(PULL_REQUEST)["jobs"]["preview"]
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in preview["if"]
    assert preview["permissions"]["id-token"] == "write"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    aws = next(s for s in preview["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert "role-to-assume" in aws["with"] and "aws-access-key-id" not in aws["with"]
    (pulumi,) = pulumi_steps(preview)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"


def test_deploy_runs_on_push_to_main_only() -> None:
    assert load(DEPLOY)["on"] == {"push": {"branches": ["main"]}}


def test_prod_deploy_waits_for_dev_and_for_approval() -> None:
    jobs = load(DEPLOY)["jobs"]
    by_stack = {pulumi_steps(job)[0]["with"]["stack-name"]: name for name, job in jobs.items() if pulumi_steps(job)}
    assert set(by_stack) == {"dev", "prod"}
    prod, dev = jobs[by_stack["prod"]], jobs[by_stack["dev"]]
    assert environment_name(prod) == "production"
    assert by_stack["dev"] in needs_of(prod)
    assert environment_name(dev) != "production"
    for job in (dev, prod):
        assert [s["with"]["command"] for s in pulumi_steps(job)] == ["up"]


def test_each_stack_deploys_under_its_own_concurrency_group() -> None:
    jobs = load(DEPLOY)["jobs"]
    groups = {}
    for job in jobs.values():
        (pulumi,) = pulumi_steps(job)
        stack = pulumi["with"]["stack-name"]
        assert stack in job["concurrency"]["group"]
        # Cancelling a running `pulumi up` would leave the stack locked and half-updated.
        assert job["concurrency"]["cancel-in-progress"] is False
        groups[stack] = job["concurrency"]["group"]
    assert len(set(groups.values())) == len(groups)


def test_pulumi_token_comes_from_secrets() -> None:
    for path in (PULL_REQUEST, DEPLOY):
        for job in load(path)["jobs"].values():
            for step in pulumi_steps(job):
                assert step["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


@pytest.mark.parametrize("path", [PULL_REQUEST, DEPLOY], ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path: Path) -> None:
    workflow = load(path)
    assert uses_of(workflow)
    assert unpinned_uses(workflow) == []


def test_pin_check_rejects_branches_and_bare_actions() -> None:
    workflow = {"jobs": {"j": {"steps": [
        {"uses": "actions/checkout@main"},
        {"uses": "pulumi/actions"},
        {"uses": "actions/setup-python@v7"},
        {"uses": "owner/repo/sub/dir@0123456789abcdef0123456789abcdef01234567"},
    ]}}}
    assert unpinned_uses(workflow) == ["actions/checkout@main", "pulumi/actions"]


def test_one_uv_version_everywhere() -> None:
    versions = {load(path)["env"]["UV_VERSION"] for path in (PULL_REQUEST, DEPLOY)}
    assert versions == {"0.13.8"}
    for path in (PULL_REQUEST, DEPLOY):
        for job in load(path)["jobs"].values():
            runs = [s.get("run", "") for s in job["steps"]]
            if any("uv " in r for r in runs):
                assert 'pip install "uv==${UV_VERSION}"' in runs


# --- reaching the cluster and guarding previews (issue 11, items 2 and 11) ------------------------------------

CLUSTER_REACHABLE = Path(__file__).resolve().parents[2] / ".ci" / "cluster-reachable"


def cloud_jobs() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.name}:{name}", job) for path in (PULL_REQUEST, DEPLOY)
            for name, job in load(path)["jobs"].items() if pulumi_steps(job)]


def test_every_preview_and_deploy_runs_the_policy_pack() -> None:
    jobs = cloud_jobs()
    assert {name for name, _ in jobs} == {"pull-request.yml:preview", "deploy.yml:dev", "deploy.yml:prod"}
    for name, job in jobs:
        for step in pulumi_steps(job):
            assert step["with"]["policyPacks"] == "policy", name


def test_cloud_jobs_run_on_the_configured_runner_and_check_the_cluster_first() -> None:
    for name, job in cloud_jobs():
        assert "vars.PULUMI_RUNNER_LABEL" in job["runs-on"], name
        steps = job["steps"]
        check = next(i for i, s in enumerate(steps) if s.get("run", "").startswith(".ci/cluster-reachable "))
        command = next(i for i, s in enumerate(steps) if s in pulumi_steps(job))
        installs = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@") and i < check]
        aws = next(i for i, s in enumerate(steps) if "configure-aws-credentials" in s.get("uses", ""))
        assert aws < check < command and installs, name
        assert steps[check]["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


def test_previews_of_pull_request_code_run_in_a_per_stack_environment_with_the_preview_role() -> None:
    preview = load(PULL_REQUEST)["jobs"]["preview"]
    assert environment_name(preview) == "preview-${{ matrix.stack }}"
    aws = next(s for s in preview["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (pulumi,) = pulumi_steps(preview)
    assert pulumi["with"]["refresh"] is True  # Read fails on an unreachable cluster instead of skipping the diff
    for job in load(DEPLOY)["jobs"].values():
        deploy_aws = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
        assert deploy_aws["with"]["role-to-assume"] != aws["with"]["role-to-assume"]


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + script)
    path.chmod(0o755)


def _reachable(tmp_path: Path, stubs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Stand-ins for the three CLIs the check calls, so each branch of the script runs without a cloud.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in stubs.items():
        _stub(bin_dir, name, script)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["bash", str(CLUSTER_REACHABLE), "prod"], capture_output=True, text=True, env=env,
                          timeout=30)


AWS_STUB = """case "$*" in
  *cluster.endpoint*) echo https://example.eks.amazonaws.com ;;
  *certificateAuthority*) echo bW9jaw== ;;
  *get-token*) echo token ;;
esac
"""


def test_reachability_check_passes_before_the_first_deploy(tmp_path: Path) -> None:
    result = _reachable(tmp_path, {"pulumi": "exit 1\n"})
    assert result.returncode == 0 and "no cluster yet" in result.stdout


def test_reachability_check_fails_loudly_when_the_api_does_not_answer(tmp_path: Path) -> None:
    result = _reachable(tmp_path, {"pulumi": "echo milvus-eks-prod-eks\n", "aws": AWS_STUB,
                                   "curl": "echo 'curl: (28) Connection timed out' >&2; exit 28\n"})
    assert result.returncode == 1
    assert "::error title=Kubernetes API of milvus-eks-prod-eks not usable" in result.stdout
    assert "PULUMI_RUNNER_LABEL" in result.stderr and "publicAccessCidrs" in result.stderr


def test_reachability_check_names_a_runner_identity_that_is_no_cluster_principal(tmp_path: Path) -> None:
    result = _reachable(tmp_path, {"pulumi": "echo milvus-eks-prod-eks\n", "aws": AWS_STUB, "curl": "echo 401\n"})
    assert result.returncode == 1 and "not a cluster principal" in result.stdout
    assert "adminPrincipals" in result.stderr


def test_reachability_check_passes_when_the_api_answers(tmp_path: Path) -> None:
    result = _reachable(tmp_path, {"pulumi": "echo milvus-eks-prod-eks\n", "aws": AWS_STUB, "curl": "echo 200\n"})
    assert result.returncode == 0 and "reachable at https://example.eks.amazonaws.com" in result.stdout


# --- the destructive-change gate of the plan job ------------------------------------------------------------


def test_label_events_rerun_the_plan_without_cancelling_the_code_run() -> None:
    workflow = load(PULL_REQUEST)
    assert {"labeled", "unlabeled", "synchronize"} <= set(workflow["on"]["pull_request"]["types"])
    group = workflow["concurrency"]["group"]
    assert "'labels'" in group and "'code'" in group


def _plan_step(name: str) -> dict[str, Any]:
    return next(s for s in load(PULL_REQUEST)["jobs"]["plan"]["steps"] if s.get("name") == name)


def _gate(tmp_path: Path, base: Path, head: Path, labels: list[str]) -> tuple[int, int, str]:
    """Runs the diff step and the gate step as the runner would: the `${{ }}` expressions evaluated for a pull
    request with these labels, `uv run --frozen python` standing for this interpreter, the real plan_diff."""
    diff, gate = _plan_step("Diff the plans"), _plan_step("Destructive changes need the allow-destructive label")
    assert diff["env"]["ALLOW_DESTRUCTIVE"] == "${{ contains(github.event.pull_request.labels.*.name, 'allow-destructive') }}"
    assert gate["env"]["DIFF_STATUS"] == "${{ steps.diff.outputs.status }}" and diff["id"] == "diff"
    root = Path(__file__).resolve().parents[2]
    work = tmp_path / "runner"
    (work / "plan-out").mkdir(parents=True)
    (work / "plan-out" / "base").symlink_to(base)
    (work / "plan-out" / "head").symlink_to(head)
    # A real directory (a symlinked checkout would resolve `..` outside the runner layout) with what plan_diff
    # imports: tools/, and the constants of render/ its scale sequence (reports/) quotes.
    (work / "head").mkdir()
    for package in ("tools", "reports", "render"):
        (work / "head" / package).symlink_to(root / package)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "uv", f'[ "$1 $2 $3" = "run --frozen python" ] || exit 97\nshift 3\nexec {sys.executable} "$@"\n')
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_OUTPUT": str(output),
           "ALLOW_DESTRUCTIVE": "true" if "allow-destructive" in labels else "false"}
    # GitHub runs `run:` scripts with `bash -e {0}`.
    first = subprocess.run(["bash", "-e", "-c", diff["run"]], cwd=work / "head", env=env, capture_output=True,
                           text=True, timeout=120)
    status = dict(line.split("=", 1) for line in output.read_text().split())["status"]
    second = subprocess.run(["bash", "-e", "-c", gate["run"]], env={**env, "DIFF_STATUS": status},
                            capture_output=True, text=True, timeout=30)
    return first.returncode, second.returncode, second.stdout + (work / "plan-diff.md").read_text()


@pytest.fixture(scope="module")
def cidr_plans(tmp_path_factory) -> tuple[Path, Path]:
    import copy as _copy

    import yaml as _yaml

    from tests.conftest import graph_for, stack_document
    from tools import plan as plan_command

    root = tmp_path_factory.mktemp("gate")
    plan_command.write(plan_command.build("dev", graph=graph_for("dev")).files, root / "base" / "dev")
    config = _copy.deepcopy(stack_document("dev"))
    config["milvus-eks:network"]["vpcCidr"] = "10.41.0.0/16"
    (root / "Pulumi.dev.yaml").write_text(_yaml.safe_dump({"config": config}))
    plan_command.write(plan_command.build(str(root / "Pulumi.dev.yaml")).files, root / "head" / "dev")
    return root / "base", root / "head"


def test_the_plan_job_fails_on_a_new_vpc_cidr_without_the_label(tmp_path, cidr_plans) -> None:
    diff_rc, gate_rc, text = _gate(tmp_path, *cidr_plans, labels=["documentation"])
    assert diff_rc == 0  # the diff is written and posted first
    assert gate_rc == 1 and "::error title=Destructive change::" in text
    assert "## Destructive changes" in text and "network-vpc" in text


def test_the_allow_destructive_label_lets_it_pass_and_still_lists_them(tmp_path, cidr_plans) -> None:
    diff_rc, gate_rc, text = _gate(tmp_path, *cidr_plans, labels=["allow-destructive"])
    assert (diff_rc, gate_rc) == (0, 0)
    assert "allowed for this change" in text and "network-vpc" in text


def test_an_unchanged_plan_passes_the_gate(tmp_path, cidr_plans) -> None:
    base, _ = cidr_plans
    diff_rc, gate_rc, text = _gate(tmp_path, base, base, labels=[])
    assert (diff_rc, gate_rc) == (0, 0) and "None: no stateful resource" in text


def test_a_broken_plan_folder_fails_the_diff_step_itself(tmp_path, cidr_plans) -> None:
    base, head = cidr_plans
    broken = tmp_path / "broken"
    (broken / "dev").mkdir(parents=True)
    (broken / "dev" / "plan.json").write_text("{")
    (broken / "dev" / "resources.json").write_text("[]")
    diff_rc, _, _ = _gate(tmp_path, base, broken, labels=["allow-destructive"])
    assert diff_rc == 1


def test_plan_step_plans_every_stack_file_of_the_head(tmp_path) -> None:
    """The plan step run by bash with a stand-in `uv` that records its calls: every head stack is planned, a base
    without that stack file is not (a new stack has nothing to compare)."""
    plan = load(PULL_REQUEST)["jobs"]["plan"]
    script = next(s["run"] for s in plan["steps"] if "for file in head/Pulumi.*.yaml" in s.get("run", ""))
    for side, stacks in (("head", ("dev", "prod", "staging")), ("base", ("dev", "prod"))):
        (tmp_path / side / "tools").mkdir(parents=True)
        (tmp_path / side / "tools" / "plan.py").write_text("")
        for stack in stacks:
            (tmp_path / side / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(f'#!/bin/sh\necho "$(basename "$PWD") $*" >> {tmp_path}/calls\n')
    uv.chmod(0o755)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, check=True,
                   env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    calls = sorted((tmp_path / "calls").read_text().splitlines())
    assert calls == sorted(f"{side} run --frozen python -m tools.plan {stack} --out ../plan-out/{side}/{stack}"
                           for side, stack in (("base", "dev"), ("base", "prod"), ("head", "dev"),
                                               ("head", "prod"), ("head", "staging")))
