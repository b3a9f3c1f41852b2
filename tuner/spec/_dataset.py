"""Parsing of ``[workload.dataset]``: the data loaded into both servers to measure memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuner.spec._errors import SpecError

__all__ = ["ELEMENT_ALIASES", "parse_datasets"]

#: Friendlier names for ``elements`` (benchmark.dataset's field), by kind.
ELEMENT_ALIASES = {"fields": "hash", "members": ("set", "zset")}


def parse_datasets(workload: Mapping[str, Any]) -> tuple[Any, ...]:
    """``[workload.dataset]`` (one table) or ``[[workload.dataset]]`` (several, of distinct
    kinds: keys are named ``<kind>:<n>``) as ``benchmark.dataset.DatasetSpec``s."""
    raw = workload.get("dataset")
    if raw is None:
        return ()
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise SpecError(
            "workload.dataset: expected a table ([workload.dataset]) or an array of tables "
            "([[workload.dataset]])"
        )
    specs = []
    for i, table in enumerate(tables):
        where = "workload.dataset" if isinstance(raw, dict) else f"workload.dataset[{i}]"
        specs.append(_one(table, where, i))
    kinds = [s.kind for s in specs]
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise SpecError(
                f"workload.dataset: two datasets of kind {kind!r} would write the same keys "
                f"({kind}:0000000000, ...); give each kind one dataset"
            )
    return tuple(specs)


def _one(table: Mapping[str, Any], where: str, index: int) -> Any:
    from benchmark.dataset import DatasetError, DatasetSpec

    data = dict(table)
    kind = data.get("kind")
    for alias, kinds in ELEMENT_ALIASES.items():
        if alias not in data:
            continue
        allowed = (kinds,) if isinstance(kinds, str) else kinds
        if kind not in allowed:
            raise SpecError(f"{where}.{alias}: only for kind {' or '.join(allowed)}; use elements")
        if "elements" in data:
            raise SpecError(f"{where}.{alias}: give {alias} or elements, not both")
        data["elements"] = data.pop(alias)
    if kind == "suite":
        raise SpecError(
            f"{where}.kind: 'suite' (redis-benchmark's own data) is for `python -m benchmark "
            "memory`; a study loads string, hash, set, zset or list datasets"
        )
    data.setdefault("name", f"{kind}-dataset" if isinstance(kind, str) else f"dataset-{index}")
    try:
        return DatasetSpec.from_dict(data)
    except DatasetError as exc:
        message = str(exc)
        raise SpecError(message.replace("dataset", where, 1)) from None
