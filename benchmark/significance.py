"""Multiple comparisons: Holm's step-down correction of one-sided p-values.

Finalize compares k candidates with the default; testing each at level alpha would let a
flat landscape export a non-default config with probability up to k x alpha. Holm keeps
the chance of any false win at or below alpha, and is uniformly more powerful than
Bonferroni.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["holm"]


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm rejects at family-wise level ``alpha`` (same order as given)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected
