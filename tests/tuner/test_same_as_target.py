"""``[baseline] same_as_target = true``: the target itself, at its defaults, as the baseline.

Spec errors for each misuse; the fitness unit every view prints; the compose runner's
check of its server command; and a real local trial of Redis 8.0.2 against itself at its
defaults, whose fitness CI must contain 100.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from benchmark.redis8 import find_redis8_bin_dir
from tuner.runners.base import Candidate
from tuner.runners.compose import ComposeError, ComposeServices, check_command_delivery
from tuner.runners.delivery import baseline_launch
from tuner.runners.local import LocalRunner
from tuner.spec import SpecError, StudySpec, parse_spec, stored_fitness_unit

pytestmark = pytest.mark.timeout(120)

BIND = ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
PARAMS: list[dict[str, Any]] = [
    {"name": "hz", "kind": "int", "low": 1, "high": 500, "default": 10},
    {"name": "io-threads", "kind": "int", "low": 1, "high": 4, "default": 1},
]


def _data(
    binary: str = "redis-server",
    args: list[str] | None = None,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    args = ["{config}", *BIND] if args is None else args
    target: dict[str, Any] = {"build_command": ["true"], "binary": binary, "args": args}
    if "{config}" in args:
        target["config_format"] = "redis"
    return {
        "study": {"name": "self"},
        "target": target,
        "baseline": {"same_as_target": True} if baseline is None else baseline,
        "param": copy.deepcopy(PARAMS),
        "workload": {
            "tests": ["set", "get"],
            "pipelines": [16],
            "clients": 20,
            "duration_s": 0.5,
            "keyspace": 1000,
            "min_repetitions": 6,
            "max_repetitions": 6,
            "confidence": 0.99,
        },
    }


def _spec(tmp_path: Path, **kwargs: Any) -> StudySpec:
    return parse_spec(_data(**kwargs), base_dir=tmp_path)


# ------------------------------------------------------------------- the spec


def test_same_as_target_copies_the_target_with_an_empty_config(tmp_path: Path) -> None:
    spec = _spec(tmp_path, binary="/opt/redis/bin/redis-server")
    b = spec.baseline
    assert b.same_as_target and b.binary == "/opt/redis/bin/redis-server"
    assert b.args == spec.target.args and b.config_file and b.config_format == "redis"
    launch = baseline_launch(b, port=7000, config_path="/t/baseline-redis.conf")
    assert launch.args[:3] == ("/t/baseline-redis.conf", "--port", "7000")
    # No param at all: an empty file, so every directive is the server's own default.
    assert launch.config == {}
    assert b.fitness_unit == "% of this server at its defaults"


def test_baseline_args_may_replace_the_targets(tmp_path: Path) -> None:
    """A target configured by flags gets a stock baseline from explicit args."""
    args = [*BIND, "--hz", "{hz}", "--io-threads", "{io-threads}"]
    spec = _spec(tmp_path, args=args, baseline={"same_as_target": True, "args": BIND})
    assert spec.baseline.args == tuple(BIND) and not spec.baseline.config_file
    assert baseline_launch(spec.baseline, port=1).config is None


@pytest.mark.parametrize(
    ("args", "baseline", "message"),
    [
        (
            None,
            {"same_as_target": True, "binary": "redis-server"},
            r"^baseline\.binary: not with baseline\.same_as_target",
        ),
        (
            None,
            {"same_as_target": True, "address": "127.0.0.1:6379"},
            r"^baseline\.address: not with baseline\.same_as_target",
        ),
        (None, {"same_as_target": "yes"}, r"^baseline\.same_as_target: expected true or false"),
        (
            ["{config}", *BIND, "--hz", "{hz}"],
            None,
            r"^baseline\.same_as_target: baseline\.args\[10\] \(copied from target\.args\) "
            r"sets param 'hz'",
        ),
        (
            None,
            {"same_as_target": True, "args": [*BIND, "{hz}"]},
            r"^baseline\.same_as_target: baseline\.args\[8\] sets param 'hz'",
        ),
        (
            None,
            {"same_as_target": True, "args": ["--x", "{nope}", "{port}"]},
            r"^baseline\.args\[1\]: \{nope\} is not \{port\} or \{config\}",
        ),
        (
            None,
            {"same_as_target": True, "args": ["--bind", "127.0.0.1"]},
            r"^baseline\.args: must contain '\{port\}'",
        ),
        (None, {}, r"^baseline: give exactly one of .*same_as_target = true"),
    ],
)
def test_misused_same_as_target_fails_at_load(
    tmp_path: Path, args: list[str] | None, baseline: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        _spec(tmp_path, args=args, baseline=baseline)


def test_views_name_the_fitness_unit_from_the_stored_spec() -> None:
    assert stored_fitness_unit({"baseline": {"same_as_target": True}}) == (
        "% of this server at its defaults"
    )
    assert stored_fitness_unit({"baseline": {"binary": "redis-server"}}) == "% of the baseline"
    assert stored_fitness_unit(None) == "% of the baseline"


def _services(command: tuple[str, ...]) -> ComposeServices:
    return ComposeServices(
        file=Path("docker-compose.yml"),
        context=Path("."),
        dockerfile=Path("Dockerfile"),
        server_repository="redisevolve/server",
        server_command=command,
        config_target="/etc/redis.conf",
        redis_image="redis:8.0",
        redis_command=(),
        bench_image="redis:8.0",
        bench_command=(),
    )


def test_compose_same_as_target_needs_a_command_without_params(tmp_path: Path) -> None:
    """Under compose the baseline is the server image run with the compose command, so a
    command that sets params cannot start the stock server."""
    flags = [*BIND, "--hz", "{hz}", "--io-threads", "{io-threads}"]
    spec = _spec(tmp_path, args=flags, baseline={"same_as_target": True, "args": BIND})
    with pytest.raises(ComposeError, match=r"command sets params \(hz, io-threads\)"):
        check_command_delivery(spec, _services(tuple(flags)))
    by_file = _spec(tmp_path)
    check_command_delivery(by_file, _services(("redis-server", "{config}", *BIND)))


# ------------------------------------------------------------------- Redis 8.0.2 vs itself


def _redis8() -> Path:
    directory = find_redis8_bin_dir()
    if directory is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but no Redis 8 (set REDIS8_BIN_DIR)")
        pytest.skip("no Redis 8 (set REDIS8_BIN_DIR)")
    return directory


@pytest.mark.timeout(60)
def test_redis8_against_itself_at_its_defaults_scores_100(tmp_path: Path) -> None:
    """Redis 8.0.2 with its own default values written out, against Redis 8.0.2 started
    with an empty config: the same server, so the 99% CI must contain 100 (5-point margin
    for a loaded machine)."""
    bin_dir = _redis8()
    spec = _spec(tmp_path, binary=str(bin_dir / "redis-server"))
    runner = LocalRunner(spec, work_dir=tmp_path / "work")
    try:
        m = runner.evaluate(Candidate(runtime=spec.defaults()))
    finally:
        runner.close()
    assert m.repetitions == 6
    assert m.ci_low - 5.0 <= 100.0 <= m.ci_high + 5.0, (m.fitness, m.ci_low, m.ci_high)
    (trial_dir,) = (tmp_path / "work" / "trials").iterdir()
    candidate = (trial_dir / "redis.conf").read_text()
    assert "hz 10" in candidate and "io-threads 1" in candidate
    # The stock server's file holds no directive: only the header's comment lines.
    stock = (trial_dir / "baseline-redis.conf").read_text()
    assert [line for line in stock.splitlines() if line and not line.startswith("#")] == []


def test_show_and_progress_say_percent_of_this_server_at_its_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label reaches what users read (the mock runner stands in for the measuring; only
    the labelling is under test here)."""
    import tomli_w
    from typer.testing import CliRunner

    from tuner.cli import app

    spec_path = tmp_path / "self.toml"
    spec_path.write_bytes(tomli_w.dumps(_data()).encode())
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    run = CliRunner().invoke(
        app,
        [
            "study", "run", "--spec", str(spec_path), "--runner", "mock", "--trials", "2",
            "--storage", storage, "--seed", "1", "--no-finalize",
        ],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "fitness in % of this server at its defaults" in run.output
    show = CliRunner().invoke(app, ["study", "show", "self", "--storage", storage])
    assert show.exit_code == 0, show.output
    assert "fitness: % of this server at its defaults" in show.output


def test_doctor_accepts_a_target_that_is_not_redis_as_its_own_baseline(tmp_path: Path) -> None:
    """The Redis 8 version check is for a Redis baseline; the target at its defaults is
    whatever server the target is (only the client tools must be Redis 8's)."""
    from tuner.doctor._machine import check_baseline

    _redis8()
    check = check_baseline(_spec(tmp_path, binary="/opt/valkey/bin/valkey-server"))
    assert check.status == "ok" and "same_as_target" in check.found
