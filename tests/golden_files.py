"""Rendered text reviewed as text: compare with tests/golden/, regenerate with UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(relative: str, text: str) -> None:
    path = GOLDEN / relative
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing; run the tests once with UPDATE_GOLDEN=1 and review the file"
    assert text == path.read_text(), f"{relative} differs from its golden file; review, then UPDATE_GOLDEN=1"
