"""Soak: SCAN, SSCAN, HSCAN and ZSCAN loops with DEL, EXPIRE and short TTLs mixed in, for a while.

Each loop creates stable elements it never touches and churn it deletes, expires (some with TTLs of
a few milliseconds) and adds while the iteration runs, one command between two scan calls. The
churn goes to Redis 8.0 and to our server in lockstep and every reply is compared (short-TTL
keys are never read again, so races cannot make the replies differ). After every loop, on both
servers, the scan must have returned every stable element that passes MATCH/TYPE, with the right
value, and nothing that never existed or fails the filter. At the end the keyspaces must match.
"""

from __future__ import annotations

import fnmatch
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.server.conftest import RunningServer
from tests.server.differ import Differ
from tests.server.resp import Reply, RespClient, Simple
from tests.server.test_differential import fresh

SOAK_SECONDS = float(os.environ.get("RSO_SCAN_SOAK_S", "45"))
pytestmark = [pytest.mark.integration, pytest.mark.timeout(int(SOAK_SECONDS) + 240)]

KINDS = ("SCAN", "SSCAN", "HSCAN", "ZSCAN")
TYPES = ("string", "set", "hash", "zset", "list")
# Patterns whose meaning is the same in fnmatch and in Redis's glob.
PATTERNS = (None, None, "*", "s*", "*1*", "*[0-4]", "*:?", "c*")
COUNTS = (None, None, "1", "3", "10", "100", "1000")
MAX_CALLS = 50_000


@dataclass
class Loop:
    """One scan loop: what must come back, and what may."""

    kind: str
    key: str  # the collection (xSCAN) or "" (SCAN)
    args: tuple[str, ...]  # options after the cursor
    pattern: str | None
    type_name: str | None
    stable: dict[str, str] = field(default_factory=dict)  # element -> value (type, for SCAN)
    churn: list[str] = field(default_factory=list)  # deterministic: may be deleted or read
    ever: set[str] = field(default_factory=set)  # every element that existed during the loop


class Soak:
    def __init__(self, differ: Differ, rng: random.Random) -> None:
        self.differ, self.rng = differ, rng
        self.serial = 0
        self.leftover: list[str] = []  # keys of earlier loops (not stable here; may be deleted)
        self.ever_keys: set[str] = set()
        self.loops = self.calls = self.commands = 0

    def name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def run(self, *step: str) -> None:
        self.differ.run(step)
        self.commands += 1

    def create_key(self, key: str, kind: str) -> None:
        self.ever_keys.add(key)
        if kind == "string":
            self.run("SET", key, "v")
        elif kind == "set":
            self.run("SADD", key, "a", "b")
        elif kind == "hash":
            self.run("HSET", key, "f", "v")
        elif kind == "zset":
            self.run("ZADD", key, "1", "a")
        else:
            self.run("RPUSH", key, "a")

    def options(self, kind: str) -> tuple[tuple[str, ...], str | None, str | None]:
        args: list[str] = []
        pattern = self.rng.choice(PATTERNS)
        if pattern is not None:
            args += ["MATCH", pattern]
        count = self.rng.choice(COUNTS)
        if count is not None:
            args += ["COUNT", count]
        type_name = None
        if kind == "SCAN" and self.rng.random() < 0.3:
            type_name = self.rng.choice(TYPES)
            args += ["TYPE", self.rng.choice((type_name, type_name.upper()))]
        if kind == "HSCAN" and self.rng.random() < 0.2:
            args.append("NOVALUES")
        pairs = [args[i : i + 2] for i in range(0, len(args), 2)]
        self.rng.shuffle(pairs)
        return tuple(x for p in pairs for x in p), pattern, type_name

    def start_loop(self) -> Loop:
        kind = self.rng.choice(KINDS)
        args, pattern, type_name = self.options(kind)
        n_stable = self.rng.choice((3, 20, 100, 400, 1500))
        n_churn = self.rng.choice((0, 10, 200, 1500))
        loop = Loop(kind, "", args, pattern, type_name)
        # Stable and churn interleaved: a table that fills a hole by moving its last entry
        # then moves stable elements into visited places (the defect this soak hunts).
        order = [True] * n_stable + [False] * n_churn
        self.rng.shuffle(order)
        if kind == "SCAN":
            for is_stable in order:
                key, t = self.name("s:" if is_stable else "c:"), self.rng.choice(TYPES)
                self.create_key(key, t)
                if is_stable:
                    loop.stable[key] = t
                else:
                    loop.churn.append(key)
            loop.churn += self.leftover
            loop.ever = set(self.ever_keys)
        else:
            loop.key = self.name("coll:")
            self.ever_keys.add(loop.key)
            pairs = [
                (self.name("s"), str(i)) if is_stable else (self.name("c"), str(-i))
                for i, is_stable in enumerate(order)
            ]
            for start in range(0, len(pairs), 500):
                self.add_members(loop, pairs[start : start + 500])
            loop.stable = {m: v for m, v in pairs if m.startswith("s")}
            loop.churn = [m for m, _ in pairs if m.startswith("c")]
            loop.ever = {m for m, _ in pairs}
        return loop

    def add_members(self, loop: Loop, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        if loop.kind == "SSCAN":
            self.run("SADD", loop.key, *[m for m, _ in pairs])
        elif loop.kind == "HSCAN":
            self.run("HSET", loop.key, *[x for p in pairs for x in p])
        else:
            self.run("ZADD", loop.key, *[x for m, v in pairs for x in (v, m)])

    def churn_step(self, loop: Loop) -> None:
        """One mutation between two scan calls; only churn, never a stable element."""
        r = self.rng.random()
        if loop.kind == "SCAN":
            if loop.churn and r < 0.45:
                victims = [loop.churn.pop(self.rng.randrange(len(loop.churn)))]
                self.run(self.rng.choice(("DEL", "UNLINK")), *victims)
            elif loop.churn and r < 0.65:
                # A TTL of a few ms: the key expires (lazily or actively) during the scan.
                victim = loop.churn.pop(self.rng.randrange(len(loop.churn)))
                self.run("PEXPIRE", victim, str(self.rng.randint(1, 30)))
            elif loop.churn and r < 0.75:
                self.run("EXPIRE", self.rng.choice(loop.churn), "100000")
            elif r < 0.9:
                key = self.name("t:")
                self.ever_keys.add(key)
                loop.ever.add(key)
                self.run("SET", key, "v", "PX", str(self.rng.randint(1, 30)))
            else:
                key = self.name("c:")
                self.ever_keys.add(key)
                loop.ever.add(key)
                self.create_key(key, self.rng.choice(TYPES))
                loop.churn.append(key)
        else:
            remove = {"SSCAN": "SREM", "HSCAN": "HDEL", "ZSCAN": "ZREM"}[loop.kind]
            if loop.churn and r < 0.5:
                n = min(len(loop.churn), self.rng.randint(1, 20))
                victims = [loop.churn.pop(self.rng.randrange(len(loop.churn))) for _ in range(n)]
                self.run(remove, loop.key, *victims)
            elif r < 0.8:
                pairs = [(self.name("c"), str(-self.rng.randint(1, 9))) for _ in range(20)]
                loop.ever.update(m for m, _ in pairs)
                loop.churn += [m for m, _ in pairs]
                self.add_members(loop, pairs)
            else:
                # Churn elsewhere in the keyspace: short TTLs and deletes of other keys.
                key = self.name("t:")
                self.ever_keys.add(key)
                self.run("SET", key, "v", "PX", str(self.rng.randint(1, 30)))

    def scan_call(self, client: RespClient, loop: Loop, cursor: bytes) -> tuple[bytes, list[bytes]]:
        prefix = (loop.key,) if loop.key else ()
        reply: Reply = client.execute(loop.kind, *prefix, cursor, *loop.args)
        self.calls += 1
        if not (
            isinstance(reply, list)
            and len(reply) == 2
            and isinstance(reply[0], bytes)
            and isinstance(reply[1], list)
            and all(isinstance(x, bytes) for x in reply[1])
        ):
            self.differ.fail(f"{loop.kind} {prefix} {cursor!r} {loop.args} replied {reply!r}")
            raise AssertionError("unreachable")
        return reply[0], [x for x in reply[1] if isinstance(x, bytes)]

    def run_loop(self) -> None:
        loop = self.start_loop()
        self.differ.history.append(f"loop {self.loops}: {loop.kind} {loop.key} {loop.args}")
        clients = {"redis8": self.differ.ref, "ours": self.differ.sub}
        cursors = {label: b"0" for label in clients}
        pages: dict[str, list[bytes]] = {label: [] for label in clients}
        done: set[str] = set()
        for _ in range(MAX_CALLS):
            for label, client in clients.items():
                if label not in done:
                    cursors[label], items = self.scan_call(client, loop, cursors[label])
                    pages[label] += items
                    if cursors[label] == b"0":
                        done.add(label)
            if len(done) == len(clients):
                break
            self.churn_step(loop)
        else:
            self.differ.fail(f"{loop.kind} did not finish within {MAX_CALLS} calls")
        for label, items in pages.items():
            self.check(loop, label, items)
        self.end_loop(loop)
        self.loops += 1

    def check(self, loop: Loop, label: str, items: list[bytes]) -> None:
        paired = loop.kind == "ZSCAN" or (loop.kind == "HSCAN" and "NOVALUES" not in loop.args)
        names = [x.decode() for x in (items[::2] if paired else items)]
        values = dict(zip(names, (x.decode() for x in items[1::2]), strict=True)) if paired else {}
        seen = set(names)
        expected = {
            e
            for e, v in loop.stable.items()
            if (loop.pattern is None or fnmatch.fnmatchcase(e, loop.pattern))
            and (loop.type_name is None or v == loop.type_name)
        }
        problems = []
        if missing := expected - seen:
            problems.append(
                f"{len(missing)} stable elements never returned: {sorted(missing)[:10]}"
            )
        if phantoms := seen - loop.ever:
            problems.append(f"returned elements that never existed: {sorted(phantoms)[:10]}")
        if loop.pattern is not None and (
            bad := {e for e in seen if not fnmatch.fnmatchcase(e, loop.pattern)}
        ):
            problems.append(f"returned elements failing MATCH {loop.pattern}: {sorted(bad)[:10]}")
        for e in expected & seen:
            if loop.kind == "HSCAN" and paired and values[e] != loop.stable[e]:
                problems.append(f"field {e} has value {values[e]!r}, not {loop.stable[e]!r}")
            if loop.kind == "ZSCAN" and float(values[e]) != float(loop.stable[e]):
                problems.append(f"member {e} has score {values[e]!r}, not {loop.stable[e]!r}")
        if problems:
            self.differ.fail(f"{label}: {loop.kind} {loop.key} {loop.args}: " + "; ".join(problems))

    def end_loop(self, loop: Loop) -> None:
        """Drop most of what the loop made, so the keyspace grows and shrinks over the soak."""
        self.differ.history.clear()
        if loop.kind == "SCAN":
            keep = [k for k in loop.churn if self.rng.random() < 0.3]
            gone = [k for k in list(loop.stable) + loop.churn if k not in keep]
            if self.rng.random() < 0.5:
                keep += list(loop.stable)
                gone = [k for k in gone if k not in loop.stable]
            for start in range(0, len(gone), 500):
                self.run("DEL", *gone[start : start + 500])
            self.leftover = keep[-3000:]
        elif self.rng.random() < 0.7:
            self.run("DEL", loop.key)
        else:
            self.leftover.append(loop.key)

    def compare_keyspaces(self) -> None:
        """After every short TTL has passed, both keyspaces hold the same keys and contents."""
        time.sleep(0.1)
        ref_keys, sub_keys = _all_keys(self.differ.ref), _all_keys(self.differ.sub)
        if ref_keys != sub_keys:
            only_ref = set(ref_keys) - set(sub_keys)
            only_sub = set(sub_keys) - set(ref_keys)
            self.differ.fail(f"keyspaces differ: only redis8 {only_ref}, only ours {only_sub}")
        for key in ref_keys:
            kind = self.differ.ref.execute("TYPE", key)
            assert isinstance(kind, Simple), kind
            read = {
                Simple(b"string"): ("GET", key),
                Simple(b"set"): ("SMEMBERS", key),
                Simple(b"hash"): ("HGETALL", key),
                Simple(b"zset"): ("ZRANGE", key, "0", "-1", "WITHSCORES"),
                Simple(b"list"): ("LRANGE", key, "0", "-1"),
            }[kind]
            self.differ.run(("TYPE", key.decode()))
            self.differ.run(tuple(x.decode() if isinstance(x, bytes) else x for x in read))


def _all_keys(client: RespClient) -> list[bytes]:
    reply = client.execute("KEYS", "*")
    assert isinstance(reply, list), reply
    return sorted(k for k in reply if isinstance(k, bytes))


@pytest.fixture
def differ(redis8: RunningServer, ours: RunningServer) -> Iterator[Differ]:
    with redis8.client(timeout=30) as ref, ours.client(timeout=30) as sub:
        yield fresh(Differ(ref, sub))


def test_scan_guarantee_soak(differ: Differ) -> None:
    soak = Soak(differ, random.Random(20269))
    deadline = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < deadline:
        soak.run_loop()
    soak.compare_keyspaces()
    print(
        f"scan soak: {soak.loops} loops, {soak.calls} scan calls, {soak.commands} churn commands "
        f"in {SOAK_SECONDS:.0f} s"
    )
    assert soak.loops >= 5
