"""Memory ratios measured on real Redis 8.0.2 through the study loop and the local runner.

Two trials of ``hash-max-listpack-entries`` on 64-field hashes: the default (512, the
hashes stay listpacks, as in the stock baseline) and 16 (every hash a hash table). The
recorded ratios must be real: about 1 for the default, far above 1 for hash tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.redis8 import find_redis8_bin_dir
from tuner.runners.local import LocalRunner
from tuner.signals import InterruptGuard
from tuner.spec import parse_spec
from tuner.storage import open_storage
from tuner.study import RunOptions, StudyLoop, open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _redis8() -> Path:
    directory = find_redis8_bin_dir()
    if directory is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but no Redis 8 (set REDIS8_BIN_DIR)")
        pytest.skip("no Redis 8 (set REDIS8_BIN_DIR)")
    return directory


def _data(binary: Path) -> dict[str, Any]:
    return {
        "study": {"name": "memory-real"},
        "target": {
            "build_command": ["true"],
            "binary": str(binary),
            "config_format": "redis",
            "args": ["{config}", "--port", "{port}", "--bind", "127.0.0.1", "--save", ""],
        },
        "baseline": {"same_as_target": True},
        "param": [
            {
                "name": "hash-max-listpack-entries",
                "kind": "int",
                "low": 8,
                "high": 1024,
                "log": True,
                "default": 512,
            }
        ],
        "constraint": [{"name": "memory cap", "expr": "memory_ratio <= 1.1"}],
        "workload": {
            "tests": ["hset"],
            "pipelines": [16],
            "clients": 20,
            "keyspace": 64,
            "data_size": 16,
            "requests": 20000,
            "warmup": False,
            "min_repetitions": 2,
            "max_repetitions": 2,
            # 2000 hashes of 64 fields: a few MB per server, loaded in well under a second.
            "dataset": {"kind": "hash", "keys": 2000, "fields": 64, "value_size": 16},
        },
        "objective": {"kind": "pareto", "pruner": "none", "pareto": ["throughput", "memory"]},
        "sampler": {"name": "random", "seed": 1},
    }


@pytest.mark.timeout(60)
def test_listpack_and_hashtable_hashes_give_real_memory_ratios(tmp_path: Path) -> None:
    spec = parse_spec(_data(_redis8() / "redis-server"), base_dir=tmp_path)
    study = open_study(spec, open_storage(f"sqlite:///{tmp_path}/s.db"), sampler="random")
    study.enqueue_trial({"hash-max-listpack-entries": 16})
    runner = LocalRunner(spec, work_dir=tmp_path / "work")
    try:
        with InterruptGuard() as guard:
            StudyLoop(study, spec, runner, guard).run(RunOptions(trials=2))
    finally:
        runner.close()
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [
        t.user_attrs.get("failure_reason") for t in trials
    ]
    by_entries = {t.params["hash-max-listpack-entries"]: t for t in trials}
    assert set(by_entries) == {512, 16}
    default, hashtable = by_entries[512], by_entries[16]
    for t in trials:
        memory = t.user_attrs["memory"]
        assert memory["keys"] == 2000
        assert t.values == [t.user_attrs["fitness"], t.user_attrs["memory_ratio"]]
        # used_memory per key of 64 fields of 16 B: several hundred bytes at the least.
        assert memory["baseline_used_per_key"] > 500
    # The same encoding on both sides: used_memory is near-exact, RSS a little looser.
    assert default.user_attrs["memory_ratio"] == pytest.approx(1.0, abs=0.03)
    assert default.user_attrs["rss_ratio"] == pytest.approx(1.0, abs=0.15)
    # Hash tables against the stock listpacks: far more than 10% apart, in both measures.
    assert hashtable.user_attrs["memory_ratio"] > 1.5, hashtable.user_attrs["memory"]
    assert hashtable.user_attrs["rss_ratio"] > 1.3, hashtable.user_attrs["memory"]
    # The constraint was evaluated on the measured ratio.
    assert default.constraints["memory cap"] <= 0 < hashtable.constraints["memory cap"]
    assert [t.number for t in study.best_trials] == [default.number]
