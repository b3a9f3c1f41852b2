"""Head to head (tuner.head_to_head) and ``tuner compare`` / ``tuner study verify`` with the
mock runner: the pooling, the CLI plumbing and its errors. The real-server proof is in
test_compare_real.py."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.cli import app
from tuner.head_to_head import Contender, measure_head_to_head, pool_ratios
from tuner.runners.mock import MockRunner
from tuner.spec import load_spec

pytestmark = pytest.mark.timeout(120)

cli = CliRunner()


def _tuner(*args: str) -> Any:
    return cli.invoke(app, list(args), catch_exceptions=False)


def _defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    spec = load_spec(None)
    return spec.split(spec.defaults())


# --- pooling ------------------------------------------------------------------------


def test_rounds_that_agree_pool_like_fixed_effects() -> None:
    a = [(100.0, (95.0, 105.0))] * 3
    b = [(110.0, (104.5, 115.5))] * 3
    r = pool_ratios(a, b, 0.95)
    assert r.value == pytest.approx(1.1)
    assert r.tau == 0.0
    one = pool_ratios(a[:1], b[:1], 0.95)
    # Three agreeing rounds: the CI shrinks by sqrt(3) on the log scale.
    assert math.log(one.ci_high / one.ci_low) / math.log(r.ci_high / r.ci_low) == pytest.approx(
        math.sqrt(3)
    )


def test_rounds_that_disagree_widen_the_ci() -> None:
    """Restart-to-restart spread beyond the rounds' own CIs is variance, not averaged away."""
    a = [(100.0, (98.0, 102.0))] * 4
    b = [(f, (f * 0.98, f * 1.02)) for f in (90.0, 110.0, 92.0, 108.0)]
    r = pool_ratios(a, b, 0.95)
    assert r.tau > 0.05
    assert r.contains(1.0)
    # A fixed-effect pool of the same rounds would claim about +-1.4%.
    assert r.ci_high / r.ci_low > 1.1


def test_a_round_without_a_ci_borrows_the_largest_variance() -> None:
    a = [(100.0, (95.0, 105.0)), (100.0, (math.nan, math.nan))]
    b = [(100.0, (90.0, 110.0)), (100.0, (99.9, 100.1))]
    r = pool_ratios(a, b, 0.95)
    assert math.isfinite(r.ci_low) and math.isfinite(r.ci_high)
    assert r.ci_low < 1.0 < r.ci_high


def test_runner_cis_are_read_at_their_own_level() -> None:
    a = [(100.0, (95.0, 105.0))]
    b = [(100.0, (95.0, 105.0))]
    narrow = pool_ratios(a, b, 0.95, measured_confidence=0.999)
    same = pool_ratios(a, b, 0.95)
    assert narrow.ci_high < same.ci_high


# --- head to head on the mock -------------------------------------------------------


def test_a_config_against_itself_covers_one_at_the_nominal_rate() -> None:
    """A/A on the mock (per-pair noise, outliers, a per-restart bias no repetition removes):
    the 95% CI of B/A holds 1.0 in at least 90% of 200 seeds (measured: 96.5%)."""
    runtime, build = _defaults()
    spec = load_spec(None)
    covered = 0
    for seed in range(200):
        runner = MockRunner(spec, seed=seed, landscape="sweep")
        result = measure_head_to_head(
            runner, Contender("a", runtime, build), Contender("b", dict(runtime), build),
            rounds=3, repetitions=5, confidence=0.95,
        )  # fmt: skip
        covered += result.ratio.contains(1.0)
    assert covered >= 180


def test_a_handicapped_config_is_found_slower_in_every_test() -> None:
    runtime, build = _defaults()
    runner = MockRunner(load_spec(None), seed=3, landscape="sweep")
    result = measure_head_to_head(
        runner,
        Contender("default", runtime, build),
        Contender("batch 1", {**runtime, "batching.batch_threshold": 1}, build),
        rounds=2,
        repetitions=5,
        confidence=0.999,
    )
    # True ratio 46.0 / 106.9 = 0.43.
    assert 0.3 < result.ratio.value < 0.6 and result.ratio.ci_high < 0.7
    assert all(r.ci_high < 0.8 for r in result.per_test.values())
    assert "batch 1 is slower than default" in result.verdict()
    # Rounds alternate who goes first, each a fresh start of both configs.
    assert [r["order"] for r in result.rounds] == [["default", "batch 1"], ["batch 1", "default"]]
    assert runner._evaluations and max(runner._evaluations.values()) == 2


def test_bad_round_and_repetition_counts_are_refused() -> None:
    runtime, build = _defaults()
    runner = MockRunner(load_spec(None))
    a = Contender("a", runtime, build)
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        measure_head_to_head(runner, a, a, rounds=0)
    with pytest.raises(ValueError, match="repetitions must be at least 3"):
        measure_head_to_head(runner, a, a, repetitions=2)


# --- the CLI ------------------------------------------------------------------------


def _configs(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.toml"
    a.write_text("num_shards = 16\n[batching]\nbatch_threshold = 256\n")
    b = tmp_path / "b.toml"
    b.write_text("[batching]\nbatch_threshold = 1\n")
    return a, b


def test_compare_prints_the_ratio_and_per_test_table(tuner_env: Path) -> None:
    a, b = _configs(tuner_env)
    args = ("compare", str(a), str(b), "--runner", "mock", "--mock-landscape", "sweep")
    result = _tuner(*args, "--rounds", "2", "--repetitions", "4")
    assert result.exit_code == 0, result.output
    assert "B (b.toml) is slower than A (a.toml)" in result.output
    for text in ("B/A per test", "SET@P16", "GET@P1", "fitness", "B slower", "rounds"):
        assert text in result.output
    data = json.loads(_tuner(*args, "--json", "--rounds", "2").output)
    assert data["ratio"]["ci_high"] < 0.7
    assert set(data["per_test"]) == {"SET@P1", "GET@P1", "SET@P16", "GET@P16"}
    assert len(data["rounds"]) == 2 and data["b"]["config"] == {"batching.batch_threshold": 1}


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, (), "missing.toml: no such file"),
        ("threads = [", (), "not a TOML config file"),
        ("[server]\nport = 6379\n", (), "server.port: not a knob of the target of spec"),
        ("maxmemory = 5\n", (), "--allow-unknown"),
        ("[build]\nallocator = 'jemalloc'\n", (), "build params are not config-file keys"),
        ("threads = 1\n", ("--build-b", "build.allocator=tcmalloc"), "'tcmalloc' is not one of"),
        ("threads = 1\n", ("--build-a", "allocator"), "expected NAME=VALUE"),
    ],
)
def test_compare_names_bad_input(
    tuner_env: Path, content: str | None, extra: tuple[str, ...], message: str
) -> None:
    a, _ = _configs(tuner_env)
    b = tuner_env / "missing.toml"
    if content is not None:
        b.write_text(content)
    result = _tuner("compare", str(a), str(b), "--runner", "mock", *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_compare_passes_unknown_keys_through_when_asked_and_the_server_refuses(
    tuner_env: Path,
) -> None:
    a, _ = _configs(tuner_env)
    b = tuner_env / "b.toml"
    b.write_text("threads = 999\n")
    result = _tuner("compare", str(a), str(b), "--runner", "mock")
    assert result.exit_code == 1
    assert "measurement failed: server exited at start" in result.output
    assert "threads = 999 is out of range" in result.output
    # The target's own config file lists every knob, searched or not.
    c = tuner_env / "c.toml"
    c.write_text("[buffers]\nmax_size = 1048576\n")
    assert _tuner("compare", str(a), str(c), "--runner", "mock", "--rounds", "1").exit_code == 0


def test_study_verify_measures_the_winner_against_the_default(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    def small(data: dict[str, Any]) -> None:
        data["budget"].update(trials=8, finalists=2, finalist_repetitions=5)

    spec = str(make_spec(edit=small))
    missing = _tuner("study", "verify", "nope", "--runner", "mock")
    assert missing.exit_code == 2 and "no study named 'nope'" in missing.output
    run = _tuner("study", "run", "--spec", spec, "--runner", "mock", "--seed", "2", "--no-finalize")
    assert run.exit_code == 0, run.output
    unfinished = _tuner("study", "verify", "redis-throughput", "--runner", "mock")
    assert unfinished.exit_code == 2 and "has no exported winner yet" in unfinished.output
    assert _tuner("study", "finalize", "redis-throughput", "--runner", "mock").exit_code == 0
    import optuna

    study = optuna.load_study(study_name="redis-throughput", storage=os.environ["TUNER_STORAGE"])
    if study.user_attrs["winner"].get("is_default"):
        kept = _tuner("study", "verify", "redis-throughput", "--runner", "mock")
        assert kept.exit_code == 0 and "nothing to verify" in " ".join(kept.output.split())
    # A non-default winner (set by hand: which config finalize exports is not this test's job).
    study.set_user_attr(
        "winner",
        {"label": "trial 3", "is_default": False, "config": {"batching.batch_threshold": 1}},
    )
    result = _tuner(
        "study", "verify", "redis-throughput", "--runner", "mock", "--rounds", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["a"]["label"] == "default" and data["b"]["label"] == "winner (trial 3)"
    assert data["ratio"]["ci_low"] <= data["ratio"]["ratio"] <= data["ratio"]["ci_high"]
