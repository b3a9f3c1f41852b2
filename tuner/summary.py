"""What a finished study tells the user: the winner against the default with the CI of the
gain, where the exported config is, and the commands that show more."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from tuner.spec import stored_fitness_unit
from tuner.study import budget_used

__all__ = ["Gain", "StudyOutcome", "gain", "gain_line", "study_outcome"]


@dataclass(frozen=True)
class Gain:
    """Winner / default - 1, in percent, with its CI (NaN when either CI is unknown)."""

    pct: float
    low_pct: float
    high_pct: float
    confidence: float

    @property
    def clear(self) -> bool:
        """The whole CI of the gain is above zero."""
        return self.low_pct > 0


def gain(
    winner: tuple[float, float, float], default: tuple[float, float, float], confidence: float
) -> Gain:
    """Gain of ``winner`` over ``default``, each ``(fitness, ci_low, ci_high)`` from independent
    measurements: in log space the difference, its SE from each CI's half-width."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    (w, w_lo, w_hi), (d, d_lo, d_hi) = winner, default
    center = math.log(w) - math.log(d)
    if not all(math.isfinite(v) and v > 0 for v in (w_lo, w_hi, d_lo, d_hi)):
        return Gain((math.exp(center) - 1) * 100, math.nan, math.nan, confidence)
    se = math.hypot(
        (math.log(w_hi) - math.log(w_lo)) / (2 * z), (math.log(d_hi) - math.log(d_lo)) / (2 * z)
    )
    return Gain(
        (math.exp(center) - 1) * 100,
        (math.exp(center - z * se) - 1) * 100,
        (math.exp(center + z * se) - 1) * 100,
        confidence,
    )


@dataclass(frozen=True)
class StudyOutcome:
    """The found config against the default, and how it was measured."""

    study: str
    label: str
    fitness: tuple[float, float, float]
    default: tuple[float, float, float] | None
    gain: Gain | None
    config_path: str | None
    remeasured: bool
    storage_flag: str
    #: Trials run after the finalize that chose this winner (0: it is current).
    trials_since: int = 0
    #: Why finalize kept the default (the best finalist's head-to-head gain), if it did.
    kept: str | None = None
    #: What a fitness of 100 is ("% of the baseline", "% of this server at its defaults").
    fitness_unit: str = "% of the baseline"

    def renderable(self) -> Panel:
        """A rich panel: found, against the default, exported, and what to run next."""
        f, lo, hi = self.fitness
        pct = f"{self.gain.confidence * 100:g}%" if self.gain else "CI"
        how = (
            "re-measured as a finalist" if self.remeasured else "from the search (not re-measured)"
        )
        lines = [
            Text(
                f"found: {self.label}, fitness {f:.1f} [{lo:.1f}, {hi:.1f}] "
                f"{self.fitness_unit} ({how})"
            )
        ]
        if self.trials_since:
            lines.append(
                Text(
                    f"{self.trials_since} trials ran after that finalize: "
                    f"tuner study finalize {self.study}{self.storage_flag}"
                )
            )
        if self.default is not None and self.gain is not None:
            d, dlo, dhi = self.default
            g = self.gain
            ci = (
                f"{pct} CI [{g.low_pct:+.1f}%, {g.high_pct:+.1f}%]"
                if math.isfinite(g.low_pct)
                else "CI unknown (one repetition)"
            )
            verdict = (
                "a clear gain"
                if g.clear
                else ("within noise of the default" if g.high_pct >= 0 else "below the default")
            )
            lines.append(
                Text(
                    f"vs default: fitness {d:.1f} [{dlo:.1f}, {dhi:.1f}]; "
                    f"gain {g.pct:+.1f}%, {ci}: {verdict}"
                )
            )
        elif self.label.startswith("default"):
            lines.append(Text(self.kept or "the default stayed best: no candidate beat it"))
        else:
            lines.append(Text("no measurement of the default to compare with"))
        if self.config_path:
            lines.append(Text(f"config: {self.config_path}"))
        else:
            lines.append(
                Text(f"config: not exported; tuner study export {self.study} -o best_config.toml")
            )
        s = self.storage_flag
        lines.append(Text("see more:", style="bold"))
        for cmd in (
            f"tuner study show {self.study}{s}",
            f"tuner study report {self.study}{s}",
            f"tuner dashboard{s}",
        ):
            lines.append(Text(f"  {cmd}"))
        return Panel(Group(*lines), title=f"study {self.study}: what was found", expand=False)


def _triple(entry: dict[str, Any]) -> tuple[float, float, float]:
    nan = float("nan")
    return (
        float(entry["fitness"]),
        float(entry.get("ci_low", nan)),
        float(entry.get("ci_high", nan)),
    )


def study_outcome(
    study: optuna.Study,
    defaults: dict[str, Any],
    confidence: float,
    storage_url: str | None = None,
) -> StudyOutcome | None:
    """The finalized winner (or, before finalize, the best trial) against the default;
    None while no trial is complete."""
    flag = f" --storage {storage_url}" if storage_url else ""
    winner = study.user_attrs.get("winner")
    if winner:
        finalists = study.user_attrs.get("finalists") or []
        default = next(
            (e for e in finalists if e.get("is_default") and e.get("status") == "measured"), None
        )
        won = _triple(winner)
        base = _triple(default) if default is not None and not winner.get("is_default") else None
        head_to_head = _stored_gain(winner, confidence)
        finalized_at = study.user_attrs.get("finalized_at")
        since = budget_used(study) - finalized_at if isinstance(finalized_at, int) else 0
        return StudyOutcome(
            study.study_name,
            str(winner.get("label", "winner")),
            won,
            base,
            head_to_head or (gain(won, base, confidence) if base else None),
            winner.get("path"),
            True,
            flag,
            max(since, 0),
            fitness_unit=stored_fitness_unit(study.user_attrs.get("spec")),
        )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = max(complete, key=lambda t: t.values[0])
    default_trial = next((t for t in complete if t.params == defaults), None)
    won = _triple({"fitness": best.values[0], **_ci(best.user_attrs)})
    base = None
    if default_trial is not None and default_trial.number != best.number:
        base = _triple({"fitness": default_trial.values[0], **_ci(default_trial.user_attrs)})
    n = best.number
    label = f"default (trial {n})" if best is default_trial else f"trial {n}"
    return StudyOutcome(
        study.study_name,
        label,
        won,
        base,
        gain(won, base, confidence) if base else None,
        None,
        False,
        flag,
        fitness_unit=stored_fitness_unit(study.user_attrs.get("spec")),
    )


def _kept(winner: dict[str, Any]) -> str | None:
    if not winner.get("is_default") or winner.get("beats_default") is not False:
        return None
    text = str(winner.get("how", ""))
    return text[text.index("The default is kept") :] if "The default is kept" in text else None


def _stored_gain(winner: dict[str, Any], confidence: float) -> Gain | None:
    """The head-to-head gain finalize stored (the winner's, or the best rival's)."""
    if winner.get("is_default") or not isinstance(winner.get("gain_pct"), int | float):
        return None
    nan = float("nan")
    return Gain(
        float(winner["gain_pct"]),
        float(winner.get("gain_low_pct") or nan),
        float(winner.get("gain_high_pct") or nan),
        confidence,
    )


def _ci(attrs: dict[str, Any]) -> dict[str, float]:
    nan = float("nan")
    return {
        "ci_low": float(attrs.get("fitness_ci_low", nan)),
        "ci_high": float(attrs.get("fitness_ci_high", nan)),
    }


def gain_line(winner: Mapping[str, Any]) -> str:
    """The winner's head-to-head gain over the default, as finalize decided it."""
    beats = winner.get("beats_default")
    g = (winner.get("gain_pct"), winner.get("gain_low_pct"), winner.get("gain_high_pct"))
    ci = (
        f"{g[0]:+.1f}% (CI {g[1]:+.1f}% to {g[2]:+.1f}%)"
        if all(isinstance(v, int | float) for v in g)
        else "-"
    )
    if beats is True:
        return f"gain over the default, head to head: {ci}"
    if beats is False:
        rival = winner.get("best_rival")
        return "the default is kept: no config beat it significantly" + (
            f"; best finalist {rival}: {ci}" if rival else ""
        )
    return "gain over the default: not measured head to head"
