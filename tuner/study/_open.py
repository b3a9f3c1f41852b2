"""Create a study, or load it to resume; the default config is queued once per study.

A study may warm-start from an earlier study of the same target in the same storage
(``--warm-start``): CMA-ES gets the earlier trials as ``source_trials`` (its initial
mean, step and covariance are estimated from them), other samplers get the earlier
study's best configs queued after the default. The source's name is stored, so a resume
warm-starts the same way without the flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState, create_trial

from tuner.samplers import cmaes_x0, make_pruner, make_sampler, resolve_name
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
    warm_start: str | None = None,
) -> optuna.Study:
    """Create the study, or load it to resume; refuse a changed search space.

    ``warm_start`` names an earlier study of the same target in ``storage`` to start from
    (see the module docstring); StudyError names what is wrong with it.
    """
    name = study_name or spec.name
    sampler_name = resolve_name(sampler, spec)
    if warm_start is None:
        warm_start = _stored_warm_start(storage, name)
    source = _warm_start_trials(spec, storage, warm_start, name) if warm_start else []
    cma_source = _cmaes_source_trials(spec, source) if sampler_name == "cmaes" else []
    x0 = None
    if len(cma_source) < MIN_CMAES_SOURCE_TRIALS:
        # Too few to estimate a distribution from: start at the earlier best config.
        best = _best_configs(spec, source, 1)
        x0 = {n: best[0][n] for n in cmaes_x0(spec)} if best else None
        cma_source = []
    chosen = make_sampler(sampler_name, spec, seed, source_trials=cma_source or None, x0=x0)
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
    if warm_start:
        previous = study.user_attrs.get("warm_start")
        if previous not in (None, warm_start):
            raise StudyError(
                f"--warm-start {warm_start!r}: study {name!r} was warm-started from "
                f"{previous!r}; a study starts from one earlier study"
            )
        study.set_user_attr("warm_start", warm_start)
        if sampler_name != "cmaes" and not study.user_attrs.get("warm_start_enqueued"):
            enqueue_defaults_once(study, spec)  # the default still runs first
            for config in _best_configs(spec, source, WARM_START_CONFIGS):
                study.enqueue_trial(
                    config, user_attrs={"source": f"warm-start:{warm_start}"}, skip_if_exists=True
                )
            study.set_user_attr("warm_start_enqueued", True)
    return study


#: Best configs of the earlier study queued for samplers other than CMA-ES.
WARM_START_CONFIGS = 5
#: CMA-ES's warm start estimates its distribution from the best 10% of the source trials
#: (cmaes.get_warm_start_mgd): below 10 it starts at the earlier best config instead.
MIN_CMAES_SOURCE_TRIALS = 10


def _stored_warm_start(storage: BaseStorage, name: str) -> str | None:
    """The warm-start source a resumed study was created with, if any."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    value = storage.get_study_user_attrs(study_id).get("warm_start")
    return value if isinstance(value, str) else None


def _warm_start_trials(
    spec: StudySpec, storage: BaseStorage, source: str, name: str
) -> list[FrozenTrial]:
    """The earlier study's measured trials; StudyError if it is not a study of this target."""
    if source == name:
        raise StudyError(f"--warm-start {source!r}: a study cannot warm-start from itself")
    try:
        earlier = optuna.load_study(study_name=source, storage=storage)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyError(
            f"--warm-start {source!r}: no such study in this storage "
            f"(studies: {', '.join(known) or 'none'})"
        ) from None
    theirs = earlier.user_attrs.get("spec") or {}
    mine = spec.to_dict()
    if (theirs.get("target") or {}).get("binary") != (mine.get("target") or {}).get("binary"):
        raise StudyError(
            f"--warm-start {source!r}: it measured another target "
            f"({(theirs.get('target') or {}).get('binary')!r}, this spec "
            f"{spec.target.binary!r})"
        )
    if len(earlier.directions) != len(spec.objective.directions):
        raise StudyError(f"--warm-start {source!r}: it has another objective")
    their_params = {p.get("name") for p in theirs.get("param", [])}
    my_params = {p.name for p in spec.params}
    if their_params != my_params:
        missing = sorted(my_params - their_params)
        extra = sorted(map(str, their_params - my_params))
        raise StudyError(
            f"--warm-start {source!r}: a different param set (not in it: "
            f"{', '.join(missing) or '-'}; only in it: {', '.join(map(str, extra)) or '-'})"
        )
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    measured = [
        t
        for t in earlier.get_trials(deepcopy=False, states=states)
        if t.values or t.intermediate_values
    ]
    if not measured:
        raise StudyError(f"--warm-start {source!r}: it has no measured trials")
    return measured


def _in_space(spec: StudySpec, params: Mapping[str, Any]) -> bool:
    """Whether every value lies in this spec's (possibly narrowed) distributions."""
    for p in spec.params:
        dist = p.distribution
        if dist is None or p.name not in params:
            return False
        try:
            if not dist._contains(dist.to_internal_repr(params[p.name])):
                return False
        except (ValueError, TypeError):
            return False
    return True


def _trial_value(t: FrozenTrial) -> float:
    if t.values:
        return float(t.values[0])
    return float(t.intermediate_values[max(t.intermediate_values)])


def _cmaes_source_trials(spec: StudySpec, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Earlier trials re-expressed over this spec's CMA-ES params (numeric, current ranges).

    Optuna accepts a source trial only when its distributions are exactly CMA-ES's search
    space: the categoricals (sampled by TPE) are left out, and trials outside a range the
    spec has since narrowed are dropped.
    """
    names = cmaes_x0(spec)
    dists = {
        p.name: p.distribution
        for p in spec.params
        if p.name in names and not isinstance(p.distribution, CategoricalDistribution)
    }
    out = []
    for t in trials:
        if not _in_space(spec, t.params):
            continue
        out.append(
            create_trial(
                params={n: t.params[n] for n in dists},
                distributions=dict(dists),  # type: ignore[arg-type]
                value=_trial_value(t),
            )
        )
    return out


def _best_configs(spec: StudySpec, trials: list[FrozenTrial], k: int) -> list[dict[str, Any]]:
    """The k best distinct in-space configs of the earlier study (single objective: fitness)."""
    ranked = sorted(
        (t for t in trials if t.values and _in_space(spec, t.params)),
        key=lambda t: t.values[0],
        reverse=spec.objective.directions[0] == optuna.study.StudyDirection.MAXIMIZE,
    )
    chosen: list[dict[str, Any]] = []
    for t in ranked:
        config = {p.name: t.params[p.name] for p in spec.params}
        if config != spec.defaults() and config not in chosen:
            chosen.append(config)
        if len(chosen) >= k:
            break
    return chosen


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
