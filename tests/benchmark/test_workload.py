"""Workload specs: defaults, units, weights and errors that name the bad field."""

from __future__ import annotations

from typing import Any

import pytest

from benchmark.prefill import payload, resp
from benchmark.workload import SUITE_TESTS, Workload, WorkloadError


def test_defaults_measure_set_and_get_at_two_pipelines() -> None:
    w = Workload()
    assert w.unit_names == ("SET@P1", "GET@P1", "SET@P16", "GET@P16")
    assert w.duration_s == 1.0 and w.requests is None
    assert w.weight("GET@P16") == 1.0


def test_from_dict_round_trips_and_accepts_requests_alone() -> None:
    w = Workload.from_dict(
        {
            "tests": ["SET", "lrange_100"],
            "pipelines": [1],
            "requests": 5000,
            "weights": {"SET@P1": 2},
        }
    )
    assert w.tests == ("set", "lrange_100")
    assert w.requests == 5000 and w.duration_s is None
    assert w.weight("SET@P1") == 2.0 and w.weight("LRANGE_100@P1") == 1.0
    assert Workload.from_dict(w.to_dict()) == w


def test_workloads_are_hashable_and_equal_by_value() -> None:
    a = Workload(weights={"SET@P1": 2.0})
    b = Workload.from_dict({"weights": {"SET@P1": 2.0}})
    assert a == b and hash(a) == hash(b) and len({a, b, Workload()}) == 2


def test_comma_separated_strings_are_lists() -> None:
    w = Workload.from_dict({"tests": "set, GET", "pipelines": [4]})
    assert w.tests == ("set", "get")


def test_every_suite_test_is_accepted() -> None:
    assert Workload(tests=SUITE_TESTS).tests == SUITE_TESTS


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"tests": ["sett"]}, "workload.tests"),
        ({"tests": []}, "workload.tests"),
        ({"pipelines": [0]}, "workload.pipelines"),
        ({"pipelines": [1, 1]}, "workload.pipelines"),
        ({"clients": 0}, "workload.clients"),
        ({"clients": True}, "workload.clients"),
        ({"requests": 100, "duration_s": 1.0}, "workload.requests"),
        ({"duration_s": -1.0}, "workload.duration_s"),
        ({"min_repetitions": 1}, "workload.min_repetitions"),
        ({"min_repetitions": 6, "max_repetitions": 5}, "workload.max_repetitions"),
        ({"target_ci_pct": 0}, "workload.target_ci_pct"),
        ({"confidence": 1.0}, "workload.confidence"),
        ({"weights": {"SET@P2": 1.0}}, "workload.weights"),
        ({"weights": {"SET@P1": -1.0}}, "workload.weights"),
        (
            {"weights": dict.fromkeys(("SET@P1", "GET@P1", "SET@P16", "GET@P16"), 0)},
            "workload.weights",
        ),
        ({"warmup": "yes"}, "workload.warmup"),
        ({"seconds": 3}, "workload.seconds"),
    ],
)
def test_bad_specs_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(WorkloadError, match=f"^{field}:"):
        Workload.from_dict(data)


def test_resp_encoding() -> None:
    assert resp(["SET", "k", "vé"]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\xc3\xa9\r\n"


def test_get_prefill_writes_every_key_of_the_keyspace() -> None:
    data = payload("get", keyspace=2500, data_size=4, requests=10)
    assert data.count(b"MSET") == 3
    assert data.count(b"key:") == 2500
    assert b"key:000000000000" in data and b"key:000000002499" in data
    assert b"key:000000002500" not in data


@pytest.mark.parametrize(
    ("test", "key", "count"),
    [("lpop", b"mylist", 1500), ("rpop", b"mylist", 1500), ("spop", b"myset", 1500)],
)
def test_pop_prefill_holds_one_element_per_request(test: str, key: bytes, count: int) -> None:
    data = payload(test, keyspace=10, data_size=8, requests=count)
    assert data.count(key) == 2
    assert data.count(b"xxxxxxxx") + data.count(b"element:") == count


def test_write_tests_need_no_prefill() -> None:
    for test in ("set", "incr", "lpush", "lrange_100", "mset", "xadd", "ping_inline"):
        assert payload(test, keyspace=100, data_size=8, requests=100) == b""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("health_threshold", 1.0, r"workload\.health_threshold: expected a fraction"),
        ("health_threshold", -0.1, r"workload\.health_threshold: expected a fraction"),
        ("health_threshold", "half", r"workload\.health_threshold: expected a fraction"),
        ("max_dropped", -1, r"workload\.max_dropped: expected an integer >= 0"),
        ("max_dropped", 1.5, r"workload\.max_dropped: expected an integer >= 0"),
    ],
)
def test_bad_health_guard_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        Workload.from_dict({field: value})


def test_health_guard_defaults_and_off() -> None:
    assert (Workload().health_threshold, Workload().max_dropped) == (0.5, 3)
    assert Workload.from_dict({"health_threshold": 0}).health_threshold == 0
