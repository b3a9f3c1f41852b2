"""Study specs: the TOML file that says what to build, run, vary and measure.

A spec is parsed and validated completely before anything runs; every problem raises
:class:`SpecError` whose message starts with the offending field (``param[2].high: ...``).
Paths in a spec resolve relative to the spec file's directory. The embedded default spec
(``tuner/default_spec.toml``, identical to ``studies/redis-throughput.toml``) resolves as
if it were ``<repo>/studies/redis-throughput.toml``, where ``<repo>`` is the nearest
ancestor of the working directory holding ``pyproject.toml`` and ``studies/`` (else cwd).
"""

from __future__ import annotations

import ast
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from optuna.study import StudyDirection

PARAM_KINDS = ("int", "float", "categorical")
STAGES = ("runtime", "build")
OBJECTIVES = ("throughput", "pareto")
PRUNERS = ("median", "none")
#: Measured values a constraint may name; such constraints are checked after the run.
OUTCOME_NAMES = ("fitness", "p99_ratio", "ci_low", "ci_high")
DEFAULT_SPEC_NAME = "redis-throughput"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_STUDY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class SpecError(ValueError):
    """A spec that cannot be used; the message names the field first."""


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
        lhs = float(_evaluate(node.left, values))
        rhs = float(_evaluate(node.comparators[0], values))
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
    env: dict[str, str] = field(default_factory=dict)
    build_env: dict[str, str] = field(default_factory=dict)
    cpus: str = "0"
    ready_timeout_s: float = 30.0
    compose: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineSpec:
    """The Redis to compare against: a binary we start, or a running host:port."""

    binary: str | None = None
    args: tuple[str, ...] = ()
    address: str | None = None
    cpus: str = "0"

    @property
    def host_port(self) -> tuple[str, int] | None:
        if self.address is None:
            return None
        host, _, port = self.address.rpartition(":")
        return host, int(port)


@dataclass(frozen=True)
class ClientSpec:
    """Where the benchmark client runs."""

    cpus: str = "1"
    binary: str | None = None


@dataclass(frozen=True)
class ObjectiveSpec:
    """What the study optimises."""

    kind: str = "throughput"
    pruner: str = "median"
    #: Pareto studies: finalists whose re-measured p99 ratio exceeds this cannot win.
    max_p99_ratio: float | None = None

    @property
    def is_multi(self) -> bool:
        return self.kind == "pareto"

    @property
    def directions(self) -> list[StudyDirection]:
        if self.is_multi:
            return [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
        return [StudyDirection.MAXIMIZE]

    @property
    def metric_names(self) -> list[str]:
        return ["fitness", "p99_ratio"] if self.is_multi else ["fitness"]


@dataclass(frozen=True)
class BudgetSpec:
    """How much to spend: trials (across resumes), wall clock, finalist re-measurement."""

    trials: int = 100
    timeout_s: float | None = None
    repetitions: int | None = None
    finalists: int = 3
    finalist_repetitions: int = 20


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler defaults; the CLI flags override them."""

    name: str = "auto"
    seed: int | None = None
    population_size: int | None = None


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
            "objective": self.objective.kind,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form stored in the study (user_attr ``spec``)."""
        return {"source": self.source, **self.raw}


# ---------------------------------------------------------------------------- loading


def load_spec(path: str | Path | None = None) -> StudySpec:
    """Load and validate a spec file, or the embedded default when ``path`` is None."""
    if path is None:
        text = default_spec_text()
        base = find_repo_root(Path.cwd()) / "studies"
        return parse_spec_text(text, base_dir=base, source="<embedded redis-throughput>")
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(f"spec file {file}: {exc.strerror or exc}") from None
    return parse_spec_text(text, base_dir=file.resolve().parent, source=str(file))


def default_spec_text() -> str:
    """The embedded default spec (same content as studies/redis-throughput.toml)."""
    return resources.files("tuner").joinpath("default_spec.toml").read_text()


def find_repo_root(start: Path) -> Path:
    """Nearest ancestor of ``start`` with pyproject.toml and studies/, else ``start``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "studies").is_dir():
            return candidate
    return start


def parse_spec_text(text: str, *, base_dir: Path, source: str) -> StudySpec:
    """Parse TOML text into a validated spec."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    return parse_spec(data, base_dir=base_dir, source=source)


def parse_spec(data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>") -> StudySpec:
    """Validate a spec mapping; raises SpecError naming the first bad field."""
    _only_keys(
        data,
        "",
        {
            "study",
            "target",
            "baseline",
            "client",
            "param",
            "constraint",
            "workload",
            "objective",
            "budget",
            "sampler",
        },
    )
    study = _table(data, "study")
    _only_keys(study, "study", {"name", "description"})
    name = _str(study, "study.name", required=True)
    assert name is not None
    if not _STUDY_NAME_RE.match(name):
        raise SpecError(f"study.name: {name!r} must be letters, digits, '_', '-', '.'")
    description = _str(study, "study.description") or ""

    params = _parse_params(data.get("param"))
    constraints = _parse_constraints(data.get("constraint"), params)
    return StudySpec(
        name=name,
        description=description,
        target=_parse_target(_table(data, "target"), base_dir, params),
        baseline=_parse_baseline(_table(data, "baseline")),
        client=_parse_client(_table(data, "client", required=False)),
        params=params,
        constraints=constraints,
        workload=_parse_workload(_table(data, "workload")),
        objective=_parse_objective(_table(data, "objective", required=False)),
        budget=_parse_budget(_table(data, "budget", required=False)),
        sampler=_parse_sampler(_table(data, "sampler", required=False)),
        base_dir=base_dir,
        source=source,
        raw=_plain(dict(data)),
    )


def parse_duration(value: Any, field_name: str = "timeout") -> float:
    """Seconds from ``3600``, ``"90m"``, ``"10h"``, ``"1h30m"``; raises SpecError."""
    if isinstance(value, bool):
        raise SpecError(f"{field_name}: expected a duration like '10h' or seconds, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_RE.findall(text)
            if not parts or _DURATION_RE.sub("", text).strip():
                raise SpecError(
                    f"{field_name}: {value!r} is not a duration (use e.g. '10h', '90m', '1h30m')"
                ) from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise SpecError(f"{field_name}: expected a duration like '10h', got {value!r}")
    if seconds <= 0 or not math.isfinite(seconds):
        raise SpecError(f"{field_name}: must be positive, got {value!r}")
    return seconds


# ---------------------------------------------------------------------------- sections


def _parse_target(
    t: Mapping[str, Any], base_dir: Path, params: tuple[ParamSpec, ...]
) -> TargetSpec:
    _only_keys(
        t,
        "target",
        {
            "workdir",
            "build_command",
            "binary",
            "args",
            "config_path",
            "config_env",
            "env",
            "build_env",
            "cpus",
            "ready_timeout_s",
            "compose",
        },
    )
    workdir = _str(t, "target.workdir") or "."
    build_command = _str_list(t, "target.build_command", required=True)
    if not build_command:
        raise SpecError("target.build_command: must not be empty")
    binary = _str(t, "target.binary", required=True)
    assert binary is not None
    args = _str_list(t, "target.args")
    config_env = _str(t, "target.config_env")
    if not config_env and not any("{config}" in a for a in args):
        raise SpecError(
            "target.args: the config never reaches the server; put '{config}' in target.args "
            "or set target.config_env"
        )
    if not any("{port}" in a for a in args):
        raise SpecError("target.args: must contain '{port}' (the runner picks a free port)")
    known = {p.name for p in params if p.is_build} | {"port", "config"}
    for i, template in enumerate((*build_command, binary, *args)):
        for ref in re.findall(r"\{([^{}]*)\}", template):
            if ref not in known:
                where = "target.build_command" if i < len(build_command) else "target.binary/args"
                raise SpecError(f"{where}: {{{ref}}} is not a build param, {{port}} or {{config}}")
    return TargetSpec(
        workdir=(base_dir / workdir).resolve(),
        build_command=tuple(build_command),
        binary=binary,
        args=tuple(args),
        config_path=_str(t, "target.config_path") or "perf_config.toml",
        config_env=config_env,
        env=_str_map(t, "target.env"),
        build_env=_str_map(t, "target.build_env"),
        cpus=_cpus(t, "target.cpus", "0"),
        ready_timeout_s=_positive(t, "target.ready_timeout_s", 30.0),
        compose=dict(_table(t, "target.compose", required=False, key="compose")),
    )


def _parse_baseline(b: Mapping[str, Any]) -> BaselineSpec:
    _only_keys(b, "baseline", {"binary", "args", "address", "cpus"})
    binary = _str(b, "baseline.binary")
    address = _str(b, "baseline.address")
    if (binary is None) == (address is None):
        raise SpecError("baseline: give exactly one of baseline.binary or baseline.address")
    if address is not None:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SpecError(f"baseline.address: {address!r} is not host:port")
    args = _str_list(b, "baseline.args")
    if binary is not None and not any("{port}" in a for a in args):
        raise SpecError("baseline.args: must contain '{port}' when baseline.binary is set")
    return BaselineSpec(
        binary=binary, args=tuple(args), address=address, cpus=_cpus(b, "baseline.cpus", "0")
    )


def _parse_client(c: Mapping[str, Any]) -> ClientSpec:
    _only_keys(c, "client", {"cpus", "binary"})
    return ClientSpec(cpus=_cpus(c, "client.cpus", "1"), binary=_str(c, "client.binary"))


def _parse_workload(w: Mapping[str, Any]) -> Any:
    from benchmark.workload import Workload, WorkloadError

    try:
        return Workload.from_dict(w)
    except WorkloadError as exc:
        message = str(exc)
        raise SpecError(
            message if message.startswith("workload") else f"workload: {message}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"workload: {exc}") from None


def _parse_objective(o: Mapping[str, Any]) -> ObjectiveSpec:
    _only_keys(o, "objective", {"kind", "pruner", "max_p99_ratio"})
    kind = _str(o, "objective.kind") or "throughput"
    if kind not in OBJECTIVES:
        raise SpecError(f"objective.kind: {kind!r} is not one of {', '.join(OBJECTIVES)}")
    pruner = _str(o, "objective.pruner") or ("median" if kind == "throughput" else "none")
    if pruner not in PRUNERS:
        raise SpecError(f"objective.pruner: {pruner!r} is not one of {', '.join(PRUNERS)}")
    if kind == "pareto" and pruner != "none":
        raise SpecError("objective.pruner: Optuna cannot prune multi-objective studies; use 'none'")
    max_p99 = o.get("max_p99_ratio")
    if max_p99 is not None:
        max_p99 = _positive(o, "objective.max_p99_ratio", 1.0)
    return ObjectiveSpec(kind=kind, pruner=pruner, max_p99_ratio=max_p99)


def _parse_budget(b: Mapping[str, Any]) -> BudgetSpec:
    _only_keys(
        b, "budget", {"trials", "timeout", "repetitions", "finalists", "finalist_repetitions"}
    )
    timeout = b.get("timeout")
    return BudgetSpec(
        trials=_int(b, "budget.trials", 100, minimum=1),
        timeout_s=None if timeout is None else parse_duration(timeout, "budget.timeout"),
        repetitions=_int(b, "budget.repetitions", None, minimum=1),
        finalists=_int(b, "budget.finalists", 3, minimum=0),
        finalist_repetitions=_int(b, "budget.finalist_repetitions", 20, minimum=1),
    )


def _parse_sampler(s: Mapping[str, Any]) -> SamplerSpec:
    _only_keys(s, "sampler", {"name", "seed", "population_size"})
    return SamplerSpec(
        name=_str(s, "sampler.name") or "auto",
        seed=_int(s, "sampler.seed", None, minimum=0),
        population_size=_int(s, "sampler.population_size", None, minimum=2),
    )


def _parse_params(raw: Any) -> tuple[ParamSpec, ...]:
    if raw is None:
        raise SpecError("param: a study needs at least one [[param]]")
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise SpecError("param: must be an array of tables ([[param]])")
    params: list[ParamSpec] = []
    seen: set[str] = set()
    for i, p in enumerate(raw):
        where = f"param[{i}]"
        name = p.get("name")
        if isinstance(name, str):
            where = f"param[{i}] ({name})"
        params.append(_parse_param(p, where))
        if params[-1].name in seen:
            raise SpecError(f"{where}.name: duplicate param name {params[-1].name!r}")
        if params[-1].name in OUTCOME_NAMES:
            raise SpecError(f"{where}.name: {params[-1].name!r} is reserved for measured values")
        seen.add(params[-1].name)
    return tuple(params)


def _parse_param(p: Mapping[str, Any], where: str) -> ParamSpec:
    _only_keys(
        p,
        where,
        {
            "name",
            "kind",
            "low",
            "high",
            "step",
            "log",
            "choices",
            "default",
            "stage",
            "args",
            "env",
        },
    )
    name = _str(p, f"{where}.name", required=True)
    assert name is not None
    if not _NAME_RE.match(name):
        raise SpecError(f"{where}.name: {name!r} must be dotted identifiers like 'pool.capacity'")
    kind = _str(p, f"{where}.kind", required=True)
    if kind not in PARAM_KINDS:
        raise SpecError(f"{where}.kind: {kind!r} is not one of {', '.join(PARAM_KINDS)}")
    stage = _str(p, f"{where}.stage") or "runtime"
    if stage not in STAGES:
        raise SpecError(f"{where}.stage: {stage!r} is not one of {', '.join(STAGES)}")
    if "default" not in p:
        raise SpecError(f"{where}.default: missing (the default config is measured first)")
    default = p["default"]
    log = p.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{where}.log: expected true or false, got {log!r}")

    build_args: dict[str, tuple[str, ...]] = {}
    build_env = _str(p, f"{where}.env")
    if stage == "runtime" and ("args" in p or build_env is not None):
        raise SpecError(f"{where}: 'args' and 'env' are only for stage = \"build\" params")

    if kind == "categorical":
        for key in ("low", "high", "step"):
            if key in p:
                raise SpecError(f"{where}.{key}: categorical params take 'choices', not ranges")
        if log:
            raise SpecError(f"{where}.log: categorical params cannot be log-scaled")
        choices = p.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}.choices: a non-empty list is required for categorical params")
        for c in choices:
            if isinstance(c, dict | list):
                raise SpecError(f"{where}.choices: {c!r} is not a string, number or boolean")
        if len({repr(c) for c in choices}) != len(choices):
            raise SpecError(f"{where}.choices: duplicate values in {choices!r}")
        if default not in choices:
            raise SpecError(f"{where}.default: {default!r} is not one of the choices {choices!r}")
        if "args" in p:
            args = p["args"]
            if not isinstance(args, dict):
                raise SpecError(f"{where}.args: expected a table choice -> list of build args")
            for choice in choices:
                if str(choice) not in args:
                    raise SpecError(f"{where}.args: no entry for choice {choice!r}")
            for key, value in args.items():
                if key not in {str(c) for c in choices}:
                    raise SpecError(f"{where}.args.{key}: not one of the choices {choices!r}")
                if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                    raise SpecError(f"{where}.args.{key}: expected a list of strings")
                build_args[key] = tuple(value)
        return ParamSpec(
            name=name,
            kind=kind,
            default=default,
            stage=stage,
            choices=tuple(choices),
            log=False,
            build_args=build_args,
            build_env=build_env,
        )

    if "choices" in p:
        raise SpecError(f"{where}.choices: only categorical params take choices")
    if "args" in p:
        raise SpecError(f"{where}.args: only categorical build params map choices to args")
    number: type = int if kind == "int" else float
    low = _number(p, f"{where}.low", kind)
    high = _number(p, f"{where}.high", kind)
    if low >= high:
        raise SpecError(f"{where}.high: must be greater than low ({low}), got {high}")
    step = p.get("step")
    if step is not None:
        step = _number(p, f"{where}.step", kind)
        if step <= 0:
            raise SpecError(f"{where}.step: must be positive, got {step}")
        if log and step != 1:
            raise SpecError(f"{where}.step: cannot combine a step with log = true")
    if log and low <= 0:
        raise SpecError(f"{where}.low: log-scaled params need low > 0, got {low}")
    if isinstance(default, bool) or not isinstance(default, int | float):
        raise SpecError(f"{where}.default: expected a number, got {default!r}")
    if kind == "int" and not isinstance(default, int):
        raise SpecError(f"{where}.default: expected an integer, got {default!r}")
    if not low <= default <= high:
        raise SpecError(f"{where}.default: {default} is outside [{low}, {high}]")
    if step is not None:
        offset = (default - low) / step
        if abs(offset - round(offset)) > 1e-9:
            raise SpecError(
                f"{where}.default: {default} is not on the grid low + k*step ({low}, {step})"
            )
        if kind == "int" and (high - low) % step:
            raise SpecError(f"{where}.high: (high - low) must be a multiple of step {step}")
    return ParamSpec(
        name=name,
        kind=kind,
        default=number(default),
        stage=stage,
        low=low,
        high=high,
        step=step,
        log=log,
        build_env=build_env,
    )


def _parse_constraints(raw: Any, params: tuple[ParamSpec, ...]) -> tuple[ConstraintSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise SpecError("constraint: must be an array of tables ([[constraint]] with expr = ...)")
    numeric = {p.name for p in params if p.kind != "categorical"}
    categorical = {p.name for p in params if p.kind == "categorical"}
    result: list[ConstraintSpec] = []
    for i, c in enumerate(raw):
        where = f"constraint[{i}]"
        _only_keys(c, where, {"expr", "name"})
        expr = _str(c, f"{where}.expr", required=True)
        assert expr is not None
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError:
            raise SpecError(f"{where}.expr: {expr!r} is not an expression like 'a <= b'") from None
        body = tree.body
        if not isinstance(body, ast.Compare) or len(body.ops) != 1:
            raise SpecError(f"{where}.expr: {expr!r} must be one comparison 'lhs <= rhs'")
        if not isinstance(body.ops[0], ast.LtE | ast.Lt | ast.GtE | ast.Gt):
            raise SpecError(f"{where}.expr: only <=, <, >=, > are supported in {expr!r}")
        names = _names(body.left, where, expr) + _names(body.comparators[0], where, expr)
        if not names:
            raise SpecError(f"{where}.expr: {expr!r} names no param")
        for n in names:
            if n in categorical:
                raise SpecError(f"{where}.expr: {n!r} is categorical; constraints are numeric")
            if n not in numeric and n not in OUTCOME_NAMES:
                raise SpecError(
                    f"{where}.expr: {n!r} is not a numeric param or one of {OUTCOME_NAMES}"
                )
        outcome = any(n in OUTCOME_NAMES for n in names)
        if outcome and not all(n in OUTCOME_NAMES for n in names):
            raise SpecError(f"{where}.expr: do not mix params and measured values in {expr!r}")
        name = _str(c, f"{where}.name") or expr
        result.append(ConstraintSpec(name, expr, tuple(dict.fromkeys(names)), outcome, tree))
    return tuple(result)


# ---------------------------------------------------------------------------- helpers


def _names(node: ast.AST, where: str, expr: str) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise SpecError(f"{where}.expr: booleans are not allowed in {expr!r}")
        return []
    dotted = _dotted(node)
    if dotted is not None:
        return [dotted]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        return _names(node.left, where, expr) + _names(node.right, where, expr)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _names(node.operand, where, expr)
    raise SpecError(f"{where}.expr: only names, numbers and + - * / are allowed in {expr!r}")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> float:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return float(node.value)
    dotted = _dotted(node)
    if dotted is not None:
        return float(values[dotted])
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, values)
    assert isinstance(node, ast.BinOp)
    a, b = _evaluate(node.left, values), _evaluate(node.right, values)
    if isinstance(node.op, ast.Add):
        return a + b
    if isinstance(node.op, ast.Sub):
        return a - b
    if isinstance(node.op, ast.Mult):
        return a * b
    return a / b if b else math.inf


def _plain(value: Any) -> Any:
    """TOML data as JSON-able values (TOML dates become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _only_keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise SpecError(f"{prefix}{key}: unknown field (allowed: {', '.join(sorted(allowed))})")


def _table(
    data: Mapping[str, Any], name: str, *, required: bool = True, key: str | None = None
) -> Mapping[str, Any]:
    value = data.get(key or name)
    if value is None:
        if required:
            raise SpecError(f"{name}: missing section [{name}]")
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{name}: expected a table [{name}], got {type(value).__name__}")
    return value


def _str(t: Mapping[str, Any], where: str, *, required: bool = False) -> str | None:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key)
    if value is None:
        if required:
            raise SpecError(f"{where}: missing")
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}: expected a string, got {value!r}")
    if required and not value.strip():
        raise SpecError(f"{where}: must not be empty")
    return value


def _str_list(t: Mapping[str, Any], where: str, *, required: bool = False) -> list[str]:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key)
    if value is None:
        if required:
            raise SpecError(f"{where}: missing")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: expected a list of strings, got {value!r}")
    return value


def _str_map(t: Mapping[str, Any], where: str) -> dict[str, str]:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SpecError(f"{where}: expected a table of strings, got {value!r}")
    return dict(value)


def _cpus(t: Mapping[str, Any], where: str, default: str) -> str:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise SpecError(f"{where}: expected a CPU list like '0' or '0-1,3', got {value!r}")
    return value


def _positive(t: Mapping[str, Any], where: str, default: float) -> float:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SpecError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def _int(t: Mapping[str, Any], where: str, default: int | None, *, minimum: int) -> Any:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _number(p: Mapping[str, Any], where: str, kind: str) -> Any:
    key = where.rsplit(".", 1)[-1]
    if key not in p:
        raise SpecError(f"{where}: missing (required for {kind} params)")
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if kind == "int":
        if not isinstance(value, int):
            raise SpecError(f"{where}: expected an integer for an int param, got {value!r}")
        return value
    if not math.isfinite(value):
        raise SpecError(f"{where}: must be finite, got {value!r}")
    return float(value)
