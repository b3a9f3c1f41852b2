"""The validated spec as frozen dataclasses: what to build, run, vary and measure."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection

from tuner.spec._expr import evaluate

__all__ = [
    "CONFIG_FORMATS",
    "DEFAULT_CONFIG_PATHS",
    "DEFAULT_PARETO",
    "DEFAULT_SPEC_NAME",
    "MEMORY_OUTCOMES",
    "OBJECTIVES",
    "OUTCOME_NAMES",
    "PARAM_KINDS",
    "PARETO_OBJECTIVES",
    "PRUNERS",
    "STAGES",
    "BaselineSpec",
    "BudgetSpec",
    "ClientSpec",
    "ConstraintSpec",
    "ObjectiveSpec",
    "ParamSpec",
    "SamplerSpec",
    "StudySpec",
    "TargetSpec",
    "fitness_unit",
    "stored_fitness_unit",
]

PARAM_KINDS = ("int", "float", "categorical")
STAGES = ("runtime", "build")
OBJECTIVES = ("throughput", "pareto")
#: ``racing``: stop a trial once it is clearly worse than the incumbent (tuner.study._racing).
PRUNERS = ("racing", "median", "none")
#: Measured memory values: candidate / baseline bytes per key of the workload's datasets
#: (``used_memory`` and RSS growth). Only a spec with a ``[workload.dataset]`` has them.
MEMORY_OUTCOMES = ("memory_ratio", "rss_ratio")
#: Measured values a constraint may name; such constraints are checked after the run.
OUTCOME_NAMES = ("fitness", "p99_ratio", "ci_low", "ci_high", *MEMORY_OUTCOMES)
#: ``objective.pareto`` names -> (measured value, direction). Memory ones need a dataset.
PARETO_OBJECTIVES: dict[str, tuple[str, StudyDirection]] = {
    "throughput": ("fitness", StudyDirection.MAXIMIZE),
    "p99": ("p99_ratio", StudyDirection.MINIMIZE),
    "memory": ("memory_ratio", StudyDirection.MINIMIZE),
    "rss": ("rss_ratio", StudyDirection.MINIMIZE),
}
#: The pair a Pareto study trades when ``objective.pareto`` is not given.
DEFAULT_PARETO = ("throughput", "p99")
DEFAULT_SPEC_NAME = "redis-throughput"
#: How the config file is written: nested TOML, Redis's ``name value`` lines, nested JSON.
CONFIG_FORMATS = ("toml", "redis", "json")
#: The config file name each format gets unless ``target.config_path`` says otherwise.
DEFAULT_CONFIG_PATHS = {"toml": "perf_config.toml", "redis": "redis.conf", "json": "config.json"}


@dataclass(frozen=True)
class ParamSpec:
    """One tunable knob: its kind, range and when it takes effect."""

    name: str
    kind: str
    default: Any
    stage: str = "runtime"
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    #: Build params only: extra build-command args per choice (e.g. cargo features).
    build_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Build params only: environment variable that carries the value at build time.
    build_env: str | None = None
    #: A thread count: ``high`` may not exceed the CPUs in ``target.cpus`` (spec error).
    bounded_by_cpus: bool = False
    #: Optuna's distribution for this param, built (and so checked by Optuna) at load.
    distribution: BaseDistribution | None = field(default=None, compare=False, repr=False)

    @property
    def is_build(self) -> bool:
        return self.stage == "build"


@dataclass(frozen=True)
class ConstraintSpec:
    """``lhs <op> rhs`` over params (checked before running) or outcomes (after)."""

    name: str
    expr: str
    names: tuple[str, ...]
    is_outcome: bool
    _tree: ast.Expression = field(repr=False, compare=False)

    def violation(self, values: Mapping[str, Any]) -> float:
        """Optuna-style constraint value: <= 0 when satisfied, > 0 by how much violated."""
        node = self._tree.body
        assert isinstance(node, ast.Compare)
        lhs = float(evaluate(node.left, values))
        rhs = float(evaluate(node.comparators[0], values))
        op = node.ops[0]
        diff = lhs - rhs if isinstance(op, ast.LtE | ast.Lt) else rhs - lhs
        strict = isinstance(op, ast.Lt | ast.Gt)
        if strict and diff >= 0:
            return max(diff, 1e-9)
        return diff

    def satisfied(self, values: Mapping[str, Any]) -> bool:
        return self.violation(values) <= 0


@dataclass(frozen=True)
class TargetSpec:
    """How to build the server, run it, and hand it a config file."""

    workdir: Path
    build_command: tuple[str, ...]
    binary: str
    args: tuple[str, ...]
    config_path: str = "perf_config.toml"
    config_env: str | None = None
    #: Templates: ``{port}``, ``{config}`` and params are filled in per trial.
    env: dict[str, str] = field(default_factory=dict)
    build_env: dict[str, str] = field(default_factory=dict)
    cpus: str = "0"
    ready_timeout_s: float = 30.0
    compose: dict[str, Any] = field(default_factory=dict)
    #: One of CONFIG_FORMATS: how the config file is written.
    config_format: str = "toml"
    #: Whether a config file is written at all (``{config}`` or ``config_env`` is used).
    config_file: bool = True
    #: The runtime params the file holds: those not named in ``args`` or ``env``.
    file_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class BaselineSpec:
    """The server to compare against: a binary we start, a running host:port, or (with
    ``same_as_target``) the target itself at its defaults."""

    binary: str | None = None
    args: tuple[str, ...] = ()
    address: str | None = None
    cpus: str = "0"
    #: Environment of a started baseline; values may hold ``{port}`` (and ``{config}`` when
    #: ``same_as_target``).
    env: dict[str, str] = field(default_factory=dict)
    #: The target's own binary (built at the build params' defaults), started with no
    #: runtime params: an empty config file, so every setting is the server's own default.
    same_as_target: bool = False
    #: Whether an empty config file (of ``config_format``) is written for ``{config}``.
    config_file: bool = False
    config_format: str = "toml"
    config_env: str | None = None

    @property
    def fitness_unit(self) -> str:
        """What a fitness of 100 means: "% of ..." as the show, report and progress say it."""
        return fitness_unit(self.same_as_target)

    @property
    def host_port(self) -> tuple[str, int] | None:
        if self.address is None:
            return None
        host, _, port = self.address.rpartition(":")
        return host, int(port)


def fitness_unit(same_as_target: bool) -> str:
    """The fitness's unit: percent of the baseline, or of this server at its defaults."""
    return "% of this server at its defaults" if same_as_target else "% of the baseline"


def stored_fitness_unit(spec_dict: Mapping[str, Any] | None) -> str:
    """:func:`fitness_unit` of a spec stored in a study (user_attr ``spec``)."""
    baseline = (spec_dict or {}).get("baseline") or {}
    return fitness_unit(bool(baseline.get("same_as_target", False)))


@dataclass(frozen=True)
class ClientSpec:
    """Where the benchmark client runs."""

    cpus: str = "1"
    binary: str | None = None


@dataclass(frozen=True)
class ObjectiveSpec:
    """What the study optimises."""

    kind: str = "throughput"
    pruner: str = "racing"
    #: Racing: a trial stops once its CI's upper bound at this confidence is below the
    #: incumbent's point estimate (after the workload's stop floor of repetitions).
    racing_confidence: float = 0.95
    #: Pareto studies: finalists whose re-measured p99 ratio exceeds this cannot win.
    max_p99_ratio: float | None = None
    #: Pareto studies: what is traded (names of PARETO_OBJECTIVES, throughput first).
    pareto: tuple[str, ...] = DEFAULT_PARETO

    @property
    def is_multi(self) -> bool:
        return self.kind == "pareto"

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objective names optimised: ``("throughput",)`` or the Pareto names."""
        return self.pareto if self.is_multi else ("throughput",)

    @property
    def directions(self) -> list[StudyDirection]:
        return [PARETO_OBJECTIVES[n][1] for n in self.objectives]

    @property
    def metric_names(self) -> list[str]:
        """The measured value of each objective (``fitness``, ``memory_ratio``, ...)."""
        return [PARETO_OBJECTIVES[n][0] for n in self.objectives]

    @property
    def needs_memory(self) -> bool:
        return any(m in MEMORY_OUTCOMES for m in self.metric_names)


@dataclass(frozen=True)
class BudgetSpec:
    """How much to spend: trials (across resumes), wall clock, finalist re-measurement."""

    trials: int = 100
    timeout_s: float | None = None
    repetitions: int | None = None
    finalists: int = 3
    finalist_repetitions: int = 20
    #: Finalize exports a candidate only if it beats the default by at least this (%).
    min_gain_pct: float = 1.0


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler defaults; the CLI flags override them."""

    name: str = "auto"
    seed: int | None = None
    population_size: int | None = None
    #: CMA-ES's initial step size, as a fraction of each param's (log-scaled) range; it
    #: starts at the defaults (x0). None: Optuna's min_range / 6.
    sigma0: float | None = None


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec."""

    name: str
    description: str
    target: TargetSpec
    baseline: BaselineSpec
    client: ClientSpec
    params: tuple[ParamSpec, ...]
    constraints: tuple[ConstraintSpec, ...]
    workload: Any
    objective: ObjectiveSpec
    budget: BudgetSpec
    sampler: SamplerSpec
    base_dir: Path
    source: str
    raw: dict[str, Any]
    #: ``[workload.dataset]``: what is loaded into both servers to measure memory per key
    #: (``benchmark.dataset.DatasetSpec``); empty when memory is not measured.
    datasets: tuple[Any, ...] = ()

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def runtime_params(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if not p.is_build)

    @property
    def build_params(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.is_build)

    @property
    def param_constraints(self) -> tuple[ConstraintSpec, ...]:
        return tuple(c for c in self.constraints if not c.is_outcome)

    @property
    def outcome_constraints(self) -> tuple[ConstraintSpec, ...]:
        return tuple(c for c in self.constraints if c.is_outcome)

    def defaults(self) -> dict[str, Any]:
        """Every param at its default value."""
        return {p.name: p.default for p in self.params}

    def build_defaults(self) -> dict[str, Any]:
        """The build params at their default values (the build a same-as-target baseline
        runs)."""
        return {p.name: p.default for p in self.params if p.is_build}

    def split(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split param values into (runtime config, build params)."""
        runtime = {p.name: params[p.name] for p in self.runtime_params if p.name in params}
        build = {p.name: params[p.name] for p in self.build_params if p.name in params}
        return runtime, build

    def search_space_key(self) -> dict[str, Any]:
        """What must not change when a study resumes: params, constraints, objective."""
        shape = ("name", "kind", "low", "high", "step", "log", "choices", "stage")
        return {
            # Defaults and build args may change; the distributions the sampler saw may not.
            "param": [{k: p[k] for k in shape if k in p} for p in self.raw.get("param", [])],
            "constraint": [c.expr for c in self.constraints],
            "objective": self._objective_key(),
        }

    def _objective_key(self) -> str:
        # The plain kind unless a Pareto study trades other than its default pair, so the
        # key of every study made before objective.pareto existed is unchanged.
        o = self.objective
        if not o.is_multi or o.pareto == DEFAULT_PARETO:
            return o.kind
        return f"pareto({','.join(o.pareto)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form stored in the study (user_attr ``spec``)."""
        return {"source": self.source, **self.raw}
