"""``tuner space audit``: which params move fitness beyond the noise, before a long study.

Each param is swept one at a time with every other param at its default: a few values
spanning its range (log-spaced for log params, every choice for categoricals). The
default config is measured several times, spread through the audit, for the noise floor.

The rule (printed with every audit, see :data:`RULE`):

* effect = max - min over the param's values of the per-value fitness, where the
  default value's fitness is the median of the default's repeated measurements;
* noise band = max(D, W): D = max - min of the default's repeated fitnesses (what the
  same config scores across runs), W = the median CI width (ci_high - ci_low) of all
  audit measurements (what one measurement cannot resolve);
* a param *moves fitness* when effect > 1.25 x noise band, is *borderline* when
  effect > noise band (re-audit it with more ``--repetitions``), otherwise it is
  *within noise*.

With as many default repeats as values per param, D is the range of as many noisy
draws of one config as the param's sweep has values, so a dead param's effect and D
come from the same distribution; W adds the margin that keeps a dead param from being
flagged by a lucky spread. The 1.25 margin was checked on the mock landscape (A/A-level
noise with outliers and per-run bias), shipped spec, 4 values, 5 default repeats, seeds
0-49: the dead param was never called "moves fitness" (41 within noise, 9 borderline);
params with true effects of 14-36 points were "moves fitness" 49-50 times of 50; true
effects of 6-7 points (about one noise band) split between the three verdicts. One-at-a-
time sweeps miss interactions: a param that only matters together with another can
look dead here.

Fitness is one figure; a knob can also move a single test (a buffer size that only
matters for LRANGE_600's big replies) while the geomean hides it. So the same rule is
applied per test unit (test@pipeline, ratio x 100, with that unit's own D and W) with a
wider margin, :data:`TEST_MARGIN`, because several units give several chances to be
fooled by noise. p99 latency and, when the workload loads a dataset, memory (used_memory
per key against the baseline's) are judged by the same rule with their own bands. A param
that moves neither fitness, any unit, p99 nor memory is *dead*: no figure moves beyond the
noise.

Audits of several workloads (``--json`` files) are compared by :func:`compare_workloads`:
a knob worth tuning moves a figure on some workload and has different best values on two.
"""

from tuner.audit._across import (
    DROP,
    ONE_VALUE,
    PER_WORKLOAD,
    KnobAcross,
    across_markdown,
    across_table,
    compare_workloads,
)
from tuner.audit._judge import judge, load_result
from tuner.audit._model import (
    BORDERLINE,
    FIGURE_RULE,
    MARGIN,
    MOVES,
    RULE,
    TEST_MARGIN,
    WITHIN_NOISE,
    AuditError,
    AuditResult,
    FigureEffect,
    ParamAudit,
    Point,
    verdict,
)
from tuner.audit._render import audit_markdown, audit_table, summary_line
from tuner.audit._sweep import audit_space, describe, feasible_sweep, sweep_values

__all__ = [
    "BORDERLINE",
    "DROP",
    "FIGURE_RULE",
    "MARGIN",
    "MOVES",
    "ONE_VALUE",
    "PER_WORKLOAD",
    "RULE",
    "TEST_MARGIN",
    "WITHIN_NOISE",
    "AuditError",
    "AuditResult",
    "FigureEffect",
    "KnobAcross",
    "ParamAudit",
    "Point",
    "across_markdown",
    "across_table",
    "audit_markdown",
    "audit_space",
    "audit_table",
    "compare_workloads",
    "describe",
    "feasible_sweep",
    "judge",
    "load_result",
    "summary_line",
    "sweep_values",
    "verdict",
]
