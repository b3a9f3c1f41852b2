"""CPU pinning with taskset, so servers and the load generator never share a core."""

from __future__ import annotations

import os
import shutil
import warnings

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
