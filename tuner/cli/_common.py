"""What every ``tuner`` command shares: consoles, options, errors, spec/storage/study loading,
and the one runner session (interrupt handling and clean-up)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import optuna
import typer
from rich.console import Console
from rich.markup import escape

from tuner.pid_records import PidFile
from tuner.processes import kill_descendants
from tuner.resilient_storage import DatabaseOutage
from tuner.runners.base import Runner
from tuner.signals import Interrupted, InterruptGuard
from tuner.spec import SpecError, StudySpec, parse_spec
from tuner.spec import load_spec as _load_spec_file
from tuner.storage import StorageError, StorageUnreachable, default_storage_url
from tuner.storage import open_storage as _open_storage

__all__ = [
    "DATABASE_OUTAGE_EXIT",
    "MockLandscapeOption",
    "RunnerOption",
    "SpecOption",
    "StorageOption",
    "console",
    "err",
    "exits_on_outage",
    "fail",
    "load_spec",
    "load_study",
    "make_runner",
    "open_storage",
    "parse_build",
    "quiet_optuna",
    "runner_session",
    "spec_of_study",
]

console = Console()
err = Console(stderr=True)

SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", help="Study spec TOML (default: the embedded redis-throughput spec)."),
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Storage URL (default $TUNER_STORAGE or sqlite:///studies/tuner.db)."
    ),
]
RunnerOption = Annotated[
    str, typer.Option("--runner", help="How candidates are measured: mock, local or compose.")
]

MockLandscapeOption = Annotated[
    str,
    typer.Option(
        "--mock-landscape",
        help=(
            "Mock runner: 'interior' (optimum inside the box) or 'sweep' "
            "(server/sweeps/knob-sweep-2026-11-26.md)."
        ),
    ),
]


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` (no traceback) and return the Exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


P = ParamSpec("P")
R = TypeVar("R")

#: Exit status when the database stayed down past the outage limit (EX_TEMPFAIL: try again).
DATABASE_OUTAGE_EXIT = 75


def exits_on_outage(command: Callable[P, R]) -> Callable[P, R]:
    """A read-only command that exits 75 with one line naming the database when it stays
    unreachable past the outage limit, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DatabaseOutage as exc:
            raise fail(
                f"database {exc.url} unreachable for {exc.down_s:.0f} s, longer than the "
                f"{exc.limit_s:g} s outage limit ($TUNER_DB_OUTAGE_LIMIT): {exc.reason}. "
                "Nothing was changed: run the same command again once the database is back",
                DATABASE_OUTAGE_EXIT,
            ) from None

    return run


def load_spec(path: Path | None) -> StudySpec:
    try:
        return _load_spec_file(path)
    except SpecError as exc:
        raise fail(f"invalid spec: {exc}") from None


def open_storage(url: str | None, **kwargs: Any) -> Any:
    try:
        return _open_storage(url, **kwargs)
    except StorageUnreachable as exc:
        raise fail(str(exc), DATABASE_OUTAGE_EXIT) from None
    except StorageError as exc:
        raise fail(str(exc)) from None


def load_study(name: str, storage_url: str | None) -> optuna.Study:
    quiet_optuna()
    storage = open_storage(storage_url, heartbeat_interval=None)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(names) or "none"
        raise fail(
            f"no study named {name!r} in {storage_url or default_storage_url()} (studies: {known})"
        ) from None


def spec_of_study(study: optuna.Study, path: Path | None = None) -> StudySpec:
    """The spec a study was created from (re-validated), or the one at ``path``."""
    if path is not None:
        return load_spec(path)
    raw = dict(study.user_attrs.get("spec") or {})
    if not raw:
        raise fail(f"study {study.study_name!r} has no stored spec; pass --spec")
    source = str(raw.pop("source", ""))
    base = Path(source).resolve().parent if Path(source).is_file() else None
    if base is None:
        from tuner.spec import find_repo_root

        base = find_repo_root(Path.cwd()) / "studies"
    try:
        return parse_spec(raw, base_dir=base, source=source or "<stored>")
    except SpecError as exc:
        raise fail(f"stored spec of {study.study_name!r} no longer validates: {exc}") from None


def make_runner(
    name: str,
    spec: StudySpec,
    study_name: str,
    seed: int | None,
    mock_delay: float | None,
    mock_landscape: str | None = None,
) -> Runner:
    from tuner.runners import RunnerUnavailable, make_runner
    from tuner.study import pids_dir, study_dir

    opts: dict[str, Any]
    if name == "mock":
        opts = {"seed": seed or 0}
        if mock_delay is not None:
            opts["delay_s"] = mock_delay
        if mock_landscape is not None:
            from tuner.runners.landscape import LANDSCAPES

            if mock_landscape not in LANDSCAPES:
                known = ", ".join(LANDSCAPES)
                raise fail(f"--mock-landscape {mock_landscape!r}: choose one of: {known}")
            opts["landscape"] = mock_landscape
    else:
        opts = {"pidfile": PidFile(pids_dir(study_name)), "work_dir": study_dir(study_name)}
    try:
        return make_runner(name, spec, **opts)
    except RunnerUnavailable as exc:
        raise fail(str(exc)) from None


@contextmanager
def runner_session(
    runner: Runner, on_interrupt: Callable[[Interrupted], None] | None = None
) -> Iterator[InterruptGuard]:
    """Run a block with SIGINT/SIGTERM turned into a clean stop: the runner is closed on every
    exit; on a signal every child process is killed too, ``on_interrupt`` says what happened,
    and the command exits 130/143."""
    with InterruptGuard() as guard:
        try:
            yield guard
        except Interrupted as stop:
            runner.close()
            kill_descendants()
            if on_interrupt is not None:
                on_interrupt(stop)
            raise typer.Exit(stop.exit_code) from None
        finally:
            runner.close()


def parse_build(spec: StudySpec, items: list[str] | None, option: str) -> dict[str, Any]:
    """``NAME=VALUE`` build params over the spec's build defaults; ValueError naming the item."""
    values = {p.name: p.default for p in spec.build_params}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in values:
            known = ", ".join(values) or "none"
            raise ValueError(f"{option} {item!r}: expected NAME=VALUE with NAME one of: {known}")
        choices = {str(c): c for c in spec.param(key).choices}
        if choices and value not in choices:
            raise ValueError(f"{option} {item!r}: {value!r} is not one of {list(choices)}")
        values[key] = choices.get(value, value)
    return values
