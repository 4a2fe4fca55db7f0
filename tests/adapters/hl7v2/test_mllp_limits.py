"""The MLLP server's connection limits over real sockets (issue 11 item 8): a cap per port and
per source address, counted from accept (before TLS), and a first-frame timeout that frees
the slot of a connection that never starts a frame. Every 127/8 address is loopback on
Linux, so 127.0.0.x play different peers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from pathlib import Path

import pytest

from adapters.hl7v2 import MllpServer, PeerInfo, frame, parse, server_ssl_context
from tests.adapters.hl7v2.sockets import Conn, closed_by_server, connect

MSG = "MSH|^~\\&|EHR|HOSP|HUB|CARE|20240101||ADT^A04^ADT_A01|{id}|P|2.5\rPID|1||{id}\r"


def msg(control_id: str) -> bytes:
    return MSG.format(id=control_id).encode()


async def echo_ack(payload: bytes, peer: PeerInfo) -> bytes:
    control_id = parse(payload).control_id
    return f"MSH|^~\\&|HUB||EHR||2024||ACK|A{control_id}|P|2.5\rMSA|AA|{control_id}\r".encode()


async def exchange(conn: Conn, control_id: str) -> str:
    """Send one message on ``conn``; the MSA-2 of the answer."""
    reader, writer = conn
    writer.write(frame(msg(control_id)))
    await writer.drain()
    async with asyncio.timeout(5):
        await reader.readuntil(b"\x0b")
        return str(parse((await reader.readuntil(b"\x1c"))[:-1])["MSA-2"])


async def close_all(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def until(condition, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


async def test_one_peer_over_its_cap_is_closed_at_once_and_others_are_served():
    async with MllpServer(echo_ack, port=0, max_connections_per_peer=3) as server:
        held = [await connect(server.port, "127.0.0.2") for _ in range(3)]
        extra = await connect(server.port, "127.0.0.2")
        try:
            assert await closed_by_server(extra, 1.0)
            assert server.stats["refused"] == 1
            assert server.connections_from("127.0.0.2") == 3
            assert await exchange(await connect(server.port, "127.0.0.3"), "OTHER") == "OTHER"
            # the held connections are real sessions, not just counted
            assert await exchange(held[0], "HELD") == "HELD"
        finally:
            await close_all([*held, extra])
        await until(lambda: server.active_connections == 0)
        assert server.connections_from("127.0.0.2") == 0  # slots come back when they close


async def test_the_port_cap_counts_every_peer():
    async with MllpServer(echo_ack, port=0, max_connections=4) as server:
        held = [await connect(server.port, f"127.0.0.{10 + i}") for i in range(4)]
        extra = await connect(server.port, "127.0.0.20")
        try:
            assert await closed_by_server(extra, 1.0)
            assert server.active_connections == 4
        finally:
            await close_all([*held, extra])
        await until(lambda: server.active_connections == 0)
        assert await exchange(await connect(server.port, "127.0.0.20"), "AFTER") == "AFTER"


async def test_a_connection_that_starts_no_frame_is_closed_at_the_first_frame_timeout():
    async with MllpServer(echo_ack, port=0, first_frame_timeout=0.5, idle_timeout=60) as server:
        started = time.monotonic()
        idle = await connect(server.port)
        proven = await connect(server.port)
        assert await exchange(proven, "P1") == "P1"
        try:
            assert await closed_by_server(idle, 3.0)
            assert 0.4 <= time.monotonic() - started < 2.0
            assert server.stats["first_frame_timeouts"] == 1
            # a sender that has sent a frame stays for idle_timeout, not the first-frame one
            assert not await closed_by_server(proven, 1.0)
            assert await exchange(proven, "P2") == "P2"
        finally:
            await close_all([idle, proven])


async def test_a_started_first_frame_gets_the_frame_timeout_not_the_first_frame_timeout():
    async with MllpServer(echo_ack, port=0, first_frame_timeout=0.3, frame_timeout=5) as srv:
        reader, writer = await connect(srv.port)
        try:
            writer.write(b"\x0b" + msg("SLOW")[:20])
            await writer.drain()
            await asyncio.sleep(0.8)  # past the first-frame timeout, inside the frame one
            writer.write(msg("SLOW")[20:] + b"\x1c\r")
            await writer.drain()
            async with asyncio.timeout(5):
                await reader.readuntil(b"\x0b")
                assert parse((await reader.readuntil(b"\x1c"))[:-1])["MSA-2"] == "SLOW"
        finally:
            await close_all([(reader, writer)])


async def test_refusals_are_logged_with_the_peer_and_without_flooding(caplog):
    caplog.set_level(logging.WARNING, logger="adapters.hl7v2.server")
    async with MllpServer(echo_ack, port=0, max_connections_per_peer=1) as server:
        held = await connect(server.port, "127.0.0.4")
        refused = [await connect(server.port, "127.0.0.4") for _ in range(50)]
        try:
            assert all(await asyncio.gather(*(closed_by_server(c, 2.0) for c in refused)))
        finally:
            await close_all([held, *refused])
    assert server.stats["refused"] == 50
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(lines) <= 2, lines
    assert "127.0.0.4" in lines[0] and "1 connections open" in lines[0]


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    from hl7v2_tls import make_pki

    pki = make_pki(tmp_path)
    return server_ssl_context(str(pki.server_cert), str(pki.server_key))


async def test_a_tls_port_counts_connections_before_the_handshake(tls_context):
    """A socket that never starts the TLS handshake holds a slot from accept, and is closed
    at the first-frame timeout (handshake included): the cap cannot be dodged by not
    speaking TLS, and the slot is not held for the frame timeout."""
    async with MllpServer(
        echo_ack,
        port=0,
        ssl_context=tls_context,
        max_connections_per_peer=2,
        first_frame_timeout=0.5,
        frame_timeout=30,
    ) as server:
        silent = [await connect(server.port, "127.0.0.5") for _ in range(2)]
        extra = await connect(server.port, "127.0.0.5")
        try:
            assert await closed_by_server(extra, 1.0)
            assert server.connections_from("127.0.0.5") == 2
            started = time.monotonic()
            assert all(await asyncio.gather(*(closed_by_server(c, 3.0) for c in silent)))
            assert time.monotonic() - started < 2.0
            await until(lambda: server.connections_from("127.0.0.5") == 0)
            assert server.stats["first_frame_timeouts"] == 2
        finally:
            await close_all([*silent, extra])


async def test_closing_a_connection_whose_peer_does_not_read_is_bounded():
    """Answers buffered for a peer that never reads: close() gives up after its grace and
    aborts the transport, so the slot and the socket are freed, not held until the kernel
    gives up."""
    from adapters.hl7v2.mllp import MllpWriter

    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _reader, client = await asyncio.open_connection("127.0.0.1", port)  # never reads
    try:
        writer = await asyncio.wait_for(accepted.get(), 5)
        writer.write(b"x" * (64 * 1024 * 1024))  # far more than the socket buffers take
        started = time.monotonic()
        await MllpWriter(writer).close(grace=0.3)
        assert time.monotonic() - started < 2.0
        await asyncio.sleep(0.05)
        assert writer.transport.is_closing()
        assert writer.get_extra_info("socket").fileno() == -1
    finally:
        client.close()
        server.close()
        await server.wait_closed()
