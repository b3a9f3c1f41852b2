"""Where a study's files live on disk: ``studies/NAME/`` under ``$TUNER_STUDIES_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

STUDIES_DIR_ENV = "TUNER_STUDIES_DIR"


def studies_dir() -> Path:
    """Where per-study files go: ``$TUNER_STUDIES_DIR`` or ``./studies``."""
    return Path(os.environ.get(STUDIES_DIR_ENV) or "studies")


def study_dir(name: str) -> Path:
    """``studies/NAME/``: best_config.toml, the workers' pid records, build logs."""
    return studies_dir() / name


def pids_dir(name: str) -> Path:
    """Where each worker records the servers it started (see tuner.pid_records.PidFile)."""
    return study_dir(name) / "pids"
