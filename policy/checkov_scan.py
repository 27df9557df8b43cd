"""checkov (PyPI, framework `kubernetes`) over rendered manifests, and the allow-list of findings accepted with a
reason (policy/checkov_accepted.yaml).

    python -m policy.checkov_scan DIR [DIR ...]     # prints unaccepted findings; exit 1 if any

checkov runs from its own environment (tools/checkov: its `packaging<24` pin conflicts with pulumi-aws), found as
$CHECKOV, else tools/checkov/.venv/bin/checkov (`uv sync --project tools/checkov --frozen`), else through
`uv run --project tools/checkov --frozen`. `checkov_findings` takes any directory of YAML manifests: the offline
plan's `manifests/` today, the whole rendered bundle (charts included) when there is one.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tools" / "checkov"
ACCEPTED = Path(__file__).resolve().parent / "checkov_accepted.yaml"
TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    """`Kind.namespace.name` as checkov names it."""
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file}): {self.check_name}"


@dataclass(frozen=True)
class Accepted:
    check_id: str
    reason: str
    resources: tuple[str, ...] = ("*",)
    """fnmatch patterns of the resources the acceptance covers."""

    def covers(self, finding: Finding) -> bool:
        return finding.check_id == self.check_id and any(
            fnmatch.fnmatchcase(finding.resource, pattern) for pattern in self.resources)


def checkov_command() -> list[str]:
    if os.environ.get("CHECKOV"):
        return shlex.split(os.environ["CHECKOV"])
    local = PROJECT / ".venv" / "bin" / "checkov"
    if local.exists():
        return [str(local)]
    return [sys.executable, "-m", "uv", "run", "--project", str(PROJECT), "--frozen", "--", "checkov"]


TOP_LEVEL_KIND = re.compile(r"^kind:\s*(\S+)\s*$", re.MULTILINE)


def _only_crds(path: Path) -> bool:
    """A file whose every document is a CustomResourceDefinition: checkov has no check for them, and the
    Prometheus Operator's are most of the bytes it would otherwise parse (4.5 of 5.3 MB per stack)."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    kinds = TOP_LEVEL_KIND.findall(path.read_text(encoding="utf-8", errors="replace"))
    return bool(kinds) and all(k == "CustomResourceDefinition" for k in kinds)


def _ignore_crds(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if (Path(directory) / n).is_file() and _only_crds(Path(directory) / n)}


def checkov_findings(*manifest_dirs: Path | str) -> list[Finding]:
    """Every failed check checkov reports for the YAML manifests under the directories (one checkov run: its
    start-up dominates; several --directory flags make it print one cumulative report per directory).
    CustomResourceDefinitions are left out (`_only_crds`)."""
    with tempfile.TemporaryDirectory(prefix="checkov-") as scratch:
        for i, directory in enumerate(manifest_dirs):
            shutil.copytree(directory, Path(scratch) / f"{i}-{Path(directory).parent.name}-{Path(directory).name}",
                            ignore=_ignore_crds)
        command = [*checkov_command(), "--framework", "kubernetes", "--output", "json", "--compact",
                   "--skip-download", "--quiet", "--directory", scratch]
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"})
    # checkov exits 1 when a check fails; anything else (or no JSON) is checkov itself failing.
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    reports = json.loads(result.stdout)
    findings = []
    for report in reports if isinstance(reports, list) else [reports]:
        for check in (report.get("results") or {}).get("failed_checks", []):
            findings.append(Finding(check["check_id"], check["check_name"], check["resource"],
                                    check.get("file_path", "")))
    return sorted(set(findings), key=lambda f: (f.check_id, f.resource))


def load_accepted(path: Path = ACCEPTED) -> list[Accepted]:
    document = yaml.safe_load(path.read_text()) or {}
    accepted = []
    for check_id, entry in (document.get("accepted") or {}).items():
        reason = (entry or {}).get("reason", "").strip()
        if not reason:
            raise ValueError(f"{path.name}: {check_id} has no reason; every accepted check needs one")
        accepted.append(Accepted(check_id, reason, tuple(entry.get("resources") or ("*",))))
    return accepted


def unaccepted(findings: Iterable[Finding], accepted: Sequence[Accepted]) -> list[Finding]:
    return [f for f in findings if not any(a.covers(f) for a in accepted)]


def main(argv: Sequence[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2])
        return 2
    left = unaccepted(checkov_findings(*argv), load_accepted())
    for finding in left:
        print(finding)
    print(f"{len(left)} unaccepted checkov finding(s)")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
