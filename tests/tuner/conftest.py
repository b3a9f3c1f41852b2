"""Shared helpers for tuner-core tests: a spec in a temp dir and an isolated storage."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tuner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Storage and study files under tmp_path (never the repo's studies/)."""
    monkeypatch.setenv("TUNER_STORAGE", f"sqlite:///{tmp_path}/tuner.db")
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    return tmp_path


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a copy of a shipped spec with edits and extra param constraints; returns the path."""

    def write(
        base: str = "redis-throughput",
        edit: Callable[[dict[str, Any]], None] | None = None,
        constraints: Sequence[str] = (),
    ) -> Path:
        shipped = REPO / "studies" / f"{base}.toml"
        path = shipped if shipped.exists() else REPO / "tests" / "data" / f"{base}.toml"
        data = tomllib.loads(path.read_text())
        data["target"]["workdir"] = str(REPO / "server")
        if constraints:
            data.setdefault("constraint", []).extend({"expr": c} for c in constraints)
        if edit is not None:
            edit(data)
        path = tmp_path / f"{base}-test.toml"
        path.write_text(tomli_w.dumps(data))
        return path

    return write
