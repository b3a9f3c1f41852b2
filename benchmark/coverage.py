"""Coverage of the CIs on synthetic data with a known truth (``python -m benchmark coverage``).

The synthetic paired ratios follow this machine's A/A noise (benchmark/README.md): four
units with per-pair log spreads of 7-15%, a shock shared by all units of a repetition
(the machine's momentary load), and heavy tails (Student t, 5 degrees of freedom). The
true ratio of every unit is known, so each interval either covers it or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmark import pooling, stats

__all__ = ["CoverageRow", "PoolingRow", "fitness_coverage", "pooling_coverage"]

#: Per-pair log spread of each synthetic unit (SET/GET at P1 and P16 on this machine).
UNIT_SIGMA = (0.07, 0.08, 0.12, 0.15)
#: Log spread of the shock all units of one repetition share.
SHARED_SIGMA = 0.04
TRUE_RATIO = 0.9
_T_DOF = 5


def synthetic_ratios(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """n repetitions x 4 units of paired ratios around TRUE_RATIO x exp(shift)."""
    sigma = np.asarray(UNIT_SIGMA)
    scale = math.sqrt(_T_DOF / (_T_DOF - 2))  # t noise with the given standard deviation
    noise = rng.standard_t(_T_DOF, (n, sigma.size)) * sigma / scale
    shared = rng.normal(0.0, SHARED_SIGMA, (n, 1))
    return np.exp(math.log(TRUE_RATIO) + shift + shared + noise)


@dataclass(frozen=True)
class CoverageRow:
    """Share of replicates whose CI held the truth, per method, at n repetitions."""

    n: int
    replicates: int
    unit_percentile: float
    unit_order_statistic: float
    unit_exact: float
    fitness_percentile: float
    fitness_expanded: float


def fitness_coverage(
    ns: Sequence[int] = (6, 10, 20, 30),
    *,
    replicates: int = 1000,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 2026,
) -> list[CoverageRow]:
    """Coverage of per-unit median CIs (percentile bootstrap vs order statistics) and of
    the fitness CI (plain vs expanded percentile), each at n repetitions."""
    rng = np.random.default_rng(seed)
    weights = [1.0] * len(UNIT_SIGMA)
    truth = 100.0 * TRUE_RATIO
    rows = []
    for n in ns:
        hits = np.zeros(4)
        alpha = (1.0 - confidence) / 2.0
        for _ in range(replicates):
            ratios = synthetic_ratios(rng, n)
            boot = stats.bootstrap(
                ratios, weights, confidence=confidence, resamples=resamples, rng=rng
            )
            # The plain percentile intervals, from a bootstrap of the same data.
            idx = rng.integers(0, n, size=(resamples, n))
            medians = np.median(ratios[idx], axis=1)
            fit = 100.0 * np.exp(np.log(medians).mean(axis=1))
            f_low, f_high = np.quantile(fit, [alpha, 1.0 - alpha])
            u_low, u_high = np.quantile(medians[:, 0], [alpha, 1.0 - alpha])
            hits += [
                u_low <= TRUE_RATIO <= u_high,
                boot.unit_low[0] <= TRUE_RATIO <= boot.unit_high[0],
                f_low <= truth <= f_high,
                boot.fitness_low <= truth <= boot.fitness_high,
            ]
        share = hits / replicates
        rows.append(
            CoverageRow(
                n,
                replicates,
                float(share[0]),
                float(share[1]),
                stats.median_coverage(n, confidence),
                float(share[2]),
                float(share[3]),
            )
        )
    return rows


@dataclass(frozen=True)
class PoolingRow:
    """Coverage of the pooled fitness CI over k rounds with restart spread ``tau``."""

    rounds: int
    repetitions: int
    tau: float
    replicates: int
    fixed_effect: float
    random_effects: float
    fixed_width_pct: float
    random_width_pct: float


def pooling_coverage(
    rounds: int = 4,
    repetitions: int = 6,
    taus: Sequence[float] = (0.0, 0.02, 0.04),
    *,
    replicates: int = 400,
    confidence: float = 0.95,
    resamples: int = 500,
    seed: int = 7,
) -> list[PoolingRow]:
    """Each round shifts the truth by N(0, tau) on the log scale (a server restart), then
    measures ``repetitions`` pairs; the pools of the rounds' fitness CIs either cover the
    true fitness or not."""
    rng = np.random.default_rng(seed)
    weights = [1.0] * len(UNIT_SIGMA)
    truth = math.log(100.0 * TRUE_RATIO)
    rows = []
    for tau in taus:
        hits = np.zeros(2)
        widths = np.zeros(2)
        for _ in range(replicates):
            logs, ses = [], []
            for _ in range(rounds):
                boot = stats.bootstrap(
                    synthetic_ratios(rng, repetitions, rng.normal(0.0, tau) if tau else 0.0),
                    weights,
                    confidence=confidence,
                    resamples=resamples,
                    rng=rng,
                )
                logs.append(math.log(boot.fitness))
                ses.append(pooling.se_from_ci(boot.fitness_low, boot.fitness_high, confidence))
            for i, pool in enumerate(
                (pooling.fixed_effect(logs, ses), pooling.random_effects(logs, ses))
            ):
                low, high = pool.interval(confidence)
                hits[i] += low <= truth <= high
                widths[i] += (math.exp(high - low) - 1.0) * 50.0
        rows.append(
            PoolingRow(
                rounds,
                repetitions,
                tau,
                replicates,
                float(hits[0] / replicates),
                float(hits[1] / replicates),
                float(widths[0] / replicates),
                float(widths[1] / replicates),
            )
        )
    return rows
