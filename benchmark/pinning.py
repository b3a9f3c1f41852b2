"""CPU pinning with taskset, so servers and the load generator never share a core."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator

DEFAULT_SERVER_CPUS = "0"
DEFAULT_CLIENT_CPUS = "1"


def parse_cpu_list(cpus: str) -> set[int]:
    """CPU numbers of a taskset list such as ``0``, ``0,2`` or ``0-3``."""
    out: set[int] = set()
    for part in cpus.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    if not out:
        raise ValueError(f"empty CPU list {cpus!r}")
    return out


def available_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def default_cpu_sets() -> tuple[str | None, str | None]:
    """(server CPUs, client CPUs): "0" and "1", or no pinning with a warning on one CPU."""
    cpus = available_cpus()
    if {0, 1} <= cpus:
        return DEFAULT_SERVER_CPUS, DEFAULT_CLIENT_CPUS
    warnings.warn(
        f"only CPUs {sorted(cpus)} are available: servers and client run unpinned and share "
        "cores, so measurements are noisier",
        RuntimeWarning,
        stacklevel=2,
    )
    return None, None


def taskset_prefix(cpus: str | None) -> list[str]:
    """``taskset -c CPUS`` for argv, or nothing (with a warning) when pinning is impossible."""
    if cpus is None:
        return []
    wanted = parse_cpu_list(cpus)
    missing = wanted - available_cpus()
    taskset = shutil.which("taskset")
    if missing or taskset is None:
        reason = f"CPUs {sorted(missing)} not available" if missing else "taskset not found"
        warnings.warn(f"not pinning to CPUs {cpus}: {reason}", RuntimeWarning, stacklevel=2)
        return []
    return [taskset, "-c", cpus]


DEFAULT_NICE = -20
"""Servers and load generator run at this niceness when allowed (root): both sides of every
pair get the same boost, and it keeps other work on the machine from landing inside a run."""


def nice_prefix(nice: int | None) -> list[str]:
    """``nice -n N`` for argv; nothing when N is None or raising priority is not permitted."""
    if nice is None or nice == 0:
        return []
    nice_bin = shutil.which("nice")
    if nice_bin is None or (nice < 0 and os.geteuid() != 0):
        warnings.warn(
            f"not changing niceness to {nice}: needs root and nice(1)", RuntimeWarning, stacklevel=2
        )
        return []
    return [nice_bin, "-n", str(nice)]


@contextlib.contextmanager
def raised_priority(nice: int | None) -> Iterator[None]:
    """Run the block at niceness ``nice`` (this thread; restored after) when permitted.

    The measuring process starts every tool; on a loaded machine those starts wait for a
    CPU at normal priority, which cost about a third of a short-run study's wall clock.
    """
    if nice is None or (nice < 0 and os.geteuid() != 0):
        yield
        return
    old = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, old)
