"""``extends``: a spec that starts from another and replaces whole sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]

BASE = """
[study]
name = "base"
[target]
workdir = "."
build_command = ["true"]
binary = "/bin/true"
args = ["--config", "{config}", "--port", "{port}"]
[baseline]
binary = "/bin/true"
args = ["--port", "{port}"]
[[param]]
name = "num_shards"
kind = "int"
low = 1
high = 64
default = 16
[[param]]
name = "threads"
kind = "int"
low = 1
high = 2
default = 1
[workload]
tests = ["set", "get"]
pipelines = [1, 16]
data_size = 32
[[workload.dataset]]
kind = "string"
keys = 100
value_size = 8
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_section_the_spec_has_replaces_the_base_one_wholesale(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", BASE)
    child = _write(tmp_path, "child.toml", """
extends = "base.toml"
[study]
name = "child"
[workload]
tests = ["hset"]
pipelines = [16]
""")  # fmt: skip
    spec = load_spec(child)
    assert spec.name == "child"
    assert spec.workload.tests == ("hset",) and spec.workload.pipelines == (16,)
    # Replaced, not merged: the base's data_size and its dataset are gone with its [workload].
    assert spec.workload.data_size == 64  # the default, not the base's 32
    assert spec.datasets == ()
    # Sections the child does not name come from the base.
    assert [p.name for p in spec.params] == ["num_shards", "threads"]
    assert spec.target.binary == "/bin/true"
    # The study keeps the merged spec, so a resumed study needs no base file.
    assert "extends" not in spec.raw and spec.raw["param"][0]["name"] == "num_shards"


def test_extends_errors_name_the_field(tmp_path: Path) -> None:
    missing = _write(tmp_path, "missing.toml", 'extends = "nope.toml"\n[study]\nname = "m"\n')
    with pytest.raises(SpecError, match=r"missing.toml: extends: .*nope.toml"):
        load_spec(missing)
    _write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    loop = _write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(SpecError, match="extends: a cycle"):
        load_spec(loop)
    bad = _write(tmp_path, "bad.toml", "extends = 3\n")
    with pytest.raises(SpecError, match="extends: must be the path of a spec file, got 3"):
        load_spec(bad)
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "base.toml", BASE)
    elsewhere = _write(tmp_path, "elsewhere.toml", 'extends = "sub/base.toml"\n')
    with pytest.raises(SpecError, match="must sit beside it"):
        load_spec(elsewhere)
