"""``tuner compare A.toml B.toml`` and ``tuner study verify NAME``: two configs head to head.

Both measure with :func:`tuner.head_to_head.measure_head_to_head` (interleaved rounds,
restarts between them, random-effects pooling) and print the ratio B/A with its CI and
per-test ratios. ``verify`` takes a study's exported winner as B and the spec's default
as A: what a user runs on production hardware before deploying the winner.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tuner.cli._apps import app, study_app
from tuner.cli._common import (
    MockLandscapeOption,
    RunnerOption,
    SpecOption,
    StorageOption,
    console,
    err,
    fail,
    load_spec,
    load_study,
    make_runner,
    parse_build,
    runner_session,
    spec_of_study,
)
from tuner.head_to_head import (
    MIN_ROUND_REPETITIONS,
    Contender,
    HeadToHead,
    Ratio,
    measure_head_to_head,
)
from tuner.runners.base import Runner, TrialFailure
from tuner.spec import StudySpec

__all__ = ["compare_command", "read_config", "target_knobs", "verify_command"]

RoundsOption = Annotated[
    int,
    typer.Option(
        "--rounds", min=1, help="Interleaved rounds; each restarts both servers for both configs."
    ),
]
RepetitionsOption = Annotated[
    int | None,
    typer.Option(
        "--repetitions",
        min=MIN_ROUND_REPETITIONS,
        help="Paired repetitions per config per round, at most (default: the workload's max).",
    ),
]
ConfidenceOption = Annotated[
    float | None,
    typer.Option("--confidence", min=0.5, max=0.9999, help="CI level (default: the workload's)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def read_config(path: Path, spec: StudySpec, *, allow_unknown: bool = False) -> dict[str, Any]:
    """A server config file as dotted keys, checked against the target's knobs.

    Known knobs: the spec's runtime params and the keys of the target's own config file
    (``target.workdir / target.config_path``, e.g. server/perf_config.toml). Raises
    ValueError naming the file and the problem.
    """
    from tuner.export import export_format
    from tuner.runners.config_file import ConfigFileError, parse

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    config_format = export_format(spec)
    try:
        runtime = parse(path.read_text(), config_format)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it: {exc}") from None
    except ConfigFileError as exc:
        shown = {"toml": "TOML", "json": "JSON"}.get(config_format, "redis.conf-style")
        raise ValueError(f"{path}: not a {shown} config file: {exc}") from None
    build = sorted(k for k in runtime if k.startswith("build."))
    if build:
        raise ValueError(
            f"{path}: build params are not config-file keys ({', '.join(build)}); "
            "pass them with --build-a/--build-b"
        )
    unknown = sorted(set(runtime) - target_knobs(spec))
    if unknown and not allow_unknown:
        raise ValueError(
            f"{path}: {', '.join(unknown)}: not a knob of the target of spec {spec.name!r} "
            f"({spec.target.binary}); known: {', '.join(sorted(target_knobs(spec)))}. "
            "A config of another target? Use --spec, or --allow-unknown to pass them through"
        )
    return runtime


def target_knobs(spec: StudySpec) -> set[str]:
    """The spec's runtime params plus the keys of the target's own config file, if any."""
    from tuner.runners.config_file import ConfigFileError, parse

    knobs = {p.name for p in spec.runtime_params}
    own = spec.target.workdir / spec.target.config_path
    if spec.target.config_format == "toml" and own.is_file():
        with contextlib.suppress(OSError, ConfigFileError):
            knobs |= set(parse(own.read_text(), "toml"))
    return knobs


@app.command("compare")
def compare_command(
    config_a: Annotated[Path, typer.Argument(help="Config A (the reference), server TOML.")],
    config_b: Annotated[Path, typer.Argument(help="Config B, measured against A.")],
    spec_path: SpecOption = None,
    runner_name: RunnerOption = "local",
    rounds: RoundsOption = 3,
    repetitions: RepetitionsOption = None,
    confidence: ConfidenceOption = None,
    build_a: Annotated[
        list[str] | None, typer.Option("--build-a", help="Build param of A, NAME=VALUE.")
    ] = None,
    build_b: Annotated[
        list[str] | None, typer.Option("--build-b", help="Build param of B, NAME=VALUE.")
    ] = None,
    allow_unknown: Annotated[
        bool, typer.Option("--allow-unknown", help="Pass keys the target does not list through.")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Mock runner seed.")] = None,
    mock_landscape: MockLandscapeOption = "interior",
    as_json: JsonOption = False,
) -> None:
    """Measure config B against config A of the same target: B/A with its CI, per test."""
    spec = load_spec(spec_path)
    try:
        a = Contender(
            f"A ({config_a.name})",
            read_config(config_a, spec, allow_unknown=allow_unknown),
            parse_build(spec, build_a, "--build-a"),
        )
        b = Contender(
            f"B ({config_b.name})",
            read_config(config_b, spec, allow_unknown=allow_unknown),
            parse_build(spec, build_b, "--build-b"),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    runner = make_runner(runner_name, spec, f"compare-{spec.name}", seed, None, mock_landscape)
    result = _measure(runner, spec, a, b, rounds, repetitions, confidence, as_json)
    _print(result, as_json)


@study_app.command("verify")
def verify_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage_url: StorageOption = None,
    spec_path: SpecOption = None,
    runner_name: RunnerOption = "local",
    rounds: RoundsOption = 3,
    repetitions: RepetitionsOption = None,
    confidence: ConfidenceOption = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Mock runner seed.")] = None,
    mock_landscape: MockLandscapeOption = "interior",
    as_json: JsonOption = False,
) -> None:
    """Measure a study's exported winner against its default, head to head."""
    study = load_study(name, storage_url)
    spec = spec_of_study(study, spec_path)
    winner = study.user_attrs.get("winner")
    if not winner:
        raise fail(
            f"study {name!r} has no exported winner yet; run 'tuner study finalize {name}' first"
        )
    default_runtime, default_build = spec.split(spec.defaults())
    if winner.get("is_default"):
        console.print(
            f"study {name!r} exported its default config ({winner.get('label')}): "
            "nothing to verify against it"
        )
        return
    a = Contender("default", default_runtime, default_build)
    b = Contender(
        f"winner ({winner.get('label', '?')})",
        dict(winner.get("config") or {}),
        {**default_build, **dict(winner.get("build") or {})},
    )
    runner = make_runner(runner_name, spec, f"verify-{name}", seed, None, mock_landscape)
    result = _measure(runner, spec, a, b, rounds, repetitions, confidence, as_json)
    _print(result, as_json)


def _measure(
    runner: Runner,
    spec: StudySpec,
    a: Contender,
    b: Contender,
    rounds: int,
    repetitions: int | None,
    confidence: float | None,
    quiet: bool,
) -> HeadToHead:
    from rich.status import Status

    reps = repetitions or max(MIN_ROUND_REPETITIONS, int(spec.workload.max_repetitions))
    level = confidence or float(spec.workload.confidence)
    status = Status(f"{a.label} vs {b.label}", console=err)
    with runner_session(runner):
        if not quiet:
            status.start()
        try:
            return measure_head_to_head(
                runner,
                a,
                b,
                rounds=rounds,
                repetitions=reps,
                confidence=level,
                measured_confidence=float(spec.workload.confidence),
                message=lambda text: status.update(text) if not quiet else None,
            )
        except TrialFailure as failure:
            status.stop()
            if failure.log_tail:
                err.print(failure.log_tail, markup=False, highlight=False)
            raise fail(f"measurement failed: {failure.reason}", 1) from None
        finally:
            status.stop()


def _print(result: HeadToHead, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    reps_a, reps_b = result.repetitions
    console.print(f"[bold]{result.verdict()}[/bold]", highlight=False)
    console.print(
        f"{len(result.rounds)} interleaved rounds, {reps_a} + {reps_b} paired repetitions, "
        f"{result.seconds:.0f} s; between-round spread of B/A: {result.ratio.tau:.1%}",
        highlight=False,
    )
    level = f"{result.confidence:.0%}"
    table = Table(title=f"B/A per test ({level} CI, random effects over rounds)")
    for column in ("test", "A vs baseline", "B vs baseline", "B/A", f"{level} CI", "verdict"):
        table.add_column(column, justify="left" if column in ("test", "verdict") else "right")
    a_tests = _geomean_per_test(result, "a")
    b_tests = _geomean_per_test(result, "b")
    rows: list[tuple[str, float, float, Ratio]] = [
        ("fitness", _geomean_fitness(result, "a"), _geomean_fitness(result, "b"), result.ratio)
    ]
    rows += [(t, a_tests[t], b_tests[t], r) for t, r in result.per_test.items()]
    for test, fa, fb, r in rows:
        verdict = "B faster" if r.ci_low > 1 else "B slower" if r.ci_high < 1 else "-"
        style = "bold" if test == "fitness" else None
        table.add_row(
            test,
            f"{fa:.3f}",
            f"{fb:.3f}",
            f"{r.value:.3f}",
            f"{r.ci_low:.3f} - {r.ci_high:.3f}",
            verdict,
            style=style,
        )
    console.print(table)
    rounds = Table(title="rounds (fitness: % of the baseline measured beside it)")
    for column in ("round", "order", "A", "B", "B/A"):
        rounds.add_column(column)
    for done in result.rounds:
        rounds.add_row(
            str(done["round"]),
            " then ".join(done["order"]),
            _fitness(done["a"]),
            _fitness(done["b"]),
            f"{done['b']['fitness'] / done['a']['fitness']:.3f}",
        )
    console.print(rounds)


def _fitness(fields: Mapping[str, Any]) -> str:
    low, high = fields["ci_low"], fields["ci_high"]
    ci = f" [{low:.1f}, {high:.1f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{fields['fitness']:.1f}{ci} ({fields['repetitions']} reps)"


def _geomean_fitness(result: HeadToHead, side: str) -> float:
    values = [r[side]["fitness"] / 100.0 for r in result.rounds]
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _geomean_per_test(result: HeadToHead, side: str) -> dict[str, float]:
    tests = result.rounds[0][side]["per_test"]
    return {
        t: math.exp(
            sum(math.log(r[side]["per_test"][t]) for r in result.rounds) / len(result.rounds)
        )
        for t in tests
    }
