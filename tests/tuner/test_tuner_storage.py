"""Storage URLs: the default, env override, psycopg 3 for postgres, SQLite dirs, errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tuner.storage import (
    DEFAULT_STORAGE_URL,
    StorageError,
    default_storage_url,
    normalise_url,
    open_storage,
    redact,
)


def test_default_url_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    assert default_storage_url() == DEFAULT_STORAGE_URL == "sqlite:///studies/tuner.db"
    monkeypatch.setenv("TUNER_STORAGE", "postgresql://u@h/db")
    assert default_storage_url() == "postgresql://u@h/db"


def test_postgres_urls_use_the_installed_psycopg3_driver() -> None:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
        assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_parent_directory_is_created_and_reopened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/tuner.db"
    storage = open_storage(url)
    optuna.create_study(study_name="a", storage=storage)
    assert (tmp_path / "deep" / "er" / "tuner.db").is_file()
    again = open_storage(url, heartbeat_interval=None)
    assert [s.study_name for s in optuna.get_all_study_summaries(again)] == ["a"]


def test_bad_urls_are_storage_errors_without_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tuner.storage.CREATE_ATTEMPTS", 1)
    with pytest.raises(StorageError, match="expected a database URL"):
        open_storage("studies/tuner.db")
    with pytest.raises(StorageError) as info:
        open_storage("postgresql://me:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value) and "me:***@127.0.0.1:1" in str(info.value)
    assert redact("postgresql://me:secret@h/db") == "postgresql://me:***@h/db"
