"""Every command in the READMEs' fenced shell blocks runs, or a short form of it does.

The commands of README.md, server/README.md and benchmark/README.md run in the order the
READMEs give them, on the state the set-up leaves (Redis 8.0.2, the built server, Docker),
in a scratch directory whose ``server`` links to this checkout's and whose ``studies/``
holds copies of the shipped specs with tiny workloads. A short form keeps what the command
does and shrinks how long it takes (fewer trials, 0.05 s runs, two repetitions). A command
without a known short form fails its test: a new README command needs a rule in SHORT_FORMS.
Under 10 minutes (578 s measured on the shared 2-core machine at load average ~14; the
commands are mostly Python start-up there, so far less on a quiet CI machine).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w

from benchmark.redis8 import find_redis8_bin_dir
from benchmark.server_process import free_port

REPO = Path(__file__).resolve().parents[1]
READMES = ("README.md", "server/README.md", "benchmark/README.md")
SHELLS = ("bash", "sh", "shell", "console")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

#: The tiny workload of every spec copy: the commands' plumbing, not their figures.
TINY_WORKLOAD = {"duration_s": 0.05, "min_repetitions": 2, "max_repetitions": 3, "keyspace": 1000}
TINY_BUDGET = {"trials": 1, "finalists": 1, "finalist_repetitions": 2}


@dataclass(frozen=True)
class Command:
    """One command of a README, as a user would type it."""

    readme: str
    line: int
    text: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def id(self) -> str:
        return f"{self.readme}:{self.line}:{self.text[:60]}"


def readme_commands(readme: str) -> list[Command]:
    """The commands of the fenced shell blocks: comments dropped, ``\\`` lines joined,
    ``a && b`` split into two."""
    out: list[Command] = []
    text = (REPO / readme).read_text()
    for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if block.group(1) not in SHELLS:
            continue
        first = text[: block.start(2)].count("\n") + 1
        pending = ""
        for offset, raw in enumerate(block.group(2).splitlines()):
            line = pending + raw
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            words = shlex.split(line, comments=True)
            if not words:
                continue
            command = shlex.join(words).replace("'&&'", "&&")
            for part in command.split(" && "):
                out.append(Command(readme, first + offset, part.strip()))
    return out


ALL = [c for readme in READMES for c in readme_commands(readme)]


# ----------------------------------------------------------------------------- state


@dataclass
class Session:
    """What the commands share: scratch dir, environment, the cwd that ``cd`` changes."""

    root: Path
    env: dict[str, str]
    cwd: Path
    storage: str
    studies_run: set[str] = field(default_factory=set)

    def tuner(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tuner.cli", *args]


@dataclass
class Outcome:
    ok: bool
    detail: str
    seconds: float


def _tiny_specs(studies: Path) -> None:
    studies.mkdir(parents=True)
    for path in sorted((REPO / "studies").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        if "target" not in data and "extends" not in data:
            continue
        if "target" in data:  # an extending spec takes its base's (tiny) target
            data["target"]["workdir"] = str(REPO / "server")
        data.setdefault("workload", {}).update(TINY_WORKLOAD)
        data["workload"].pop("requests", None)
        data.setdefault("budget", {}).update(TINY_BUDGET)
        data["budget"].pop("timeout", None)
        (studies / path.name).write_text(tomli_w.dumps(data))


def _run(
    session: Session,
    argv: list[str],
    *,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd or session.cwd,
            env={**session.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Outcome(False, f"{shlex.join(argv)}: timed out after {timeout:.0f}s", timeout)
    seconds = time.monotonic() - started
    tail = (done.stdout[-1500:] + "\n" + done.stderr[-2500:]).strip()
    if done.returncode != 0:
        return Outcome(False, f"{shlex.join(argv)}: exit {done.returncode}\n{tail}", seconds)
    if "Traceback (most recent call last)" in done.stderr:
        return Outcome(False, f"{shlex.join(argv)}: printed a traceback\n{tail}", seconds)
    return Outcome(True, shlex.join(argv), seconds)


def _serve(
    session: Session, argv: list[str], ready: Callable[[], bool], ready_s: float = 30
) -> Outcome:
    """Start a long-running command, wait until ``ready()``, stop it."""
    started = time.monotonic()
    log = session.root / f"serve-{len(list(session.root.glob('serve-*')))}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=session.cwd, env=session.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        while not ready():
            if process.poll() is not None:
                return Outcome(
                    False,
                    f"{shlex.join(argv)}: exited {process.returncode}\n{log.read_text()[-2000:]}",
                    0,
                )
            if time.monotonic() - started > ready_s:
                return Outcome(
                    False,
                    f"{shlex.join(argv)}: not ready in {ready_s:.0f}s\n{log.read_text()[-2000:]}",
                    ready_s,
                )
            time.sleep(0.2)
        return Outcome(True, shlex.join(argv), time.monotonic() - started)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


def _answers_http(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    return ready


def _answers_ping(port: int) -> Callable[[], bool]:
    bin_dir = find_redis8_bin_dir()
    assert bin_dir is not None

    def ready() -> bool:
        run = subprocess.run(
            [str(bin_dir / "redis-cli"), "-p", str(port), "PING"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return run.stdout.strip() == "PONG"

    return ready


# ----------------------------------------------------------------------- short forms


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _set_option(argv: list[str], name: str, value: str) -> list[str]:
    if name in argv:
        i = argv.index(name)
        return [*argv[: i + 1], value, *argv[i + 2 :]]
    return [*argv, name, value]


def _with_spec(argv: list[str]) -> list[str]:
    """The command's spec, or the embedded default's file, as the tiny copy."""
    spec = _option(argv, "--spec") or "studies/redis-throughput.toml"
    return _set_option(argv, "--spec", str(Path("studies") / Path(spec).name))


def study_run(s: Session, argv: list[str]) -> Outcome:
    """Few trials. The first study runs as written (local runner: cargo build, Redis 8.0,
    the real server); later ones on the mock runner, as do compose studies (tests/tuner and
    tests/compose run those runners for real)."""
    argv = _with_spec(argv)
    if s.studies_run:
        argv = _set_option(argv, "--runner", "mock")
    s.studies_run.add(shlex.join(argv))
    trials = _option(argv, "--trials")
    if trials is not None:
        argv = _set_option(argv, "--trials", str(min(int(trials), 8)))
    if _option(argv, "--timeout") is not None:
        argv = _set_option(argv, "--timeout", "5m")
    return _run(s, s.tuner(*argv[1:], "--quiet"), timeout=240)


def tuner_as_is(s: Session, argv: list[str]) -> Outcome:
    return _run(s, s.tuner(*argv[1:]))


def study_finalize(s: Session, argv: list[str]) -> Outcome:
    """On the mock runner (the first study's own finalize used the local one)."""
    return _run(s, s.tuner(*argv[1:], "--runner", "mock"))


def tuner_bench(s: Session, argv: list[str]) -> Outcome:
    return _run(s, s.tuner(*_with_spec(argv)[1:], "--repetitions", "2"))


def head_to_head(s: Session, argv: list[str]) -> Outcome:
    """On the mock runner, one round of 3 repetitions (tests/tuner/test_compare_real.py runs
    compare on real servers)."""
    if argv[1] == "compare":
        argv = _with_spec(argv)
    return _run(s, s.tuner(*argv[1:], "--runner", "mock", "--rounds", "1", "--repetitions", "3"))


#: A space audit's short form: the mock landscape, one param, two values, two default repeats.
MOCK_AUDIT = (
    "--runner",
    "mock",
    "--values",
    "2",
    "--default-repeats",
    "2",
    "--param",
    "num_shards",
)


def space_audit(s: Session, argv: list[str]) -> Outcome:
    """On the mock landscape, one param, two values (tests/views runs audits for real)."""
    return _run(
        s,
        s.tuner(*_with_spec(argv)[1:], *MOCK_AUDIT),
    )


def doctor(s: Session, argv: list[str]) -> Outcome:
    argv = _set_option(_with_spec(argv), "--probe-seconds", "2")
    return _run(s, s.tuner(*_set_option(argv, "--probe-duration", "0.05")[1:]))


def dashboard(s: Session, argv: list[str]) -> Outcome:
    port = free_port()
    argv = [*argv, "--port", str(port)]
    return _serve(s, s.tuner(*argv[1:]), _answers_http(f"http://127.0.0.1:{port}/api/studies"))


def benchmark_cli(s: Session, argv: list[str]) -> Outcome:
    """0.05 s runs, two or three repetitions, SET and GET only."""
    argv = [*argv, "--duration", "0.05", "--tests", "set,get"]
    if argv[3] == "aa":
        argv += ["--min-reps", "2", "--max-reps", "3"]
    else:
        argv = _set_option(argv, "--reps", "2")
    return _run(s, [sys.executable, *argv[1:]])


def tuner_scale(s: Session, argv: list[str]) -> Outcome:
    """SQLite only (the README's Postgres host is an example), 20 trials, one worker, no views."""
    return _run(
        s,
        [sys.executable, "-m", "tuner.scale", "--trials", "20", "--workers", "1", "--no-views"],
    )


def knob_sweep(s: Session, argv: list[str]) -> Outcome:
    """The script's own audits of its four regimes, on the mock landscape, and its `across`,
    writing to scratch files (the committed server/KNOBS.md and server/sweeps/ untouched)."""
    env = {"SWEEP_DIR": str(s.root / "sweeps"), "KNOBS_MD": str(s.root / "KNOBS.md")}
    outcome = _run(s, [*argv, *MOCK_AUDIT], env=env)
    knobs = s.root / "KNOBS.md"
    written = knobs.read_text().lower() if knobs.exists() else ""
    if outcome.ok and "knobs across workloads" not in written:
        return Outcome(False, f"{outcome.detail}: wrote no cross-workload {knobs}", outcome.seconds)
    return outcome


def shell_script(s: Session, argv: list[str]) -> Outcome:
    """``bash .ci/…``: the installer, set-up and test scripts that CI itself runs (on a
    clean clone); here: they exist in the repository and parse."""
    path = (REPO / argv[1]).resolve()
    if not path.is_relative_to(REPO) or not path.is_file():
        return Outcome(False, f"{argv[1]} is not a file of the repository", 0)
    return _run(s, ["bash", "-n", str(path)], cwd=REPO)


def export(s: Session, argv: list[str]) -> Outcome:
    """``export NAME=VALUE`` for the later commands; a storage on a remote host becomes the
    session's own (tests/distributed runs the shared-Postgres workers for real)."""
    name, _, value = argv[1].partition("=")
    if name == "TUNER_STORAGE" and "db-host" in value:
        value = s.storage
    s.env[name] = value
    return Outcome(True, f"{name}={value}", 0)


def docker_compose(s: Session, argv: list[str]) -> Outcome:
    """Validated with ``docker compose config`` (tests/compose starts the services)."""
    profiles = [w for i, w in enumerate(argv) if i and argv[i - 1] == "--profile"]
    check = ["docker", "compose", *(a for p in profiles for a in ("--profile", p)), "config", "-q"]
    env = {"POSTGRES_PASSWORD": s.env.get("POSTGRES_PASSWORD", "x")}
    return _run(s, check, env=env, cwd=REPO)


def cd(s: Session, argv: list[str]) -> Outcome:
    s.cwd = (s.cwd / argv[1]).resolve()
    return Outcome(s.cwd.is_dir(), f"cwd {s.cwd}", 0)


def cargo(s: Session, argv: list[str]) -> Outcome:
    """Build, fmt and clippy for real (CI's target dir is warm); ``cargo test`` compiles
    only (CI runs the tests); the LTO profile and jemalloc feature are resolved, not built."""
    if argv[1] == "test":
        return _run(s, [*argv, "--locked", "--no-run", "-q"], timeout=600)
    if "--profile" in argv and _option(argv, "--profile") != "release":
        profile = _option(argv, "--profile")
        manifest = tomllib.loads((s.cwd / "Cargo.toml").read_text())
        if profile not in manifest.get("profile", {}):
            return Outcome(False, f"no [profile.{profile}] in Cargo.toml", 0)
        features = _option(argv, "--features") or ""
        return _run(s, ["cargo", "tree", "--locked", "-q", "--depth", "0", "--features", features])
    return _run(s, [*argv, "--locked"] if argv[1] == "build" else argv, timeout=600)


def server_binary(s: Session, argv: list[str]) -> Outcome:
    """Started on a free port until it answers PING; ``--check-config`` runs as is."""
    if "--check-config" in argv:
        return _run(s, argv)
    port = free_port()
    return _serve(s, _set_option(argv, "--port", str(port)), _answers_ping(port))


def side_by_side(s: Session, argv: list[str]) -> Outcome:
    """One round of 2000 requests of SET and GET on free ports."""
    env = {"TESTS": "set,get", "PORT_A": str(free_port()), "PORT_B": str(free_port())}
    return _run(s, [argv[0], argv[1], "1", "2000"], env=env)


#: (pattern over the command text, short form); the first match wins.
SHORT_FORMS: list[tuple[str, Callable[[Session, list[str]], Outcome]]] = [
    (r"^tuner study run\b", study_run),
    (r"^tuner study (list|show|export|report)\b", tuner_as_is),
    (r"^tuner study finalize\b", study_finalize),
    (r"^tuner bench\b", tuner_bench),
    (r"^tuner (compare|study verify)\b", head_to_head),
    (r"^tuner space audit\b", space_audit),
    (r"^tuner space across\b", tuner_as_is),  # the audits above wrote its --json files
    (r"^tuner doctor\b", doctor),
    (r"^tuner dashboard\b", dashboard),
    (r"^python -m benchmark (aa|suite)\b", benchmark_cli),
    (r"^python -m tuner\.scale\b", tuner_scale),
    (r"^server/scripts/knob_sweep\.sh$", knob_sweep),
    (r"^bash \.ci/\w+( [\w-]+)*$", shell_script),
    (r"^export \w+=", export),
    (r"^docker compose\b", docker_compose),
    (r"^cd \S+$", cd),
    (r"^cargo (build|test|fmt|clippy)\b", cargo),
    (r"^\./target/release/redis-server-optimized\b", server_binary),
    (r"^scripts/side_by_side\.sh \d+ \d+$", side_by_side),
]


def short_form(command: Command) -> Callable[[Session, list[str]], Outcome] | None:
    return next((f for pattern, f in SHORT_FORMS if re.search(pattern, command.text)), None)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Command, Outcome]]:
    """Run every command with a short form, in README order, in one session."""
    if find_redis8_bin_dir() is None or shutil.which("cargo") is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but Redis 8 or cargo is missing")
        pytest.skip("needs Redis 8 and cargo (the README's set-up)")
    root = tmp_path_factory.mktemp("readme")
    (root / "server").symlink_to(REPO / "server")
    _tiny_specs(root / "studies")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("TUNER_STORAGE", None)
    env["COLUMNS"] = "200"
    # `tuner` in scripts (knob_sweep.sh) is this checkout's CLI.
    shim = root / "bin"
    shim.mkdir()
    (shim / "tuner").write_text(f'#!/bin/sh\nexec {sys.executable} -m tuner.cli "$@"\n')
    (shim / "tuner").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    session = Session(root, env, root, f"sqlite:///{root}/studies/tuner.db")
    results: dict[Command, Outcome] = {}
    current_readme = None
    for command in ALL:
        if command.readme != current_readme:  # each README starts from the scratch dir
            current_readme, session.cwd = command.readme, root
        form = short_form(command)
        if form is not None:
            # "$TUNER_STORAGE" and the like, from what earlier `export`s set.
            argv = [string.Template(w).safe_substitute(session.env) for w in command.argv]
            results[command] = form(session, argv)
            with (root / "seconds.txt").open("a") as log:
                log.write(f"{results[command].seconds:7.1f} {command.id}\n")
    total = sum(o.seconds for o in results.values())
    print(f"README commands: {len(results)} in {total:.0f}s (see {root / 'seconds.txt'})")
    yield results


@pytest.mark.parametrize("command", ALL, ids=[c.id for c in ALL])
def test_readme_command(command: Command, outcomes: dict[Command, Outcome]) -> None:
    if short_form(command) is None:
        pytest.fail(
            f"{command.readme}:{command.line}: no short form for {command.text!r}; "
            "add one to SHORT_FORMS"
        )
    outcome = outcomes[command]
    assert outcome.ok, outcome.detail


def test_the_readmes_have_commands() -> None:
    """The extraction finds the blocks (an empty list would pass every test above)."""
    assert len(readme_commands("README.md")) >= 20
    assert len(readme_commands("server/README.md")) >= 8
    texts = [c.text for c in readme_commands("server/README.md")]
    assert "cargo fmt --check" in texts and "cargo clippy --all-targets -- -D warnings" in texts
