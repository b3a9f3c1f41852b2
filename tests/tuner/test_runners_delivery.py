"""Config delivery: each runtime param reaches a real process by file, argument or env.

Each mode starts a real process (a Python script that records the argv, environment and
config file it was handed, then answers PING) through ``LocalRunner.start_candidate``,
the path every trial takes. Redis 8.0.2 itself is started from a redis-format file and
from flags and asked back through CONFIG GET. Misused specs fail at load with the
offending field named.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmark.redis8 import find_redis8_bin_dir
from tuner.runners.base import Candidate
from tuner.runners.config_file import redis_value
from tuner.runners.local import LocalRunner
from tuner.spec import SpecError, StudySpec, parse_spec

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
THROUGHPUT = REPO / "studies" / "redis-throughput.toml"

# Records what it was given, then answers every request with +PONG until killed.
ECHO_SERVER = r"""
import json, os, socket, sys
args = sys.argv[1:]
env = dict(os.environ)
port = int(args[args.index("--port") + 1]) if "--port" in args else int(env["ECHO_PORT"])
files = {}
for value in [*args, *env.values()]:
    if os.path.isfile(value) and value.startswith(env["ECHO_TRIAL_DIR"]):
        with open(value) as handle:
            files[value] = handle.read()
with open(env["ECHO_OUT"], "w") as handle:
    json.dump({"args": args, "env": env, "files": files}, handle)
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(16)
while True:
    conn, _ = sock.accept()
    conn.recv(65536)
    conn.sendall(b"+PONG\r\n")
    conn.close()
"""

PARAMS: list[dict[str, Any]] = [
    {"name": "io-threads", "kind": "int", "low": 1, "high": 8, "default": 1},
    {"name": "hz", "kind": "int", "low": 1, "high": 500, "default": 10},
    {"name": "pool.capacity", "kind": "int", "low": 0, "high": 1024, "default": 128},
    {"name": "mode", "kind": "categorical", "choices": ["fast", "two words"], "default": "fast"},
    {"name": "lazy", "kind": "categorical", "choices": [True, False], "default": False},
]
CANDIDATE = Candidate(
    runtime={"io-threads": 4, "hz": 100, "pool.capacity": 256, "mode": "two words", "lazy": True}
)


def _spec_data(**target: Any) -> dict[str, Any]:
    data = tomllib.loads(THROUGHPUT.read_text())
    data.pop("constraint", None)
    data["param"] = copy.deepcopy(PARAMS)
    data["target"] = {"build_command": ["true"], "binary": "server", **target}
    data["baseline"] = {"address": "127.0.0.1:1"}
    return data


def _spec(tmp_path: Path, **target: Any) -> StudySpec:
    return parse_spec(_spec_data(**target), base_dir=tmp_path)


def _echo_spec(
    tmp_path: Path, args: list[str], env: dict[str, str] | None = None, **target: Any
) -> StudySpec:
    """A spec that runs the echo script with ``args`` (and records into tmp_path)."""
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO_SERVER)
    record = {"ECHO_OUT": str(tmp_path / "echo.json"), "ECHO_TRIAL_DIR": str(tmp_path / "trial")}
    return _spec(tmp_path, args=[str(script), *args], env={**(env or {}), **record}, **target)


def _echo(tmp_path: Path, spec: StudySpec) -> dict[str, Any]:
    """Start the echo script as the candidate (the interpreter is the "binary")."""
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    runner = LocalRunner(spec, work_dir=tmp_path / "work", client=object())
    try:
        server = runner.start_candidate(Path(sys.executable), CANDIDATE, trial_dir)
        assert server.returncode is None
        return dict(json.loads((tmp_path / "echo.json").read_text()))
    finally:
        runner.close()


def test_toml_file_nests_dotted_names(tmp_path: Path) -> None:
    spec = _echo_spec(tmp_path, ["--config", "{config}", "--port", "{port}"])
    got = _echo(tmp_path, spec)
    config = got["args"][got["args"].index("--config") + 1]
    assert tomllib.loads(got["files"][config]) == {
        "io-threads": 4,
        "hz": 100,
        "pool": {"capacity": 256},
        "mode": "two words",
        "lazy": True,
    }
    assert Path(config).name == "perf_config.toml"


def test_redis_file_holds_one_directive_per_param(tmp_path: Path) -> None:
    spec = _echo_spec(tmp_path, ["{config}", "--port", "{port}"], config_format="redis")
    got = _echo(tmp_path, spec)
    config = got["args"][0]
    assert Path(config).name == "redis.conf"
    lines = [x for x in got["files"][config].splitlines() if not x.startswith("#")]
    assert lines == [
        "hz 100",
        "io-threads 4",
        "lazy yes",
        'mode "two words"',
        "pool.capacity 256",
    ]


def test_json_file_through_config_env(tmp_path: Path) -> None:
    spec = _echo_spec(tmp_path, ["--port", "{port}"], config_format="json", config_env="APP_CFG")
    got = _echo(tmp_path, spec)
    config = got["env"]["APP_CFG"]
    assert Path(config).name == "config.json"
    assert json.loads(got["files"][config]) == {
        "hz": 100,
        "io-threads": 4,
        "lazy": True,
        "mode": "two words",
        "pool": {"capacity": 256},
    }


def test_args_deliver_params_with_no_file(tmp_path: Path) -> None:
    args = ["--port", "{port}", "--io-threads", "{io-threads}", "--hz", "{hz}"]
    args += ["--pool", "{pool.capacity}", "--mode={mode}", "--lazy", "{lazy}"]
    got = _echo(tmp_path, _echo_spec(tmp_path, args))
    assert got["args"] == [
        "--port",
        got["args"][1],
        "--io-threads",
        "4",
        "--hz",
        "100",
        "--pool",
        "256",
        "--mode=two words",
        "--lazy",
        "true",
    ]
    assert got["files"] == {}
    assert not list((tmp_path / "trial").glob("*.toml"))


def test_env_delivers_port_params_and_config(tmp_path: Path) -> None:
    env = {
        "ECHO_PORT": "{port}",
        "IO_THREADS": "{io-threads}",
        "HZ": "hz={hz}",
        "CFG": "{config}",
    }
    spec = _echo_spec(tmp_path, [], env=env, config_format="redis")
    got = _echo(tmp_path, spec)
    assert got["args"] == []
    assert got["env"]["IO_THREADS"] == "4"
    assert got["env"]["HZ"] == "hz=100"
    assert int(got["env"]["ECHO_PORT"]) > 0
    # What the env did not carry went into the file it names.
    lines = got["files"][got["env"]["CFG"]].splitlines()
    assert [x for x in lines if not x.startswith("#")] == [
        "lazy yes",
        'mode "two words"',
        "pool.capacity 256",
    ]


# ------------------------------------------------------------------- spec misuse


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"args": ["--port", "{port}", "--x", "{io_threads}"]},
            r"^target\.args\[3\]: \{io_threads\} is not a param, \{port\} or \{config\}",
        ),
        (
            {"args": ["--port", "{port}"], "env": {"X": "{nope}"}},
            r"^target\.env\.X: \{nope\} is not a param",
        ),
        (
            {"args": ["--port", "{port}", "--hz", "{hz}"]},
            r"^target\.args: the config never reaches the server, so io-threads, "
            r"pool\.capacity, mode, lazy would be delivered nowhere",
        ),
        (
            {
                "args": ["--port", "{port}", "--config", "{config}", "--hz", "{hz}"],
                "env": {"HZ": "{hz}"},
            },
            r"^param 'hz' is delivered twice \(target\.args\[5\] and target\.env\.HZ\)",
        ),
        (
            {"args": ["--port", "{port}", "--hz", "{hz}", "--hz2", "{hz}", "{config}"]},
            r"^param 'hz' is delivered twice \(target\.args\[3\] and target\.args\[5\]\)",
        ),
        (
            {"args": ["--port", "{port}"], "config_format": "yaml", "config_env": "C"},
            r"^target\.config_format: 'yaml' is not one of toml, redis, json",
        ),
        (
            {
                "args": ["--port", "{port}", "--io-threads", "{io-threads}"],
                "config_format": "redis",
            },
            r"^target\.config_format: 'redis' is set but no file reaches the server",
        ),
        ({"args": ["{config}"]}, r"^target\.args: must contain '\{port\}'"),
        (
            {"args": ["{config}", "{port}"], "build_command": ["make", "{hz}"]},
            r"^target\.build_command: \{hz\} is not a build param",
        ),
    ],
)
def test_misdelivered_params_fail_at_load(
    tmp_path: Path, target: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        _spec(tmp_path, **target)


def test_baseline_env_takes_only_the_port(tmp_path: Path) -> None:
    data = _spec_data(args=["{config}", "{port}"])
    data["baseline"] = {"binary": "redis-server", "args": [], "env": {"PORT": "{port}"}}
    assert parse_spec(data, base_dir=tmp_path).baseline.env == {"PORT": "{port}"}
    data["baseline"]["env"] = {"PORT": "{port}", "T": "{io-threads}"}
    with pytest.raises(SpecError, match=r"^baseline\.env\.T: \{io-threads\} is not \{port\}"):
        parse_spec(data, base_dir=tmp_path)


def test_existing_toml_specs_deliver_everything_by_file() -> None:
    from tuner.spec import load_spec

    spec = load_spec(THROUGHPUT)
    assert spec.target.config_file and spec.target.config_format == "toml"
    assert spec.target.file_params == tuple(p.name for p in spec.runtime_params)


# ------------------------------------------------------------------- redis quoting


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (5, "5"),
        (0.25, "0.25"),
        (True, "yes"),
        ("allkeys-lru", "allkeys-lru"),
        ("", '""'),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("'quoted'", "\"'quoted'\""),
        ("é", '"\\xc3\\xa9"'),
    ],
)
def test_redis_values_are_quoted_as_sdssplitargs_reads_them(value: Any, line: str) -> None:
    assert redis_value("x", value) == line


# ------------------------------------------------------------------- Redis 8.0.2 itself


def _redis_server() -> Path:
    directory = find_redis8_bin_dir()
    if directory is None or not (directory / "redis-server").is_file():
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but no Redis 8 (set REDIS8_BIN_DIR)")
        pytest.skip("no Redis 8 (set REDIS8_BIN_DIR)")
    return directory / "redis-server"


REDIS_PARAMS: list[dict[str, Any]] = [
    {"name": "hz", "kind": "int", "low": 1, "high": 500, "default": 10},
    {"name": "io-threads", "kind": "int", "low": 1, "high": 4, "default": 1},
    {
        "name": "maxmemory-policy",
        "kind": "categorical",
        "default": "noeviction",
        "choices": ["noeviction", "allkeys-lru"],
    },
    {
        "name": "lazyfree-lazy-user-del",
        "kind": "categorical",
        "choices": ["yes", "no"],
        "default": "no",
    },
    {"name": "hash-max-listpack-entries", "kind": "int", "low": 0, "high": 1024, "default": 128},
]
REDIS_CANDIDATE = {
    "hz": 77,
    "io-threads": 2,
    "maxmemory-policy": "allkeys-lru",
    "lazyfree-lazy-user-del": "yes",
    "hash-max-listpack-entries": 333,
}


def _redis_spec(tmp_path: Path, args: list[str], **target: Any) -> StudySpec:
    data = _spec_data(args=args, **target)
    data["param"] = copy.deepcopy(REDIS_PARAMS)
    return parse_spec(data, base_dir=tmp_path)


def _config_get(tmp_path: Path, spec: StudySpec) -> dict[str, str]:
    binary = _redis_server()
    runner = LocalRunner(spec, work_dir=tmp_path / "work", client=object())
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    try:
        server = runner.start_candidate(binary, Candidate(runtime=dict(REDIS_CANDIDATE)), trial_dir)
        with redis.Redis(port=server.port, socket_timeout=10, decode_responses=True) as client:
            return {name: client.config_get(name)[name] for name in REDIS_CANDIDATE}
    finally:
        runner.close()


BIND = ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def test_redis8_starts_from_a_redis_format_file(tmp_path: Path) -> None:
    spec = _redis_spec(tmp_path, ["{config}", *BIND], config_format="redis")
    assert _config_get(tmp_path, spec) == {k: str(v) for k, v in REDIS_CANDIDATE.items()}


def test_redis8_starts_from_flags(tmp_path: Path) -> None:
    flags = [x for name in REDIS_CANDIDATE for x in (f"--{name}", f"{{{name}}}")]
    spec = _redis_spec(tmp_path, [*BIND, *flags])
    assert not spec.target.config_file
    assert _config_get(tmp_path, spec) == {k: str(v) for k, v in REDIS_CANDIDATE.items()}


def test_redis8_reads_back_every_quoted_value(tmp_path: Path) -> None:
    """Awkward strings survive a round trip through Redis's own config parser."""
    values = ["plain", "two words", 'a "quoted" b', "back\\slash", "it's", "tab\tnl", "é"]
    data = _spec_data(args=["{config}", *BIND], config_format="redis")
    data["param"] = [
        {"name": "masterauth", "kind": "categorical", "choices": values, "default": "plain"}
    ]
    spec = parse_spec(data, base_dir=tmp_path)
    binary = _redis_server()
    runner = LocalRunner(spec, work_dir=tmp_path / "work", client=object())
    try:
        for i, value in enumerate(values):
            trial_dir = tmp_path / f"trial-{i}"
            trial_dir.mkdir()
            server = runner.start_candidate(binary, Candidate({"masterauth": value}), trial_dir)
            with redis.Redis(port=server.port, socket_timeout=10, decode_responses=True) as client:
                assert client.config_get("masterauth") == {"masterauth": value}
            runner.close()
    finally:
        runner.close()


def test_export_names_the_params_a_target_takes_outside_its_file(tmp_path: Path) -> None:
    """A redis-format file plus one flag: the file holds the rest, the header names the flag.
    A flags-only target: every param in the TOML file, and no 'not in this file' list."""
    from tuner.export import config_header, render_config

    choice = {"label": "trial 1", "config": CANDIDATE.runtime}
    mixed = _spec(
        tmp_path, args=["{config}", "--port", "{port}", "--hz", "{hz}"], config_format="redis"
    )
    text = render_config(CANDIDATE.runtime, config_header("s", choice, mixed), mixed)
    assert "#   hz = 100" in text and "\nhz " not in text
    assert "\nio-threads 4\n" in text
    flags = _spec(tmp_path, args=["--port", "{port}", *(f"{{{p['name']}}}" for p in PARAMS)])
    text = render_config(CANDIDATE.runtime, config_header("s", choice, flags), flags)
    assert "not in this file" not in text
    assert tomllib.loads(text)["pool"] == {"capacity": 256}
