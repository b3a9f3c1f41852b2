"""Committed benchmark commands: ``python -m benchmark aa|suite|memory|big-request|coverage``.

``aa`` measures Redis 8.0 against an identical Redis 8.0 with the real protocol and prints
the A/A figures (fitness median, CI, repetitions used, seconds, and when the CI first got
within ±5% and ±2%). ``suite`` measures a candidate binary against Redis 8.0 on
redis-benchmark's default suite at each pipeline. ``memory`` loads the same datasets into
a candidate and Redis 8.0 and prints bytes per key on both and the ratios. ``big-request``
times one huge RPUSH of many small elements on a candidate and on Redis 8.0 (parse cost).
``coverage`` prints how often the per-test, fitness and pooled CIs hold a known truth on
synthetic data (no servers).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmark import stats
from benchmark.big_request import compare_big_request
from benchmark.client import LocalClient
from benchmark.dataset import DATASETS, DatasetError
from benchmark.display import RepetitionDisplay
from benchmark.errors import BenchmarkError
from benchmark.memory import compare_memory
from benchmark.paired import PairedRun
from benchmark.pinning import default_cpu_sets
from benchmark.redis8 import find_redis8_bin_dir, redis_server_argv
from benchmark.result import PairedResult, RepetitionUpdate
from benchmark.server_process import ServerProcess
from benchmark.workload import SUITE_TESTS, Workload, WorkloadError

MILESTONES = (5.0, 2.0)
"""CI half-widths (%) whose first crossing `aa` reports."""


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _common(p: argparse.ArgumentParser, *, duration: float) -> None:
    server_cpus, client_cpus = default_cpu_sets()
    p.add_argument("--duration", type=float, default=duration, help="seconds per run")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--data-size", type=int, default=64)
    p.add_argument("--keyspace", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=None, help="redis-benchmark --threads")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--server-cpus", default=server_cpus, help="taskset list for both servers")
    p.add_argument("--client-cpus", default=client_cpus, help="taskset list for redis-benchmark")
    p.add_argument("--redis-bin-dir", type=Path, default=None, help="Redis 8 bin dir")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", type=Path, default=None, help="write the full result here")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    aa = sub.add_parser("aa", help="Redis 8.0 vs an identical Redis 8.0 (A/A figures)")
    _common(aa, duration=0.5)
    aa.add_argument("--tests", default="set,get")
    aa.add_argument("--pipelines", default="1,16")
    aa.add_argument("--min-reps", type=int, default=5)
    aa.add_argument("--max-reps", type=int, default=30)
    aa.add_argument("--target-ci", type=float, default=2.0, help="stop at this CI half-width %%")
    suite = sub.add_parser("suite", help="a candidate binary vs Redis 8.0, default suite")
    _common(suite, duration=0.5)
    suite.add_argument("--candidate-bin", type=Path, required=True)
    suite.add_argument(
        "--candidate-args",
        default="--port {port}",
        help="argument string for the candidate; {port} is replaced (default: %(default)s)",
    )
    suite.add_argument("--tests", default=",".join(SUITE_TESTS))
    suite.add_argument("--pipelines", default="1,16")
    suite.add_argument("--reps", type=int, default=5, help="repetitions (at least this many)")
    suite.add_argument(
        "--max-reps", type=int, default=None, help="keep adding reps up to this until --target-ci"
    )
    suite.add_argument("--target-ci", type=float, default=2.0)
    memory = sub.add_parser("memory", help="bytes per key of a candidate vs Redis 8.0")
    memory.add_argument("--candidate-bin", type=Path, required=True)
    memory.add_argument("--candidate-args", default="--port {port}")
    memory.add_argument(
        "--datasets",
        default=",".join(TARGET_DATASETS),
        help=f"comma list of {', '.join(DATASETS)} (default: %(default)s)",
    )
    memory.add_argument(
        "--scale", type=float, default=1.0, help="multiply every dataset's key count (quick runs)"
    )
    memory.add_argument("--redis-bin-dir", type=Path, default=None, help="Redis 8 bin dir")
    memory.add_argument("--json", type=Path, default=None, help="write the full result here")
    big = sub.add_parser("big-request", help="one huge RPUSH on a candidate vs Redis 8.0")
    big.add_argument("--candidate-bin", type=Path, required=True)
    big.add_argument("--candidate-args", default="--port {port}")
    big.add_argument("--elements", type=int, default=1_000_000)
    big.add_argument("--element-size", type=int, default=8, help="bytes per element")
    big.add_argument("--reps", type=int, default=5)
    big.add_argument("--server-cpus", default=default_cpu_sets()[0], help="taskset list")
    big.add_argument("--redis-bin-dir", type=Path, default=None, help="Redis 8 bin dir")
    big.add_argument("--seed", type=int, default=None)
    cov = sub.add_parser("coverage", help="CI coverage on synthetic data with a known truth")
    cov.add_argument("--replicates", type=int, default=1000)
    cov.add_argument("--confidence", type=float, default=0.95)
    cov.add_argument("--seed", type=int, default=2026)
    return root


def cmd_coverage(args: argparse.Namespace, console: Console) -> int:
    from benchmark import coverage

    pct = f"{args.confidence:.0%}"
    table = Table(title=f"coverage at nominal {pct}, {args.replicates} synthetic studies per row")
    for column in (
        "n",
        "test median: percentile boot",
        "test median: order stats",
        "(exact)",
        "fitness: percentile boot",
        "fitness: expanded boot",
    ):
        table.add_column(column, justify="right")
    for row in coverage.fitness_coverage(
        replicates=args.replicates, confidence=args.confidence, seed=args.seed
    ):
        table.add_row(
            str(row.n),
            *(
                f"{v:.1%}"
                for v in (
                    row.unit_percentile,
                    row.unit_order_statistic,
                    row.unit_exact,
                    row.fitness_percentile,
                    row.fitness_expanded,
                )
            ),
        )
    console.print(table)
    pool = Table(title="pooled rounds: fitness CI coverage with restart spread tau (log sd)")
    for column in ("rounds x reps", "tau", "fixed effect", "random effects", "width FE", "RE"):
        pool.add_column(column, justify="right")
    for p in coverage.pooling_coverage(
        replicates=max(args.replicates // 2, 50), confidence=args.confidence, seed=args.seed
    ):
        pool.add_row(
            f"{p.rounds} x {p.repetitions}",
            f"{p.tau:.0%}",
            f"{p.fixed_effect:.1%}",
            f"{p.random_effects:.1%}",
            f"±{p.fixed_width_pct:.1f}%",
            f"±{p.random_width_pct:.1f}%",
        )
    console.print(pool)
    return 0


def cmd_big_request(args: argparse.Namespace, console: Console) -> int:
    bin_dir = _bin_dir(args)
    if not args.candidate_bin.exists():
        raise BenchmarkError(f"--candidate-bin {args.candidate_bin} does not exist")
    result = compare_big_request(
        [str(args.candidate_bin), *shlex.split(args.candidate_args)],
        redis_server_argv(bin_dir),
        elements=args.elements,
        size=args.element_size,
        repetitions=args.reps,
        cpus=args.server_cpus,
        seed=args.seed,
        on_repetition=lambda rep, c, b: print(
            f"rep {rep}: candidate {c:.3f}s, Redis 8.0 {b:.3f}s", file=sys.stderr, flush=True
        ),
    )
    console.print(result.table())
    return 0


TARGET_DATASETS = ("strings-64", "hashes-20", "sets-20-int", "suite")
"""The datasets whose memory the server targets (issue 11)."""


def cmd_memory(args: argparse.Namespace, console: Console) -> int:
    bin_dir = _bin_dir(args)
    if not args.candidate_bin.exists():
        raise BenchmarkError(f"--candidate-bin {args.candidate_bin} does not exist")
    if not args.scale > 0:
        raise BenchmarkError(f"--scale must be > 0, got {args.scale}")
    specs = []
    for name in _csv_list(args.datasets):
        if name not in DATASETS:
            raise BenchmarkError(f"--datasets: unknown {name!r} (known: {', '.join(DATASETS)})")
        spec = DATASETS[name]
        specs.append(dataclasses.replace(spec, keys=max(1, round(spec.keys * args.scale))))
    argv = [str(args.candidate_bin), *shlex.split(args.candidate_args)]
    comparison = compare_memory(
        argv,
        redis_server_argv(bin_dir),
        specs,
        redis_benchmark=bin_dir / "redis-benchmark",
        on_row=lambda r: print(
            f"{r.spec.name}: used_memory {r.used_memory_ratio:.2f}x, RSS {r.rss_ratio:.2f}x",
            file=sys.stderr,
            flush=True,
        ),
    )
    console.print(comparison.table())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(comparison.to_json())
        console.print(f"wrote {args.json}")
    return 0


def _workload(args: argparse.Namespace, min_reps: int, max_reps: int) -> Workload:
    return Workload(
        tests=tuple(t.lower() for t in _csv_list(args.tests)),
        pipelines=tuple(int(p) for p in _csv_list(args.pipelines)),
        clients=args.clients,
        data_size=args.data_size,
        keyspace=args.keyspace,
        threads=args.threads,
        duration_s=args.duration,
        min_repetitions=min_reps,
        max_repetitions=max_reps,
        target_ci_pct=args.target_ci,
        confidence=args.confidence,
    )


def _bin_dir(args: argparse.Namespace) -> Path:
    found = args.redis_bin_dir or find_redis8_bin_dir()
    if found is None:
        raise BenchmarkError(
            "Redis 8 not found: pass --redis-bin-dir, set REDIS8_BIN_DIR or run "
            "`bash .ci/install redis8`"
        )
    return Path(found)


def pipeline_geomeans(result: PairedResult, confidence: float) -> dict[int, stats.Bootstrap]:
    """Fitness restricted to each pipeline's tests, with its joint-bootstrap CI."""
    out: dict[int, stats.Bootstrap] = {}
    pipelines = sorted({r.pipeline for r in result.runs})
    for p in pipelines:
        names = [n for n in result.per_test if n.endswith(f"@P{p}")]
        matrix = np.asarray([result.per_test[n].ratios for n in names]).T
        weights = [result.per_test[n].weight for n in names]
        if matrix.shape[0] >= 2 and sum(weights) > 0:
            out[p] = stats.bootstrap(
                matrix, weights, confidence=confidence, rng=np.random.default_rng(0)
            )
    return out


def _pipeline_table(result: PairedResult) -> Table:
    pct = f"{result.confidence * 100:g}%"
    table = Table(title="geomean per pipeline (percent of baseline)")
    table.add_column("pipeline", justify="right")
    table.add_column("geomean", justify="right")
    table.add_column(f"{pct} CI", justify="right")
    table.add_column("lowest test", justify="right")
    table.add_column("CV ours / base (median over tests)", justify="right")
    table.add_column("tests where ours spreads more", justify="right")
    cvs = result.rps_cv()
    for p, b in pipeline_geomeans(result, result.confidence).items():
        names = [n for n in result.per_test if n.endswith(f"@P{p}")]
        low = min(names, key=lambda n: result.per_test[n].median_ratio)
        ours = [cvs[n]["candidate"] for n in names]
        base = [cvs[n]["baseline"] for n in names]
        wider = sum(o > b_ for o, b_ in zip(ours, base, strict=True))
        table.add_row(
            f"P{p}",
            f"{b.fitness:.1f}%",
            f"[{b.fitness_low:.1f}, {b.fitness_high:.1f}]",
            f"{low.split('@')[0]} {result.per_test[low].median_ratio:.3f}",
            f"{statistics.median(ours):.1%} / {statistics.median(base):.1%}",
            f"{wider} of {len(names)}",
        )
    return table


def _measure(
    args: argparse.Namespace,
    workload: Workload,
    candidate_argv: list[str],
    bin_dir: Path,
    console: Console,
    on_repetition: Callable[[RepetitionUpdate], None] | None = None,
) -> PairedResult:
    client = LocalClient(bin_dir, cpus=args.client_cpus)
    candidate = ServerProcess(candidate_argv, name="candidate", cpus=args.server_cpus)
    baseline = ServerProcess(redis_server_argv(bin_dir), name="baseline", cpus=args.server_cpus)
    display = RepetitionDisplay()

    def report(update: RepetitionUpdate) -> None:
        display(update)
        if on_repetition is not None:
            on_repetition(update)

    try:
        candidate.start()
        baseline.start()
        with display:
            return PairedRun(
                candidate.endpoint,
                baseline.endpoint,
                workload,
                client,
                seed=args.seed,
                on_repetition=report,
            ).run()
    finally:
        candidate.cleanup()
        baseline.cleanup()


def cmd_aa(args: argparse.Namespace, console: Console) -> int:
    bin_dir = _bin_dir(args)
    workload = _workload(args, args.min_reps, args.max_reps)
    crossings: dict[float, RepetitionUpdate] = {}
    updates: list[RepetitionUpdate] = []

    def on_repetition(update: RepetitionUpdate) -> None:
        updates.append(update)
        for m in MILESTONES:
            # Fewer repetitions than the minimum give a CI nobody would stop on.
            enough = update.repetition >= workload.min_repetitions
            if enough and m not in crossings and update.half_width_pct <= m:
                crossings[m] = update

    result = _measure(args, workload, redis_server_argv(bin_dir), bin_dir, console, on_repetition)
    console.print(result.table())
    pct = f"{result.confidence * 100:g}%"
    console.print(
        f"A/A (Redis 8.0 vs Redis 8.0, {', '.join(workload.unit_names)}, "
        f"{workload.duration_s}s runs): fitness median {result.fitness:.1f}%, "
        f"{pct} CI [{result.ci_low:.1f}, {result.ci_high:.1f}] (±{result.half_width_pct:.1f}%), "
        f"repetitions {result.repetitions} ({result.stop_reason}), seconds {result.seconds:.0f}",
        soft_wrap=True,
    )
    for m in MILESTONES:
        hit = crossings.get(m)
        if hit is None:
            console.print(
                f"±{m:g}% CI: not reached in {result.repetitions} repetitions", soft_wrap=True
            )
        else:
            console.print(
                f"±{m:g}% CI: reached at repetition {hit.repetition} after {hit.seconds:.0f}s",
                soft_wrap=True,
            )
    _write_json(args, result, console)
    return 0


def cmd_suite(args: argparse.Namespace, console: Console) -> int:
    bin_dir = _bin_dir(args)
    if not args.candidate_bin.exists():
        raise BenchmarkError(f"--candidate-bin {args.candidate_bin} does not exist")
    max_reps = args.max_reps if args.max_reps is not None else args.reps
    workload = _workload(args, args.reps, max(max_reps, args.reps))
    argv = [str(args.candidate_bin), *shlex.split(args.candidate_args)]
    result = _measure(args, workload, argv, bin_dir, console)
    console.print(result.table())
    console.print(_pipeline_table(result))
    _write_json(args, result, console)
    return 0


def _write_json(args: argparse.Namespace, result: PairedResult, console: Console) -> None:
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json())
        console.print(f"wrote {args.json}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "aa":
            return cmd_aa(args, console)
        if args.command == "memory":
            return cmd_memory(args, console)
        if args.command == "big-request":
            return cmd_big_request(args, console)
        if args.command == "coverage":
            return cmd_coverage(args, console)
        return cmd_suite(args, console)
    except (BenchmarkError, WorkloadError, DatasetError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
