"""A thread-count param may not search beyond the server's CPUs (``bounded_by_cpus``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuner.spec import SpecError, load_spec
from tuner.spec._load import cpu_count


def _threads(cpus: str, high: int, **extra: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["target"]["cpus"] = cpus
        for p in data["param"]:
            if p["name"] == "threads":
                p.update({"high": high, "bounded_by_cpus": True, **extra})

    return edit


def test_cpu_lists_are_counted() -> None:
    assert [cpu_count(c) for c in ("0", "0-1", "0-1,3", "2,2")] == [1, 2, 3, 1]


def test_threads_beyond_the_server_cpus_is_a_spec_error(make_spec: Callable[..., Path]) -> None:
    with pytest.raises(
        SpecError, match=r"\(threads\)\.high: 4 is more than the 2 CPU\(s\) in target\.cpus = '0-1'"
    ):
        load_spec(make_spec("wide-space", edit=_threads("0-1", 4)))
    assert load_spec(make_spec("wide-space", edit=_threads("0-1", 2))).param("threads").high == 2
    assert (
        load_spec(make_spec("wide-space", edit=_threads("0-3", 4))).param("threads").bounded_by_cpus
    )


def test_bounded_by_cpus_is_for_int_params(make_spec: Callable[..., Path]) -> None:
    with pytest.raises(SpecError, match=r"bounded_by_cpus: expected true or false"):
        load_spec(make_spec("wide-space", edit=_threads("0-3", 4, bounded_by_cpus="yes")))
