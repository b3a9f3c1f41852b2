"""`tuner space audit` judges p99 and memory too, keeps its measurements as JSON, and
`tuner space across` tells knobs worth tuning per workload from the rest."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w

from tests.views.conftest import REPO, tuner
from tuner.audit import (
    DROP,
    MOVES,
    ONE_VALUE,
    PER_WORKLOAD,
    WITHIN_NOISE,
    AuditError,
    AuditResult,
    ParamAudit,
    Point,
    across_markdown,
    audit_markdown,
    compare_workloads,
    judge,
    load_result,
)
from tuner.runners.landscape import DEAD_PARAM
from tuner.spec import load_spec

WIDE_SPACE = REPO / "tests" / "data" / "wide-space.toml"

pytestmark = pytest.mark.timeout(300)


def _spec_with_dataset(tmp_path: Path, name: str) -> Path:
    data = tomllib.loads(WIDE_SPACE.read_text())
    data["study"]["name"] = name
    data["target"]["workdir"] = str(REPO / "server")
    data["workload"]["dataset"] = [{"kind": "hash", "keys": 1000, "fields": 20, "value_size": 8}]
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_mock_audit_judges_memory_and_its_json_round_trips(tmp_path: Path) -> None:
    # The mock's memory model: the reply pool holds memory (0.9x empty, 1.44x full), and
    # nothing else moves it. The audit must find exactly that.
    spec = _spec_with_dataset(tmp_path, "mem-audit")
    out, js = tmp_path / "a.md", tmp_path / "a.json"
    args = ["space", "audit", "--runner", "mock", "--seed", "1", "--spec", str(spec),
            "--param", "response_pool.capacity", "--param", DEAD_PARAM,
            "--param", "threads"]  # fmt: skip
    done = tuner(tmp_path, *args, "-o", str(out), "--json", str(js))
    assert done.returncode == 0, done.stderr
    result = load_result(json.loads(js.read_text()))
    pool = result.param("response_pool.capacity")
    assert pool.figures["memory"].moves, pool.figures
    assert pool.figures["memory"].best_value == 0  # the emptiest pool holds the least
    assert pool.figures["memory"].effect > 30.0  # truth: 0.6 x 90 = 54 points
    assert not result.param(DEAD_PARAM).figures["memory"].moves
    assert result.param(DEAD_PARAM).dead
    assert result.figure_bands["memory"] >= 1.0
    assert "memory of 1,000 hashes of 20 fields (8 B)" in result.workload
    # Judging the JSON again gives the markdown the audit wrote (same numbers, same verdicts).
    assert audit_markdown(result) == out.read_text()
    text = out.read_text()
    assert "(mem " in text and "memory x100 of the default" in text


def _point(value: object, fitness: float, memory: float) -> Point:
    return Point(value, fitness, fitness - 1.0, fitness + 1.0, figures={"memory": memory})


def _result(name: str, sweeps: dict[str, list[tuple[object, float, float]]]) -> AuditResult:
    spec = load_spec(WIDE_SPACE)
    defaults = [_point(None, f, 100.0 + d) for f, d in ((100.0, 0.0), (101.0, 0.2), (100.5, 0.1))]
    audits = [
        ParamAudit(spec.param(param), [_point(v, f, m) for v, f, m in points])
        for param, points in sweeps.items()
    ]
    return judge(name, "mock", 3, defaults, audits, workload=f"{name} workload")


def test_across_tells_per_workload_knobs_from_one_value_and_dead_ones() -> None:
    # Known truth: threads' best differs between the workloads (4 vs 1); num_shards moves
    # fitness on both with the same best (64); the dead knob moves nothing anywhere.
    a = _result("regime-a", {
        "threads": [(1, 90.0, 100.0), (4, 120.0, 100.0)],
        "num_shards": [(1, 80.0, 100.0), (64, 110.0, 100.0)],
        DEAD_PARAM: [(1048576, 100.5, 100.1), (4294967296, 100.2, 100.0)],
    })  # fmt: skip
    b = _result("regime-b", {
        "threads": [(1, 115.0, 100.0), (4, 85.0, 100.0)],
        "num_shards": [(1, 82.0, 100.0), (64, 112.0, 100.0)],
        DEAD_PARAM: [(1048576, 100.1, 100.0), (4294967296, 100.7, 100.2)],
    })  # fmt: skip
    knobs = {k.name: k for k in compare_workloads([a, b])}
    assert knobs["threads"].verdict == PER_WORKLOAD
    assert knobs["threads"].differing() == ["throughput"]
    assert knobs["num_shards"].verdict == ONE_VALUE
    assert knobs[DEAD_PARAM].verdict == DROP
    text = across_markdown([a, b], title="T")
    rows = [line for line in text.splitlines() if line.startswith("| threads")]
    assert rows and "throughput 4" in rows[0] and "throughput 1" in rows[0], rows
    assert "## Space audit: regime-a" in text and "## Space audit: regime-b" in text


def test_across_counts_memory_as_a_figure_of_its_own() -> None:
    # A threshold that trades memory for throughput: fitness is flat, memory moves, and the
    # value best for memory differs between the two workloads.
    a = _result("a", {"threads": [(1, 100.5, 80.0), (4, 100.2, 100.0)]})
    b = _result("b", {"threads": [(1, 100.3, 100.0), (4, 100.6, 70.0)]})
    knobs = {k.name: k for k in compare_workloads([a, b])}
    audit = a.param("threads")
    assert audit.verdict == WITHIN_NOISE and audit.moved_figures == ["memory"]
    assert not audit.dead
    assert knobs["threads"].verdict == PER_WORKLOAD
    assert knobs["threads"].differing() == ["memory"]
    # Below the 1-point floor, a memory change is noise however tight the default's repeats.
    c = _result("c", {"threads": [(1, 100.5, 100.9), (4, 100.2, 100.0)]})
    assert c.param("threads").dead
    assert MOVES not in {c.param("threads").verdict}


def test_across_command_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"spec_name": "x"}')
    done = tuner(tmp_path, "space", "across", str(bad), str(tmp_path / "missing.json"))
    assert done.returncode == 2
    stderr = " ".join(done.stderr.split())  # rich wraps long lines
    assert (
        f"{bad}: not an audit file written by `tuner space audit --json` (no 'params' field)"
        in stderr
    )
    with pytest.raises(AuditError, match="at least two workloads"):
        compare_workloads([_result("only", {"threads": [(1, 100.0, 100.0)]})])


def test_the_regime_specs_extend_the_sweep_and_each_measures_memory() -> None:
    base = load_spec(REPO / "studies" / "knob-sweep.toml")
    names = [p.name for p in base.params]
    assert "encoding.hash_max_listpack_entries" in names
    workloads = set()
    for regime in ("sweep-small-pipelined", "sweep-large-values", "sweep-hash-heavy"):
        spec = load_spec(REPO / "studies" / f"{regime}.toml")
        assert spec.name == regime
        assert [p.name for p in spec.params] == names  # the knobs come from knob-sweep.toml
        assert spec.target == base.target
        assert spec.datasets, regime
        workloads.add((spec.workload.tests, spec.workload.data_size, spec.workload.pipelines))
    assert len(workloads) == 3
    script = (REPO / "server" / "scripts" / "knob_sweep.sh").read_text()
    for regime in ("knob-sweep", "sweep-small-pipelined", "sweep-large-values", "sweep-hash-heavy"):
        assert regime in script


def test_a_tie_for_best_is_not_a_per_workload_difference() -> None:
    # Memory of a listpack-value threshold: on "small" every value packs, so 1 and 4 tie
    # (1 is named best); on "large" only 4 packs. 4 is best on both: one value, not two.
    small = _result("small", {"threads": [(1, 100.4, 80.0), (4, 100.1, 80.2)]})
    large = _result("large", {"threads": [(1, 100.2, 100.0), (4, 100.5, 70.0)]})
    assert small.param("threads").figures["memory"].best_value == 1
    assert large.param("threads").figures["memory"].best_value == 4
    knob = compare_workloads([small, large])[0]
    assert knob.differing() == [] and knob.verdict == ONE_VALUE
    # A real difference still counts: on "small" 4 is now far from the best.
    small = _result("small", {"threads": [(1, 100.4, 80.0), (4, 100.1, 95.0)]})
    knob = compare_workloads([small, large])[0]
    assert knob.differing() == ["memory"] and knob.verdict == PER_WORKLOAD
