"""The finalize decision on known mock landscapes, and its spec field.

The mock makes raw noisy runs (this machine's noise, a restart bias per round) and
benchmark.stats judges them. Gates have wide margins below the rates measured by
``python -m tuner.finalize_proof`` (see the margins at each assert).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuner.finalize_proof import run_proof
from tuner.spec import SpecError, load_spec


@pytest.mark.parametrize("bad", [-1, 100, "1%", True])
def test_a_bad_min_gain_pct_is_a_spec_error_naming_it(
    make_spec: Callable[..., Path], bad: Any
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["budget"]["min_gain_pct"] = bad

    with pytest.raises(SpecError, match=r"budget\.min_gain_pct"):
        load_spec(make_spec(edit=edit))


def test_min_gain_pct_defaults_to_one_percent(make_spec: Callable[..., Path]) -> None:
    assert load_spec(make_spec()).budget.min_gain_pct == 1.0


@pytest.mark.timeout(240)
def test_flat_landscape_exports_the_default() -> None:
    """Every param dead, shipped finalize settings: the default must be exported. Measured
    200/200 seeds (`python -m tuner.finalize_proof --seeds 200`); gate 17 of 20."""
    result = run_proof("flat", range(20))
    assert result.right >= 17, result


@pytest.mark.timeout(240)
def test_a_real_gain_is_found_and_exported() -> None:
    """One finalist truly +20% on every test: it must be exported, and nothing else.
    Measured 188/200 seeds (94%); gate 8 of 12."""
    result = run_proof("gain", range(100, 112), gain_pct=20.0)
    assert result.exported.get("other", 0) == 0, result
    assert result.right >= 8, result


@pytest.mark.parametrize(
    ("repetitions", "rounds", "warned"),
    [(6, 1, True), (12, 2, True), (18, 3, False), (20, 4, False)],
)
def test_too_few_finalize_rounds_are_named_before_measuring(
    repetitions: int, rounds: int, warned: bool
) -> None:
    """Rounds of the 6-repetition floor: fewer than 3 leave the head-to-head gain
    uninformative (t on 1 dof) or blind to restart spread (1 round), and are said."""
    from dataclasses import replace

    from tuner.finalize import few_rounds_warning, planned_rounds

    base = load_spec(None)
    spec = replace(base, budget=replace(base.budget, finalist_repetitions=repetitions))
    assert planned_rounds(spec) == rounds
    text = few_rounds_warning(spec)
    assert (text is not None) == warned
    if text:
        assert f"budget.finalist_repetitions = {repetitions}" in text
        assert f"{rounds} finalize round" in text and "at least 18" in text
    # --repetitions of `tuner study finalize` overrides the spec.
    assert few_rounds_warning(spec, 18) is None
