"""One error type for every problem in a stack file, carrying all of them at once."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "milvus-eks"


@dataclass(frozen=True)
class Problem:
    path: str
    """The key as the user writes it, e.g. `nodePools.query.instanceTypes[0]` (or `aws:region`); empty for a
    problem of the whole file or of the stack's name."""
    message: str
    """What is wrong, the bad value, and the fix."""

    def __str__(self) -> str:
        if not self.path:  # the file as a whole (not UTF-8, not a map, ...)
            return self.message
        key = self.path if ":" in self.path else f"{NAMESPACE}:{self.path}"
        return f"{key}: {self.message}"


class ConfigError(Exception):
    """The stack file cannot be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the stack configuration has {count} problem{'s' if count != 1 else ''}:\n{lines}")

    def paths(self) -> list[str]:
        return [p.path for p in self.problems]
