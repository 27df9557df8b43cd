"""The README's first screen and diagrams stay true."""

import re
from pathlib import Path

from tools.readme_diagrams import README, render

ROOT = Path(__file__).resolve().parents[2]


def test_readme_diagrams_match_the_stack_files():
    assert README.read_text() == render(README.read_text()), "run `python -m tools.readme_diagrams`"


def test_first_screen_has_the_two_commands_and_ci_runs_the_test_command():
    first_screen = "\n".join(README.read_text().splitlines()[:30])
    assert "python -m tools.plan dev" in first_screen and "./scripts/test" in first_screen
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec \./scripts/test\b", ci, re.M)
