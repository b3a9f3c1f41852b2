"""`tuner space audit` on the mock landscape: flags its dead knob, passes a live one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import tomli_w

from tests.views.conftest import REPO, tuner
from tuner.audit import (
    BORDERLINE,
    MOVES,
    WITHIN_NOISE,
    ParamAudit,
    Point,
    audit_markdown,
    feasible_sweep,
    judge,
    sweep_values,
    verdict,
)
from tuner.runners.landscape import DEAD_PARAM
from tuner.runners.mock import MockRunner
from tuner.spec import load_spec

WIDE_SPACE = REPO / "tests" / "data" / "wide-space.toml"

pytestmark = pytest.mark.timeout(240)


def _rows(markdown: str) -> dict[str, dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    headers = [h.strip() for h in lines[0].strip("|").split(" | ")]
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0]] = dict(zip(headers, cells, strict=True))
    return rows


def _true_effects(spec_path: Path) -> dict[str, float]:
    """Noiseless effect of each param over the audit's own sweep, from the mock landscape."""
    spec = load_spec(spec_path)
    landscape = MockRunner(spec).landscape
    effects = {}
    for param in spec.params:
        values, _ = feasible_sweep(spec, param, 4)
        fitness = [landscape.fitness({**spec.defaults(), param.name: v}) for v in values]
        effects[param.name] = max(fitness) - min(fitness)
    return effects


def test_audit_flags_dead_param_and_passes_live_one(tmp_path: Path) -> None:
    # The wide space (before the shipped one was sized to the machine) holds the mock's dead knob.
    spec_path = WIDE_SPACE
    out = tmp_path / "audit.md"
    done = tuner(
        tmp_path,
        "space", "audit", "--runner", "mock", "--seed", "0", "--spec", str(spec_path),
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "space audit of redis-throughput" in done.stdout
    rows = _rows(out.read_text())
    effects = _true_effects(spec_path)
    assert set(rows) == set(effects)
    # The landscape's dead knob has no effect at all, and the audit puts it inside the noise.
    assert effects[DEAD_PARAM] == 0.0
    assert rows[DEAD_PARAM]["verdict"] == WITHIN_NOISE, rows[DEAD_PARAM]
    # Every knob whose true effect is several noise bands wide is found.
    band = float(re.search(r"noise band = ([0-9.]+)", out.read_text()).group(1))  # type: ignore[union-attr]
    strong = [name for name, effect in effects.items() if effect > 3 * band]
    assert strong, effects
    for name in strong:
        assert rows[name]["verdict"] == MOVES, (rows[name], effects[name])
    text = out.read_text()
    assert "Rule: effect = max - min" in text
    assert "default config measured 5x" in text


def test_audit_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    args = ["space", "audit", "--runner", "mock", "--seed", "3", "--spec", str(WIDE_SPACE),
            "--param", "threads", "--param", DEAD_PARAM]  # fmt: skip
    first = tuner(tmp_path, *args, "-o", str(tmp_path / "a.md"))
    second = tuner(tmp_path, *args, "-o", str(tmp_path / "b.md"))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert _rows((tmp_path / "a.md").read_text()) == _rows((tmp_path / "b.md").read_text())


def test_audit_unknown_param_is_a_clear_error(tmp_path: Path) -> None:
    done = tuner(tmp_path, "space", "audit", "--runner", "mock", "--param", "no.such")
    assert done.returncode == 2
    assert "unknown param(s) no.such" in done.stderr


def test_sweep_spans_the_range_within_constraints(make_param_spec: Path) -> None:
    spec = load_spec(make_param_spec)
    assert sweep_values(spec.param("threads"), 4) == [1, 2, 3, 4]
    # Log params get log-spaced powers of two; stepped params stay on their step grid.
    assert sweep_values(spec.param("buffers.read_size"), 4) == [1024, 4096, 16384, 65536]
    assert all(v % 512 == 0 for v in sweep_values(spec.param("batching.min_pipeline_buffer"), 4))
    assert sweep_values(spec.param("build.allocator"), 4) == ["system", "jemalloc", "mimalloc"]
    # min_pipeline_buffer <= read_size (default 16384): the sweep is narrowed to 0..16384,
    # on its step grid, not skipped.
    values, cut = feasible_sweep(spec, spec.param("batching.min_pipeline_buffer"), 4)
    assert cut == ["batching.min_pipeline_buffer <= buffers.read_size"]
    assert values[0] == 0 and max(values) == 16384 and len(values) == 4
    assert all(v % 512 == 0 for v in values)
    # A param the constraint does not cut keeps its whole sweep.
    assert feasible_sweep(spec, spec.param("threads"), 4) == ([1, 2, 3, 4], [])


def test_verdict_rule() -> None:
    assert verdict(10.0, 10.0) == WITHIN_NOISE
    assert verdict(12.0, 10.0) == BORDERLINE
    assert verdict(12.6, 10.0) == MOVES


@pytest.fixture
def make_param_spec(tmp_path: Path) -> Path:
    """A spec with fixed ranges (the shipped ones evolve with the server)."""
    text = (REPO / "studies" / "redis-throughput.toml").read_text()
    data = tomllib.loads(text)
    data["target"]["workdir"] = str(REPO / "server")
    data["param"] = [
        {"name": "threads", "kind": "int", "low": 1, "high": 4, "default": 1},
        {"name": "response_pool.capacity", "kind": "int", "low": 0, "high": 4096, "step": 64,
         "default": 1024},
        {"name": "buffers.read_size", "kind": "int", "low": 1024, "high": 65536, "log": True,
         "default": 16384},
        {"name": "batching.min_pipeline_buffer", "kind": "int", "low": 0, "high": 65536,
         "step": 512, "default": 4096},
        {"name": "build.allocator", "kind": "categorical", "stage": "build",
         "choices": ["system", "jemalloc", "mimalloc"], "default": "system"},
        {"name": "build.profile", "kind": "categorical", "stage": "build",
         "choices": ["release", "release-lto"], "default": "release"},
    ]  # fmt: skip
    data["constraint"] = [{"expr": "batching.min_pipeline_buffer <= buffers.read_size"}]
    path = tmp_path / "fixed.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_judge_without_cis_rests_on_the_default_spread() -> None:
    # One repetition per measurement gives no CI (NaN): the band is the default's range.
    nan = float("nan")
    spec = load_spec(WIDE_SPACE)
    audit = ParamAudit(spec.param("threads"), [Point(4, 90.0, nan, nan)])
    result = judge("s", "mock", 1, [Point(None, 100.0, nan, nan), Point(None, 104.0, nan, nan)],
                   [audit])  # fmt: skip
    assert result.median_ci_width == 0.0
    assert result.noise_band == pytest.approx(4.0)
    assert audit.effect == pytest.approx(12.0)
    assert audit.verdict == MOVES
    assert "W = n/a" in audit_markdown(result)


def test_a_param_that_moves_one_test_only_is_live_and_one_that_moves_nothing_is_dead() -> None:
    spec = load_spec(WIDE_SPACE)

    def point(value: object, fitness: float, big: float) -> Point:
        # Two units; "LRANGE_600@P16" is what a reply-buffer knob would move on its own.
        units: dict[str, tuple[float, float | None]] = {
            "SET@P1": (fitness, 4.0),
            "LRANGE_600@P16": (big, 4.0),
        }
        return Point(value, fitness, fitness - 2, fitness + 2, per_test=units)

    defaults = [point(None, f, b) for f, b in ((100, 100), (102, 101), (101, 99))]
    one_test = ParamAudit(
        spec.param("response_pool.buffer_size"), [point(512, 101, 70), point(4096, 100, 99)]
    )
    nothing = ParamAudit(spec.param("num_shards"), [point(1, 101, 100), point(64, 100, 101)])
    result = judge("s", "mock", 3, defaults, [one_test, nothing])
    # Fitness hides the LRANGE_600 drop (geomean of many units); the per-test rule does not.
    assert one_test.verdict == WITHIN_NOISE and nothing.verdict == WITHIN_NOISE
    assert one_test.top_test is not None and one_test.top_test[0] == "LRANGE_600@P16"
    assert one_test.top_test[1] == pytest.approx(30.0)
    assert not one_test.dead
    assert nothing.dead
    assert result.test_bands == {"LRANGE_600@P16": pytest.approx(4.0), "SET@P1": 4.0}
    text = audit_markdown(result)
    assert "Dead (no figure moves beyond the noise): num_shards." in text
