"""Statistics of paired repetitions: per-test median ratios, fitness and their CIs.

Each repetition r measures every unit u (test@pipeline) on both servers back to back, so
ratio[r, u] = candidate rps / baseline rps shares whatever disturbed the machine at that
moment. We take the **median of the per-repetition ratios**, not the ratio of the two
servers' median rps: the ratio of medians throws the pairing away (candidate and baseline
medians may come from different, differently-disturbed repetitions), while the median of
paired ratios cancels drift common to both runs of a pair and ignores a minority of
pairs hit by a burst of load. Medians of ratios are also symmetric: swapping candidate
and baseline inverts the estimate exactly (up to even-count averaging).

Each unit's median CI is the exact, distribution-free order-statistic interval
[x_(l), x_(n+1-l)] with l from the binomial(n, 1/2) law: it covers the true median with
at least the nominal probability for any continuous noise (a percentile bootstrap of a
median covered 88-94% at n = 6-10).

Fitness = weighted geometric mean of the per-unit medians x 100. Its CI resamples
*repetition indices* jointly for all units (one bootstrap sample picks whole
repetitions), so units disturbed together in one repetition stay correlated and the
interval is not falsely narrow. The percentile interval is *expanded* for small n
(Hesterberg 2015): its tail probability is the normal tail at sqrt(n/(n-1)) t_{n-1},
which lifts its coverage from 94-96% to 96-97% at n = 6-30 (``python -m benchmark
coverage`` prints the table).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats

DEFAULT_RESAMPLES = 4000

FloatArray = NDArray[np.float64]


def weighted_geomean(
    values: Sequence[float] | FloatArray, weights: Sequence[float] | FloatArray
) -> float:
    """exp(sum w log v / sum w); values must be positive."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if v.shape != w.shape or v.size == 0:
        raise ValueError(f"values {v.shape} and weights {w.shape} must be equal, non-empty")
    if np.any(v <= 0) or not np.all(np.isfinite(v)):
        raise ValueError(f"geometric mean needs finite positive values, got {v.tolist()}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be >= 0 and not all zero, got {w.tolist()}")
    return float(np.exp(np.sum(w * np.log(v)) / w.sum()))


def fitness(ratios: FloatArray, weights: Sequence[float]) -> float:
    """Percent of the baseline: weighted geomean of per-unit median ratios x 100.

    ``ratios`` has one row per repetition and one column per unit.
    """
    r = _check(ratios, weights)
    return 100.0 * weighted_geomean(np.median(r, axis=0), weights)


def _check(ratios: FloatArray, weights: Sequence[float]) -> FloatArray:
    r = np.asarray(ratios, dtype=float)
    if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] != len(weights):
        raise ValueError(f"ratios must be (repetitions, {len(weights)} units), got {r.shape}")
    if np.any(r <= 0) or not np.all(np.isfinite(r)):
        raise ValueError("ratios must be finite and positive")
    return r


def min_repetitions_for(confidence: float) -> int:
    """Fewest repetitions whose median CI can reach ``confidence`` coverage.

    No interval between order statistics reaches beyond the sample's min and max, and
    [min, max] of n draws covers the true median with probability 1 - 2 * 0.5**n (75% for
    n = 3, 97% for n = 6). Below this n the interval is narrower than it claims, so the
    adaptive stop must not trust it: 6 at 95%, 11 at 99.9%.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return max(2, math.ceil(math.log2(2.0 / (1.0 - confidence)) - 1e-9))


def order_statistic_ranks(n: int, confidence: float) -> tuple[int, int]:
    """0-based ranks (j, n - 1 - j) of the exact median CI [x_(j), x_(n-1-j)] of n sorted draws.

    The median lies below x_(j) only when at most j draws fall below it, B <= j for
    B ~ Binomial(n, 1/2); so the interval covers with probability 1 - 2 P(B <= j), and j is
    the largest rank with P(B <= j) <= (1 - confidence) / 2. When n is too small for any
    (n < :func:`min_repetitions_for`), it is [min, max], which then covers less than it claims.
    """
    if n < 1:
        raise ValueError(f"need at least one value, got n = {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = (1.0 - confidence) / 2.0
    j = int(scipy_stats.binom.ppf(alpha, n, 0.5))
    while j >= 0 and scipy_stats.binom.cdf(j, n, 0.5) > alpha:
        j -= 1
    j = max(j, 0)
    return j, n - 1 - j


def median_ci(
    values: Sequence[float] | FloatArray, confidence: float = 0.95
) -> tuple[float, float]:
    """Exact order-statistic CI of the median (see :func:`order_statistic_ranks`)."""
    x = np.sort(np.asarray(values, dtype=float))
    lo, hi = order_statistic_ranks(x.size, confidence)
    return float(x[lo]), float(x[hi])


def median_coverage(n: int, confidence: float) -> float:
    """The exact coverage of :func:`median_ci` for n draws of any continuous variable."""
    j, _ = order_statistic_ranks(n, confidence)
    return float(1.0 - 2.0 * scipy_stats.binom.cdf(j, n, 0.5))


def expanded_confidence(n: int, confidence: float) -> float:
    """The percentile level an n-sample bootstrap needs to reach ``confidence``.

    Hesterberg's expanded percentile interval: a percentile bootstrap is as narrow as a
    z-interval with the plug-in (divide by n) spread, so it misses a t_{n-1} quantile and
    the n / (n - 1) of the sample variance. The expanded level's normal quantile is
    sqrt(n / (n - 1)) t_{n-1}, e.g. 95% -> 99.5% at n = 6, 98.3% at n = 10, 96.3% at 30.
    """
    if n < 2:
        return confidence
    quantile = math.sqrt(n / (n - 1)) * float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1))
    return float(2.0 * scipy_stats.norm.cdf(quantile) - 1.0)


@dataclass(frozen=True)
class Bootstrap:
    """Point estimates and CIs: fitness from one joint bootstrap over repetitions (expanded
    percentile), each unit's median from its exact order-statistic interval."""

    fitness: float
    fitness_low: float
    fitness_high: float
    unit_median: tuple[float, ...]
    unit_low: tuple[float, ...]
    unit_high: tuple[float, ...]

    @property
    def half_width_pct(self) -> float:
        """Fitness CI half-width as a percentage of the fitness."""
        return 100.0 * (self.fitness_high - self.fitness_low) / (2.0 * self.fitness)


def bootstrap(
    ratios: FloatArray,
    weights: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> Bootstrap:
    """Fitness CI by an expanded percentile bootstrap over repetitions; per-unit median
    CIs by exact order statistics (no resampling)."""
    r = _check(ratios, weights)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = rng if rng is not None else np.random.default_rng()
    w = np.asarray(weights, dtype=float)
    n = r.shape[0]
    idx = rng.integers(0, n, size=(resamples, n))
    medians = np.median(r[idx], axis=1)  # (resamples, units)
    fit = 100.0 * np.exp(np.log(medians) @ w / w.sum())
    alpha = (1.0 - expanded_confidence(n, confidence)) / 2.0
    f_low, f_high = np.quantile(fit, [alpha, 1.0 - alpha])
    lo, hi = order_statistic_ranks(n, confidence)
    ordered = np.sort(r, axis=0)
    u_low, u_high = ordered[lo], ordered[hi]
    point = np.median(r, axis=0)
    return Bootstrap(
        fitness=100.0 * weighted_geomean(point, w),
        fitness_low=float(f_low),
        fitness_high=float(f_high),
        unit_median=tuple(float(x) for x in point),
        unit_low=tuple(float(x) for x in u_low),
        unit_high=tuple(float(x) for x in u_high),
    )
