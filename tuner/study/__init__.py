"""One study's life: open it, run the trial loop, account the budget, recover dead workers.

Each job has its own private module, as in Optuna's ``optuna.study``: ``_optimize`` (the
loop), ``_racing`` (stop a trial clearly worse than the incumbent), ``_budget``,
``_recovery``, ``_heartbeat``, ``_attrs`` (the trial-attribute codec shared with
finalize), ``_paths``, ``_workers`` (worker ids), ``_open`` and ``_finalize_claim`` (which
one worker finalizes). Import from ``tuner.study``; the private modules may move.
"""

from tuner.study._attrs import (
    DETAIL_ATTR,
    FAILURE_BUDGET,
    FAILURE_CONSTRAINT,
    FAILURE_ERROR,
    FAILURE_INTERRUPTED,
    FAILURE_RUNNER,
    MEASURED_TRIAL_ATTRS,
    MEMORY_TRIAL_ATTRS,
    STOP_RACED_OUT,
    measured_values,
    measurement_attrs,
    measurement_detail,
    measurement_fields,
    memory_fields,
)
from tuner.study._budget import budget_used, counts_toward_budget
from tuner.study._finalize_claim import (
    FinalizeClaim,
    FinalizeRefused,
    claim_finalize,
    wait_for_running_trials,
)
from tuner.study._heartbeat import heartbeat_interval
from tuner.study._open import StudyError, enqueue_defaults_once, open_study
from tuner.study._optimize import (
    MAX_CONSECUTIVE_ERRORS,
    MAX_CONSECUTIVE_REJECTIONS,
    RunOptions,
    RunSummary,
    StudyLoop,
    suggest,
)
from tuner.study._paths import STUDIES_DIR_ENV, pids_dir, studies_dir, study_dir
from tuner.study._recovery import (
    MAX_RETRIES,
    fail_dead_workers,
    on_stale_trial,
    reap_dead_workers,
    requeue,
)
from tuner.study._sink import ProgressFactory, ProgressSink
from tuner.study._workers import worker_id

__all__ = [
    "DETAIL_ATTR",
    "FAILURE_BUDGET",
    "FAILURE_CONSTRAINT",
    "FAILURE_ERROR",
    "FAILURE_INTERRUPTED",
    "FAILURE_RUNNER",
    "MAX_CONSECUTIVE_ERRORS",
    "MAX_CONSECUTIVE_REJECTIONS",
    "MAX_RETRIES",
    "MEASURED_TRIAL_ATTRS",
    "MEMORY_TRIAL_ATTRS",
    "STOP_RACED_OUT",
    "STUDIES_DIR_ENV",
    "FinalizeClaim",
    "FinalizeRefused",
    "ProgressFactory",
    "ProgressSink",
    "RunOptions",
    "RunSummary",
    "StudyError",
    "StudyLoop",
    "budget_used",
    "claim_finalize",
    "counts_toward_budget",
    "enqueue_defaults_once",
    "fail_dead_workers",
    "heartbeat_interval",
    "measured_values",
    "measurement_attrs",
    "measurement_detail",
    "measurement_fields",
    "memory_fields",
    "on_stale_trial",
    "open_study",
    "pids_dir",
    "reap_dead_workers",
    "requeue",
    "studies_dir",
    "study_dir",
    "suggest",
    "wait_for_running_trials",
    "worker_id",
]
