"""The A/A noise probe: Redis 8.0 against an identical Redis 8.0 with the project's paired
protocol, pinned as the spec pins a study, for a fixed wall-clock budget. The spread of the
per-repetition fitness predicts how many repetitions (and seconds) a trial needs on this
machine to reach the spec's CI target."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from benchmark.client import LocalClient
from benchmark.errors import BenchmarkError
from benchmark.paired import PairedRun
from benchmark.redis8 import find_redis8_bin_dir, redis_server_argv
from benchmark.result import PairedResult, RepetitionUpdate
from benchmark.server_process import ServerProcess
from benchmark.stats import min_repetitions_for
from benchmark.workload import Workload
from tuner.doctor._check import FAIL, OK, SKIP, WARN, Check

#: The bootstrap CI is of medians; a median's standard error is about sqrt(pi/2) times the
#: mean's for normal noise, so the prediction scales the mean's by this.
MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)
#: Fewer measured repetitions than this give no usable spread.
MIN_PROBE_REPETITIONS = 2
#: Repetitions the probe may take at most (the wall clock stops it first).
PROBE_MAX_REPETITIONS = 200


@dataclass(frozen=True)
class NoiseEstimate:
    """What the probe measured and what it predicts for the spec's workload."""

    repetitions: int
    seconds: float
    aa_fitness: float
    aa_ci: tuple[float, float]
    log_sd: float
    """Standard deviation of the per-repetition log fitness (A/A: pure noise)."""
    seconds_per_repetition: float
    """Predicted for the spec's run length: 2 runs per unit, each duration plus overhead."""
    warmup_seconds: float
    needed_repetitions: int
    target_ci_pct: float
    max_repetitions: int
    confidence: float

    @property
    def seconds_per_trial(self) -> float:
        """Benchmark seconds of one trial (builds and server starts not included)."""
        reps = min(self.needed_repetitions, self.max_repetitions)
        return self.warmup_seconds + reps * self.seconds_per_repetition

    def half_width_at(self, repetitions: int) -> float:
        """Predicted fitness CI half-width (%) after ``repetitions``."""
        z = NormalDist().inv_cdf(0.5 + self.confidence / 2)
        return (math.exp(z * MEDIAN_EFFICIENCY * self.log_sd / math.sqrt(repetitions)) - 1) * 100


def repetitions_for(log_sd: float, target_ci_pct: float, confidence: float) -> int:
    """Repetitions until the median-based fitness CI is ±``target_ci_pct`` when one
    repetition's log fitness has standard deviation ``log_sd``."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return max(
        1, math.ceil((z * MEDIAN_EFFICIENCY * log_sd / math.log1p(target_ci_pct / 100)) ** 2)
    )


def log_fitness_sd(logs: np.ndarray, weights: np.ndarray) -> float:
    """Standard deviation of one repetition's log fitness from A/A log ratios (units x reps).

    Each unit's own spread (units x (reps - 1) degrees of freedom, so two repetitions already
    give an estimate) combined as if units were independent; from three repetitions on, the
    spread of the per-repetition fitness itself when that is larger (units that move
    together). inf with fewer than two repetitions.
    """
    if logs.shape[1] < 2:
        return math.inf
    w = weights / weights.sum()
    pooled = float(np.sqrt(np.sum(w**2 * np.var(logs, axis=1, ddof=1))))
    if logs.shape[1] < 3:
        return pooled
    direct = float(np.std(w @ logs, ddof=1))
    return max(pooled, direct)


def estimate_noise(
    result: PairedResult, spec_workload: Workload, probe_duration_s: float | None
) -> NoiseEstimate:
    """Predict repetitions and seconds per trial for ``spec_workload`` from an A/A result."""
    names = list(result.per_test)
    weights = np.array([result.per_test[n].weight for n in names])
    logs = np.log(np.array([result.per_test[n].ratios for n in names]))  # units x reps
    sd = log_fitness_sd(logs, weights)
    conf = spec_workload.confidence
    target = spec_workload.target_ci_pct
    floor = max(spec_workload.min_repetitions, min_repetitions_for(conf))
    if math.isfinite(sd):
        needed = max(repetitions_for(sd, target, conf), floor)
    else:
        needed = spec_workload.max_repetitions + 1

    measured = [r for r in result.runs if r.phase == "measure"]
    warm = [r for r in result.runs if r.phase != "measure"]
    run_walls = [r.seconds + r.prefill_seconds for r in measured]
    per_rep_s = float(sum(run_walls)) / max(result.repetitions, 1)
    if probe_duration_s is not None and spec_workload.duration_s is not None and run_walls:
        # The probe ran shorter runs: keep its per-run overhead, use the spec's run length.
        overhead = max(float(np.mean(run_walls)) - probe_duration_s, 0.0)
        per_rep_s = 2 * len(names) * (spec_workload.duration_s + overhead)
    return NoiseEstimate(
        repetitions=result.repetitions,
        seconds=result.seconds,
        aa_fitness=result.fitness,
        aa_ci=(result.ci_low, result.ci_high),
        log_sd=sd,
        seconds_per_repetition=per_rep_s,
        warmup_seconds=float(sum(r.seconds + r.prefill_seconds for r in warm)),
        needed_repetitions=needed,
        target_ci_pct=target,
        max_repetitions=spec_workload.max_repetitions,
        confidence=conf,
    )


def probe_noise(
    workload: Workload,
    *,
    seconds: float,
    server_cpus: str | None,
    client_cpus: str | None,
    baseline_cpus: str | None = None,
    duration_s: float | None = None,
    on_repetition: Callable[[RepetitionUpdate], None] | None = None,
) -> PairedResult:
    """Run Redis 8.0 (on ``server_cpus``, where candidates run) against Redis 8.0 (on
    ``baseline_cpus``, default the same): the warm-up, then repetitions for about
    ``seconds`` (the last one finishes)."""
    bin_dir = find_redis8_bin_dir()
    if bin_dir is None:
        raise BenchmarkError("no Redis 8 found for the A/A probe")
    # Never stop on the CI target: the wall clock ends the probe.
    probe = dataclasses.replace(
        workload, min_repetitions=PROBE_MAX_REPETITIONS, max_repetitions=PROBE_MAX_REPETITIONS
    )
    if duration_s is not None:
        probe = dataclasses.replace(probe, duration_s=duration_s, requests=None)
    client = LocalClient(bin_dir, cpus=client_cpus)
    a = ServerProcess(redis_server_argv(bin_dir), name="baseline-a", cpus=server_cpus)
    b = ServerProcess(
        redis_server_argv(bin_dir), name="baseline-b", cpus=baseline_cpus or server_cpus
    )
    try:
        a.start()
        b.start()
        return PairedRun(
            a.endpoint,
            b.endpoint,
            probe,
            client,
            on_repetition=on_repetition,
            max_seconds=seconds,
            budget_after_warmup=True,
        ).run()
    finally:
        a.cleanup()
        b.cleanup()


def check_noise(
    workload: Workload,
    *,
    seconds: float,
    server_cpus: str | None,
    client_cpus: str | None,
    baseline_cpus: str | None = None,
    duration_s: float | None = None,
    on_repetition: Callable[[RepetitionUpdate], None] | None = None,
) -> tuple[Check, NoiseEstimate | None]:
    """The probe as a doctor check; a warning (not a failure) when trials will miss the target."""
    if seconds <= 0:
        return Check("noise (A/A)", SKIP, "skipped (--probe-seconds 0)", required=False), None
    try:
        result = probe_noise(
            workload,
            seconds=seconds,
            server_cpus=server_cpus,
            client_cpus=client_cpus,
            baseline_cpus=baseline_cpus,
            duration_s=duration_s,
            on_repetition=on_repetition,
        )
    except BenchmarkError as exc:
        return Check(
            "noise (A/A)", FAIL, f"probe failed: {exc}", "fix the baseline check first"
        ), None
    est = estimate_noise(result, workload, duration_s)
    pct = f"{est.confidence * 100:g}%"
    found = (
        f"{est.repetitions} A/A reps in {est.seconds:.0f}s: fitness {est.aa_fitness:.1f} "
        f"[{est.aa_ci[0]:.1f}, {est.aa_ci[1]:.1f}], per-rep sd {est.log_sd * 100:.1f}%; "
        f"±{est.target_ci_pct:g}% at {pct} needs ~{est.needed_repetitions} reps, "
        f"~{est.seconds_per_trial:.0f}s of benchmark per trial"
    )
    if est.repetitions < MIN_PROBE_REPETITIONS:
        return (
            Check(
                "noise (A/A)",
                WARN,
                f"only {est.repetitions} repetitions in {est.seconds:.0f}s: too few to predict",
                "probe longer: --probe-seconds 60 (or shorter runs: --probe-duration 0.25)",
                required=False,
            ),
            est,
        )
    if est.needed_repetitions > est.max_repetitions:
        reached = est.half_width_at(est.max_repetitions)
        return (
            Check(
                "noise (A/A)",
                WARN,
                f"{found}; the spec stops at max_repetitions = {est.max_repetitions} "
                f"(about ±{reached:.1f}%)",
                f"raise [workload] max_repetitions to {est.needed_repetitions}, or accept "
                f"target_ci_pct = {math.ceil(reached * 10) / 10:g}, or quiet the machine",
                required=False,
            ),
            est,
        )
    low, high = est.aa_ci
    if math.isfinite(low) and not low <= 100 <= high:
        return (
            Check(
                "noise (A/A)",
                WARN,
                f"{found}; the A/A CI excludes 100: the two servers are not measured alike",
                "check the CPU pins (servers and client on separate, idle cores)",
                required=False,
            ),
            est,
        )
    return Check("noise (A/A)", OK, found, required=False), est
