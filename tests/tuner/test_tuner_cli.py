"""The ``tuner`` CLI end to end with the mock runner, and exports the real server accepts."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.cli import app
from tuner.export import render_config
from tuner.runners.config_file import flatten
from tuner.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "server" / "target" / "release" / "redis-server-optimized"
cli = CliRunner()


def _tuner(*args: str) -> Any:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    return result


def _small_budget(data: dict[str, Any]) -> None:
    data["budget"].update(trials=6, finalists=2, finalist_repetitions=5)


def _server() -> Path:
    if SERVER.is_file() and os.access(SERVER, os.X_OK):
        return SERVER
    if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"{SERVER} is missing and REQUIRE_REAL_SERVERS=1")
    pytest.skip(f"{SERVER} not built (cargo build --release in server/)")


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_server()), "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_run_show_list_export_finalize(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    spec = make_spec("wide-space", edit=_small_budget)
    result = _tuner("study", "run", "--spec", str(spec), "--runner", "mock", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "stopped by budget" in result.output
    best = tuner_env / "studies" / "redis-throughput" / "best_config.toml"
    assert best.is_file()

    listed = _tuner("study", "list")
    assert listed.exit_code == 0 and "redis-throughput" in listed.output

    shown = _tuner("study", "show", "redis-throughput", "--json")
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"] == 6
    assert summary["metric_names"] == ["fitness"]
    fitness = [row["fitness"] for row in summary["top"]]
    assert fitness == sorted(fitness, reverse=True)
    assert summary["winner"]["label"] in {f["label"] for f in summary["finalists"]}
    assert len(summary["finalists"]) == 3  # the default and the top 2

    tables = _tuner("study", "show", "redis-throughput")
    assert tables.exit_code == 0 and "finalists (re-measured)" in tables.output

    out = tuner_env / "exported.toml"
    exported = _tuner("study", "export", "redis-throughput", "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert flatten(tomllib.loads(out.read_text())) == summary["winner"]["config"]

    again = _tuner(
        "study", "finalize", "redis-throughput", "--runner", "mock", "--finalists", "1",
        "--repetitions", "3",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    shown = json.loads(_tuner("study", "show", "redis-throughput", "--json").output)
    assert len(shown["finalists"]) == 2


def test_rerunning_a_finished_study_does_not_measure_again(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = str(make_spec(edit=_small_budget))
    args = ["study", "run", "--spec", spec, "--runner", "mock", "--trials", "3", "--no-finalize"]
    assert _tuner(*args).exit_code == 0
    result = _tuner(*args)
    assert result.exit_code == 0
    assert "3/3 trials (0 this run)" in result.output


def test_export_before_finalize_warns_and_uses_the_best_trial(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = str(make_spec(edit=_small_budget))
    run = _tuner("study", "run", "--spec", spec, "--runner", "mock", "--no-finalize")
    assert run.exit_code == 0
    result = _tuner("study", "export", "redis-throughput", "-o", str(tuner_env / "b.toml"))
    assert result.exit_code == 0
    assert "not finalized" in result.output
    assert (tuner_env / "b.toml").read_text().startswith("# Best config of study")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["study", "run", "--runner", "mock", "--sampler", "bayes"], "choose one of"),
        (["study", "run", "--runner", "mock", "--timeout", "soon"], "--timeout: 'soon'"),
        (["study", "run", "--runner", "warp"], "unknown runner 'warp'"),
        (["study", "show", "nope"], "no study named 'nope'"),
        (["study", "export", "nope"], "no study named 'nope'"),
    ],
)
def test_usage_errors_exit_2_with_a_message(tuner_env: Path, args: list[str], message: str) -> None:
    result = _tuner(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_spec_exits_2_naming_the_field(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["param"][1]["high"] = 0

    result = _tuner("study", "run", "--spec", str(make_spec(edit=bad)), "--runner", "mock")
    assert result.exit_code == 2
    assert "invalid spec: param[1] (buffers.read_size).high: must be greater than low" in (
        result.output
    )


def test_gp_sampler_without_torch_is_a_clear_cli_error(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch is installed")
    spec = str(make_spec())
    result = _tuner("study", "run", "--spec", spec, "--runner", "mock", "--sampler", "gp")
    assert result.exit_code == 2
    assert "needs PyTorch" in result.output and "redisevolve[gp]" in result.output


def test_cmaes_on_a_pareto_spec_is_refused(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    spec = str(make_spec("redis-pareto"))
    result = _tuner("study", "run", "--spec", spec, "--runner", "mock", "--sampler", "cmaes")
    assert result.exit_code == 2 and "CMA-ES is single-objective" in result.output


def test_bench_measures_one_config(tuner_env: Path) -> None:
    config = tuner_env / "c.toml"
    config.write_text("num_shards = 8\n[buffers]\nread_size = 4096\n")
    result = _tuner(
        "bench", "--config", str(config), "--runner", "mock", "--build", "build.allocator=jemalloc",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["fitness"] > 0 and data["ci_low"] <= data["fitness"] <= data["ci_high"]
    bad = _tuner("bench", "--config", str(config), "--runner", "mock", "--build", "x=1")
    assert bad.exit_code == 2 and "expected NAME=VALUE" in bad.output


def test_bench_reads_a_config_in_the_targets_format(tuner_env: Path) -> None:
    """A Redis target's exported best_config.conf is redis.conf lines, not TOML."""
    spec = str(REPO / "studies" / "redis8-self.toml")
    config = tuner_env / "best_config.conf"
    config.write_text("# exported\nhash-max-listpack-entries 64\nio-threads 1\n")
    result = _tuner(
        "bench", "--spec", spec, "--config", str(config), "--runner", "mock",
        "--repetitions", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["repetitions"] == 3
    config.write_text('hash-max-listpack-entries "64\n')
    bad = _tuner("bench", "--spec", spec, "--config", str(config), "--runner", "mock")
    assert bad.exit_code == 2, bad.output
    said = " ".join(bad.output.split())
    assert "best_config.conf: not a redis.conf-style config file: line 1: unbalanced" in said


# ---------------------------------------------------------------------------- real server


def test_exported_winner_passes_the_servers_check_config(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    _server()
    spec = str(make_spec(edit=_small_budget))
    assert _tuner("study", "run", "--spec", spec, "--runner", "mock").exit_code == 0
    out = tuner_env / "best.toml"
    assert _tuner("study", "export", "redis-throughput", "-o", str(out)).exit_code == 0
    checked = _check_config(out)
    assert checked.returncode == 0, checked.stderr + checked.stdout


@pytest.mark.parametrize("corner", ["default", "low", "high"])
def test_every_corner_of_the_shipped_space_passes_check_config(tmp_path: Path, corner: str) -> None:
    _server()
    spec = load_spec(REPO / "studies" / "redis-throughput.toml")
    if corner == "default":
        values = spec.defaults()
    else:
        values = {p.name: getattr(p, corner) for p in spec.runtime_params}
    runtime, _ = spec.split(values)
    assert all(c.satisfied(runtime) for c in spec.param_constraints)
    path = tmp_path / f"{corner}.toml"
    path.write_text(render_config(runtime, ["corner " + corner]))
    checked = _check_config(path)
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_check_config_rejects_an_out_of_range_value(tmp_path: Path) -> None:
    # Beyond the server's hard limit (not the spec's search range): refused, naming the key.
    _server()
    path = tmp_path / "bad.toml"
    path.write_text(render_config({"response_pool.capacity": 100000}))
    checked = _check_config(path)
    assert checked.returncode != 0
    assert "response_pool.capacity = 100000 is out of range (allowed: 0 to 65536)" in (
        checked.stderr
    ), checked.stderr


def test_bench_rebuilds_the_benchmark_result_from_the_runner_detail() -> None:
    from benchmark.result import PairedResult, RawRun, TestStats
    from tuner.cli.bench import _paired_result

    run = RawRun(
        "candidate", "x", "set", 1, "SET@P1", 1, "measure", 1000, 1e5,
        0.1, 0.1, 0.2, 0.3, 0.5, 0.01, 0.0, 0.0,
    )  # fmt: skip
    stats = TestStats("SET@P1", 1.0, 1.1, 1.0, 1.2, 0.9, 0.8, 1e5, 9e4, (1.1,))
    result = PairedResult(
        110.0, 100.0, 120.0, 0.95, 9.0, 0.8, {"SET@P1": stats}, 1, "max_repetitions", 1.0,
        "8.0.2", "0.1", {"candidate": None, "baseline": None}, [run],
    )  # fmt: skip
    rebuilt = _paired_result({"runner": "local", **result.to_dict()})
    assert rebuilt.to_dict() == result.to_dict()
    assert rebuilt.table().row_count == 1
