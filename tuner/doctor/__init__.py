"""``tuner doctor``: is this machine ready for a long study, and what to fix if not.

Each check returns a :class:`Check` (what was found, and the fix for a miss); a required
check that fails makes the command exit non-zero. ``_machine`` holds the fast checks
(CPUs, baseline, toolchain, storage, disk), ``_noise`` the A/A noise probe that predicts
the repetitions and seconds per trial this machine needs for the spec's CI target.
"""

from tuner.doctor._check import FAIL, OK, SKIP, WARN, Check
from tuner.doctor._machine import (
    MIN_FREE_BYTES,
    WARN_FREE_BYTES,
    check_baseline,
    check_cpus,
    check_disk,
    check_docker,
    check_storage,
    check_toolchain,
)
from tuner.doctor._noise import (
    NoiseEstimate,
    check_noise,
    estimate_noise,
    log_fitness_sd,
    probe_noise,
    repetitions_for,
)

__all__ = [
    "FAIL",
    "MIN_FREE_BYTES",
    "OK",
    "SKIP",
    "WARN",
    "WARN_FREE_BYTES",
    "Check",
    "NoiseEstimate",
    "check_baseline",
    "check_cpus",
    "check_disk",
    "check_docker",
    "check_noise",
    "check_storage",
    "check_toolchain",
    "estimate_noise",
    "log_fitness_sd",
    "probe_noise",
    "repetitions_for",
]
