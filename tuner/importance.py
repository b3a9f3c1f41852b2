"""Param importance against a permutation null: which importances stand out of noise.

PED-ANOVA (the dashboard's importance) ranks every param, dead or not: after 10 trials the
top 10% is one trial, and whichever values it happens to hold look "important". To tell a
param's importance from chance, each param gets permuted copies (its own values shuffled
across the trials, which cuts any link to fitness but keeps the values it was sampled at)
and the same evaluator scores them beside it. Under the null (the param does nothing) the
param and its copies are exchangeable, so the share of copies scoring at least as high is
a permutation p-value. Holm over the params keeps the chance of calling any dead param
live at ``alpha``. A param the sampler moved together with a live one (CMA-ES converging)
can still stand out: the test says "not chance", not "causal".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.importance._ped_anova.scott_parzen_estimator import build_parzen_estimator_on_grid
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from benchmark.significance import holm

__all__ = [
    "ALPHA",
    "ParamImportance",
    "describe",
    "importance_vs_null",
    "permutations_for",
    "verdict",
]

#: Family-wise level over the params: a dead param is called live at most this often.
ALPHA = 0.05
#: The 1 - NULL_QUANTILE upper quantile of the copies' importance is shown as "null".
NULL_QUANTILE = 0.95


@dataclass(frozen=True)
class ParamImportance:
    """One param's importance (normalised as the dashboard's) beside its permutation null."""

    name: str
    importance: float
    #: The NULL_QUANTILE quantile of its permuted copies' importance, on the same scale.
    null_high: float
    p_value: float
    #: Holm-significant at ALPHA over the params: told apart from chance.
    distinguishable: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def permutations_for(n_params: int, alpha: float = ALPHA) -> int:
    """Copies per param: enough that Holm's first threshold (alpha / n) can be reached."""
    return max(199, math.ceil(1.5 * n_params / alpha))


def _target(study: optuna.Study, index: int) -> Callable[[FrozenTrial], float]:
    """Lower is better, as PED-ANOVA wants: maximised objectives are negated."""
    if study.directions[index] == StudyDirection.MAXIMIZE:
        return lambda t: -t.values[index]
    return lambda t: t.values[index]


def _top(
    trials: Sequence[FrozenTrial], target: Callable[[FrozenTrial], float], quantile: float
) -> set[int]:
    """Indices of the top ``quantile`` of ``trials`` (ties kept), as PED-ANOVA picks them."""
    loss = np.asarray([target(t) for t in trials])
    cutoff = float(
        np.partition(loss, math.ceil(quantile * loss.size) - 1)[math.ceil(quantile * loss.size) - 1]
    )
    return {i for i, x in enumerate(loss) if x <= cutoff}


@dataclass(frozen=True)
class _Values:
    """What the Parzen estimator reads of a trial: its params."""

    params: dict[str, Any]


def _divergences(
    name: str,
    dist: BaseDistribution,
    values: Sequence[Any],
    tops: Sequence[Sequence[int]],
    evaluator: PedAnovaImportanceEvaluator,
) -> list[float]:
    """PED-ANOVA's Pearson divergence of ``name`` for each top set (indices into ``values``)
    against all of ``values``: the evaluator's own estimator, the region's density once."""
    steps, prior = evaluator._n_steps, evaluator._prior_weight
    everyone = [_Values({name: v}) for v in values]
    region, size = build_parzen_estimator_on_grid(name, dist, everyone, steps, prior)  # type: ignore[arg-type]
    grid = np.arange(size)
    pdf_region = region.pdf(grid) + 1e-12
    out = []
    for top in tops:
        chosen = [everyone[i] for i in top]
        estimator, _ = build_parzen_estimator_on_grid(name, dist, chosen, steps, prior)  # type: ignore[arg-type]
        pdf_top = estimator.pdf(grid) + 1e-12
        out.append(float(pdf_region @ ((pdf_top / pdf_region - 1) ** 2)))
    return out


def importance_vs_null(
    study: optuna.Study,
    objective: int = 0,
    *,
    permutations: int | None = None,
    alpha: float = ALPHA,
    seed: int = 0,
) -> list[ParamImportance]:
    """Each param's PED-ANOVA importance for objective ``objective`` (normalised as the
    dashboard's) with its permutation p-value and verdict, most important first; [] below
    2 complete trials. Deterministic for a given ``seed``, so show and report agree.

    A permuted copy of a param puts a random draw of its values (as many as the top
    trials hold) in the top set, so each copy is scored by the evaluator's own Parzen
    estimator on that draw; the all-trials density is the param's own and is built once.
    """
    target = _target(study, objective)
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if math.isfinite(target(t))
    ]
    if len(trials) < 2:
        return []
    evaluator = PedAnovaImportanceEvaluator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shown = get_param_importances(study, target=target, evaluator=evaluator)
    distributions: dict[str, BaseDistribution] = {}
    for t in trials:
        distributions.update(t.distributions)
    names = sorted(distributions)
    copies = permutations or permutations_for(len(names), alpha)
    top = _top(trials, target, evaluator._target_quantile)
    rng = np.random.default_rng(seed)
    p_values, nulls, real = [], [], {}
    for name in names:
        # A conditional param is judged among the trials that have it.
        holders = [i for i, t in enumerate(trials) if name in t.params]
        values = [trials[i].params[name] for i in holders]
        in_top = [j for j, i in enumerate(holders) if i in top]
        draws = [rng.permutation(len(values))[: len(in_top)].tolist() for _ in range(copies)]
        scores = _divergences(name, distributions[name], values, [in_top, *draws], evaluator)
        real[name], null = scores[0], np.asarray(scores[1:])
        # Ties count against the param; one PED-ANOVA scores 0 is never live.
        beaten = int(np.sum(null >= real[name])) if in_top and real[name] > 0 else copies
        p_values.append((1 + beaten) / (1 + copies))
        # On the dashboard's normalised scale: the copy's share of the real total.
        nulls.append(float(np.quantile(null, NULL_QUANTILE)))
    total = sum(real.values())
    scale = 1.0 / total if total > 0 else 0.0
    live = holm(p_values, alpha)
    result = [
        ParamImportance(name, float(shown.get(name, 0.0)), null_high * scale, p, bool(is_live))
        for name, null_high, p, is_live in zip(names, nulls, p_values, live, strict=True)
    ]
    return sorted(result, key=lambda r: -r.importance)


def verdict(row: ParamImportance) -> str:
    """Short label for tables: ``live`` or ``~ null`` (not told apart from chance)."""
    return "live" if row.distinguishable else "~ null"


def describe(rows: Sequence[ParamImportance]) -> str:
    """One line naming the params whose importance is indistinguishable from chance."""
    dead = [r.name for r in rows if not r.distinguishable]
    if not dead:
        return "every param's importance stands out of its permutation null"
    return f"importance indistinguishable from a permuted copy (Holm, {ALPHA:.0%}): " + ", ".join(
        dead
    )
