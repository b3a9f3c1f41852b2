"""``python -m tuner.scale``: the tuner's own cost per trial as a study grows to 1,000 trials.

The mock runner at zero delay measures every candidate in microseconds, so what remains of
a trial's wall time is the tuner: ask (sampler), tell, trial attributes, budget checks,
reaping dead workers and heartbeats. The command runs the real study loop (``StudyLoop``,
the embedded default spec, its default sampler) in SQLite and, given ``--postgres``, in
PostgreSQL, with one worker and with several worker processes sharing the study, and
prints the median seconds per trial (runner time subtracted) around each checkpoint,
split into ask, reap and the rest (each worker's first trial, which also opens the study,
is left out after trial 1). Then it times ``tuner dashboard`` (start until the API
lists the study, then the study's trials) and ``tuner study report`` on the full study.

By default the study grows between checkpoints by copies of its measured trials (params,
values, attrs, intermediate values; added in bulk), and the 10 trials before each checkpoint
are measured for real: the cost at trial N of an N-trial study, in minutes rather than the
hours 1,000 real trials take on a busy machine. ``--no-fill`` measures every trial. Each
(storage, workers) study is new; the studies are left in the storage for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from tuner.runners.base import Candidate, Measurement, Progress, ProgressCallback, Runner
from tuner.runners.mock import MockRunner
from tuner.signals import InterruptGuard
from tuner.spec import StudySpec, load_spec
from tuner.storage import open_storage
from tuner.study import ProgressSink, RunOptions, StudyLoop, on_stale_trial, open_study

__all__ = ["TrialCost", "main", "run_worker"]

CHECKPOINTS = (1, 100, 250, 500, 750, 1000)
#: With filling, this many trials before each checkpoint are measured for real.
REAL_PER_CHECKPOINT = 10
#: Parts of a trial timed separately: ask (sampler, new trial, budget race check), reaping
#: dead workers, report (intermediate values, should_prune); the rest is params, attrs,
#: tell and the loop's budget checks.
PARTS = ("ask", "reap", "report")
T = TypeVar("T")


@dataclass
class TrialCost:
    """One trial as one worker saw it: the tuner's seconds, split, and the budget after it."""

    used: int
    total_s: float
    runner_s: float
    parts: dict[str, float]
    #: CPU seconds of the worker process over the trial, runner included: on a shared
    #: machine a steadier figure than the wall time.
    cpu_s: float = 0.0
    #: The first trial of a worker process also opens the study and reads it into
    #: Optuna's cache: a cost per worker start, left out of the medians after trial 1.
    first: bool = False

    @property
    def tuner_s(self) -> float:
        return self.total_s - self.runner_s


class _TimedRunner:
    """The mock runner, with the seconds it spent measuring (not the tuner's) recorded."""

    def __init__(self, inner: Runner, parts: dict[str, float]) -> None:
        self.inner = inner
        self.parts = parts
        self.name = inner.name
        self.seconds = 0.0

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        callback_s = 0.0

        def timed_progress(progress: Progress) -> None:
            # The loop's callback (report, should_prune) is the tuner's time, not the runner's.
            nonlocal callback_s
            start = time.perf_counter()
            try:
                if on_progress is not None:
                    on_progress(progress)
            finally:
                callback_s += time.perf_counter() - start

        start = time.perf_counter()
        try:
            return self.inner.evaluate(
                candidate, repetitions=repetitions, on_progress=timed_progress
            )
        finally:
            self.seconds += time.perf_counter() - start - callback_s
            self.parts["report"] += callback_s

    def close(self) -> None:
        self.inner.close()


class _CostSink(ProgressSink):
    """Cuts the worker's wall time into trials at each ``trial_finished``."""

    def __init__(self, runner: _TimedRunner, parts: dict[str, float]) -> None:
        self.runner = runner
        self.parts = parts
        self.costs: list[TrialCost] = []
        self._last = time.perf_counter()
        self._cpu = time.process_time()

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial, used: int) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.costs.append(
            TrialCost(
                used,
                now - self._last,
                self.runner.seconds,
                dict(self.parts),
                cpu - self._cpu,
                first=not self.costs,
            )
        )
        self._last, self._cpu = now, cpu
        self.runner.seconds = 0.0
        for key in self.parts:
            self.parts[key] = 0.0
        if used in CHECKPOINTS:  # partial figures survive an interrupted run
            recent, cpu_s = self.costs[-10:], _median([c.cpu_s for c in self.costs[-10:]])
            print(
                f"worker {os.getpid()}: trial {used}: {_median([c.tuner_s for c in recent]):.3f}"
                f" s per trial, {cpu_s:.3f} s CPU (medians of its last 10)",
                file=sys.stderr,
                flush=True,
            )


def _timed(call: Callable[..., T], parts: dict[str, float], key: str) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            parts[key] += time.perf_counter() - start

    return wrapper


def _spec() -> StudySpec:
    return load_spec(None)


def _open(url: str, study_name: str, seed: int) -> optuna.Study:
    storage = open_storage(url, on_stale_trial=on_stale_trial)
    return open_study(_spec(), storage, study_name=study_name, seed=seed)


def run_worker(url: str, study_name: str, trials: int, seed: int) -> list[TrialCost]:
    """Run the study loop on the mock runner at zero delay; the cost of each trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = _spec()
    study = _open(url, study_name, seed)
    parts = dict.fromkeys(PARTS, 0.0)
    runner = _TimedRunner(MockRunner(spec, seed=seed, delay_s=0.0), parts)
    sink = _CostSink(runner, parts)
    with InterruptGuard() as guard:
        loop = StudyLoop(study, spec, runner, guard, sink)
        # Instance attributes shadow the methods: the loop calls these timed wrappers.
        setattr(loop, "_ask", _timed(loop._ask, parts, "ask"))  # noqa: B010
        setattr(loop, "_reap_dead_workers", _timed(loop._reap_dead_workers, parts, "reap"))  # noqa: B010
        sink._last, sink._cpu = time.perf_counter(), time.process_time()
        loop.run(RunOptions(trials=trials))
    runner.close()
    return sink.costs


def _worker_main(args: argparse.Namespace) -> None:
    costs = run_worker(args.storage, args.study, args.trials, args.seed)
    Path(args.out).write_text(json.dumps([c.__dict__ for c in costs]))


def _run_study(
    url: str, workers: int, trials: int, fill: bool, console: Console
) -> tuple[str, list[TrialCost], float]:
    """One new study with ``workers`` processes; its name, every trial's cost, wall seconds.

    With ``fill``, the study grows to just below each checkpoint by copies of its measured
    trials, then the workers measure the last REAL_PER_CHECKPOINT trials up to it for real.
    """
    name = f"scale-{workers}w-{uuid.uuid4().hex[:6]}"
    _open(url, name, 0)  # create it before the workers race to
    stages = [c for c in CHECKPOINTS if c < trials] + [trials] if fill else [trials]
    costs: list[TrialCost] = []
    wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for stage, budget in enumerate(stages):
            if fill:
                _fill(url, name, budget - REAL_PER_CHECKPOINT)
            outs = [Path(tmp) / f"s{stage}w{i}.json" for i in range(workers)]
            start = time.perf_counter()
            argv = [sys.executable, "-m", "tuner.scale", "worker", "--storage", url]
            argv += ["--study", name, "--trials", str(budget)]
            env = {**os.environ, "TUNER_STUDIES_DIR": tmp}
            procs = [
                subprocess.Popen([*argv, "--seed", str(i), "--out", str(out)], env=env)
                for i, out in enumerate(outs)
            ]
            codes = [p.wait() for p in procs]
            wall += time.perf_counter() - start
            if any(codes):
                raise SystemExit(f"a scale worker failed: exit codes {codes}")
            costs += [TrialCost(**c) for out in outs for c in json.loads(out.read_text())]
    console.print(f"{name}: {len(costs)} trials measured by {workers} worker(s) in {wall:.0f} s")
    return name, costs, wall


def _fill(url: str, name: str, size: int) -> None:
    """Add copies of the study's COMPLETE trials until it holds ``size`` finished trials.

    Copies keep params, values, user attrs and intermediate values (what reports, the
    dashboard and the pruner read), not the sampler's system attrs.
    """
    study = _open(url, name, 0)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    missing = size - len(study.get_trials(deepcopy=False))
    if not done or missing <= 0:
        return
    study.add_trials(
        [
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                values=t.values,
                user_attrs={**t.user_attrs, "copy_of": t.number},
                intermediate_values=t.intermediate_values,
            )
            for t in (done[i % len(done)] for i in range(missing))
        ]
    )


def _window(costs: Sequence[TrialCost], checkpoint: int) -> list[TrialCost]:
    """The trials that ended with the budget used just below/at ``checkpoint``."""
    width = max(1, min(REAL_PER_CHECKPOINT, checkpoint // 10))
    window = [c for c in costs if checkpoint - width < c.used <= checkpoint]
    return [c for c in window if not c.first] or window


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _time_dashboard(url: str, study: str) -> tuple[float, float]:
    """Seconds from ``tuner dashboard`` start until its API lists ``study``; then its trials."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "dashboard", "--storage", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        while True:
            if proc.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit("tuner dashboard did not answer within 120 s")
            try:
                with urllib.request.urlopen(f"{base}/studies", timeout=30) as r:
                    summaries = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                time.sleep(0.1)
        listed = time.perf_counter() - start
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == study)
        fetch = time.perf_counter()
        with urllib.request.urlopen(f"{base}/studies/{study_id}", timeout=120) as r:
            r.read()
        return listed, time.perf_counter() - fetch
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _time_report(url: str, study: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tuner.cli", "study", "report", study, "--storage", url,
             "-o", tmp],
            check=True, stdout=subprocess.DEVNULL, timeout=600,
        )  # fmt: skip
        return time.perf_counter() - start


def _fmt(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.scale", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker", help="(internal) one worker process")
    for flag in ("--storage", "--study", "--out"):
        worker.add_argument(flag, required=True)
    worker.add_argument("--trials", type=int, required=True)
    worker.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=CHECKPOINTS[-1])
    parser.add_argument("--workers", default="1,4", help="Worker counts, e.g. 1,4.")
    parser.add_argument(
        "--sqlite", default=None, help="SQLite URL (default: a new file in a temp dir)."
    )
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (a database to fill).")
    parser.add_argument("--no-sqlite", action="store_true", help="Only the --postgres study.")
    parser.add_argument("--no-views", action="store_true", help="Skip dashboard and report.")
    parser.add_argument(
        "--no-fill",
        action="store_true",
        help="Measure every trial (default: copies between checkpoints, 10 real before each).",
    )
    args = parser.parse_args(argv)
    if args.command == "worker":
        _worker_main(args)
        return
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        storages: dict[str, str] = {}
        if not args.no_sqlite:
            storages["sqlite"] = args.sqlite or f"sqlite:///{tmp}/scale.db"
        if args.postgres:
            storages["postgres"] = args.postgres
        _report(storages, [int(w) for w in args.workers.split(",")], args, console)


def _report(
    storages: Mapping[str, str],
    worker_counts: Sequence[int],
    args: argparse.Namespace,
    console: Console,
) -> None:
    checkpoints = [c for c in CHECKPOINTS if c <= args.trials] or [args.trials]
    table = Table(
        title=f"tuner seconds per trial (median around each trial count), {args.trials} trials"
    )
    for column in (
        "storage",
        "workers",
        *(f"@{c}" for c in checkpoints),
        f"{'/'.join(PARTS)}/rest @{checkpoints[-1]}",
        f"CPU @{checkpoints[-1]}",
        "wall",
    ):
        table.add_column(column, justify="right")
    views = Table(title=f"dashboard and report on the {args.trials}-trial study (1 worker)")
    for column in ("storage", "dashboard lists it", "dashboard loads its trials", "study report"):
        views.add_column(column, justify="right")
    for label, url in storages.items():
        for workers in worker_counts:
            name, costs, wall = _run_study(url, workers, args.trials, not args.no_fill, console)
            cells = [_fmt(_median([c.tuner_s for c in _window(costs, cp)])) for cp in checkpoints]
            last = _window(costs, checkpoints[-1])
            split = [_median([c.parts[p] for c in last]) for p in PARTS]
            rest = _median([c.tuner_s - sum(c.parts.values()) for c in last])
            row = [
                label,
                str(workers),
                *cells,
                " / ".join(_fmt(s) for s in [*split, rest]),
                _fmt(_median([c.cpu_s for c in last])),
                f"{wall:.0f} s",
            ]
            table.add_row(*row)
            console.print(" | ".join(row))  # each row as soon as it is measured
            if workers == worker_counts[0] and not args.no_views:
                listed, loaded = _time_dashboard(url, name)
                view = [
                    label,
                    f"{listed:.1f} s",
                    f"{loaded:.1f} s",
                    f"{_time_report(url, name):.1f} s",
                ]
                views.add_row(*view)
                console.print(" | ".join(view))
    console.print(table)
    if not args.no_views:
        console.print(views)


if __name__ == "__main__":
    main()
