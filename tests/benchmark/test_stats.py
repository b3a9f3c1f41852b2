"""Statistics on synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark import coverage, stats


def test_weighted_geomean_known_values() -> None:
    assert stats.weighted_geomean([2.0, 8.0], [1.0, 1.0]) == pytest.approx(4.0)
    assert stats.weighted_geomean([2.0, 8.0], [1.0, 0.0]) == pytest.approx(2.0)
    assert stats.weighted_geomean([2.0, 8.0], [1.0, 3.0]) == pytest.approx(2**2.5)


@pytest.mark.parametrize(
    ("values", "weights"),
    [([1.0, 0.0], [1.0, 1.0]), ([1.0, -2.0], [1.0, 1.0]), ([1.0], [0.0]), ([], [])],
)
def test_weighted_geomean_rejects_bad_input(values: list[float], weights: list[float]) -> None:
    with pytest.raises(ValueError):
        stats.weighted_geomean(values, weights)


def test_fitness_is_geomean_of_per_unit_medians_times_100() -> None:
    ratios = np.array([[1.0, 0.5], [1.2, 0.6], [1.1, 2.0]])
    # medians 1.1 and 0.6 -> sqrt(0.66) x 100
    assert stats.fitness(ratios, [1.0, 1.0]) == pytest.approx(100 * math.sqrt(1.1 * 0.6))


def test_median_of_ratios_ignores_one_disturbed_pair() -> None:
    ratios = np.array([[1.0], [1.0], [1.0], [1.0], [10.0]])
    assert stats.fitness(ratios, [1.0]) == pytest.approx(100.0)


def test_swapping_candidate_and_baseline_inverts_fitness() -> None:
    rng = np.random.default_rng(3)
    ratios = np.exp(rng.normal(0.05, 0.1, size=(7, 3)))
    forward = stats.fitness(ratios, [1.0, 2.0, 3.0])
    backward = stats.fitness(1.0 / ratios, [1.0, 2.0, 3.0])
    assert forward * backward == pytest.approx(100.0**2)


def test_constant_ratios_give_a_degenerate_ci_at_the_value() -> None:
    ratios = np.full((6, 2), 1.1)
    boot = stats.bootstrap(ratios, [1.0, 1.0], rng=np.random.default_rng(0))
    assert boot.fitness == pytest.approx(110.0)
    assert boot.fitness_low == pytest.approx(110.0)
    assert boot.fitness_high == pytest.approx(110.0)
    assert boot.half_width_pct == pytest.approx(0.0)
    assert boot.unit_low == pytest.approx((1.1, 1.1))


def test_bootstrap_resamples_repetitions_jointly() -> None:
    """Perfectly correlated units must not narrow the CI: four copies of one unit give
    exactly that unit's interval (an independent per-unit bootstrap would shrink it ~2x)."""
    rng = np.random.default_rng(5)
    column = np.exp(rng.normal(0.0, 0.1, size=(12, 1)))
    one = stats.bootstrap(column, [1.0], rng=np.random.default_rng(9))
    four = stats.bootstrap(np.repeat(column, 4, axis=1), [1.0] * 4, rng=np.random.default_rng(9))
    assert four.fitness_low == pytest.approx(one.fitness_low)
    assert four.fitness_high == pytest.approx(one.fitness_high)
    assert one.fitness_high - one.fitness_low > 2.0


def test_weights_steer_fitness_towards_the_heavy_unit() -> None:
    ratios = np.array([[2.0, 0.5]] * 5)
    assert stats.fitness(ratios, [3.0, 1.0]) == pytest.approx(100 * 2 ** (3 / 4) * 0.5 ** (1 / 4))


@pytest.mark.timeout(120)
def test_per_test_and_fitness_cis_cover_at_least_94_percent_at_nominal_95() -> None:
    """Seeded synthetic studies (this machine's A/A noise, heavy tails, shared shocks): the
    order-statistic median CIs and the expanded fitness CI hold the truth in >= 94% at
    n = 6, 10, 20, 30 (measured 95-97.5% with 400 replicates: `python -m benchmark coverage`)."""
    for row in coverage.fitness_coverage(replicates=300, resamples=500):
        assert row.unit_order_statistic >= 0.94, row
        assert row.fitness_expanded >= 0.94, row
        assert row.unit_exact >= 0.95, row
        # The CI is not made trivially wide: coverage well short of 100%.
        assert row.fitness_expanded <= 0.995, row


def test_order_statistic_ranks_are_exact() -> None:
    assert stats.order_statistic_ranks(6, 0.95) == (0, 5)
    assert stats.order_statistic_ranks(10, 0.95) == (1, 8)
    assert stats.order_statistic_ranks(20, 0.95) == (5, 14)
    assert stats.median_coverage(6, 0.95) == pytest.approx(1 - 2 / 64)
    assert stats.median_coverage(3, 0.95) == pytest.approx(0.75)  # too few: below nominal
    assert stats.median_ci([5.0, 1.0, 2.0, 3.0, 4.0, 6.0]) == (1.0, 6.0)


def test_expanded_confidence_widens_small_samples_only() -> None:
    assert stats.expanded_confidence(6, 0.95) == pytest.approx(0.9951, abs=1e-3)
    assert stats.expanded_confidence(1000, 0.95) == pytest.approx(0.95, abs=1e-3)


def test_ci_shrinks_with_more_repetitions() -> None:
    rng = np.random.default_rng(11)
    few = stats.bootstrap(np.exp(rng.normal(0, 0.1, size=(6, 4))), [1.0] * 4, rng=rng)
    many = stats.bootstrap(np.exp(rng.normal(0, 0.1, size=(60, 4))), [1.0] * 4, rng=rng)
    assert many.half_width_pct < few.half_width_pct / 2


@pytest.mark.parametrize(
    ("ratios", "weights", "match"),
    [
        (np.ones((3, 2)), [1.0, 1.0, 1.0], "must be"),
        (np.array([[1.0, 0.0]]), [1.0, 1.0], "finite and positive"),
        (np.array([[1.0, math.inf]]), [1.0, 1.0], "finite and positive"),
    ],
)
def test_bootstrap_rejects_bad_shapes_and_values(
    ratios: np.ndarray, weights: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        stats.bootstrap(ratios, weights)
