"""The HTTP server's edge against slow, silent and greedy clients, over real sockets to a
running hub: a connection that sends nothing, or its head byte by byte, is closed at
``header_timeout``; a body that drips is cut off at ``body_timeout`` with a 408; an idle
keep-alive connection is closed at ``keepalive_timeout``; one peer address cannot hold more
than ``max_connections_per_peer`` sockets (the excess gets 429 at once) nor the server more
than ``max_connections`` (503), and a legitimate client still gets through."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carehub.app.hub import Hub
from hub.config import parse_config

HEADER_TIMEOUT = 0.6
BODY_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 3.0
#: how late a deadline may fire on this shared machine (well under the other timeouts)
SLACK = 1.2
PER_PEER = 8
TOTAL = 24
TOKEN = "edge-app-token"

CONFIG = f"""
hub:
  namespace: edge
  http: {{port: 0, header_timeout: {HEADER_TIMEOUT}, body_timeout: {BODY_TIMEOUT},
          keepalive_timeout: {KEEPALIVE_TIMEOUT}, max_connections: {TOTAL},
          max_connections_per_peer: {PER_PEER}}}
systems:
  ehr:
    inbound: [{{type: fhir, client: app}}]
    identifiers: {{patient: GOODHEALTH}}
  payer:
    inbound: [{{type: x12-http, client: gw}}]
clients:
  app: {{token_env: EDGE_APP, scopes: ["system/*.cruds"], system: ehr}}
  gw: {{token_env: EDGE_GW, scopes: [], system: payer}}
"""


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    monkeypatch.setenv("EDGE_APP", TOKEN)
    monkeypatch.setenv("EDGE_GW", "edge-gw-token")
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'edge.db'}")
    async with Hub(cfg) as h:
        yield h


def port(hub: Hub) -> int:
    assert hub.http is not None
    return hub.http.port


async def connect(
    hub: Hub, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port(hub), local_addr=(source, 0))


async def until_closed(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes (or ``limit`` seconds), and when it
    closed, in seconds from the call."""
    start = time.monotonic()
    got = bytearray()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                got += chunk
    return bytes(got), time.monotonic() - start


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def body(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


async def get_health(hub: Hub, source: str = "127.0.0.1") -> tuple[int, float]:
    start = time.monotonic()
    reader, writer = await connect(hub, source)
    writer.write(b"GET /health HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
    answer, _ = await until_closed(reader, 5)
    writer.close()
    return status(answer), time.monotonic() - start


async def test_a_silent_connection_is_closed_at_the_header_timeout(hub: Hub):
    reader, writer = await connect(hub)
    answer, after = await until_closed(reader, HEADER_TIMEOUT + 5)
    writer.close()
    assert answer == b""  # nothing was asked: nothing answered, just closed
    assert HEADER_TIMEOUT * 0.8 <= after < HEADER_TIMEOUT + SLACK
    assert hub.http is not None and hub.http.guard.stats["header_timeouts"] == 1


async def test_a_request_head_sent_byte_by_byte_gets_408_at_the_header_timeout(hub: Hub):
    reader, writer = await connect(hub)
    head = b"GET /health HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 200

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(len(head)):
                writer.write(head[i : i + 1])
                await asyncio.sleep(0.05)

    dripping = asyncio.create_task(drip())
    answer, after = await until_closed(reader, HEADER_TIMEOUT + 5)
    dripping.cancel()
    writer.close()
    assert status(answer) == 408
    assert "did not arrive in full within 0.6 s" in body(answer)["error"]
    assert after < HEADER_TIMEOUT + SLACK  # cut off while still sending (10 s of drip)


async def test_a_body_that_drips_is_cut_off_with_408_at_the_body_timeout(
    hub: Hub, caplog: pytest.LogCaptureFixture
):
    reader, writer = await connect(hub)
    writer.write(
        b"POST /fhir/Patient HTTP/1.1\r\nHost: hub\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Content-Type: application/fhir+json\r\nContent-Length: 5000\r\n\r\n{"
    )

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(4999):
                writer.write(b" ")
                await asyncio.sleep(0.02)

    dripping = asyncio.create_task(drip())
    answer, after = await until_closed(reader, BODY_TIMEOUT + 5)
    dripping.cancel()
    writer.close()
    assert status(answer) == 408
    outcome = body(answer)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "timeout"
    assert "did not arrive in full" in outcome["issue"][0]["diagnostics"]
    assert b"Connection: close" in answer.split(b"\r\n\r\n")[0]
    assert after < BODY_TIMEOUT + SLACK  # the drip would have taken 100 s
    assert hub.http is not None and hub.http.guard.stats["body_timeouts"] == 1
    # what arrived is kept, refused, with the answer given
    assert hub.store is not None
    (kept,) = await hub.store.list_messages(direction="in")
    assert kept.status == "rejected" and kept.raw.startswith(b"{   ")
    assert b"timeout" in (kept.ack or b"") and "HTTP 408" in str(kept.findings)
    # an expected refusal, logged as such (INFO), not as an unhandled error
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_x12_body_that_stops_halfway_gets_408(hub: Hub, caplog: pytest.LogCaptureFixture):
    reader, writer = await connect(hub)
    writer.write(
        b"POST /x12/payer HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer edge-gw-token\r\n"
        b"Content-Type: application/edi-x12\r\nContent-Length: 900\r\n\r\nISA*00*"
    )
    answer, after = await until_closed(reader, BODY_TIMEOUT + 5)
    writer.close()
    assert status(answer) == 408
    assert "did not arrive in full within 1 s" in body(answer)["error"]
    assert BODY_TIMEOUT * 0.8 <= after < BODY_TIMEOUT + SLACK
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_idle_keepalive_connection_is_closed_but_a_busy_one_is_not(hub: Hub):
    reader, writer = await connect(hub)
    # requests every 0.3 s for longer than the header and keep-alive timeouts: kept open
    start = time.monotonic()
    while time.monotonic() - start < KEEPALIVE_TIMEOUT + HEADER_TIMEOUT + 0.5:
        writer.write(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        await asyncio.sleep(0.3)
    # then idle: closed at the keep-alive timeout, without a word
    answer, after = await until_closed(reader, KEEPALIVE_TIMEOUT + 5)
    writer.close()
    assert answer == b""
    assert after < KEEPALIVE_TIMEOUT + SLACK
    assert hub.http is not None and hub.http.guard.stats["idle_closed"] == 1


async def test_one_peer_holding_idle_sockets_is_capped_and_a_legitimate_client_gets_through(
    hub: Hub,
):
    opened = time.monotonic()
    idle = [await connect(hub, "127.0.0.2") for _ in range(PER_PEER)]
    await asyncio.sleep(0.1)
    # the excess from the same address: 429 at once, not after a timeout
    excess = [await connect(hub, "127.0.0.2") for _ in range(20)]
    answers = await asyncio.gather(*(until_closed(r, 3) for r, _ in excess))
    for answer, after in answers:
        assert status(answer) == 429
        assert after < 0.5
    assert "too many connections from 127.0.0.2 (at most 8 at once)" in body(answers[0][0])["error"]
    assert b"Retry-After: 5" in answers[0][0]
    # another client is served while the 8 idle sockets are still open
    code, took = await get_health(hub, "127.0.0.1")
    assert code == 200 and took < 1.0
    assert hub.http is not None
    assert hub.http.guard.per_peer["127.0.0.2"] == PER_PEER
    assert hub.http.guard.stats["refused_peer"] == 20
    # the idle ones go at the header timeout; then that address is welcome again
    for reader, writer in idle:
        answer, _ = await until_closed(reader, HEADER_TIMEOUT + 5)
        assert answer == b""
        writer.close()
    assert time.monotonic() - opened < HEADER_TIMEOUT + SLACK
    for _, writer in excess:
        writer.close()
    code, _ = await get_health(hub, "127.0.0.2")
    assert code == 200


async def test_the_server_wide_cap_answers_503_and_frees_up(hub: Hub):
    held = []
    for peer in range(TOTAL // PER_PEER):
        held += [await connect(hub, f"127.0.1.{peer + 1}") for _ in range(PER_PEER)]
    await asyncio.sleep(0.1)
    reader, writer = await connect(hub, "127.0.2.1")
    answer, after = await until_closed(reader, 3)
    writer.close()
    assert status(answer) == 503 and after < 0.5
    assert b"Retry-After" in answer
    assert hub.http is not None and hub.http.guard.open == TOTAL
    for r, w in held:
        await until_closed(r, HEADER_TIMEOUT + 5)
        w.close()
    code, _ = await get_health(hub, "127.0.2.1")
    assert code == 200


async def test_two_hundred_idle_sockets_from_one_peer_do_not_lock_the_server_out(hub: Hub):
    sockets = [await connect(hub, "127.0.0.9") for _ in range(200)]
    start = time.monotonic()
    code, took = await get_health(hub, "127.0.0.1")
    assert code == 200 and took < 1.0
    results = await asyncio.gather(*(until_closed(r, HEADER_TIMEOUT + 5) for r, _ in sockets))
    for _, writer in sockets:
        writer.close()
    refused = [a for a, _ in results if a]
    assert all(status(a) == 429 for a in refused)
    # eight at a time were let in (more when the first ones timed out while the rest opened)
    assert hub.http is not None
    assert len(refused) >= 150 and hub.http.guard.stats["header_timeouts"] == 200 - len(refused)
    assert time.monotonic() - start < HEADER_TIMEOUT + SLACK  # all gone by the header timeout
    assert hub.http is not None and hub.http.guard.open == 0


async def test_a_request_answered_before_any_handler_gets_no_stray_timeout_answer(hub: Hub):
    """An ``Expect`` aiohttp refuses (417) never reaches a handler: the head phase still ends
    with it, so no 408 follows the 417 at the header timeout."""
    reader, writer = await connect(hub)
    writer.write(b"GET /health HTTP/1.1\r\nHost: hub\r\nExpect: something-else\r\n\r\n")
    answer, _ = await until_closed(reader, KEEPALIVE_TIMEOUT + 5)
    writer.close()
    assert status(answer) == 417
    assert b" 408 " not in answer
