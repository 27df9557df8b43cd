"""checkov (PyPI 3.3.30, framework kubernetes) over everything the offline plan writes for both stacks: every failed
check is fixed or accepted with a reason in policy/checkov_accepted.yaml (issue 11, security baseline).

The scan covers the whole plan folder, so objects the plan writes later (the charts' rendered bundle) are scanned
without changing this test. One checkov run covers both stacks and a known-bad manifest (checkov's start-up, not
the scan, is most of its time).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from policy.checkov_scan import checkov_findings, load_accepted, unaccepted

ROOT = Path(__file__).resolve().parents[2]
PRIVILEGED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": "probe"},
                  "spec": {"containers": [{"name": "c", "image": "busybox:1.37",
                                           "securityContext": {"privileged": True}}]}}


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("checkov")
    for stack in ("dev", "prod"):
        subprocess.run([sys.executable, "-m", "tools.plan", stack, "--out", str(root / stack)], cwd=ROOT,
                       check=True, capture_output=True, timeout=600)
    (root / "probe").mkdir()
    (root / "probe" / "pod.yaml").write_text(yaml.safe_dump(PRIVILEGED_POD))
    started = time.monotonic()
    findings = checkov_findings(root / "dev", root / "prod", root / "probe")
    return {"findings": findings, "seconds": time.monotonic() - started}


def test_every_finding_on_the_plans_is_fixed_or_accepted(scan: dict):
    plans = [f for f in scan["findings"] if "probe" not in f.file]
    left = unaccepted(plans, load_accepted())
    assert left == [], "\n".join(map(str, left))


def test_checkov_really_scanned_and_flags_a_privileged_pod(scan: dict):
    probe = {f.check_id for f in scan["findings"] if "probe" in f.file}
    assert "CKV_K8S_16" in probe  # "Container should not be privileged"
    assert unaccepted([f for f in scan["findings"] if "probe" in f.file], load_accepted())
    print(f"checkov scan of dev + prod + probe: {scan['seconds']:.1f}s")
