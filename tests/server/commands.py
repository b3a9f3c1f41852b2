"""Hypothesis strategies that generate Redis commands per family over a tiny key universe.

Keys, fields and members come from small pools so types collide (WRONGTYPE paths), values mix
integers, floats and junk (non-integer errors), and names change case (case-insensitivity).
"""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

Step = tuple[str, ...]

KEYS = ("k0", "k1", "k2", "k3", "k4")
FIELDS = ("f0", "f1", "f2", "f3")
MEMBERS = ("m0", "m1", "m2", "m3", "m4", "1", "2")
VALUES = ("", "0", "1", "-1", "10", "42", "3.5", "0.1", "abc", "hello world", "\x00\xff", "x" * 40)
JUNK_NUMBERS = ("abc", "1.5", "", " 1", "99999999999999999999", "0x10")
FLOATS = ("0", "1", "-2", "1.5", "-0.25", "0.1", "0.2", "1e2", "3.0", "inf", "-inf", "+inf")
JUNK_FLOATS = ("abc", "nan", "", "1.5.5")
STREAM_IDS = (
    "0-0",
    "0-1",
    "1-0",
    "1-1",
    "1-2",
    "2-0",
    "5",
    "5-*",
    "10-3",
    "18446744073709551615-0",
)
BIG_TTL_S = ("100000", "200000", "3000000")
BIG_TTL_MS = ("100000000", "300000000")
NON_POSITIVE = ("0", "-1", "-100")

# Every command the generators use, for the wrong-arity generator.
ALL_COMMANDS = [
    "PING",
    "ECHO",
    "SELECT",
    "DBSIZE",
    "FLUSHDB",
    "TYPE",
    "DEL",
    "UNLINK",
    "EXISTS",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "TTL",
    "PTTL",
    "PERSIST",
    "KEYS",
    "SCAN",
    "SSCAN",
    "HSCAN",
    "ZSCAN",
    "RENAME",
    "RANDOMKEY",
    "GET",
    "SET",
    "SETNX",
    "SETEX",
    "MGET",
    "MSET",
    "MSETNX",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "INCRBYFLOAT",
    "APPEND",
    "STRLEN",
    "GETSET",
    "GETDEL",
    "GETRANGE",
    "SETRANGE",
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LLEN",
    "LRANGE",
    "LINDEX",
    "LSET",
    "LREM",
    "LTRIM",
    "LINSERT",
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HMSET",
    "HGETALL",
    "HDEL",
    "HLEN",
    "HEXISTS",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HVALS",
    "HSTRLEN",
    "ZADD",
    "ZREM",
    "ZSCORE",
    "ZMSCORE",
    "ZINCRBY",
    "ZCARD",
    "ZCOUNT",
    "ZRANK",
    "ZREVRANK",
    "ZRANGE",
    "ZREVRANGE",
    "ZRANGEBYSCORE",
    "ZPOPMIN",
    "ZPOPMAX",
    "XADD",
    "XLEN",
    "XRANGE",
    "MULTI",
    "EXEC",
    "DISCARD",
]

# Replies whose order Redis does not define: compared as sorted multisets.
UNORDERED = frozenset(["SMEMBERS", "SINTER", "SUNION", "SDIFF", "KEYS", "HKEYS", "HVALS"])
# Replies that are flat field/value lists without a defined order.
UNORDERED_PAIRS = frozenset({"HGETALL"})
# Commands whose result is random: checked by shape and membership, never inside MULTI.
RANDOM = frozenset({"SPOP", "SRANDMEMBER", "RANDOMKEY", "SCAN", "SSCAN", "HSCAN", "ZSCAN"})


def name(command: str) -> st.SearchStrategy[str]:
    """A command name in upper, lower or mixed case."""
    return st.sampled_from((command, command.lower(), command.capitalize()))


key = st.sampled_from(KEYS)
keys = st.lists(key, min_size=1, max_size=4)
field = st.sampled_from(FIELDS)
member = st.sampled_from(MEMBERS)
value = st.sampled_from(VALUES)
small_int = st.integers(-6, 12).map(str)
integer = st.one_of(small_int, small_int, st.sampled_from(JUNK_NUMBERS))
increment = st.one_of(
    small_int,
    st.sampled_from(("9223372036854775807", "-9223372036854775808", "1000000")),
    st.sampled_from(JUNK_NUMBERS),
)
score = st.one_of(st.sampled_from(FLOATS), st.sampled_from(FLOATS), st.sampled_from(JUNK_FLOATS))
score_bound = st.one_of(
    st.sampled_from(FLOATS), st.sampled_from(("(1", "(0", "(-2", "(1.5", "(inf")), st.just("x")
)
ttl_seconds = st.one_of(st.sampled_from(BIG_TTL_S), st.sampled_from(NON_POSITIVE), integer)
ttl_millis = st.one_of(st.sampled_from(BIG_TTL_MS), st.sampled_from(NON_POSITIVE))
# Absolute Unix times: far future (4102444800 = 2100-01-01) or the past (deletes the key).
unix_time = st.sampled_from(("4102444800", "4102444900", "1", "0", "-5", "abc"))
index = st.one_of(st.integers(-8, 8).map(str), st.just("abc"))


def cmd(command: str, *args: st.SearchStrategy[str]) -> st.SearchStrategy[Step]:
    return st.tuples(name(command), *args)


def cmd_var(
    command: str, fixed: tuple[st.SearchStrategy[str], ...], repeated: st.SearchStrategy, max_n: int
) -> st.SearchStrategy[Step]:
    """`command fixed... repeated*` with 1..max_n repetitions of `repeated` (a tuple strategy)."""
    return st.tuples(name(command), *fixed, st.lists(repeated, min_size=1, max_size=max_n)).map(
        lambda t: (*t[:-1], *(x for group in t[-1] for x in group))
    )


def scan_of(command: str, *extra: tuple[str, ...]) -> st.SearchStrategy[Step]:
    """SSCAN/HSCAN/ZSCAN of a key with some of MATCH, COUNT and `extra` (the differ iterates)."""
    return with_options(
        cmd(command, key, st.just("0")),
        options(("MATCH", "m[0-2]"), ("MATCH", "f*"), ("MATCH", "*"), ("COUNT", "1"), *extra),
    )


def options(*choices: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    """A random subset (in random order) of option groups, flattened."""
    return st.lists(st.sampled_from(choices), max_size=3).map(
        lambda groups: tuple(x for g in groups for x in g)
    )


def with_options(base: st.SearchStrategy[Step], opts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(base, opts).map(lambda t: (*t[0], *t[1]))


def one(x: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str]]:
    return x.map(lambda v: (v,))


connection = st.one_of(
    cmd("PING"),
    cmd("PING", value),
    cmd("ECHO", value),
    cmd("SELECT", st.just("0")),
    cmd("DBSIZE"),
    cmd("FLUSHDB"),
    cmd("TYPE", key),
)

keyspace = st.one_of(
    cmd_var("DEL", (), one(key), 3),
    cmd_var("UNLINK", (), one(key), 3),
    cmd_var("EXISTS", (), one(key), 4),
    cmd("TYPE", key),
    cmd("EXPIRE", key, ttl_seconds),
    with_options(
        cmd("EXPIRE", key, st.sampled_from(BIG_TTL_S)),
        st.sampled_from(((), ("NX",), ("XX",), ("GT",), ("LT",), ("NX", "XX"))),
    ),
    cmd("PEXPIRE", key, ttl_millis),
    cmd("EXPIREAT", key, unix_time),
    cmd("TTL", key),
    cmd("PTTL", key),
    cmd("PERSIST", key),
    cmd("KEYS", st.sampled_from(("*", "k*", "k[0-2]", "k?", "?1", "nomatch*", "k[^1]", "\\k0"))),
    cmd("SCAN", st.just("0")),
    with_options(
        cmd("SCAN", st.just("0")),
        options(
            ("MATCH", "k[1-3]"),
            ("MATCH", "*"),
            ("COUNT", "2"),
            ("COUNT", "100"),
            ("TYPE", "set"),
            ("TYPE", "STRING"),
        ),
    ),
    cmd("RENAME", key, key),
    cmd("RANDOMKEY"),
)

set_option = st.sampled_from(
    (
        ("EX", "100000"),
        ("PX", "100000000"),
        ("EX", "0"),
        ("EX", "abc"),
        ("NX",),
        ("XX",),
        ("KEEPTTL",),
        ("GET",),
        ("EXAT", "4102444800"),
        ("PXAT", "4102444800000"),
    )
)

strings = st.one_of(
    cmd("GET", key),
    cmd("SET", key, value),
    with_options(
        cmd("SET", key, value),
        st.lists(set_option, max_size=3).map(lambda gs: tuple(x for g in gs for x in g)),
    ),
    cmd("SETNX", key, value),
    cmd("SETEX", key, st.one_of(st.sampled_from(BIG_TTL_S), st.sampled_from(NON_POSITIVE)), value),
    cmd_var("MGET", (), one(key), 4),
    cmd_var("MSET", (), st.tuples(key, value), 3),
    cmd_var("MSETNX", (), st.tuples(key, value), 3),
    cmd("INCR", key),
    cmd("DECR", key),
    cmd("INCRBY", key, increment),
    cmd("DECRBY", key, increment),
    cmd("INCRBYFLOAT", key, score),
    cmd("APPEND", key, value),
    cmd("STRLEN", key),
    cmd("GETSET", key, value),
    cmd("GETDEL", key),
    cmd("GETRANGE", key, index, index),
    cmd("SETRANGE", key, st.one_of(st.integers(-1, 50).map(str), st.just("536870912")), value),
    cmd("SET", key, st.sampled_from(("1", "10", "-5", "9223372036854775806", "1.5"))),
)

lists = st.one_of(
    cmd_var("LPUSH", (key,), one(value), 3),
    cmd_var("RPUSH", (key,), one(value), 3),
    cmd_var("LPUSHX", (key,), one(value), 2),
    cmd_var("RPUSHX", (key,), one(value), 2),
    cmd("LPOP", key),
    cmd("RPOP", key),
    cmd("LPOP", key, integer),
    cmd("RPOP", key, integer),
    cmd("LLEN", key),
    cmd("LRANGE", key, index, index),
    cmd("LRANGE", key, st.just("0"), st.just("-1")),
    cmd("LINDEX", key, index),
    cmd("LSET", key, index, value),
    cmd("LREM", key, index, value),
    cmd("LTRIM", key, index, index),
    cmd("LINSERT", key, st.sampled_from(("BEFORE", "AFTER", "after", "MIDDLE")), value, value),
)

sets = st.one_of(
    cmd_var("SADD", (key,), one(member), 4),
    cmd_var("SREM", (key,), one(member), 3),
    cmd("SMEMBERS", key),
    cmd("SISMEMBER", key, member),
    cmd_var("SMISMEMBER", (key,), one(member), 3),
    cmd("SCARD", key),
    cmd("SPOP", key),
    cmd("SPOP", key, integer),
    cmd("SRANDMEMBER", key),
    cmd("SRANDMEMBER", key, integer),
    cmd_var("SINTER", (), one(key), 3),
    cmd_var("SUNION", (), one(key), 3),
    cmd_var("SDIFF", (), one(key), 3),
    cmd_var("SINTERSTORE", (key,), one(key), 3),
    cmd_var("SUNIONSTORE", (key,), one(key), 3),
    cmd_var("SDIFFSTORE", (key,), one(key), 3),
    scan_of("SSCAN", ("NOVALUES",)),
)

hashes = st.one_of(
    cmd_var("HSET", (key,), st.tuples(field, value), 3),
    cmd("HSETNX", key, field, value),
    cmd("HGET", key, field),
    cmd_var("HMGET", (key,), one(field), 3),
    cmd_var("HMSET", (key,), st.tuples(field, value), 3),
    cmd("HGETALL", key),
    cmd_var("HDEL", (key,), one(field), 3),
    cmd("HLEN", key),
    cmd("HEXISTS", key, field),
    cmd("HINCRBY", key, field, increment),
    cmd("HINCRBYFLOAT", key, field, score),
    cmd("HKEYS", key),
    cmd("HVALS", key),
    cmd("HSTRLEN", key, field),
    scan_of("HSCAN", ("NOVALUES",)),
)

zadd_flags = st.lists(
    st.sampled_from(("NX", "XX", "GT", "LT", "CH", "INCR")), max_size=3, unique=True
).map(tuple)
zset_range_opts = st.lists(
    st.sampled_from((("REV",), ("WITHSCORES",), ("LIMIT", "0", "2"), ("LIMIT", "1", "-1"))),
    max_size=3,
    unique=True,
).map(lambda gs: tuple(x for g in gs for x in g))

zsets = st.one_of(
    st.tuples(name("ZADD"), key, zadd_flags, st.lists(st.tuples(score, member), max_size=3)).map(
        lambda t: (t[0], t[1], *t[2], *(x for pair in t[3] for x in pair))
    ),
    cmd_var("ZADD", (key,), st.tuples(st.sampled_from(FLOATS), member), 3),
    cmd_var("ZREM", (key,), one(member), 3),
    cmd("ZSCORE", key, member),
    cmd_var("ZMSCORE", (key,), one(member), 3),
    cmd("ZINCRBY", key, score, member),
    cmd("ZCARD", key),
    cmd("ZCOUNT", key, score_bound, score_bound),
    cmd("ZRANK", key, member),
    cmd("ZREVRANK", key, member),
    with_options(cmd("ZRANGE", key, index, index), zset_range_opts),
    with_options(cmd("ZRANGE", key, score_bound, score_bound, st.just("BYSCORE")), zset_range_opts),
    with_options(
        cmd("ZREVRANGE", key, index, index), st.sampled_from(((), ("WITHSCORES",), ("LIMIT",)))
    ),
    with_options(
        cmd("ZRANGEBYSCORE", key, score_bound, score_bound),
        st.sampled_from(
            ((), ("WITHSCORES",), ("LIMIT", "1", "2"), ("WITHSCORES", "LIMIT", "0", "1"))
        ),
    ),
    cmd("ZPOPMIN", key),
    cmd("ZPOPMAX", key),
    cmd("ZPOPMIN", key, integer),
    cmd("ZPOPMAX", key, integer),
    scan_of("ZSCAN", ("TYPE", "zset")),
)

streams = st.one_of(
    cmd_var("XADD", (key, st.sampled_from(STREAM_IDS)), st.tuples(field, value), 2),
    cmd("XADD", key, st.sampled_from(STREAM_IDS), field),
    cmd("XLEN", key),
    cmd("XRANGE", key, st.just("-"), st.just("+")),
    cmd(
        "XRANGE",
        key,
        st.sampled_from(("-", "0", "1", "1-1", "(1-1", "5")),
        st.sampled_from(("+", "2", "5-1", "x")),
    ),
    cmd("XRANGE", key, st.just("-"), st.just("+"), st.just("COUNT"), integer),
)

unknown = st.tuples(
    st.sampled_from(("FOO", "getx", "SETT", "xyzzy")), st.lists(value, max_size=3)
).map(lambda t: (t[0], *t[1]))

# SELECT is left out: our server has one database by design (server/README.md), and a SELECT 1
# that Redis accepted would move the reference to another keyspace for the rest of the run.
wrong_arity = st.tuples(
    st.sampled_from([c for c in ALL_COMMANDS if c != "SELECT"]),
    st.lists(st.one_of(key, value, small_int), max_size=2),
).map(lambda t: (t[0], *t[1]))

FAMILIES: dict[str, st.SearchStrategy[Step]] = {
    "connection": connection,
    "keys": keyspace,
    "strings": strings,
    "lists": lists,
    "sets": sets,
    "hashes": hashes,
    "zsets": zsets,
    "streams": streams,
}


def steps_for(family: str) -> st.SearchStrategy[Step]:
    """Commands of one family, mixed with a few from others so wrong types and errors occur."""
    own = FAMILIES[family]
    others = st.one_of(*(s for f, s in FAMILIES.items() if f != family))
    return st.one_of(own, own, own, own, others, unknown, wrong_arity)


def transaction(inner: st.SearchStrategy[Step]) -> st.SearchStrategy[list[Step]]:
    """MULTI, a few commands (random ones excluded), then EXEC or DISCARD."""
    body = st.lists(inner.filter(lambda s: s[0].upper() not in RANDOM), min_size=0, max_size=5)
    return st.tuples(body, st.sampled_from((("EXEC",), ("exec",), ("DISCARD",)))).map(
        lambda t: [("MULTI",), *t[0], t[1]]
    )


@cache
def program(family: str) -> st.SearchStrategy[list[Step]]:
    """A command sequence: mostly single commands of the family, sometimes a transaction."""
    inner = steps_for(family)
    chunk = st.one_of(
        inner.map(lambda s: [s]),
        inner.map(lambda s: [s]),
        inner.map(lambda s: [s]),
        inner.map(lambda s: [s]),
        transaction(inner),
        st.sampled_from(((("MULTI",),), (("EXEC",),), (("DISCARD",),))).map(list),
    )
    return st.lists(chunk, min_size=1, max_size=12).map(lambda cs: [s for c in cs for s in c])


@cache
def mixed_program() -> st.SearchStrategy[list[Step]]:
    """Commands from every family at once."""
    every = st.one_of(*FAMILIES.values(), unknown, wrong_arity)
    chunk = st.one_of(every.map(lambda s: [s]), every.map(lambda s: [s]), transaction(every))
    return st.lists(chunk, min_size=1, max_size=20).map(lambda cs: [s for c in cs for s in c])
