"""One clock reading per command and per EXEC, on Redis 8.0 and on our server alike.

RENAME used to read the clock twice (exists? then remove, expecting the key): a TTL ending in
between answered ``ERR internal error``. And a key could expire halfway through an EXEC, where
Redis keeps one time for the whole transaction.
"""

from __future__ import annotations

import time

import pytest

from tests.server.conftest import RunningServer
from tests.server.resp import Error, Simple, encode_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHAINS = 60
CHAIN_LENGTH = 3000


@pytest.fixture(params=["redis8", "ours"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


def test_renames_of_keys_with_a_1ms_ttl_only_ever_answer_ok_or_no_such_key(
    server: RunningServer,
) -> None:
    # Each chain: a key with a 1 ms TTL renamed back and forth until it has expired, pipelined
    # so the renames run back to back on the server while the deadline passes.
    chain = [encode_command(("SET", "a", "v", "PX", "1"))]
    for i in range(CHAIN_LENGTH):
        src, dst = ("a", "b") if i % 2 == 0 else ("b", "a")
        chain.append(encode_command(("RENAME", src, dst)))
    payload = b"".join(chain)
    errors: dict[bytes, int] = {}
    expired_chains = 0
    deadline = time.monotonic() + 60
    with server.client() as client:
        for _ in range(CHAINS):
            replies = client.send_and_read(payload, len(chain), timeout=30)
            assert replies[0] == Simple(b"OK")
            for reply in replies[1:]:
                if isinstance(reply, Error):
                    errors[reply.value] = errors.get(reply.value, 0) + 1
            expired_chains += any(isinstance(r, Error) for r in replies[1:])
            client.execute("DEL", "a", "b")
            if time.monotonic() > deadline:
                break
    assert set(errors) <= {b"ERR no such key"}, f"{server.name}: {errors}"
    assert expired_chains > 0, "no key expired during its chain: the test exercised nothing"


def test_a_key_with_a_1ms_ttl_lives_until_the_end_of_its_transaction(
    server: RunningServer,
) -> None:
    incrs = 30_000
    with server.client(timeout=60) as client:
        client.execute("DEL", "k", "c")
        payload = b"".join(
            [
                encode_command(("MULTI",)),
                encode_command(("SET", "k", "v", "PX", "1")),
                encode_command(("INCR", "c")) * incrs,
                encode_command(("GET", "k")),
                encode_command(("PTTL", "k")),
                encode_command(("EXEC",)),
            ]
        )
        started = time.monotonic()
        *queued, replies = client.send_and_read(payload, incrs + 5, timeout=60)
        elapsed = time.monotonic() - started
        assert all(r in (Simple(b"OK"), Simple(b"QUEUED")) for r in queued)
        assert isinstance(replies, list) and len(replies) == incrs + 3
        assert elapsed > 0.002, "the transaction ran too fast to tell"
        assert replies[-2:] == [b"v", 1], f"{server.name}: {replies[-2:]}"
        client.execute("DEL", "k", "c")
