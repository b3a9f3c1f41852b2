"""Sampler and pruner choice for a study spec.

``auto`` picks CMA-ES for single-objective studies and NSGA-II for Pareto studies (the
defaults the sampler comparison benchmark is meant to confirm). CMA-ES cannot sample
categorical params (such as ``build.allocator``): those go to its
independent sampler, TPE, which learns from the same trials. Integer and stepped params
use CMA-ES with margin, which keeps the discrete dimensions from collapsing.

CMA-ES starts at the spec's defaults (``x0``: Optuna maps each value through the same
log/step/[0, 1] transform it samples in) with step size ``sampler.sigma0`` (a fraction of
each scaled range; Optuna's default is 1/6), unless it is warm-started from an earlier
study's trials (``source_trials``; Optuna forbids both at once).
"""

from __future__ import annotations

import importlib.util
import warnings

import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    NSGAIISampler,
    RandomSampler,
    TPESampler,
)
from optuna.trial import FrozenTrial

from tuner.spec import StudySpec

SAMPLERS = ("auto", "cmaes", "nsga2", "tpe", "gp", "random")
SINGLE_OBJECTIVE_ONLY = ("cmaes",)
#: Trials a median pruner waits for before it prunes anything.
PRUNER_STARTUP_TRIALS = 5
#: Repetitions every trial runs before it can be pruned (two are pure noise at CV ~10%).
PRUNER_WARMUP_REPETITIONS = 3


class SamplerError(ValueError):
    """A sampler that cannot be used for this spec or on this install."""


def resolve_name(name: str, spec: StudySpec) -> str:
    """The concrete sampler name for ``name`` (``auto`` resolved by objective)."""
    if name not in SAMPLERS:
        raise SamplerError(f"--sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    if name == "auto":
        return "nsga2" if spec.objective.is_multi else "cmaes"
    if name in SINGLE_OBJECTIVE_ONLY and spec.objective.is_multi:
        raise SamplerError(
            f"--sampler {name}: CMA-ES is single-objective; this study is Pareto "
            "(objective.kind = 'pareto'); use nsga2, tpe, gp or random"
        )
    return name


def cmaes_x0(spec: StudySpec) -> dict[str, float | int]:
    """The defaults of the params CMA-ES samples (categoricals go to its independent sampler)."""
    return {p.name: p.default for p in spec.params if p.kind != "categorical"}


def make_sampler(
    name: str,
    spec: StudySpec,
    seed: int | None = None,
    source_trials: list[FrozenTrial] | None = None,
    x0: dict[str, float | int] | None = None,
) -> BaseSampler:
    """Build the sampler ``name`` for ``spec``; raises SamplerError with the fix.

    ``source_trials`` (CMA-ES only) warm-starts the search from an earlier study's trials
    instead of from the defaults; they must carry only the CMA-ES params' distributions.
    ``x0`` (CMA-ES only) overrides the start (default: the spec's defaults).
    """
    name = resolve_name(name, spec)
    if name == "cmaes":
        discrete = any(p.kind == "int" or p.step is not None for p in spec.params)
        warm = bool(source_trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # x0 and sigma0 are deprecated in Optuna 4.9 (still supported until 6.0).
            warnings.simplefilter("ignore", FutureWarning)
            return CmaEsSampler(
                x0=None if warm else (x0 or cmaes_x0(spec)),
                sigma0=None if warm else spec.sampler.sigma0,
                source_trials=source_trials if warm else None,
                seed=seed,
                with_margin=discrete,
                independent_sampler=TPESampler(seed=seed, multivariate=True),
                warn_independent_sampling=False,
                # A pruned trial's last running fitness is an honest (noisy) value.
                consider_pruned_trials=True,
                popsize=spec.sampler.population_size,
            )
    if name == "nsga2":
        population = spec.sampler.population_size or _population_for(spec.budget.trials)
        return NSGAIISampler(seed=seed, population_size=population)
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise SamplerError(
                "--sampler gp needs PyTorch, which is an optional extra: "
                "pip install 'redisevolve[gp]' (or pip install torch)"
            )
        from optuna.samplers import GPSampler

        return GPSampler(seed=seed)
    return RandomSampler(seed=seed)


def make_pruner(spec: StudySpec) -> BasePruner:
    """Median pruning when the spec asks for it, else none.

    Racing (the default, ``objective.pruner = "racing"``) is not an Optuna pruner: the
    study loop stops a trial against the incumbent itself (tuner.study._racing), so
    Optuna's pruner is then NopPruner.

    MedianPruner, not WilcoxonPruner: each reported value is the running estimate after
    k repetitions (cumulative, so not independent per-step instances as Wilcoxon
    assumes), and running estimates at the same k are comparable across trials.
    """
    if spec.objective.is_multi or spec.objective.pruner != "median":
        return NopPruner()
    return MedianPruner(
        n_startup_trials=PRUNER_STARTUP_TRIALS,
        n_warmup_steps=PRUNER_WARMUP_REPETITIONS,  # steps are 1-based repetitions
    )


def _population_for(trials: int) -> int:
    # Optuna's default of 50 leaves a 100-trial study with two generations; aim for >= 5.
    return max(8, min(50, trials // 5))
