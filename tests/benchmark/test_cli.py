"""The committed benchmark commands, run for real on a tiny workload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS8_BIN_DIR": str(bin_dir), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_aa_prints_the_figures_and_writes_json(redis8_bin_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "aa.json"
    proc = run(
        "aa",
        *("--tests", "set", "--pipelines", "1", "--duration", "0.05", "--keyspace", "100"),
        *("--min-reps", "3", "--max-reps", "3", "--json", str(out)),
        bin_dir=redis8_bin_dir,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fitness median" in proc.stdout
    assert "repetitions 3 (" in proc.stdout and "seconds" in proc.stdout
    assert "±5% CI:" in proc.stdout and "±2% CI:" in proc.stdout
    assert "rep 3: fitness" in proc.stderr  # per-repetition log when not a terminal
    data = json.loads(out.read_text())
    assert data["repetitions"] == 3 and data["baseline_version"] == "redis 8.0.2"
    assert len([r for r in data["runs"] if r["phase"] == "measure"]) == 6


def test_suite_reports_per_test_ratios_and_per_pipeline_geomeans(
    redis8_bin_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "suite.json"
    proc = run(
        "suite",
        *("--candidate-bin", str(redis8_bin_dir / "redis-server")),
        *("--candidate-args", "--port {port} --save '' --appendonly no"),
        *("--tests", "set,lpop,lrange_100", "--pipelines", "1,16", "--reps", "3"),
        *("--duration", "0.05", "--keyspace", "100", "--json", str(out)),
        bin_dir=redis8_bin_dir,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("SET@P1", "LPOP@P16", "LRANGE_100@P1", "geomean per pipeline", "P16"):
        assert name in proc.stdout
    data = json.loads(out.read_text())
    assert set(data["per_test"]) == {
        f"{t}@P{p}" for t in ("SET", "LPOP", "LRANGE_100") for p in (1, 16)
    }


def test_suite_with_a_missing_binary_is_a_clear_error(redis8_bin_dir: Path) -> None:
    proc = run("suite", "--candidate-bin", "/nonexistent/server", bin_dir=redis8_bin_dir)
    assert proc.returncode == 2
    assert "--candidate-bin /nonexistent/server does not exist" in proc.stdout


def test_a_candidate_that_cannot_start_is_a_clear_error(redis8_bin_dir: Path) -> None:
    proc = run(
        "suite",
        *("--candidate-bin", str(redis8_bin_dir / "redis-server")),
        *("--candidate-args", "--port {port} --no-such-option 1", "--tests", "set"),
        bin_dir=redis8_bin_dir,
    )
    assert proc.returncode == 2
    assert "candidate exited with status" in proc.stdout
    assert "no-such-option" in proc.stdout  # the server's own complaint, from its log tail
