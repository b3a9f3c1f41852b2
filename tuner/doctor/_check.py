"""One doctor check's outcome: what was found and, for a miss, the fix."""

from __future__ import annotations

from dataclasses import dataclass

OK = "ok"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """``status`` is ok, warn, fail or skip; ``required`` failures make doctor exit 1."""

    name: str
    status: str
    found: str
    fix: str = ""
    required: bool = True

    @property
    def blocks(self) -> bool:
        """A required check that failed: a study would not run (or not measure) here."""
        return self.required and self.status == FAIL
