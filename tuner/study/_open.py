"""Create a study, or load it to resume; the default config is queued once per study."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage

from tuner.samplers import make_pruner, make_sampler, resolve_name
from tuner.spec import StudySpec


class StudyError(RuntimeError):
    """The study cannot run as asked (wrong spec for an existing study, ...)."""


def open_study(
    spec: StudySpec,
    storage: BaseStorage,
    *,
    study_name: str | None = None,
    sampler: str = "auto",
    seed: int | None = None,
) -> optuna.Study:
    """Create the study, or load it to resume; refuse a changed search space."""
    name = study_name or spec.name
    sampler_name = resolve_name(sampler, spec)
    chosen = make_sampler(sampler_name, spec, seed)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=chosen,
            pruner=make_pruner(spec),
            directions=spec.objective.directions,
            load_if_exists=True,
        )
    except ValueError as exc:
        raise StudyError(
            f"study {name!r} exists with other objectives ({exc}); use another --study name"
        ) from None
    key = json.loads(json.dumps(spec.search_space_key()))
    stored = study.user_attrs.get("search_space")
    if stored is None:
        study.set_user_attr("search_space", key)
        study.set_user_attr("spec", spec.to_dict())
        study.set_metric_names(spec.objective.metric_names)
    elif _space_shape(stored) != _space_shape(key):
        raise StudyError(
            f"study {name!r} was created with a different search space (params, constraints "
            "or objective differ from this spec); resume it with its original spec or pick "
            "a new --study name"
        )
    study.set_user_attr("sampler", sampler_name)
    return study


def _space_shape(key: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable part of a stored search_space (older studies stored more fields)."""
    shape = ("name", "kind", "low", "high", "step", "log", "choices", "stage")
    params = [{k: p[k] for k in shape if k in p} for p in key.get("param", [])]
    return {**key, "param": params}


def enqueue_defaults_once(study: optuna.Study, spec: StudySpec) -> bool:
    """Queue the spec's default config as the first trial, once per study."""
    if study.user_attrs.get("default_enqueued"):
        return False
    # skip_if_exists narrows the race of two workers starting at once to one query apart.
    study.enqueue_trial(spec.defaults(), user_attrs={"source": "default"}, skip_if_exists=True)
    study.set_user_attr("default_enqueued", True)
    return True
