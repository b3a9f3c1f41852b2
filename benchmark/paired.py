"""The paired, interleaved A/B protocol: candidate vs baseline, repeated until the CI is tight.

In every repetition each unit (test@pipeline) runs on both servers back to back, in a
freshly randomised order of units and of servers within the unit, never both at once,
each run on a freshly FLUSHALLed and prefilled server. Pairs adjacent in time share the
machine's momentary load, which the per-pair ratio cancels.

The machine-health guard: the baseline is the same server in every repetition, so its own
throughput tells whether the machine was disturbed. A repetition whose baseline rps (the
geomean over units of each unit's rps over its running median over the counted
repetitions; the first repetition is the reference) falls below
``workload.health_threshold`` is re-run and not counted, up to ``workload.max_dropped``
times; its runs stay in the result with phase "disturbed".
A ratio cancels a disturbance only if it hits both runs of a pair equally, which a burst
during one run does not.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from benchmark import stats
from benchmark.client import BenchmarkClient
from benchmark.endpoint import Endpoint
from benchmark.invocation import check_not_exhausted, flushall, prefill, run_test
from benchmark.pinning import DEFAULT_NICE, raised_priority
from benchmark.result import (
    BASELINE,
    CANDIDATE,
    PairedResult,
    RawRun,
    RepetitionUpdate,
    TestStats,
)
from benchmark.server_info import rss_bytes, server_version
from benchmark.workload import Workload, unit_name

__all__ = ["PairedRun", "RepetitionUpdate"]

RepetitionCallback = Callable[[RepetitionUpdate], None]

MIN_REQUESTS = 1000
"""Below this a run is over before the clients' connections settle (and LRANGE lists fill)."""


def probe_requests(pipeline: int) -> int:
    """Warm-up/calibration run length: about a tenth of a second on this class of machine."""
    return min(10_000 * pipeline, 200_000)


SCOUT_PIPELINES_PER_CLIENT = 10
"""A scout run sends this many pipelines per client: milliseconds for small commands."""

PROBE_SECONDS = 0.25
"""The warm-up probe's length, from the scout's rate, at most :func:`probe_requests`."""


def scout_requests(clients: int, pipeline: int) -> int:
    """Length of the scout run that sizes the warm-up for slow tests."""
    return clients * pipeline * SCOUT_PIPELINES_PER_CLIENT


def sized_probe(pipeline: int, scout_rps: float) -> int:
    """The warm-up's request count: about PROBE_SECONDS at the scout's rate, capped.

    A fixed count of 10,000 per pipeline depth is a tenth of a second for SET but a minute
    for LRANGE_100 of 4 KiB values (2,500 requests a second at P=16); the scout's rate
    bounds it by time. Fast tests keep the cap, as before.
    """
    return max(MIN_REQUESTS, min(probe_requests(pipeline), round(scout_rps * PROBE_SECONDS)))


class PairedRun:
    """Measure ``candidate`` against ``baseline`` with ``workload``; see module docstring.

    ``max_repetitions`` overrides the workload's maximum (finalists use more).
    ``on_repetition`` receives the running fitness after every repetition and may raise
    to abort (the tuner raises optuna.TrialPruned); at repetition 1 its CI is NaN. It is
    also the only progress report: PairedRun draws nothing, so whoever runs it (the
    tuner's study display, ``python -m benchmark``) shows one display of its own.
    ``nice``: the measuring thread's niceness while it runs (restored after), so tool
    starts do not queue behind other work on a loaded machine.
    ``max_seconds`` bounds the wall clock: no repetition starts after it has passed
    (stop_reason "time_budget"); the warm-up and the first repetition always run. With
    ``budget_after_warmup`` the clock starts after the warm-up instead (a probe that wants
    a number of seconds of measurement, however slow the warm-up on a loaded machine).
    """

    def __init__(
        self,
        candidate: Endpoint,
        baseline: Endpoint,
        workload: Workload,
        client: BenchmarkClient,
        seed: int | None = None,
        on_repetition: RepetitionCallback | None = None,
        max_repetitions: int | None = None,
        *,
        resamples: int = stats.DEFAULT_RESAMPLES,
        max_seconds: float | None = None,
        budget_after_warmup: bool = False,
        nice: int | None = DEFAULT_NICE,
    ) -> None:
        if max_repetitions is not None and max_repetitions < 1:
            raise ValueError(f"max_repetitions must be >= 1, got {max_repetitions}")
        self.candidate = candidate
        self.baseline = baseline
        self.workload = workload
        self.client = client
        self.seed = seed
        self.on_repetition = on_repetition
        self.max_repetitions = max_repetitions or workload.max_repetitions
        self.min_repetitions = min(workload.min_repetitions, self.max_repetitions)
        self._stop_floor = max(self.min_repetitions, stats.min_repetitions_for(workload.confidence))
        self.resamples = resamples
        self.max_seconds = max_seconds
        self.budget_after_warmup = budget_after_warmup
        self.nice = nice
        self._rng = np.random.default_rng(seed)
        self._runs: list[RawRun] = []
        self._rss: dict[str, int | None] = {CANDIDATE: None, BASELINE: None}
        self._t0 = 0.0
        self._dropped = 0

    def _endpoint(self, role: str) -> Endpoint:
        return self.candidate if role == CANDIDATE else self.baseline

    def _timeout(self, requests: int) -> float:
        if self.workload.duration_s is not None:
            return self.workload.duration_s * 20 + 120
        return 900.0

    def _run_one(
        self, role: str, test: str, pipeline: int, repetition: int, phase: str, requests: int
    ) -> RawRun:
        endpoint = self._endpoint(role)
        started = time.perf_counter()
        if self.workload.prefill:
            prefill(self.client, endpoint, self.workload, test, pipeline, requests, flush=True)
        else:
            flushall(self.client, endpoint)
        prefill_s = time.perf_counter() - started
        row, seconds = run_test(
            self.client,
            endpoint,
            self.workload,
            test,
            pipeline,
            requests,
            timeout=self._timeout(requests),
        )
        if self.workload.prefill:
            check_not_exhausted(self.client, endpoint, test)
        rss = rss_bytes(self.client, endpoint)
        if rss is not None:
            self._rss[role] = max(rss, self._rss[role] or 0)
        run = RawRun(
            role=role,
            server=endpoint.name,
            test=test,
            pipeline=pipeline,
            unit=unit_name(test, pipeline),
            repetition=repetition,
            phase=phase,
            requests=requests,
            rps=row.rps,
            avg_ms=row.avg_ms,
            p50_ms=row.p50_ms,
            p95_ms=row.p95_ms,
            p99_ms=row.p99_ms,
            max_ms=row.max_ms,
            seconds=seconds,
            prefill_seconds=prefill_s,
            started_s=started - self._t0,
        )
        self._runs.append(run)
        return run

    def _roles(self) -> list[str]:
        return [CANDIDATE, BASELINE] if self._rng.random() < 0.5 else [BASELINE, CANDIDATE]

    def _calibrate(self) -> dict[str, int]:
        """Warm both servers up (discarded) and turn duration_s into a request count per unit."""
        w = self.workload
        requests: dict[str, int] = {}
        for test, pipeline in w.units:
            unit = unit_name(test, pipeline)
            if w.requests is not None and not w.warmup:
                requests[unit] = w.requests
                continue
            roles = self._roles() if w.warmup else [BASELINE]
            phase = "warmup" if w.warmup else "calibration"
            if w.requests is not None:
                probe = w.requests
            else:
                scout = scout_requests(w.clients, pipeline)
                scout_rps = self._run_one(BASELINE, test, pipeline, 0, "scout", scout).rps
                probe = sized_probe(pipeline, scout_rps)
            rps = [self._run_one(role, test, pipeline, 0, phase, probe).rps for role in roles]
            if w.requests is not None:
                requests[unit] = w.requests
            else:
                assert w.duration_s is not None
                per_second = stats.weighted_geomean(rps, [1.0] * len(rps))
                requests[unit] = max(MIN_REQUESTS, round(per_second * w.duration_s))
        return requests

    def run(self) -> PairedResult:
        """Run the protocol to its stop rule; BenchmarkError when any run fails."""
        with raised_priority(self.nice):
            return self._run()

    def _run(self) -> PairedResult:
        w = self.workload
        self._t0 = time.perf_counter()
        baseline_version = server_version(self.client, self.baseline)
        candidate_version = server_version(self.client, self.candidate)
        units = list(w.units)
        names = [unit_name(t, p) for t, p in units]
        weights = [w.weight(n) for n in names]
        rows: list[list[float]] = []
        boot: stats.Bootstrap | None = None
        stop_reason = "max_repetitions"
        requests = self._calibrate()
        # Counted repetitions only: the warm-up runs are shorter, so their rps differ.
        history: dict[str, list[float]] = {n: [] for n in names}
        self._dropped = 0
        budget_t0 = time.perf_counter() if self.budget_after_warmup else self._t0
        for rep in range(1, self.max_repetitions + 1):
            while True:
                first = len(self._runs)
                ratios: dict[str, float] = {}
                base_rps: dict[str, float] = {}
                for i in self._rng.permutation(len(units)):
                    test, pipeline = units[i]
                    name = names[i]
                    got = {
                        role: self._run_one(
                            role, test, pipeline, rep, "measure", requests[name]
                        ).rps
                        for role in self._roles()
                    }
                    ratios[name] = got[CANDIDATE] / got[BASELINE]
                    base_rps[name] = got[BASELINE]
                if not self._disturbed(base_rps, history):
                    break
                self._dropped += 1
                for k in range(first, len(self._runs)):
                    self._runs[k] = dataclasses.replace(self._runs[k], phase="disturbed")
            for name, rps in base_rps.items():
                history[name].append(rps)
            rows.append([ratios[n] for n in names])
            matrix = np.asarray(rows)
            boot = stats.bootstrap(
                matrix,
                weights,
                confidence=w.confidence,
                resamples=self.resamples,
                rng=self._rng,
            )
            low, high, half = boot.fitness_low, boot.fitness_high, boot.half_width_pct
            if rep == 1:
                low = high = math.nan
                half = math.inf
            if self.on_repetition is not None:
                self.on_repetition(
                    RepetitionUpdate(
                        repetition=rep,
                        fitness=boot.fitness,
                        ci_low=low,
                        ci_high=high,
                        half_width_pct=half,
                        per_test=dict(zip(names, boot.unit_median, strict=True)),
                        seconds=time.perf_counter() - self._t0,
                        max_repetitions=self.max_repetitions,
                    )
                )
            # Before stats.min_repetitions_for(confidence) pairs, the bootstrap CI is
            # narrower than it claims: never stop on it.
            if rep >= self._stop_floor and half <= w.target_ci_pct:
                stop_reason = "ci_target"
                break
            elapsed = time.perf_counter() - budget_t0
            if self.max_seconds is not None and elapsed >= self.max_seconds:
                stop_reason = "time_budget"
                break
        assert boot is not None
        return self._result(
            np.asarray(rows), names, weights, boot, stop_reason, baseline_version, candidate_version
        )

    def health(self, base_rps: dict[str, float], history: Mapping[str, Sequence[float]]) -> float:
        """The baseline's throughput this repetition relative to its running medians
        (geomean over units with a history; 1.0 when none has one)."""
        logs = [
            math.log(rps / float(np.median(history[n])))
            for n, rps in base_rps.items()
            if history.get(n) and rps > 0
        ]
        return math.exp(sum(logs) / len(logs)) if logs else 1.0

    def _disturbed(
        self, base_rps: dict[str, float], history: Mapping[str, Sequence[float]]
    ) -> bool:
        """Whether to drop this repetition: the baseline far below itself, drops left."""
        w = self.workload
        if w.health_threshold <= 0 or self._dropped >= w.max_dropped:
            return False
        return self.health(base_rps, history) < w.health_threshold

    def _result(
        self,
        matrix: np.ndarray,
        names: list[str],
        weights: list[float],
        boot: stats.Bootstrap,
        stop_reason: str,
        baseline_version: str | None,
        candidate_version: str | None,
    ) -> PairedResult:
        n = matrix.shape[0]
        per_test: dict[str, TestStats] = {}
        p99s: list[float | None] = []
        for j, name in enumerate(names):
            measured = [r for r in self._runs if r.unit == name and r.phase == "measure"]
            cand = {r.repetition: r for r in measured if r.role == CANDIDATE}
            base = {r.repetition: r for r in measured if r.role == BASELINE}
            reps = sorted(cand)
            p50 = _latency_ratio([cand[k].p50_ms for k in reps], [base[k].p50_ms for k in reps])
            p99 = _latency_ratio([cand[k].p99_ms for k in reps], [base[k].p99_ms for k in reps])
            p99s.append(p99)
            per_test[name] = TestStats(
                name=name,
                weight=weights[j],
                median_ratio=boot.unit_median[j],
                ci_low=boot.unit_low[j] if n > 1 else math.nan,
                ci_high=boot.unit_high[j] if n > 1 else math.nan,
                p50_ratio=p50,
                p99_ratio=p99,
                candidate_rps=float(np.median([cand[k].rps for k in reps])),
                baseline_rps=float(np.median([base[k].rps for k in reps])),
                ratios=tuple(float(x) for x in matrix[:, j]),
            )
        p99_ratio = (
            stats.weighted_geomean([p for p in p99s if p is not None], weights)
            if all(p is not None for p in p99s)
            else None
        )
        return PairedResult(
            fitness=boot.fitness,
            ci_low=boot.fitness_low if n > 1 else math.nan,
            ci_high=boot.fitness_high if n > 1 else math.nan,
            confidence=self.workload.confidence,
            half_width_pct=boot.half_width_pct if n > 1 else math.inf,
            p99_ratio=p99_ratio,
            per_test=per_test,
            repetitions=n,
            stop_reason=stop_reason,
            seconds=time.perf_counter() - self._t0,
            baseline_version=baseline_version,
            candidate_version=candidate_version,
            rss=dict(self._rss),
            runs=list(self._runs),
            workload=self.workload.to_dict(),
            seed=self.seed,
            dropped_repetitions=self._dropped,
        )


def _latency_ratio(cand: list[float | None], base: list[float | None]) -> float | None:
    """Median over repetitions of candidate / baseline latency; None if any is missing."""
    pairs = []
    for c, b in zip(cand, base, strict=True):
        if c is None or b is None or b <= 0 or c <= 0:
            return None
        pairs.append(c / b)
    return float(np.median(pairs)) if pairs else None
