"""Parsing of [[param]]: kinds, ranges, steps, choices and build-stage args."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuner.spec._errors import SpecError
from tuner.spec._fields import number_field, only_keys, str_field
from tuner.spec._model import OUTCOME_NAMES, PARAM_KINDS, STAGES, ParamSpec

__all__ = ["parse_params"]

#: Dotted names for nested TOML/JSON (``pool.capacity``); hyphens for Redis directives.
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


def parse_params(raw: Any) -> tuple[ParamSpec, ...]:
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
    only_keys(
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
            "bounded_by_cpus",
        },
    )
    name = str_field(p, f"{where}.name", required=True)
    assert name is not None
    if not _NAME_RE.match(name):
        raise SpecError(
            f"{where}.name: {name!r} must be dotted names like 'pool.capacity' or 'io-threads'"
        )
    kind = str_field(p, f"{where}.kind", required=True)
    if kind not in PARAM_KINDS:
        raise SpecError(f"{where}.kind: {kind!r} is not one of {', '.join(PARAM_KINDS)}")
    stage = str_field(p, f"{where}.stage") or "runtime"
    if stage not in STAGES:
        raise SpecError(f"{where}.stage: {stage!r} is not one of {', '.join(STAGES)}")
    if "default" not in p:
        raise SpecError(f"{where}.default: missing (the default config is measured first)")
    default = p["default"]
    log = p.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{where}.log: expected true or false, got {log!r}")
    bounded = p.get("bounded_by_cpus", False)
    if not isinstance(bounded, bool):
        raise SpecError(f"{where}.bounded_by_cpus: expected true or false, got {bounded!r}")
    if bounded and kind != "int":
        raise SpecError(f"{where}.bounded_by_cpus: only int params (a thread count) take it")

    build_args: dict[str, tuple[str, ...]] = {}
    build_env = str_field(p, f"{where}.env")
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
            distribution=_distribution(where, lambda: CategoricalDistribution(choices)),
        )

    if "choices" in p:
        raise SpecError(f"{where}.choices: only categorical params take choices")
    if "args" in p:
        raise SpecError(f"{where}.args: only categorical build params map choices to args")
    number: type = int if kind == "int" else float
    low = number_field(p, f"{where}.low", kind)
    high = number_field(p, f"{where}.high", kind)
    if low >= high:
        raise SpecError(f"{where}.high: must be greater than low ({low}), got {high}")
    step = p.get("step")
    if step is not None:
        step = number_field(p, f"{where}.step", kind)
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
    distribution: Callable[[], BaseDistribution]
    if kind == "int":
        distribution = partial(IntDistribution, low, high, log=log, step=step or 1)
    else:
        distribution = partial(FloatDistribution, low, high, log=log, step=step)
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
        bounded_by_cpus=bounded,
        distribution=_distribution(where, distribution),
    )


def _distribution(where: str, make: Callable[[], BaseDistribution]) -> BaseDistribution:
    """Optuna's own distribution, built once here so its checks fail the spec, not trials.

    Optuna raises for what it cannot sample (a float ``step`` with ``log = true``) and
    warns when it would move ``high`` onto the step grid; both are spec errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return make()
        except (ValueError, UserWarning) as exc:
            raise SpecError(f"{where}: Optuna rejects this distribution: {exc}") from None
