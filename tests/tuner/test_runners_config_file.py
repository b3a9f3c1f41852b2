"""Dotted runtime params become the server's nested TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from tuner.runners.config_file import ConfigFileError, nest, render, write_config


def test_dotted_keys_nest_into_tables(tmp_path: Path) -> None:
    params = {
        "num_shards": 8,
        "threads": np.int64(2),
        "response_pool.capacity": 448,
        "response_pool.buffer_size": 4096,
        "buffers.read_size": 16384,
        "batching.batch_threshold": 5,
        "a.b.c": 1.5,
        "mode": "fast",
    }
    path = write_config(params, tmp_path / "sub" / "perf_config.toml")
    parsed = tomllib.loads(path.read_text())
    assert parsed == {
        "num_shards": 8,
        "threads": 2,
        "mode": "fast",
        "response_pool": {"capacity": 448, "buffer_size": 4096},
        "buffers": {"read_size": 16384},
        "batching": {"batch_threshold": 5},
        "a": {"b": {"c": 1.5}},
    }
    assert nest(params) == parsed
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp files left


def test_conflicting_or_bad_keys_are_named() -> None:
    with pytest.raises(ConfigFileError, match=r"'buffers\.read_size' conflicts with 'buffers'"):
        nest({"buffers": 1, "buffers.read_size": 2})
    with pytest.raises(ConfigFileError, match=r"'a\.\.b'"):
        nest({"a..b": 1})
    with pytest.raises(ConfigFileError, match="'x': list"):
        render({"x": [1, 2]})


@pytest.mark.parametrize("config_format", ["toml", "redis", "json"])
def test_parse_reads_back_what_render_wrote(config_format: str) -> None:
    params = {"hz": 22, "ratio": 0.5, "activedefrag": "no", "dir": 'a "b"\\c\n\x01 é'}
    if config_format != "redis":
        params["pool.capacity"] = 448
    from tuner.runners.config_file import parse

    assert parse(render(params, config_format), config_format) == params


def test_parse_names_a_bad_line() -> None:
    from tuner.runners.config_file import parse

    with pytest.raises(ConfigFileError, match="line 2: 'hz' has no value"):
        parse("io-threads 1\nhz\n", "redis")
    with pytest.raises(ConfigFileError, match="line 1: unbalanced quotes"):
        parse('dir "abc\n', "redis")
