"""The topology Job's Python packages, hash-pinned from uv.lock.

    python -m tools.reconciler_requirements          # rewrites topology/requirements.txt

The reconciler needs pymilvus and what it depends on, at the versions the project locks and tests with. This walks
uv.lock from pymilvus through its dependencies and writes a pip requirements file with every artifact hash the lock
records, so `pip install --require-hashes` refuses anything PyPI (or a mirror) serves that is not that artifact.
tests/unit/test_reconciler_image.py fails when the file no longer matches uv.lock.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "uv.lock"
OUTPUT = ROOT / "topology" / "requirements.txt"
ROOT_PACKAGE = "pymilvus"
CONTINUATION = " \\\n"
HEADER = ("# Generated from uv.lock by `python -m tools.reconciler_requirements`; do not edit.\n"
          "# Installed by the topology Job with `pip install --require-hashes --no-deps --only-binary :all:`.\n")


def _closure(packages: dict[str, dict], root: str) -> dict[str, set[str]]:
    """Every package reachable from `root` → the markers under which it is needed (empty string: always)."""
    needed: dict[str, set[str]] = {root: {""}}
    queue = [root]
    while queue:
        name = queue.pop()
        for dep in packages[name].get("dependencies", []):
            marker = dep.get("marker", "")
            markers = needed.setdefault(dep["name"], set())
            if marker not in markers:
                markers.add(marker)
                queue.append(dep["name"])
    return needed


def render(lock_text: str, root: str = ROOT_PACKAGE) -> str:
    lock = tomllib.loads(lock_text)
    packages = {p["name"]: p for p in lock["package"]}
    lines = [HEADER]
    for name, markers in sorted(_closure(packages, root).items()):
        package = packages[name]
        hashes = sorted({a["hash"] for a in [*package.get("wheels", []), *(
            [package["sdist"]] if "sdist" in package else [])]})
        # Needed unconditionally through one path: no marker; otherwise any of the markers that lead to it.
        marker = "" if "" in markers else " ; " + " or ".join(f"({m})" for m in sorted(markers))
        entries = [f"{name}=={package['version']}{marker}", *(f"    --hash={h}" for h in hashes)]
        lines.append(CONTINUATION.join(entries) + "\n")
    return "".join(lines)


def main() -> int:
    OUTPUT.write_text(render(LOCK.read_text()))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
