"""Runners turn candidates into measurements; ``make_runner`` picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tuner.runners.base import (
    Candidate,
    Measurement,
    MemoryOutcome,
    Progress,
    Runner,
    TrialFailure,
)


def _mock(spec: Any, **opts: Any) -> Runner:
    from tuner.runners.mock import MockRunner

    return MockRunner(spec, **opts)


def _local(spec: Any, **opts: Any) -> Runner:
    from tuner.runners.local import LocalRunner

    return LocalRunner(spec, **opts)


def _compose(spec: Any, **opts: Any) -> Runner:
    from tuner.runners.compose import ComposeError, ComposeRunner

    if getattr(spec, "datasets", ()):
        raise RunnerUnavailable(
            "runner 'compose': [workload.dataset] (memory per key) is measured by the local "
            "and mock runners only; use --runner local"
        )
    try:
        return ComposeRunner(spec, **opts)
    except ComposeError as exc:  # no engine, bad compose file, CPU set out of range
        raise RunnerUnavailable(f"runner 'compose': {exc}") from None


class RunnerUnavailable(ValueError):
    """The requested runner name is unknown or not implemented on this install."""


#: Runner name -> factory(spec, **opts). The compose runner registers itself here.
RUNNERS: dict[str, Callable[..., Runner]] = {
    "mock": _mock,
    "local": _local,
    "compose": _compose,
}


def make_runner(name: str, spec: Any, **opts: Any) -> Runner:
    """Build the runner called ``name`` for ``spec`` (a parsed StudySpec)."""
    try:
        factory = RUNNERS[name]
    except KeyError:
        known = ", ".join(sorted(RUNNERS))
        raise RunnerUnavailable(f"unknown runner {name!r}; choose one of: {known}") from None
    return factory(spec, **opts)


__all__ = [
    "RUNNERS",
    "Candidate",
    "Measurement",
    "MemoryOutcome",
    "Progress",
    "Runner",
    "RunnerUnavailable",
    "TrialFailure",
    "make_runner",
]
