"""Runs the same commands on a reference Redis and on the server under test and compares replies.

Ordered replies and every error must be byte-identical. Unordered replies compare as sorted
multisets, TTLs within a tolerance, and random commands (SPOP, SRANDMEMBER, RANDOMKEY) by
shape and membership; after an SPOP the reference is re-synced to the subject's choice. SCAN,
SSCAN, HSCAN and ZSCAN are iterated to the end and compared as sets.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.server.commands import KEYS, RANDOM, UNORDERED, UNORDERED_PAIRS
from tests.server.resp import Error, Reply, Resp3, RespClient, Simple, as_bytes, encode_command

TTL_TOLERANCE_S = 2
PTTL_TOLERANCE_MS = 2500
SCAN_MAX_CALLS = 1000
# Commands iterated to the end by the differ, with the position of their cursor argument.
SCAN_CURSOR_AT = {"SCAN": 1, "SSCAN": 2, "HSCAN": 2, "ZSCAN": 2}


class Divergence(AssertionError):
    """The two servers answered differently."""


def normalize(step: Sequence[str], reply: Reply) -> object:
    """A canonical form for replies whose order is undefined."""
    if isinstance(reply, Resp3) and reply.kind in (b"~", b"%"):
        # RESP3 sets and maps (HGETALL, SMEMBERS...) have no defined order.
        step_size = 2 if reply.kind == b"%" else 1
        groups = [reply.items[i : i + step_size] for i in range(0, len(reply.items), step_size)]
        return (reply.kind, sorted(groups, key=repr))
    command = step[0].upper()
    if isinstance(reply, list) and command in UNORDERED:
        return ("unordered", sorted(reply, key=repr))
    if isinstance(reply, list) and command in UNORDERED_PAIRS:
        return ("pairs", sorted(zip(reply[::2], reply[1::2], strict=True), key=repr))
    return reply


def same_reply(step: Sequence[str], ref: Reply, sub: Reply) -> bool:
    """Equality of two deterministic replies to `step`, with TTL tolerance."""
    command = step[0].upper()
    if command in ("TTL", "PTTL") and isinstance(ref, int) and isinstance(sub, int):
        if ref < 0 or sub < 0:
            return ref == sub
        tolerance = TTL_TOLERANCE_S if command == "TTL" else PTTL_TOLERANCE_MS
        return abs(ref - sub) <= tolerance
    if command in RANDOM and not isinstance(ref, Error):
        return _same_shape(ref, sub)
    return normalize(step, ref) == normalize(step, sub)


def _bulk_strings(reply: Reply) -> list[bytes]:
    """The bulk strings of a reply that is one bulk, nil, or an array of bulks."""
    if isinstance(reply, Resp3) and reply.items:
        items: list[Reply] = list(reply.items)
    else:
        items = reply if isinstance(reply, list) else [reply]
    return [item for item in items if isinstance(item, bytes)]


def _same_shape(ref: Reply, sub: Reply) -> bool:
    if isinstance(ref, Resp3) and isinstance(sub, Resp3):
        return ref.kind == sub.kind and len(ref.items) == len(sub.items)
    if isinstance(ref, list) and isinstance(sub, list):
        return len(ref) == len(sub)
    return type(ref) is type(sub)


class Differ:
    """Two connections driven in lockstep; `run` raises Divergence with the full history."""

    def __init__(self, reference: RespClient, subject: RespClient) -> None:
        self.ref, self.sub = reference, subject
        self.history: list[str] = []
        self.queued: list[Sequence[str]] | None = None  # commands inside MULTI, if any

    def fail(self, problem: str) -> None:
        transcript = "\n".join(self.history[-40:])
        raise Divergence(f"{problem}\n--- last commands (reference | subject) ---\n{transcript}")

    def both(self, step: Sequence[str]) -> tuple[Reply, Reply]:
        ref, sub = self.ref.execute(*step), self.sub.execute(*step)
        self._record(step, ref, sub)
        return ref, sub

    def _record(self, step: Sequence[str], ref: Reply, sub: Reply) -> None:
        self.history.append(
            f"{' '.join(map(repr, step))}\n    redis8: {ref!r}\n    ours:   {sub!r}"
        )

    def run_all(self, steps: Sequence[Sequence[str]]) -> None:
        for step in steps:
            self.run(step)

    def run_pipelined(self, steps: Sequence[Sequence[str]], inline: bool = False) -> None:
        """Send all steps in one write to each server (the batching path), then compare in order.

        `inline` sends them as inline commands (space-separated lines, as telnet or
        redis-benchmark's PING_INLINE do). Random commands are not allowed here: checking them
        needs extra commands in between.
        """
        assert not any(s[0].upper() in RANDOM for s in steps), "random commands need run()"
        if inline:
            payload = b"".join(b" ".join(map(as_bytes, step)) + b"\r\n" for step in steps)
        else:
            payload = b"".join(encode_command(step) for step in steps)
        ref_replies = self.ref.send_and_read(payload, len(steps), timeout=60)
        sub_replies = self.sub.send_and_read(payload, len(steps), timeout=60)
        for step, ref, sub in zip(steps, ref_replies, sub_replies, strict=True):
            self._record(step, ref, sub)
            self._compare(step, ref, sub)

    def run(self, step: Sequence[str]) -> None:
        position = SCAN_CURSOR_AT.get(step[0].upper())
        if self.queued is None and position is not None and len(step) > position:
            self._scan(step, position)
            return
        ref, sub = self.both(step)
        self._compare(step, ref, sub)

    def _compare(self, step: Sequence[str], ref: Reply, sub: Reply) -> None:
        command = step[0].upper()
        if self.queued is not None:
            self._in_transaction(step, command, ref, sub)
            return
        if command == "MULTI" and ref == Simple(b"OK"):
            self.queued = []
        if command in RANDOM and not isinstance(ref, Error):
            self._check_random(step, command, ref, sub)
        elif not same_reply(step, ref, sub):
            self.fail(f"reply to {list(step)} differs: redis8 {ref!r} vs ours {sub!r}")

    def _in_transaction(self, step: Sequence[str], command: str, ref: Reply, sub: Reply) -> None:
        assert self.queued is not None
        if command == "EXEC" and isinstance(ref, list) and isinstance(sub, list):
            if len(ref) != len(sub) or len(ref) != len(self.queued):
                self.fail(f"EXEC returned {len(sub)} replies, redis8 {len(ref)}")
            for queued, r, s in zip(self.queued, ref, sub, strict=True):
                if not same_reply(queued, r, s):
                    self.fail(f"EXEC reply to {list(queued)} differs: redis8 {r!r} vs ours {s!r}")
        elif ref != sub:
            self.fail(f"reply to {list(step)} inside MULTI differs: redis8 {ref!r} vs ours {sub!r}")
        # EXEC ends the transaction even when rejected (EXECABORT); DISCARD only when it ran.
        if command == "EXEC" or (command == "DISCARD" and ref == Simple(b"OK")):
            self.queued = None
        elif ref == Simple(b"QUEUED"):
            self.queued.append(step)

    def _check_random(self, step: Sequence[str], command: str, ref: Reply, sub: Reply) -> None:
        if not _same_shape(ref, sub):
            self.fail(f"reply to {list(step)} has another shape: redis8 {ref!r} vs ours {sub!r}")
        if command == "RANDOMKEY":
            if isinstance(sub, bytes) and self.sub.execute("EXISTS", sub) != 1:
                self.fail(f"RANDOMKEY returned {sub!r}, which does not exist")
            return
        key = step[1]
        if command == "SRANDMEMBER":
            members = _bulk_strings(sub)
            count = int(step[2]) if len(step) > 2 else 1
            if count >= 0 and len(set(members)) != len(members):
                self.fail(f"SRANDMEMBER with count {count} repeated members: {sub!r}")
            self._require_members(key, members, step)
        elif command == "SPOP":
            self._resync_spop(key, ref, sub, step)

    def _require_members(self, key: str, members: list[bytes], step: Sequence[str]) -> None:
        if members:
            flags = self.ref.execute("SMISMEMBER", key, *members)
            if flags != [1] * len(members):
                self.fail(f"{list(step)} returned non-members {members!r} (flags {flags!r})")

    def _resync_spop(self, key: str, ref: Reply, sub: Reply, step: Sequence[str]) -> None:
        """Make the reference's set equal to the subject's by undoing its pop and redoing ours."""
        popped_ref, popped_sub = _bulk_strings(ref), _bulk_strings(sub)
        if len(set(popped_sub)) != len(popped_sub):
            self.fail(f"SPOP returned a member twice: {sub!r}")
        if sorted(popped_ref) == sorted(popped_sub) or not popped_ref:
            return
        self.ref.execute("SADD", key, *popped_ref)
        removed = self.ref.execute("SREM", key, *popped_sub)
        if removed != len(popped_sub):
            self.fail(
                f"{list(step)} popped non-members {popped_sub!r} (reference held {removed!r})"
            )

    def _scan(self, step: Sequence[str], position: int) -> None:
        """Iterate a SCAN-family command to the end on both sides and compare what was seen as
        sets (of keys or members; of field/value or member/score pairs for HSCAN and ZSCAN)."""
        seen: list[set[object]] = []
        command = step[0].upper()
        paired = command == "ZSCAN" or (
            command == "HSCAN" and not any(a.upper() == "NOVALUES" for a in step[position + 1 :])
        )
        for client, label in ((self.ref, "redis8"), (self.sub, "ours")):
            cursor = b"0"
            keys: set[object] = set()
            for _ in range(SCAN_MAX_CALLS):
                reply = client.execute(*step[:position], cursor, *step[position + 1 :])
                if isinstance(reply, Error):
                    seen.append({b"error:" + reply.value})
                    break
                if not (
                    isinstance(reply, list)
                    and len(reply) == 2
                    and isinstance(reply[0], bytes)
                    and isinstance(reply[1], list)
                ):
                    self.fail(f"{label} SCAN reply malformed: {reply!r}")
                    return
                cursor = reply[0]
                items = _bulk_strings(reply[1])
                if paired:
                    keys.update(zip(items[::2], items[1::2], strict=True))
                else:
                    keys.update(items)
                if cursor == b"0":
                    seen.append(keys)
                    break
            else:
                self.fail(f"{label} SCAN did not finish within {SCAN_MAX_CALLS} calls")
        self.history.append(
            f"{list(step)} (full iteration)\n    redis8: {seen[0]!r}\n    ours: {seen[1]!r}"
        )
        if seen[0] != seen[1]:
            self.fail(f"full SCAN {list(step)} differs: redis8 {seen[0]} vs ours {seen[1]}")

    def finish(self) -> None:
        """Leave any open transaction, then compare the whole keyspace state."""
        if self.queued is not None:
            self.both(("DISCARD",))
            self.queued = None
        ref_state, sub_state = snapshot(self.ref), snapshot(self.sub)
        diff = {
            k: (ref_state[k], sub_state.get(k))
            for k in ref_state
            if not _same_state(ref_state[k], sub_state.get(k))
        }
        if diff:
            self.fail(f"final state differs (key: (redis8, ours)): {diff}")


def _same_state(ref: object, sub: object) -> bool:
    if isinstance(ref, tuple) and isinstance(sub, tuple) and len(ref) == len(sub) == 3:
        (rk, rc, rt), (sk, sc, st) = ref, sub
        return rk == sk and rc == sc and same_reply(("TTL",), rt, st)
    return ref == sub


def snapshot(client: RespClient) -> dict[str, object]:
    """Every key's type, content and whether/roughly when it expires."""
    state: dict[str, object] = {"DBSIZE": client.execute("DBSIZE")}
    for key in KEYS:
        kind = client.execute("TYPE", key)
        content: object = None
        if kind == Simple(b"string"):
            content = client.execute("GET", key)
        elif kind == Simple(b"list"):
            content = client.execute("LRANGE", key, 0, -1)
        elif kind == Simple(b"set"):
            content = normalize(("SMEMBERS",), client.execute("SMEMBERS", key))
        elif kind == Simple(b"hash"):
            content = normalize(("HGETALL",), client.execute("HGETALL", key))
        elif kind == Simple(b"zset"):
            content = client.execute("ZRANGE", key, 0, -1, "WITHSCORES")
        elif kind == Simple(b"stream"):
            content = client.execute("XRANGE", key, "-", "+")
        state[key] = (kind, content, client.execute("TTL", key))
    return state
