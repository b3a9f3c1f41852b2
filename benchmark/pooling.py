"""Pooling repeated measurements of one quantity (rounds) with a random-effects model.

Each finalize round restarts the servers, and restarts differ: a round's estimate moves by
more than its own CI says. DerSimonian-Laird estimates that between-round variance tau^2
from the rounds' scatter and adds it to every round's variance, so the pooled CI widens
with it; a fixed-effect pool (tau^2 = 0) narrows as 1/sqrt(rounds) whatever the scatter,
and with restart-to-restart spread it covers far below its nominal level. The interval
uses Student's t with k - 1 degrees of freedom (DL with z covers about 85-90% at k = 3-6).
Everything is on the log scale, where ratios of throughputs are additive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats as scipy_stats

__all__ = ["Pooled", "fixed_effect", "random_effects", "se_from_ci"]


@dataclass(frozen=True)
class Pooled:
    """A pooled log-scale estimate: ``estimate`` +- quantile x ``se``; ``tau2`` is the
    between-round variance that went into ``se``; ``dof`` None means a normal quantile."""

    estimate: float
    se: float
    tau2: float
    k: int
    dof: int | None

    def quantile(self, confidence: float) -> float:
        """Two-sided quantile for ``confidence``."""
        p = 0.5 + confidence / 2.0
        if self.dof is None:
            return NormalDist().inv_cdf(p)
        return float(scipy_stats.t.ppf(p, self.dof))

    def interval(self, confidence: float) -> tuple[float, float]:
        """Log-scale CI at ``confidence``."""
        half = self.quantile(confidence) * self.se
        return self.estimate - half, self.estimate + half

    def p_above(self, threshold: float) -> float:
        """One-sided p-value of H0: true value <= ``threshold`` (small: clearly above it)."""
        if self.se <= 0:
            return 0.0 if self.estimate > threshold else 1.0
        t = (self.estimate - threshold) / self.se
        if self.dof is None:
            return 1.0 - NormalDist().cdf(t)
        return float(scipy_stats.t.sf(t, self.dof))


def se_from_ci(low: float, high: float, confidence: float) -> float:
    """Standard error of a log estimate from its CI on the ratio scale (low, high > 0)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return (math.log(high) - math.log(low)) / (2.0 * z)


def _check(estimates: Sequence[float], ses: Sequence[float]) -> None:
    if len(estimates) != len(ses) or not estimates:
        raise ValueError(f"need as many SEs as estimates (>= 1), got {len(estimates)}/{len(ses)}")
    if not all(math.isfinite(x) for x in estimates) or not all(
        math.isfinite(s) and s >= 0 for s in ses
    ):
        raise ValueError(f"estimates and SEs must be finite (SEs >= 0): {estimates}, {ses}")


#: Floor on a round's SE, so an exactly repeated value (SE 0) cannot take all the weight.
_MIN_SE = 1e-6


def fixed_effect(estimates: Sequence[float], ses: Sequence[float]) -> Pooled:
    """Inverse-variance pool assuming every round measures the same value (tau^2 = 0)."""
    _check(estimates, ses)
    w = [1.0 / max(s, _MIN_SE) ** 2 for s in ses]
    mean = sum(wi * x for wi, x in zip(w, estimates, strict=True)) / sum(w)
    return Pooled(mean, math.sqrt(1.0 / sum(w)), 0.0, len(w), None)


def random_effects(estimates: Sequence[float], ses: Sequence[float]) -> Pooled:
    """DerSimonian-Laird pool; t_{k-1} interval. One round: its own estimate and SE (normal)."""
    _check(estimates, ses)
    k = len(estimates)
    if k == 1:
        return Pooled(float(estimates[0]), float(ses[0]), 0.0, 1, None)
    v = [max(s, _MIN_SE) ** 2 for s in ses]
    w = [1.0 / vi for vi in v]
    sw = sum(w)
    mean = sum(wi * x for wi, x in zip(w, estimates, strict=True)) / sw
    q = sum(wi * (x - mean) ** 2 for wi, x in zip(w, estimates, strict=True))
    c = sw - sum(wi * wi for wi in w) / sw
    tau2 = max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    ws = [1.0 / (vi + tau2) for vi in v]
    pooled = sum(wi * x for wi, x in zip(ws, estimates, strict=True)) / sum(ws)
    return Pooled(pooled, math.sqrt(1.0 / sum(ws)), tau2, k, k - 1)
