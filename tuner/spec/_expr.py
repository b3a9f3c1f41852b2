"""The constraint expression language: names, numbers, + - * / and one comparison."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any

from tuner.spec._errors import SpecError

__all__ = ["evaluate", "expression_names"]


def expression_names(node: ast.AST, where: str, expr: str) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise SpecError(f"{where}.expr: booleans are not allowed in {expr!r}")
        return []
    dotted = _dotted(node)
    if dotted is not None:
        return [dotted]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        return expression_names(node.left, where, expr) + expression_names(node.right, where, expr)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return expression_names(node.operand, where, expr)
    raise SpecError(f"{where}.expr: only names, numbers and + - * / are allowed in {expr!r}")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def evaluate(node: ast.AST, values: Mapping[str, Any]) -> float:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return float(node.value)
    dotted = _dotted(node)
    if dotted is not None:
        return float(values[dotted])
    if isinstance(node, ast.UnaryOp):
        return -evaluate(node.operand, values)
    assert isinstance(node, ast.BinOp)
    a, b = evaluate(node.left, values), evaluate(node.right, values)
    if isinstance(node.op, ast.Add):
        return a + b
    if isinstance(node.op, ast.Sub):
        return a - b
    if isinstance(node.op, ast.Mult):
        return a * b
    return a / b if b else math.inf
