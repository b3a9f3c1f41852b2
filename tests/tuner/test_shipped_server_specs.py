"""The shipped specs that tune Redis 8.0 and Valkey: they load, and each param is a real
directive of the server, settable at startup, whose default is the server's own.

The spec checks need nothing; the directive checks start the installed server with the
spec's defaults as a redis-format file and read every directive back with CONFIG GET
(Redis 8.0.2 from `.ci/install redis8`; Valkey 8.1 from `.ci/install valkey`, skipped when
it is not installed, since .ci/setup does not build it).
"""

from __future__ import annotations

import os
import time
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


def test_an_exported_redis8_config_is_a_redis_conf_that_redis_starts_with(tmp_path: Path) -> None:
    """Export writes the target's format (redis.conf lines, named .conf), Redis 8.0.2 starts
    with it and reports the values, and `tuner compare` reads the same file back."""
    import subprocess

    from tests.postgres_fixture import free_port
    from tuner.cli.compare import read_config
    from tuner.export import config_header, export_name, write_config
    from tuner.runners.config_file import parse

    spec = load_spec(REDIS8_SELF)
    binary = Path(spec.target.binary)
    if not binary.is_file():
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {binary} is missing")
        pytest.skip(f"{binary} is missing (bash .ci/install redis8)")
    config = {p.name: p.default for p in spec.runtime_params}
    config.update({"hz": 22, "activedefrag": "no", "zset-max-listpack-entries": 512})
    choice = {"label": "trial 7", "config": config, "fitness": 105.9, "ci_low": 96.4}
    assert export_name(spec) == "best_config.conf"
    path = write_config(
        tmp_path / export_name(spec), config, config_header("s", choice, spec), spec
    )
    text = path.read_text()
    assert "# Use: redis-server THIS_FILE --port 6379" in text
    assert "\nhz 22\n" in text and "[" not in text.split("\n\n", 1)[1]
    assert parse(text, "redis") == config
    assert read_config(path, spec) == config
    port = free_port()
    server = subprocess.Popen(
        [str(binary), str(path), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=5, retry_on_timeout=True)
        for _ in range(200):
            assert server.poll() is None, "redis-server refused the exported file"
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        assert client.config_get("hz") == {"hz": "22"}
        assert client.config_get("zset-max-listpack-entries") == {
            "zset-max-listpack-entries": "512"
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
