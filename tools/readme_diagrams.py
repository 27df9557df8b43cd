"""Keep the README's Mermaid diagrams (pools → components → resource groups → collections) equal to what the plan
command renders for each stack file. `python -m tools.readme_diagrams` rewrites them; a unit test fails when stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tools.plan import _stack_settings, topology_mermaid

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STACKS = tuple(sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")))


def block(stack: str) -> str:
    return f"<!-- diagram:{stack} -->\n```mermaid\n{topology_mermaid(_stack_settings(stack)).rstrip()}\n```\n" \
           f"<!-- /diagram:{stack} -->"


def render(readme: str) -> str:
    for stack in STACKS:
        pattern = re.compile(rf"<!-- diagram:{stack} -->.*?<!-- /diagram:{stack} -->", re.S)
        if not pattern.search(readme):
            raise LookupError(f"README.md has no <!-- diagram:{stack} --> … <!-- /diagram:{stack} --> block")
        readme = pattern.sub(lambda _: block(stack), readme)
    return readme


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    sys.stdout.write(f"updated the diagrams in {README}\n")
