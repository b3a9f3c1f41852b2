"""Proof of the finalize decision on mock landscapes where the truth is known.

``python -m tuner.finalize_proof --seeds 200`` runs finalize with the shipped spec's
finalize settings (3 finalists, 20 repetitions, min_gain_pct) on the mock runner, whose
raw noisy runs (this machine's A/A noise, outliers, a 1% restart bias per round) are
judged by benchmark.stats, once per seed on two landscapes:

- ``flat``: every param is dead; the default must be exported (no false gain).
- ``gain``: one finalist config is truly ``--gain`` percent better; it must be exported.

The search is not run: each seed's study holds the default and three other configs as
its top "search" trials (on the gain landscape one of them is the better config), so
what is proven is the decision, not the sampler. It prints the share of seeds whose
export was right.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from rich.console import Console
from rich.table import Table

from tuner.finalize import finalize_study
from tuner.runners.mock import MockRunner
from tuner.spec import StudySpec, load_spec
from tuner.study import ProgressSink

__all__ = ["FlatLandscape", "ProofResult", "run_proof"]

#: The truth of the flat landscape: every config scores this share of the baseline.
FLAT_RATIO = 0.95


@dataclass(frozen=True)
class FlatLandscape:
    """Every config has the same true per-test ratios; ``better`` (if given) is
    ``gain_pct`` percent better on every test."""

    better: Mapping[str, Any] | None = None
    gain_pct: float = 0.0

    def _lift(self, config: Mapping[str, Any]) -> float:
        if self.better and all(config.get(k) == v for k, v in self.better.items()):
            return math.log1p(self.gain_pct / 100.0)
        return 0.0

    def log_ratio(self, config: Mapping[str, Any], test: str) -> float:
        return math.log(FLAT_RATIO) + self._lift(config)

    def fitness(self, config: Mapping[str, Any]) -> float:
        return 100.0 * FLAT_RATIO * math.exp(self._lift(config))

    def p99_ratio(self, config: Mapping[str, Any]) -> float:
        return 1.0


@dataclass(frozen=True)
class ProofResult:
    landscape: str
    seeds: int
    right: int
    exported: dict[str, int]

    @property
    def rate(self) -> float:
        return self.right / self.seeds


def _configs(spec: StudySpec, rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    """``count`` distinct random non-default configs of the spec's space."""
    out: list[dict[str, Any]] = []
    defaults = spec.defaults()
    while len(out) < count:
        config = {}
        for p in spec.params:
            if p.kind == "categorical":
                config[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.kind == "int":
                assert p.low is not None and p.high is not None
                config[p.name] = int(rng.integers(int(p.low), int(p.high) + 1))
            else:
                assert p.low is not None and p.high is not None
                config[p.name] = float(rng.uniform(p.low, p.high))
        if config != defaults and config not in out:
            out.append(config)
    return out


def _study(spec: StudySpec, configs: Sequence[dict[str, Any]]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dists = {p.name: p.distribution for p in spec.params if p.distribution is not None}
    for i, config in enumerate(configs):
        params = {k: _snap(dists[k], v) for k, v in config.items()}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=110.0 - i,
            )
        )
    return study


def _snap(dist: Any, value: Any) -> Any:
    """Round a random int onto its distribution's step grid."""
    step = getattr(dist, "step", None)
    if isinstance(value, int) and step and step > 1:
        return int(dist.low + round((value - dist.low) / step) * step)
    return value


def run_proof(
    landscape: str,
    seeds: Sequence[int],
    *,
    spec: StudySpec | None = None,
    gain_pct: float = 10.0,
    console: Console | None = None,
) -> ProofResult:
    """Finalize once per seed on ``landscape`` (``flat`` or ``gain``); count right exports."""
    spec = spec or load_spec()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    right = 0
    exported: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            others = _configs(spec, rng, spec.budget.finalists)
            dists = {p.name: p.distribution for p in spec.params}
            others = [{k: _snap(dists[k], v) for k, v in c.items()} for c in others]
            better = others[int(rng.integers(len(others)))] if landscape == "gain" else None
            truth = FlatLandscape(better, gain_pct if better else 0.0)
            runner = MockRunner(spec, seed=seed, landscape=truth)  # type: ignore[arg-type]
            study = _study(spec, [*others, spec.defaults()])
            winner = finalize_study(study, spec, runner, progress=ProgressSink(), out_dir=Path(tmp))
            assert winner is not None
            kind = (
                "default"
                if winner["is_default"]
                else ("better" if better and winner["params"] == better else "other")
            )
            exported[kind] = exported.get(kind, 0) + 1
            right += kind == ("better" if better else "default")
            if console is not None and (seed + 1) % 20 == 0:
                console.print(f"{landscape}: {seed + 1} seeds, right {right}")
    return ProofResult(landscape, len(seeds), right, exported)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuner.finalize_proof", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument(
        "--gain", type=float, default=10.0, help="true gain %% of the better config"
    )
    parser.add_argument("--landscape", choices=("flat", "gain", "both"), default="both")
    args = parser.parse_args(argv)
    console = Console()
    spec = load_spec()
    table = Table(
        title=(
            f"finalize on known landscapes: {spec.budget.finalists} finalists, "
            f"{spec.budget.finalist_repetitions} repetitions, min_gain_pct "
            f"{spec.budget.min_gain_pct:g}, {args.seeds} seeds"
        )
    )
    for column in ("landscape", "right export", "default", "better", "other"):
        table.add_column(column, justify="right")
    kinds = ("flat", "gain") if args.landscape == "both" else (args.landscape,)
    for kind in kinds:
        r = run_proof(kind, range(args.seeds), spec=spec, gain_pct=args.gain, console=console)
        table.add_row(
            kind if kind == "flat" else f"gain +{args.gain:g}%",
            f"{r.rate:.1%}",
            *(str(r.exported.get(k, 0)) for k in ("default", "better", "other")),
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
