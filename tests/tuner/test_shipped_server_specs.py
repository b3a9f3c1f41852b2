"""The shipped specs that tune Redis 8.0 and Valkey: they load, and each param is a real
directive of the server, settable at startup, whose default is the server's own.

The spec checks need nothing; the directive checks start the installed server with the
spec's defaults as a redis-format file and read every directive back with CONFIG GET
(Redis 8.0.2 from `.ci/install redis8`; Valkey 8.1 from `.ci/install valkey`, skipped when
it is not installed, since .ci/setup does not build it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from benchmark.valkey import find_valkey_bin_dir
from tuner.runners.base import Candidate
from tuner.runners.local import LocalRunner
from tuner.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
REDIS8_SELF = REPO / "studies" / "redis8-self.toml"
VALKEY = REPO / "studies" / "valkey-vs-redis8.toml"

pytestmark = pytest.mark.timeout(60)


def test_redis8_self_is_redis_against_itself_at_its_defaults() -> None:
    spec = load_spec(REDIS8_SELF)
    assert spec.baseline.same_as_target
    assert spec.baseline.fitness_unit == "% of this server at its defaults"
    assert spec.target.config_format == "redis" and spec.target.binary.endswith("redis-server")
    names = {p.name for p in spec.params}
    assert {"io-threads", "hz", "activedefrag", "tcp-backlog", "lazyfree-lazy-user-del"} <= names
    assert spec.target.file_params == tuple(p.name for p in spec.runtime_params)
    assert (spec.target.cpus, spec.client.cpus) == ("0", "1")


def test_valkey_vs_redis8_is_valkey_against_redis() -> None:
    spec = load_spec(VALKEY)
    assert not spec.baseline.same_as_target and spec.baseline.binary == "redis-server"
    assert spec.target.config_format == "redis" and spec.target.binary.endswith("valkey-server")
    assert spec.target.file_params == tuple(p.name for p in spec.runtime_params)
    assert (spec.target.cpus, spec.client.cpus) == ("0", "1")


def _read_back(spec_path: Path, binary: Path, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Start ``binary`` with the spec's defaults; {directive: (written, CONFIG GET)}."""
    spec = load_spec(spec_path)
    runner = LocalRunner(spec, work_dir=tmp_path / "work", client=object())
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    try:
        server = runner.start_candidate(binary, Candidate(runtime=spec.defaults()), trial_dir)
        with redis.Redis(port=server.port, socket_timeout=10, decode_responses=True) as client:
            return {
                p.name: (str(p.default), client.config_get(p.name).get(p.name, "<missing>"))
                for p in spec.runtime_params
            }
    finally:
        runner.close()


def test_redis8_self_directives_exist_with_redis_defaults(tmp_path: Path) -> None:
    binary = Path(load_spec(REDIS8_SELF).target.binary)
    if not binary.is_file():
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {binary} is missing")
        pytest.skip(f"{binary} is missing (bash .ci/install redis8)")
    got = _read_back(REDIS8_SELF, binary, tmp_path)
    assert {n: g for n, (w, g) in got.items() if w != g} == {}


def test_valkey_directives_exist_with_valkey_defaults(tmp_path: Path) -> None:
    bin_dir = find_valkey_bin_dir()
    binary = Path(load_spec(VALKEY).target.binary)
    if bin_dir is None or not binary.is_file():
        pytest.skip("Valkey 8.1 is not installed (bash .ci/install valkey)")
    got = _read_back(VALKEY, binary, tmp_path)
    assert {n: g for n, (w, g) in got.items() if w != g} == {}
