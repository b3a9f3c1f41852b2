"""Parsing of [[constraint]]: each expression checked against the params it names."""

from __future__ import annotations

import ast
from typing import Any

from tuner.spec._errors import SpecError
from tuner.spec._expr import expression_names
from tuner.spec._fields import only_keys, str_field
from tuner.spec._model import OUTCOME_NAMES, ConstraintSpec, ParamSpec

__all__ = ["parse_constraints"]


def parse_constraints(raw: Any, params: tuple[ParamSpec, ...]) -> tuple[ConstraintSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise SpecError("constraint: must be an array of tables ([[constraint]] with expr = ...)")
    numeric = {p.name for p in params if p.kind != "categorical"}
    categorical = {p.name for p in params if p.kind == "categorical"}
    result: list[ConstraintSpec] = []
    for i, c in enumerate(raw):
        where = f"constraint[{i}]"
        only_keys(c, where, {"expr", "name"})
        expr = str_field(c, f"{where}.expr", required=True)
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
        names = expression_names(body.left, where, expr) + expression_names(
            body.comparators[0], where, expr
        )
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
        name = str_field(c, f"{where}.name") or expr
        result.append(ConstraintSpec(name, expr, tuple(dict.fromkeys(names)), outcome, tree))
    return tuple(result)
