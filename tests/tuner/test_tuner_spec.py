"""Study spec: shipped specs load, the embedded default matches, bad fields are named."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuner.spec import (
    SpecError,
    default_spec_text,
    load_spec,
    parse_duration,
    parse_spec,
)

REPO = Path(__file__).resolve().parents[2]
THROUGHPUT = REPO / "studies" / "redis-throughput.toml"
PARETO = REPO / "studies" / "redis-pareto.toml"
#: The wide pre-sizing search space (threads, response_pool.*): spec mechanics are tested on it.
WIDE = REPO / "tests" / "data" / "wide-space.toml"


def _base() -> dict[str, Any]:
    return tomllib.loads(WIDE.read_text())


def _param(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in data["param"] if p["name"] == name)


def test_embedded_default_is_identical_to_the_shipped_throughput_spec() -> None:
    assert default_spec_text() == THROUGHPUT.read_text()
    assert (REPO / "tuner" / "default_spec.toml").read_bytes() == THROUGHPUT.read_bytes()


def test_shipped_specs_load() -> None:
    throughput = load_spec(THROUGHPUT)
    pareto = load_spec(PARETO)
    assert throughput.name == "redis-throughput"
    assert not throughput.objective.is_multi
    assert pareto.objective.is_multi and pareto.objective.metric_names == ["fitness", "p99_ratio"]
    assert throughput.target.workdir == REPO / "server"
    assert {p.name for p in throughput.build_params} == {"build.allocator"}
    assert throughput.constraints == ()
    assert throughput.param("build.allocator").build_args["jemalloc"] == (
        "--features",
        "alloc-jemalloc",
    )
    assert [c.expr for c in pareto.outcome_constraints] == ["p99_ratio <= 1.5"]
    assert throughput.workload.tests == ("set", "get")


def test_embedded_spec_resolves_from_the_repo_root_found_from_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO / "tuner")
    assert load_spec().target.workdir == REPO / "server"
    monkeypatch.chdir(tmp_path)  # outside any repo: relative to cwd/studies
    spec = load_spec()
    assert spec.name == "redis-throughput"
    assert spec.target.workdir == (tmp_path / "server").resolve()


def test_spec_paths_resolve_relative_to_the_spec_file(tmp_path: Path) -> None:
    text = THROUGHPUT.read_text().replace('workdir = "../server"', 'workdir = "srv"')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.toml").write_text(text)
    old = Path.cwd()
    os.chdir("/")
    try:
        assert load_spec(tmp_path / "sub" / "s.toml").target.workdir == tmp_path / "sub" / "srv"
    finally:
        os.chdir(old)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        *parents, last = path.split("/")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        *parents, last = path.split("/")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return mutate


def _param_set(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: _param(data, name).__setitem__(key, value)


def _add_constraint(expr: str) -> Callable[[dict[str, Any]], None]:
    # After a valid one, so the error names the index of the bad one.
    valid = {"expr": "batching.min_pipeline_buffer <= buffers.read_size"}
    return lambda data: data.setdefault("constraint", []).extend([valid, {"expr": expr}])


BAD_SPECS = [
    (_delete("study/name"), r"^study\.name: missing"),
    (_set("study/name", "a b"), r"^study\.name: "),
    (_set("study/colour", "red"), r"^study\.colour: unknown field"),
    (_set("extra", {}), r"^extra: unknown field"),
    (_delete("target"), r"^target: missing section"),
    (_set("target/build_command", []), r"^target\.build_command: must not be empty"),
    (_set("target/build_command", "cargo build"), r"^target\.build_command: expected a list"),
    (_delete("target/binary"), r"^target\.binary: missing"),
    (_set("target/args", ["--port", "{port}"]), r"^target\.args: the config never reaches"),
    (_set("target/args", ["--config", "{config}"]), r"^target\.args: must contain '\{port\}'"),
    (_set("target/binary", "target/{build.colour}/x"), r"\{build\.colour\} is not a build param"),
    (_set("target/cpus", "zero"), r"^target\.cpus: expected a CPU list"),
    (_set("target/ready_timeout_s", -1), r"^target\.ready_timeout_s: expected a positive"),
    (_set("baseline/address", "127.0.0.1:6379"), r"^baseline: give exactly one of"),
    (_delete("baseline/binary"), r"^baseline: give exactly one of"),
    (_set("baseline/args", []), r"^baseline\.args: must contain '\{port\}'"),
    (_delete("param"), r"^param: a study needs at least one"),
    (_param_set("num_shards", "kind", "integer"), r"^param\[0\] \(num_shards\)\.kind: 'integer'"),
    (_param_set("num_shards", "high", 0), r"^param\[0\] \(num_shards\)\.high: must be greater"),
    (_param_set("num_shards", "low", 1.5), r"\.low: expected an integer for an int param"),
    (
        _param_set("num_shards", "default", 999),
        r"\(num_shards\)\.default: 999 is outside \[1, 256\]",
    ),
    (_param_set("num_shards", "stage", "boot"), r"\(num_shards\)\.stage: 'boot' is not one of"),
    (_param_set("num_shards", "choices", [1, 2]), r"\.choices: only categorical params"),
    (_param_set("threads", "name", "num_shards"), r"\.name: duplicate param name 'num_shards'"),
    (_param_set("threads", "name", "bad name"), r"\.name: 'bad name' must be dotted"),
    (_param_set("threads", "name", "fitness"), r"\.name: 'fitness' is reserved"),
    (_param_set("response_pool.capacity", "default", 100), r"\.default: 100 is not on the grid"),
    (_param_set("response_pool.capacity", "step", 0), r"\.step: must be positive"),
    (_param_set("buffers.read_size", "low", 0), r"\.low: log-scaled params need low > 0"),
    (_param_set("buffers.read_size", "step", 2), r"\.step: cannot combine a step with log"),
    (_param_set("build.allocator", "default", "tcmalloc"), r"\.default: 'tcmalloc' is not one of"),
    (_param_set("build.allocator", "choices", []), r"\.choices: a non-empty list is required"),
    (
        _param_set("build.allocator", "args", {"system": []}),
        r"\(build\.allocator\)\.args: no entry for choice 'jemalloc'",
    ),
    (_param_set("build.allocator", "low", 1), r"\(build\.allocator\)\.low: categorical params"),
    (_param_set("threads", "env", "THREADS"), r"'args' and 'env' are only for stage = \"build\""),
    (lambda d: _param(d, "threads").pop("default"), r"\(threads\)\.default: missing"),
    (_add_constraint("threads <="), r"^constraint\[1\]\.expr: 'threads <=' is not an expression"),
    (_add_constraint("threads == 2"), r"^constraint\[1\]\.expr: only <=, <, >=, >"),
    (_add_constraint("1 < threads < 3"), r"^constraint\[1\]\.expr: .* must be one comparison"),
    (_add_constraint("thread <= 2"), r"^constraint\[1\]\.expr: 'thread' is not a numeric param"),
    (_add_constraint("build.allocator <= 1"), r"'build\.allocator' is categorical"),
    (_add_constraint("threads <= p99_ratio"), r"do not mix params and measured values"),
    (_add_constraint("__import__('os') <= 1"), r"only names, numbers and \+ - \* / are allowed"),
    (_set("workload/clients", 0), r"^workload\.clients"),
    (_set("workload/colour", 1), r"^workload\.colour: unknown field"),
    (_set("objective/kind", "latency"), r"^objective\.kind: 'latency' is not one of"),
    (_set("objective/pruner", "wilcoxon"), r"^objective\.pruner: 'wilcoxon'"),
    (_set("budget/trials", 0), r"^budget\.trials: must be at least 1"),
    (_set("budget/trials", "many"), r"^budget\.trials: expected an integer"),
    (_set("budget/timeout", "ten hours"), r"^budget\.timeout: 'ten hours' is not a duration"),
    (_set("sampler/seed", -1), r"^sampler\.seed: must be at least 0"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_SPECS)
def test_bad_spec_names_the_field(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    data = copy.deepcopy(_base())
    mutate(data)
    with pytest.raises(SpecError, match=message):
        parse_spec(data, base_dir=REPO / "studies")


def test_bad_toml_and_missing_file_are_spec_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname = 1")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"spec file .*missing\.toml"):
        load_spec(tmp_path / "missing.toml")


def test_pareto_objective_cannot_be_pruned() -> None:
    data = _base()
    data["objective"] = {"kind": "pareto", "pruner": "median"}
    with pytest.raises(SpecError, match=r"objective\.pruner: Optuna cannot prune multi-objective"):
        parse_spec(data, base_dir=REPO)


def test_constraint_values_follow_optuna_sign_convention() -> None:
    data = _base()
    data["constraint"] = [
        {"expr": "batching.min_pipeline_buffer <= buffers.read_size"},
        {"expr": "threads * 2 < num_shards", "name": "strict"},
    ]
    spec = parse_spec(data, base_dir=REPO)
    within, strict = spec.constraints[0], spec.constraints[1]
    read = {"buffers.read_size": 4096}
    assert within.violation({**read, "batching.min_pipeline_buffer": 1024}) == -3072
    assert within.violation({**read, "batching.min_pipeline_buffer": 5120}) == 1024
    assert within.satisfied({**read, "batching.min_pipeline_buffer": 4096})  # "<=" allows equality
    assert not strict.satisfied({"threads": 2, "num_shards": 4})  # equality breaks "<"
    assert strict.violation({"threads": 2, "num_shards": 4}) > 0
    assert strict.satisfied({"threads": 2, "num_shards": 5})
    assert spec.param_constraints == spec.constraints


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10h", 36000), ("90m", 5400), ("1h30m", 5400), ("45s", 45), (3600, 3600), ("2.5", 2.5)],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "h", "-5", 0, True, "1h foo"])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(SpecError, match=r"^timeout: "):
        parse_duration(text)


def test_defaults_and_split() -> None:
    spec = load_spec(THROUGHPUT)
    runtime, build = spec.split(spec.defaults())
    assert "build.allocator" in build and "build.allocator" not in runtime
    assert runtime["num_shards"] == 16 and runtime["batching.batch_threshold"] == 256
    assert all(c.satisfied(spec.defaults()) for c in spec.param_constraints)


def test_spec_defaults_are_the_servers_shipped_defaults() -> None:
    # The "default" finalist must be the server as shipped: server/perf_config.toml.
    from tuner.runners.config_file import flatten

    shipped = flatten(tomllib.loads((REPO / "server" / "perf_config.toml").read_text()))
    for path in (THROUGHPUT, PARETO, WIDE):
        runtime, _ = load_spec(path).split(load_spec(path).defaults())
        # A knob the spec does not search keeps the server's default (the config file's).
        assert runtime.items() <= shipped.items(), path.name
    # The Pareto spec searches every knob but the compact-encoding thresholds, which no
    # shipped spec searches until the knob sweep shows them live
    # (server/sweeps/knob-sweep-2026-11-26.md).
    searched = {k: v for k, v in shipped.items() if not k.startswith("encoding.")}
    assert load_spec(PARETO).split(load_spec(PARETO).defaults())[0] == searched


def test_the_shipped_space_is_sized_to_the_machine() -> None:
    # One server CPU: no thread count to search; the sweep's dead knobs are left out and its
    # only-harmful ranges cut (server/sweeps/knob-sweep-2026-11-26.md).
    spec = load_spec(THROUGHPUT)
    names = {p.name for p in spec.params}
    assert spec.target.cpus == "0" and "threads" not in names
    assert not names & {"response_pool.capacity", "response_pool.buffer_size", "buffers.max_size"}
    assert spec.param("batching.min_pipeline_buffer").high < 2048
    batch = spec.param("batching.batch_threshold")
    assert batch.low >= 32 and batch.log


def test_the_commented_threads_block_needs_the_cpus_it_names() -> None:
    text = THROUGHPUT.read_text()
    block = text[text.index('#   [[param]]\n#   name = "threads"') :]
    block = block[: block.index("bounded_by_cpus = true") + len("bounded_by_cpus = true")]
    param = "\n" + block.replace("#   ", "") + "\n"
    refused = text.replace("[workload]", param + "\n[workload]", 1)
    with pytest.raises(SpecError, match=r"\(threads\)\.high: 4 is more than the 1 CPU"):
        parse_spec(tomllib.loads(refused), base_dir=THROUGHPUT.parent)
    widened = refused.replace('cpus = "0"\nready_timeout_s', 'cpus = "0-3"\nready_timeout_s', 1)
    assert parse_spec(tomllib.loads(widened), base_dir=THROUGHPUT.parent).param("threads").high == 4


@pytest.mark.parametrize("path", [THROUGHPUT, PARETO])
def test_the_commented_build_profile_block_puts_the_param_back(path: Path) -> None:
    # build.profile was measured dead (server/sweeps/knob-sweep-2026-11-26.md) and is not
    # searched; the spec
    # says how to search it again. Following those instructions must give a valid spec.
    text = path.read_text()
    block = '# [[param]]\n# name = "build.profile"\n'
    assert block in text and "build.profile" not in {p.name for p in load_spec(path).params}
    start = text.index(block)
    end = text.index("\n\n", start)
    restored = text[:start] + text[start:end].replace("# ", "") + text[end:]
    restored = restored.replace('"--release"]', '"--profile", "{build.profile}"]').replace(
        'binary = "target/release/', 'binary = "target/{build.profile}/'
    )
    spec = parse_spec(tomllib.loads(restored), base_dir=path.parent)
    assert spec.param("build.profile").choices == (
        "release", "release-lto", "release-cgu1", "release-lto-cgu1",
    )  # fmt: skip
    assert spec.target.binary == "target/{build.profile}/redis-server-optimized"
    assert spec.target.build_command[-2:] == ("--profile", "{build.profile}")


def _float_param(**fields: Any) -> dict[str, Any]:
    data = _base()
    data["param"].append(
        {"name": "ratio", "kind": "float", "low": 1.0, "high": 10.0, "default": 2.0, **fields}
    )
    return data


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # Optuna cannot sample a stepped log scale: every trial used to fail at suggest time.
        ({"log": True, "step": 1.0}, r"`step` is not supported when `log` is true"),
        # Optuna would silently move high to 9; the spec says 10.
        ({"step": 2.0, "default": 3.0}, r"range is not divisible by `step`"),
    ],
)
def test_optuna_checks_each_distribution_at_load(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=rf"^param\[\d+\] \(ratio\): Optuna rejects .*{message}"):
        parse_spec(_float_param(**fields), base_dir=REPO)


def test_params_carry_the_distribution_the_sampler_uses() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    spec = parse_spec(_float_param(log=True), base_dir=REPO)
    assert spec.param("ratio").distribution == FloatDistribution(1.0, 10.0, log=True)
    assert spec.param("num_shards").distribution == IntDistribution(1, 256, log=True)
    assert spec.param("response_pool.capacity").distribution == IntDistribution(0, 4096, step=32)
    allocator = spec.param("build.allocator").distribution
    assert isinstance(allocator, CategoricalDistribution)
    assert list(allocator.choices) == list(spec.param("build.allocator").choices)
