"""Differential tests: the same commands to Redis 8.0 and to our server must get identical replies.

Random programs per command family (hypothesis, derandomized so CI is deterministic) plus
hand-written cases per family so coverage of each path does not depend on luck.
Run the harness Redis-vs-Redis with RSO_SUBJECT=redis; RSO_DIFF_EXAMPLES scales the example count.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.commands import FAMILIES, RANDOM, mixed_program, program
from tests.server.conftest import RunningServer
from tests.server.differ import Differ
from tests.server.resp import Resp3, Simple

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("RSO_DIFF_EXAMPLES", "300"))

settings.register_profile(
    "rso-differential",
    derandomize=True,
    deadline=None,
    max_examples=EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def differ(redis8: RunningServer, ours: RunningServer) -> Iterator[Differ]:
    with redis8.client() as ref, ours.client() as sub:
        yield Differ(ref, sub)


def fresh(differ: Differ) -> Differ:
    """Empty both keyspaces and forget the transcript (one differ serves many examples)."""
    differ.history.clear()
    differ.queued = None
    for client in (differ.ref, differ.sub):
        client.execute("SELECT", "0")  # harmless inside MULTI: DISCARD below drops it
        if client.execute("FLUSHDB") != Simple(b"OK"):
            differ.both(("DISCARD",))
            assert client.execute("FLUSHDB") == Simple(b"OK")
    return differ


def run_program(differ: Differ, steps: Sequence[Sequence[str]]) -> None:
    fresh(differ)
    differ.run_all(steps)
    differ.finish()


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(settings.get_profile("rso-differential"))
@given(data=st.data())
def test_random_programs_per_family(differ: Differ, family: str, data: st.DataObject) -> None:
    run_program(differ, data.draw(program(family), label="commands"))


@settings(settings.get_profile("rso-differential"), max_examples=max(EXAMPLES, 1) * 2)
@given(steps=mixed_program())
def test_random_programs_all_families(differ: Differ, steps: list) -> None:
    run_program(differ, steps)


def program_of(*text: str) -> list[tuple[str, ...]]:
    """Commands separated by ';', words split the shell way (so '' is the empty string)."""
    return [tuple(shlex.split(c)) for c in "".join(text).split(";") if c.strip()]


TARGETED: dict[str, list[tuple[str, ...]]] = {
    # connection / server
    "ping-echo": program_of("PING; PING hello; ping; ECHO hi; ECHO; PING a b"),
    "select-dbsize-flushdb": program_of(
        "SELECT 0; SET k0 v; DBSIZE; FLUSHDB; DBSIZE; SELECT abc; DBSIZE extra"
    ),
    "type-of-each": program_of(
        "SET k0 v; RPUSH k1 a; SADD k2 a; HSET k3 f v; ZADD k4 1 a; TYPE k0; TYPE k1; "
        "TYPE k2; TYPE k3; TYPE k4; TYPE nokey; XADD k5 1-1 f v; TYPE k5; DEL k5"
    ),
    "unknown-and-arity": program_of(
        "FOO; FOO a b c; getx k0; GET; GET a b; SET k0; set; HSET k1 f; ZADD k1 1; "
        "LPUSH k1; MGET; DEL; EXPIRE k0; XADD k0 1-1; XRANGE k0 -"
    ),
    # keys
    "del-exists-unlink": program_of(
        "MSET k0 a k1 b k2 c; EXISTS k0 k0 k1 nokey; DEL k0 nokey; UNLINK k1 k2 k2; "
        "EXISTS k0 k1 k2; DBSIZE"
    ),
    "expire-family": program_of(
        "SET k0 v; EXPIRE k0 100000; TTL k0; PTTL k0; PERSIST k0; TTL k0; PERSIST k0; "
        "PEXPIRE k0 300000000; TTL k0; EXPIRE k0 200000 NX; EXPIRE k0 500000 GT; "
        "EXPIRE k0 100 LT; TTL k0; EXPIRE k0 10 XX NX; EXPIREAT k0 4102444800; TTL k0; "
        "EXPIRE nokey 100; TTL nokey; PTTL nokey; EXPIRE k0 abc; EXPIRE k0 1.5; "
        "EXPIRE k0 0; EXISTS k0; SET k1 v; EXPIREAT k1 1; EXISTS k1; SET k2 v; "
        "PEXPIRE k2 -5; GET k2; SET k3 v EX 100000; SET k3 w; TTL k3; "
        "EXPIRE k3 9223372036854775807; PEXPIRE k3 9223372036854775807"
    ),
    "keys-scan-randomkey": program_of(
        "RANDOMKEY; MSET k0 a k1 b k2 c k3 d; KEYS *; KEYS k[0-1]; KEYS k?; "
        "KEYS nomatch; SCAN 0; SCAN 0 MATCH k[23]; SCAN 0 COUNT 1; SCAN 0 COUNT 0; "
        "SCAN abc; RANDOMKEY"
    ),
    "rename": program_of(
        "SET k0 v; EXPIRE k0 100000; RENAME k0 k1; TTL k1; GET k0; GET k1; "
        "RENAME k0 k2; RENAME k1 k1; RPUSH k2 a; RENAME k1 k2; TYPE k2"
    ),
    # strings
    "set-options": program_of(
        "SET k0 v EX 100000; TTL k0; SET k0 w KEEPTTL; TTL k0; SET k0 x; TTL k0; "
        "SET k0 y NX; SET k1 y XX; SET k1 y NX; SET k0 z XX GET; SET k2 a GET; "
        "SET k0 v EX 0; SET k0 v EX -1; SET k0 v PX abc; SET k0 v EX 10 PX 10; "
        "SET k0 v NX XX; SET k0 v KEEPTTL EX 100; SET k0 v BOGUS; SET k0 v EX; "
        "RPUSH k3 a; SET k3 v GET; SET k3 v; TYPE k3; SET k4 v EXAT 4102444800; "
        "TTL k4; SET k4 v PXAT 4102444800000; PTTL k4; "
        "SET k0 v EX 9223372036854775807; SET k0 v PX 9223372036854775807"
    ),
    "setnx-setex-mset": program_of(
        "SETNX k0 a; SETNX k0 b; GET k0; SETEX k1 100000 v; TTL k1; SETEX k1 0 v; "
        "SETEX k1 abc v; MSET k2 a k3 b; MSET k2; MSETNX k3 x k4 y; MSETNX k4 y; "
        "MGET k0 k1 k2 k3 k4 nokey; RPUSH k0x a; MGET k0x k0"
    ),
    "incr-decr": program_of(
        "INCR k0; INCRBY k0 10; DECR k0; DECRBY k0 -5; INCRBY k0 abc; INCRBY k0 1.5; "
        "SET k1 9223372036854775807; INCR k1; SET k1 -9223372036854775808; DECR k1; "
        "DECRBY k1 -9223372036854775808; SET k2 abc; INCR k2; SET k3 ' 1'; SET k3 010; "
        "INCR k3; SET k3 +5; INCR k3; SET k3 -0; INCR k3; SET k4 99999999999999999999; "
        "INCR k4; INCRBY k4 99999999999999999999"
    ),
    "incrbyfloat": program_of(
        "INCRBYFLOAT k0 1.5; INCRBYFLOAT k0 0.25; INCRBYFLOAT k0 -1.75; "
        "INCRBYFLOAT k0 1e2; INCRBYFLOAT k0 abc; INCRBYFLOAT k0 inf; "
        "INCRBYFLOAT k0 nan; SET k1 10; INCRBYFLOAT k1 0.1; INCRBYFLOAT k1 3; "
        "SET k2 3.0; INCRBYFLOAT k2 0; SET k3 5.0e3; INCRBYFLOAT k3 1; SET k4 abc; "
        "INCRBYFLOAT k4 1; SET k4 1; INCRBYFLOAT k4 -1; INCRBYFLOAT k4 2.5e-3"
    ),
    "incrbyfloat-decimal-rounding": program_of(
        "INCRBYFLOAT k0 0.1; INCRBYFLOAT k0 0.2; GET k0; INCRBYFLOAT k1 1.1; INCRBYFLOAT k1 2.2"
    ),
    "append-strlen-ranges": program_of(
        "APPEND k0 hello; APPEND k0 ' world'; STRLEN k0; STRLEN nokey; "
        "GETRANGE k0 0 4; GETRANGE k0 -5 -1; GETRANGE k0 5 2; GETRANGE k0 -100 100; "
        "GETRANGE k0 a b; GETRANGE nokey 0 1; SETRANGE k0 6 WORLD; GET k0; "
        "SETRANGE k1 3 x; GET k1; SETRANGE k1 -1 x; SETRANGE k1 536870912 x; "
        "SETRANGE k2 0 "
        "; EXISTS k2; SETRANGE k0 0 "
        "; SET k3 10; APPEND k3 5; "
        "INCR k3"
    ),
    "getset-getdel": program_of(
        "GETSET k0 a; GETSET k0 b; SET k1 v EX 100000; GETSET k1 w; TTL k1; GETDEL k1; "
        "GETDEL k1; RPUSH k2 a; GETSET k2 v; GETDEL k2"
    ),
    # lists
    "list-push-pop": program_of(
        "LPUSH k0 a b c; RPUSH k0 d e; LRANGE k0 0 -1; LPUSHX k1 a; RPUSHX k1 a; "
        "LPUSHX k0 z; RPUSHX k0 y; LPOP k0; RPOP k0; LPOP k0 2; RPOP k0 0; LPOP k0 -1; "
        "LPOP k0 abc; RPOP k0 10; EXISTS k0; LPOP k0; LPOP k0 2; RPOP nokey 1; "
        "LLEN k0"
    ),
    "list-index-set-range": program_of(
        "RPUSH k0 a b c d e; LINDEX k0 0; LINDEX k0 -1; LINDEX k0 10; LINDEX k0 x; "
        "LSET k0 1 B; LSET k0 -1 E; LSET k0 9 x; LSET nokey 0 x; LRANGE k0 1 -2; "
        "LRANGE k0 -100 100; LRANGE k0 3 1; LRANGE k0 a 1"
    ),
    "list-rem-trim-insert": program_of(
        "RPUSH k0 a b a c a d; LREM k0 2 a; LRANGE k0 0 -1; LREM k0 -1 a; LREM k0 0 z; "
        "RPUSH k1 x y x; LREM k1 0 x; LTRIM k0 1 -1; LRANGE k0 0 -1; LTRIM k0 5 10; "
        "EXISTS k0; RPUSH k2 a b c; LINSERT k2 BEFORE b X; LINSERT k2 after c Y; "
        "LINSERT k2 BEFORE zz X; LINSERT nokey BEFORE a b; LINSERT k2 MIDDLE a b; "
        "LRANGE k2 0 -1"
    ),
    # sets
    "set-basic": program_of(
        "SADD k0 a b c a; SADD k0 d; SREM k0 a z; SMEMBERS k0; SISMEMBER k0 b; "
        "SISMEMBER k0 z; SMISMEMBER k0 b z c; SCARD k0; SCARD nokey; SMEMBERS nokey; "
        "SREM k0 b c d; EXISTS k0"
    ),
    "set-algebra": program_of(
        "SADD k0 a b c d; SADD k1 c d e; SADD k2 a; SINTER k0 k1; SUNION k0 k1 k2; "
        "SDIFF k0 k1 k2; SINTER k0 nokey; SDIFF nokey k0; SINTERSTORE k3 k0 k1; "
        "SMEMBERS k3; SUNIONSTORE k3 k0 k2; SDIFFSTORE k4 k0 k0; EXISTS k4; "
        "SET k4 str; SINTER k0 k4; SUNIONSTORE k0 k4; SDIFFSTORE k4 k0 k1; TYPE k4; "
        "SINTERSTORE k3 nokey k0; EXISTS k3"
    ),
    "set-random": program_of(
        "SADD k0 a b c d e; SPOP k0; SCARD k0; SPOP k0 2; SCARD k0; SPOP k0 0; "
        "SPOP k0 -1; SRANDMEMBER k0; SRANDMEMBER k0 10; SRANDMEMBER k0 -5; "
        "SRANDMEMBER k0 0; SRANDMEMBER nokey; SRANDMEMBER nokey 3; SPOP nokey; "
        "SPOP nokey 3; SPOP k0 100; EXISTS k0"
    ),
    # hashes
    "hash-basic": program_of(
        "HSET k0 f1 a f2 b; HSET k0 f1 c; HSETNX k0 f1 z; HSETNX k0 f3 z; HGET k0 f1; "
        "HGET k0 nof; HMGET k0 f1 nof f3; HMSET k0 f4 d; HGETALL k0; HLEN k0; "
        "HEXISTS k0 f4; HEXISTS k0 nof; HKEYS k0; HVALS k0; HSTRLEN k0 f1; "
        "HSTRLEN k0 nof; HDEL k0 f1 f2 nof; HDEL k0 f3 f4; EXISTS k0; HGETALL nokey; "
        "HSET k0 f1; HMSET k0 f1"
    ),
    "hash-incr": program_of(
        "HINCRBY k0 f 5; HINCRBY k0 f -10; HINCRBY k0 f abc; HSET k0 g x; "
        "HINCRBY k0 g 1; HSET k0 h 9223372036854775807; HINCRBY k0 h 1; "
        "HINCRBYFLOAT k0 f 1.5; HINCRBYFLOAT k0 f abc; HINCRBYFLOAT k0 g 1; "
        "HINCRBYFLOAT k0 z 0.1; HINCRBYFLOAT k0 z inf; HGETALL k0"
    ),
    # sorted sets
    "zadd-flags": program_of(
        "ZADD k0 1 a 2 b 3 c; ZADD k0 NX 5 a 4 d; ZADD k0 XX 6 a 7 e; "
        "ZADD k0 CH 1 a 2 b; ZADD k0 GT 0 a; ZADD k0 GT CH 10 a; "
        "ZADD k0 LT CH 10 b 0 c; ZADD k0 INCR 2 a; ZADD k0 INCR 1 a 2 b; "
        "ZADD k0 NX GT 1 a; ZADD k0 NX XX 1 a; ZADD k0 XX INCR 1 z; "
        "ZADD k0 NX INCR 1 a; ZADD k0 abc a; ZADD k0 nan a; ZADD k0 1; ZADD k0 inf i; "
        "ZADD k0 -inf j; ZADD k0 1.5 k 1e2 l -0.25 m; ZRANGE k0 0 -1 WITHSCORES"
    ),
    "zscore-rank-count": program_of(
        "ZADD k0 1 a 2 b 2 c 3.5 d; ZSCORE k0 d; ZSCORE k0 z; ZMSCORE k0 a z d; "
        "ZMSCORE nokey a; ZINCRBY k0 1.5 a; ZINCRBY k0 abc a; ZINCRBY k0 inf a; "
        "ZINCRBY k0 -inf a; ZCARD k0; ZCOUNT k0 -inf +inf; ZCOUNT k0 (2 3.5; "
        "ZCOUNT k0 x 1; ZRANK k0 b; ZRANK k0 z; ZREVRANK k0 b; ZREM k0 a z; ZCARD k0; "
        "ZINCRBY k1 0.1 m; ZINCRBY k1 0.2 m"
    ),
    "zrange-forms": program_of(
        "ZADD k0 1 a 2 b 3 c 4 d 5 e; ZRANGE k0 0 -1; ZRANGE k0 1 2 WITHSCORES; "
        "ZRANGE k0 0 -1 REV; ZRANGE k0 2 4 BYSCORE; "
        "ZRANGE k0 (2 +inf BYSCORE LIMIT 1 2; "
        "ZRANGE k0 +inf -inf BYSCORE REV WITHSCORES; "
        "ZRANGE k0 5 (1 BYSCORE REV LIMIT 0 -1; ZRANGE k0 0 -1 LIMIT 0 1; "
        "ZRANGE k0 a b; ZRANGE k0 0 -1 BOGUS; ZREVRANGE k0 0 1; "
        "ZREVRANGE k0 0 -1 WITHSCORES; ZRANGEBYSCORE k0 -inf +inf; "
        "ZRANGEBYSCORE k0 2 4 WITHSCORES LIMIT 1 5; ZRANGEBYSCORE k0 (1 (5; "
        "ZRANGEBYSCORE k0 x 1; ZRANGE nokey 0 -1"
    ),
    "zpop": program_of(
        "ZADD k0 1 a 2 b 3 c 4 d; ZPOPMIN k0; ZPOPMAX k0; ZPOPMIN k0 0; ZPOPMIN k0 5; "
        "EXISTS k0; ZPOPMIN k0; ZPOPMAX nokey 2; ZPOPMIN k0 -1; ZPOPMIN k0 abc"
    ),
    # streams
    "streams": program_of(
        "XADD k0 1-1 f v; XADD k0 1-1 f v; XADD k0 1-2 f v g w; XADD k0 0-0 f v; "
        "XADD k0 2 f v; XADD k0 2-* f v; XADD k0 3-* f; XADD k0 abc f v; XLEN k0; "
        "XLEN nokey; XRANGE k0 - +; XRANGE k0 1-2 +; XRANGE k0 (1-1 2; "
        "XRANGE k0 - + COUNT 2; XRANGE k0 - + COUNT 0; XRANGE k0 x +; XADD k1 0-0 f v; "
        "EXISTS k1; SET k2 v; XADD k2 1-1 f v; XLEN k2"
    ),
    # transactions
    "multi-exec": program_of(
        "MULTI; SET k0 1; INCR k0; GET k0; EXEC; MULTI; SET k1 a; DISCARD; EXISTS k1; "
        "EXEC; DISCARD; MULTI; MULTI; GET; SET k1 b; EXEC; EXISTS k1; MULTI; SET k2 a; "
        "INCR k2; LPUSH k2 x; EXEC; MULTI; FOO; EXEC"
    ),
    "wrongtype-matrix": program_of(
        "SET k0 v; RPUSH k1 a; SADD k2 a; HSET k3 f v; ZADD k4 1 a; LPUSH k0 a; "
        "SADD k1 a; HSET k2 f v; ZADD k3 1 a; GET k4; INCR k1; APPEND k2 a; LLEN k3; "
        "SCARD k4; HGET k0 f; ZSCORE k1 a; XADD k2 1-1 f v; XLEN k3; XRANGE k4 - +; "
        "SMEMBERS k0; HGETALL k1; ZRANGE k2 0 -1; LRANGE k3 0 -1; STRLEN k4; "
        "GETRANGE k1 0 1; SETRANGE k2 0 a"
    ),
}


TARGETED["transaction-command-arity"] = program_of(
    "EXEC k0; DISCARD x; MULTI x; MULTI; SET k0 1; EXEC k0; EXEC; GET k0; MULTI; DISCARD x; "
    "SET k1 1; DISCARD; EXISTS k1; MULTI; MULTI x; SET k2 1; EXEC; EXISTS k2"
)
GLOB_KEYS = ["k0", "k1", "ka", "kz", "k*", "k[", "k\\", "K0", "k", "k00", "a-b", "x]y", "?", "["]
GLOB_PATTERNS = [
    "*", "k?", "k[0-9]", "k[9-0]", "k[^0]", "k[", "k[a-", "[k]0", "k\\*", "k*\\", "\\k0",
    "k[\\]]", "k[a\\-z]", "k**0", "\\?", "[[]", "x[]]y", "k[0-]", "k[-0]", "K*", "a[-]b",
]  # fmt: skip
TARGETED["keys-glob-patterns"] = [
    ("MSET", *(x for k in GLOB_KEYS for x in (k, "v"))),
    *(("KEYS", p) for p in GLOB_PATTERNS),
    *(("SCAN", "0", "MATCH", p, "COUNT", "3") for p in GLOB_PATTERNS[:8]),
    ("DEL", *GLOB_KEYS),
]
# Cases with bytes shlex cannot spell (NUL) are written as tuples.
TARGETED["float-parsing-nul-bytes"] = [
    ("SET", "k0", "1\x00"),
    ("INCRBYFLOAT", "k0", "1"),
    ("SET", "k1", "\x000"),
    ("INCRBYFLOAT", "k1", "1"),
    ("INCRBYFLOAT", "k2", "1\x002"),
    ("HINCRBYFLOAT", "k3", "f", "\x000"),
    ("HSET", "k3", "g", "2\x00"),
    ("HINCRBYFLOAT", "k3", "g", "1"),
    ("ZADD", "k4", "1\x00", "m"),
    ("INCRBY", "k2", "1\x00"),
    ("SET", "k2", "5\x00"),
    ("INCR", "k2"),
]
TARGETED["zset-float-edges"] = [
    ("ZADD", "k0", "1", "m"),
    ("ZADD", "k0", "0x10", "hex"),
    ("ZINCRBY", "k0", "0x1p3", "hex"),
    ("ZADD", "k0", "4.9e-325", "underflow"),
    ("ZADD", "k0", "1e-320", "denormal"),
    ("ZADD", "k0", "1e309", "overflow"),
    ("ZADD", "k0", "-0", "negzero"),
    ("ZSCORE", "k0", "negzero"),
    ("ZINCRBY", "k0", "-0", "negzero2"),
    ("ZSCORE", "k0", "negzero2"),
    ("ZRANGE", "k0", "0", "-1", "WITHSCORES"),
]
TARGETED["zset-range-parsing-quirks"] = [
    ("ZADD", "k0", "1", "m", "-1", "n"),
    ("ZRANGEBYSCORE", "k0", "-inf", ""),
    ("ZRANGEBYSCORE", "k0", "-inf", "\x000"),
    ("ZRANGEBYSCORE", "k0", "-inf", "1e5000"),
    ("ZCOUNT", "k0", "", "+inf"),
    ("ZCOUNT", "k0", "(", "+inf"),
]


@pytest.mark.parametrize("case", sorted(TARGETED))
def test_targeted(differ: Differ, case: str) -> None:
    run_program(differ, TARGETED[case])


def test_binary_safe_values(differ: Differ) -> None:
    """Values with NUL, CR/LF and high bytes round-trip exactly."""
    fresh(differ)
    blob = "\x00\r\n$5\r\n*1\xff\xfe"
    differ.run_all(
        [("SET", "k0", blob), ("GET", "k0"), ("STRLEN", "k0"), ("HSET", "k1", blob, blob)]
    )
    differ.run_all([("HGETALL", "k1"), ("SADD", "k2", blob), ("SMEMBERS", "k2")])
    differ.finish()


def test_keys_really_expire(differ: Differ) -> None:
    """Short TTLs elapse: every read path hides the key afterwards, on both servers alike."""
    fresh(differ)
    differ.run_all(
        program_of(
            "SET k0 v PX 50; RPUSH k1 a; PEXPIRE k1 50; SADD k2 m; EXPIRE k2 100000; "
            "PEXPIRE k2 60; HSET k3 f v; PEXPIREAT k3 1; SET k4 v EX 100000"
        )
    )
    time.sleep(0.4)
    differ.run_all(
        program_of(
            "GET k0; EXISTS k0 k1 k2 k3 k4; TYPE k1; LLEN k1; SCARD k2; TTL k2; PTTL k0; "
            "KEYS *; HGETALL k3; RENAME k0 k5; INCR k0; TTL k0; SADD k2 n; TTL k2"
        )
    )
    differ.run(("SCAN", "0"))
    differ.finish()


def test_big_values(differ: Differ) -> None:
    """Values of hundreds of kilobytes survive SET/APPEND/GETRANGE/SETRANGE intact."""
    fresh(differ)
    big = "".join(chr(48 + i % 75) for i in range(300_000))
    differ.run_all(
        [
            ("SET", "k0", big),
            ("APPEND", "k0", big),
            ("STRLEN", "k0"),
            ("GETRANGE", "k0", "299990", "300010"),
            ("SETRANGE", "k0", "700000", "tail"),
            ("STRLEN", "k0"),
            ("GET", "k0"),
            ("RPUSH", "k1", big, big[:1000]),
            ("LINDEX", "k1", "0"),
            ("HSET", "k2", big[:5000], big),
            ("HSTRLEN", "k2", big[:5000]),
        ]
    )
    differ.finish()


def test_large_collections(differ: Differ) -> None:
    """Thousands of elements: ranges, ranks, removals and set algebra at scale."""
    fresh(differ)
    members = [f"m{i}" for i in range(3000)]
    differ.run_all(
        [
            ("RPUSH", "k0", *members),
            ("SADD", "k1", *members[::2]),
            ("SADD", "k2", *members[::3]),
            ("HSET", "k3", *(x for m in members[:2000] for x in (m, m[::-1]))),
            (
                "ZADD",
                "k4",
                *(x for i, m in enumerate(members) for x in (str((i * 37) % 1001 / 8), m)),
            ),
        ]
    )
    differ.run_all(
        program_of(
            "LRANGE k0 1000 1010; LINDEX k0 -1500; LREM k0 1 m7; LTRIM k0 100 -100; LLEN k0; "
            "LINSERT k0 BEFORE m2000 X; LRANGE k0 1890 1910; SCARD k1; SINTER k1 k2; "
            "SDIFF k1 k2; SINTERSTORE k5 k1 k2; SCARD k5; SUNION k1 k2; HLEN k3; HGET k3 m1999; "
            "HKEYS k3; ZCARD k4; ZRANGE k4 100 120 WITHSCORES; "
            "ZRANGE k4 (10 20 BYSCORE LIMIT 5 10; "
            "ZRANGEBYSCORE k4 -inf 1 WITHSCORES; ZRANK k4 m2999; ZREVRANK k4 m0; ZCOUNT k4 (5 (50; "
            "ZREVRANGE k4 0 9 WITHSCORES; ZPOPMIN k4 5; ZPOPMAX k4 5; ZREM k4 m100 m200; "
            "ZRANGE k4 +inf -inf BYSCORE REV LIMIT 0 7 WITHSCORES"
        )
    )
    differ.finish()


def without_random(steps: Sequence[Sequence[str]]) -> list[Sequence[str]]:
    return [s for s in steps if s[0].upper() not in RANDOM]


@settings(settings.get_profile("rso-differential"))
@given(steps=mixed_program())
def test_random_programs_pipelined(differ: Differ, steps: list) -> None:
    """The whole program in one write: exercises the server's batching under held locks."""
    fresh(differ)
    differ.run_pipelined(without_random(steps))
    differ.finish()


def pipeline_safe(case: str) -> bool:
    """SCAN iteration and TTL timing need interactive order; those run interactively only."""
    return "expire" not in case and not any(s[0].upper() == "SCAN" for s in TARGETED[case])


@pytest.mark.parametrize("case", sorted(c for c in TARGETED if pipeline_safe(c)))
def test_targeted_pipelined(differ: Differ, case: str) -> None:
    fresh(differ)
    steps = without_random(TARGETED[case])
    differ.run_pipelined(steps)
    differ.finish()


def inline_safe(step: Sequence[str]) -> bool:
    """Arguments an inline command can carry verbatim (no quoting needed)."""
    return all(a and a.isascii() and a.isprintable() and not set(a) & set(" \"'\\") for a in step)


@settings(settings.get_profile("rso-differential"))
@given(steps=mixed_program())
def test_random_programs_inline(differ: Differ, steps: list) -> None:
    """The same programs as inline commands (the telnet form redis-benchmark's PING_INLINE uses)."""
    fresh(differ)
    differ.run_pipelined([s for s in without_random(steps) if inline_safe(s)], inline=True)
    differ.finish()


@pytest.mark.parametrize("case", sorted(TARGETED))
def test_targeted_resp3(differ: Differ, case: str) -> None:
    """The hand-written cases after HELLO 3: RESP3 maps, sets, doubles and nulls must match."""
    hello = [client.execute("HELLO", "3") for client in (differ.ref, differ.sub)]
    assert all(isinstance(h, Resp3) and h.kind == b"%" for h in hello), hello
    try:
        run_program(differ, TARGETED[case])
    finally:
        for client in (differ.ref, differ.sub):
            client.execute("HELLO", "2")


@settings(settings.get_profile("rso-differential"))
@given(steps=mixed_program())
def test_random_programs_resp3(differ: Differ, steps: list) -> None:
    """Random programs from every family on RESP3 connections."""
    for client in (differ.ref, differ.sub):
        assert isinstance(client.execute("HELLO", "3"), Resp3)
    try:
        run_program(differ, steps)
    finally:
        for client in (differ.ref, differ.sub):
            client.execute("HELLO", "2")
