"""Compact encodings against Redis 8.0: crossing the intset/listpack thresholds both ways.

Random programs (hypothesis, derandomized) grow sets, hashes and sorted sets past their
`*-max-intset-entries` / `*-max-listpack-*` limits in bulk and one element at a time, shrink them
again, mix integer, short and over-the-limit members and values, and hit keys of other types.
Both servers get the same thresholds through CONFIG SET (Redis's names), at the shipped defaults
and at extreme values. Every OBJECT ENCODING, SSCAN/HSCAN/ZSCAN (iterated to the end, so ZSCAN's
listpack-vs-skiplist score text shows) and the final keyspace must match.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.commands import KEYS
from tests.server.conftest import RunningServer
from tests.server.differ import Differ
from tests.server.resp import Simple
from tests.server.test_differential import fresh

__all__ = ["PROFILES"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EXAMPLES = max(int(os.environ.get("RSO_DIFF_EXAMPLES", "300")) // 10, 5)

# Threshold profiles: (intset entries, listpack entries, listpack value), the same for every type.
PROFILES: dict[str, tuple[int, int, int]] = {
    "defaults": (512, 128, 64),
    "zero": (0, 0, 0),
    "one": (1, 1, 1),
    "small": (3, 4, 5),
    "large": (1500, 1000, 300),
}

SETTINGS = {
    "set-max-intset-entries": 0,
    "set-max-listpack-entries": 1,
    "set-max-listpack-value": 2,
    "hash-max-listpack-entries": 1,
    "hash-max-listpack-value": 2,
    "zset-max-listpack-entries": 1,
    "zset-max-listpack-value": 2,
}

SCORES = ("0", "1", "-2", "2.5", "0.1", "1e3", "-inf", "inf", "3")

settings.register_profile(
    "rso-encoding",
    derandomize=True,
    deadline=None,
    max_examples=EXAMPLES,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture
def differ(redis8: RunningServer, ours: RunningServer) -> Iterator[Differ]:
    with redis8.client() as ref, ours.client() as sub:
        yield Differ(ref, sub)


def configure(differ: Differ, profile: tuple[int, int, int]) -> None:
    """Give both servers the same thresholds."""
    for name, which in SETTINGS.items():
        assert differ.both(("CONFIG", "SET", name, str(profile[which]))) == (
            Simple(b"OK"),
            Simple(b"OK"),
        )


def members(profile: tuple[int, int, int]) -> st.SearchStrategy[str]:
    """Integers of every intset width, strings around the value limit, and non-canonical numbers."""
    limit = profile[2]
    lengths = sorted({0, 1, max(limit - 1, 0), limit, limit + 1, 70})
    text = st.builds(lambda n, c: (c * n)[:n], st.sampled_from(lengths), st.sampled_from("abxy"))
    ints = st.integers(-(2**40), 2**40).map(str) | st.integers(-300, 300).map(str)
    return st.one_of(ints, text, st.sampled_from(["007", "-0", "+1", " 1", "12345", "123456"]))


def bulk(profile: tuple[int, int, int]) -> st.SearchStrategy[int]:
    """How many members a bulk step adds: around each entry limit."""
    near = {profile[0], profile[1]}
    sizes = sorted({max(n + d, 1) for n in near for d in (-1, 0, 1, 2)} | {1, 3})
    return st.sampled_from(sizes)


def steps(profile: tuple[int, int, int]) -> st.SearchStrategy[tuple[str, ...]]:
    key = st.sampled_from(KEYS[:3])
    member = members(profile)
    few = st.lists(member, min_size=1, max_size=5)
    score = st.sampled_from(SCORES)

    def bulk_ints(k: str, n: int, base: int) -> tuple[str, ...]:
        return ("SADD", k, *(str(base + i) for i in range(n)))

    def bulk_strs(k: str, n: int, kind: str) -> tuple[str, ...]:
        if kind == "hash":
            return ("HSET", k, *(x for i in range(n) for x in (f"f{i}", str(i))))
        if kind == "zset":
            return ("ZADD", k, *(x for i in range(n) for x in (str(i % 7), f"m{i}")))
        return ("SADD", k, *(f"m{i}" for i in range(n)))

    def bulk_remove(k: str, n: int, kind: str) -> tuple[str, ...]:
        cmd = {"set": "SREM", "hash": "HDEL", "zset": "ZREM"}[kind]
        prefix = {"set": "m", "hash": "f", "zset": "m"}[kind]
        return (cmd, k, *(f"{prefix}{i}" for i in range(n)), *(str(i) for i in range(n)))

    kinds = st.sampled_from(["set", "hash", "zset"])
    return st.one_of(
        st.builds(bulk_ints, key, bulk(profile), st.sampled_from([0, -100, 40000, 2**33])),
        st.builds(bulk_strs, key, bulk(profile), kinds),
        st.builds(bulk_remove, key, bulk(profile), kinds),
        st.builds(lambda k, ms: ("SADD", k, *ms), key, few),
        st.builds(lambda k, ms: ("SREM", k, *ms), key, few),
        st.builds(lambda k, ms: ("SMISMEMBER", k, *ms), key, few),
        st.builds(
            lambda k, ms: ("HSET", k, *(x for m in ms for x in (m, m[::-1] + "v"))), key, few
        ),
        st.builds(lambda k, f, v: ("HSETNX", k, f, v), key, member, member),
        st.builds(
            lambda k, f, n: ("HINCRBY", k, f, str(n)), key, member, st.integers(-(10**12), 10**12)
        ),
        st.builds(lambda k, ms: ("HDEL", k, *ms), key, few),
        st.builds(lambda k, f: ("HGET", k, f), key, member),
        st.builds(
            lambda k, opt, ms, s: ("ZADD", k, *opt, *(x for m in ms for x in (s, m))),
            key,
            st.sampled_from([(), ("NX",), ("XX",), ("GT", "CH")]),
            few,
            score,
        ),
        st.builds(lambda k, s, m: ("ZINCRBY", k, s, m), key, score, member),
        st.builds(lambda k, ms: ("ZREM", k, *ms), key, few),
        st.builds(lambda k, n: ("ZPOPMIN", k, str(n)), key, st.integers(1, 3)),
        st.builds(lambda k, m: ("ZRANK", k, m), key, member),
        st.builds(lambda a, b: ("SUNIONSTORE", "k3", a, b), key, key),
        st.builds(lambda a, b: ("SINTER", a, b), key, key),
        st.builds(lambda k: ("OBJECT", "ENCODING", k), key),
        st.builds(lambda k, c: ("SSCAN", k, "0", "COUNT", c), key, st.sampled_from(["3", "100"])),
        st.builds(lambda k, c: ("HSCAN", k, "0", "COUNT", c), key, st.sampled_from(["3", "100"])),
        st.builds(lambda k, c: ("ZSCAN", k, "0", "COUNT", c), key, st.sampled_from(["3", "100"])),
    )


def check_encodings(differ: Differ) -> None:
    """Every key's encoding (and each collection scanned whole) matches after the program."""
    for key in KEYS[:3]:
        differ.run(("OBJECT", "ENCODING", key))
        differ.run(("SSCAN", key, "0"))
        differ.run(("HSCAN", key, "0"))
        differ.run(("ZSCAN", key, "0"))


@pytest.mark.parametrize("profile", sorted(PROFILES))
@settings(settings.get_profile("rso-encoding"))
@given(data=st.data())
def test_thresholds_crossed_both_ways(differ: Differ, profile: str, data: st.DataObject) -> None:
    limits = PROFILES[profile]
    fresh(differ)
    configure(differ, limits)
    program = data.draw(st.lists(steps(limits), min_size=1, max_size=25), label="commands")
    differ.run_all(program)
    check_encodings(differ)
    differ.finish()


TARGETED = {
    # Grow a small set of integers past set-max-intset-entries, then add a string.
    "intset-to-hashtable": [
        ("SADD", "k0", *map(str, range(512))),
        ("OBJECT", "ENCODING", "k0"),
        ("SADD", "k0", "512"),
        ("OBJECT", "ENCODING", "k0"),
        ("SREM", "k0", *map(str, range(500))),
        ("OBJECT", "ENCODING", "k0"),
        ("SSCAN", "k0", "0"),
    ],
    "intset-to-listpack": [
        ("SADD", "k0", "1", "2", "-70000", "5000000000"),
        ("SADD", "k0", "x"),
        ("OBJECT", "ENCODING", "k0"),
        ("SADD", "k0", *(f"m{i}" for i in range(124))),
        ("OBJECT", "ENCODING", "k0"),
        ("SADD", "k0", "one-more"),
        ("OBJECT", "ENCODING", "k0"),
    ],
    "hash-value-limit": [
        ("HSET", "k1", "f", "x" * 64),
        ("OBJECT", "ENCODING", "k1"),
        ("HSET", "k1", "g", "x" * 65),
        ("OBJECT", "ENCODING", "k1"),
        ("HDEL", "k1", "g"),
        ("OBJECT", "ENCODING", "k1"),
        ("HSCAN", "k1", "0"),
    ],
    "hash-entry-limit": [
        ("HSET", "k1", *(x for i in range(128) for x in (f"f{i}", str(i)))),
        ("OBJECT", "ENCODING", "k1"),
        ("HINCRBY", "k1", "f128", "1"),
        ("OBJECT", "ENCODING", "k1"),
        ("HGETALL", "k1"),
    ],
    "zset-limits": [
        ("ZADD", "k2", *(x for i in range(128) for x in (str(i / 10), f"m{i}"))),
        ("OBJECT", "ENCODING", "k2"),
        ("ZSCAN", "k2", "0"),
        ("ZADD", "k2", "0.1", "m128"),
        ("OBJECT", "ENCODING", "k2"),
        ("ZSCAN", "k2", "0"),
        ("ZADD", "k3", "1", "a" * 65),
        ("OBJECT", "ENCODING", "k3"),
        ("ZADD", "k4", *(x for _ in range(130) for x in ("1", "same"))),
        ("OBJECT", "ENCODING", "k4"),
    ],
    "other-types-and-missing": [
        ("SET", "k0", "12345"),
        ("OBJECT", "ENCODING", "k0"),
        ("OBJECT", "ENCODING", "nokey"),
        ("OBJECT", "ENCODING"),
        ("OBJECT", "NOPE", "k0"),
        ("SADD", "k0", "1"),
        ("HSET", "k0", "f", "v"),
    ],
}


@pytest.mark.parametrize("case", sorted(TARGETED))
def test_targeted_conversions(differ: Differ, case: str) -> None:
    fresh(differ)
    configure(differ, PROFILES["defaults"])
    differ.run_all(TARGETED[case])
    differ.finish()
