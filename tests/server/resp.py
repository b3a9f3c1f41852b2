"""A tiny raw RESP2 client: replies (errors above all) compare byte for byte, nothing hidden."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Arg = bytes | str | int | float


@dataclass(frozen=True)
class Simple:
    """A `+...` simple-string reply."""

    value: bytes


@dataclass(frozen=True)
class Error:
    """A `-...` error reply, kept verbatim."""

    value: bytes


@dataclass(frozen=True)
class Resp3:
    """A RESP3-only reply: `kind` is its type byte (`%` map, `~` set, `,` double, `#` boolean,
    `(` big number, `=` verbatim, `>` push) or b"null"; aggregates keep their items."""

    kind: bytes
    value: bytes
    items: tuple[Reply, ...] = ()


class _NullArray:
    """The `*-1` reply, distinct from the `$-1` null bulk (which is None)."""

    _instance: _NullArray | None = None

    def __new__(cls) -> _NullArray:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NullArray"


NULL_ARRAY = _NullArray()

Reply = Simple | Error | int | bytes | None | _NullArray | Resp3 | list["Reply"]


class ProtocolViolation(Exception):
    """The server sent bytes that are not RESP2."""


class ConnectionClosed(ConnectionError):
    """The server closed the connection before a full reply arrived."""


def as_bytes(arg: Arg) -> bytes:
    """Encode one command argument the way redis-cli would."""
    if isinstance(arg, bytes):
        return arg
    return str(arg).encode()


def encode_command(args: Sequence[Arg]) -> bytes:
    """Encode a command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = as_bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class ReplyParser:
    """Incremental RESP2 parser: feed bytes, pop complete replies."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def pending(self) -> bytes:
        """Bytes received but not yet consumed as a reply."""
        return bytes(self._buf[self._pos :])

    def pop(self) -> tuple[bool, Reply]:
        """Return (True, reply) for a complete reply, else (False, None) and consume nothing."""
        try:
            reply, end = self._parse(self._pos)
        except _Incomplete:
            return False, None
        self._pos = end
        return True, reply

    def _line(self, pos: int) -> tuple[bytes, int]:
        end = self._buf.find(b"\r\n", pos)
        if end < 0:
            raise _Incomplete
        return bytes(self._buf[pos:end]), end + 2

    def _parse(self, pos: int) -> tuple[Reply, int]:
        if pos >= len(self._buf):
            raise _Incomplete
        kind = self._buf[pos : pos + 1]
        line, pos = self._line(pos + 1)
        if kind == b"+":
            return Simple(line), pos
        if kind == b"-":
            return Error(line), pos
        if kind == b":":
            return _integer(line), pos
        if kind == b"$":
            length = _integer(line)
            if length == -1:
                return None, pos
            if length < 0:
                raise ProtocolViolation(f"bad bulk length {line!r}")
            if len(self._buf) < pos + length + 2:
                raise _Incomplete
            if self._buf[pos + length : pos + length + 2] != b"\r\n":
                raise ProtocolViolation("bulk not terminated by CRLF")
            return bytes(self._buf[pos : pos + length]), pos + length + 2
        if kind == b"*":
            count = _integer(line)
            if count == -1:
                return NULL_ARRAY, pos
            if count < 0:
                raise ProtocolViolation(f"bad array length {line!r}")
            items: list[Reply] = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            return items, pos
        return self._parse_resp3(bytes(kind), line, pos)

    def _parse_resp3(self, kind: bytes, line: bytes, pos: int) -> tuple[Reply, int]:
        """RESP3 types (after HELLO 3) as tagged tuples, so they never equal their RESP2 forms."""
        if kind == b"_":
            return Resp3(b"null", b""), pos
        if kind in (b",", b"#", b"("):
            return Resp3(bytes(kind), line), pos
        if kind in (b"=", b"!"):
            length = _integer(line)
            if len(self._buf) < pos + length + 2:
                raise _Incomplete
            body = bytes(self._buf[pos : pos + length])
            value: Reply = Error(body) if kind == b"!" else Resp3(b"=", body)
            return value, pos + length + 2
        if kind in (b"%", b"~", b">", b"|"):
            count = _integer(line) * (2 if kind in (b"%", b"|") else 1)
            items: list[Reply] = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            if kind == b"|":  # an attribute precedes the real reply: keep only the reply
                return self._parse(pos)
            return Resp3(bytes(kind), b"", tuple(items)), pos
        raise ProtocolViolation(f"unknown reply type {bytes(kind)!r} (line {line!r})")


class _Incomplete(Exception):
    pass


def _integer(line: bytes) -> int:
    try:
        return int(line)
    except ValueError as exc:
        raise ProtocolViolation(f"not an integer: {line!r}") from exc


class RespClient:
    """One blocking connection speaking RESP2; every read is bounded by `timeout` seconds."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = ReplyParser()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_reply(self, timeout: float | None = None) -> Reply:
        """Read one complete reply; ConnectionClosed on EOF, socket.timeout on silence."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            done, reply = self.parser.pop()
            if done:
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete reply within the timeout from {self.port}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionClosed(f"closed; unparsed bytes {self.parser.pending()[:200]!r}")
            self.parser.feed(chunk)

    def read_replies(self, count: int, timeout: float | None = None) -> list[Reply]:
        return [self.read_reply(timeout) for _ in range(count)]

    def execute(self, *args: Arg) -> Reply:
        self.send_raw(encode_command(args))
        return self.read_reply()

    def pipeline(self, commands: Iterable[Sequence[Arg]], timeout: float | None = None) -> list:
        """Send all commands in one write, then read one reply per command."""
        encoded = [encode_command(c) for c in commands]
        self.send_raw(b"".join(encoded))
        return self.read_replies(len(encoded), timeout)

    def send_and_read(self, payload: bytes, count: int, timeout: float = 120.0) -> list[Reply]:
        """Write `payload` from a helper thread while reading `count` replies, so a large
        pipeline cannot deadlock with the server's writes."""
        errors: list[BaseException] = []

        def write() -> None:
            try:
                self.send_raw(payload)
            except OSError as exc:
                errors.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            return self.read_replies(count, timeout)
        finally:
            writer.join(timeout=timeout)
            if errors:
                raise errors[0]

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the server closes (EOF or reset) within `timeout` with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.parser.feed(chunk)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
