"""MLLP framing, server, client and sender over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hl7v2_corpus import HL7_DIR

from adapters.hl7v2 import (
    FrameDecoder,
    FrameTooLarge,
    IncompleteFrame,
    Limits,
    MllpClient,
    MllpSender,
    MllpServer,
    PeerAllowList,
    PeerInfo,
    frame,
    parse,
    server_ssl_context,
)
from adapters.hl7v2.mllp import MllpReader
from hub.errors import (
    ConfigError,
    DeliveryTimeout,
    PartnerRejected,
    PartnerUnavailable,
)

MSG = "MSH|^~\\&|EHR|HOSP|HUB|CARE|20240101||ADT^A04^ADT_A01|{id}|P|2.5\rPID|1||{id}\r"


def msg(control_id: str) -> bytes:
    return MSG.format(id=control_id).encode()


def ack_for(payload: bytes, code: str = "AA", text: str = "") -> bytes:
    control_id = parse(payload).control_id
    header = f"MSH|^~\\&|HUB||EHR||2024||ACK^A04^ACK|A{control_id}|P|2.5\r"
    return f"{header}MSA|{code}|{control_id}|{text}\r".encode()


async def echo_ack(payload: bytes, peer: PeerInfo) -> bytes:
    return ack_for(payload)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- framing, no sockets


def test_decoder_reassembles_frames_split_across_reads():
    decoder = FrameDecoder(max_frame=1000)
    wire = frame(b"one") + frame(b"two")
    frames = []
    for i in range(len(wire)):
        decoder.feed(wire[i : i + 1])
        while (payload := decoder.next_frame()) is not None:
            frames.append(payload)
    assert frames == [b"one", b"two"]
    assert decoder.garbage == 0


def test_decoder_skips_and_counts_garbage_and_tolerates_missing_cr():
    decoder = FrameDecoder(max_frame=1000)
    decoder.feed(b"noise\r\n\x0bone\x1cjunk\x0btwo\x1c\r")
    assert decoder.next_frame() == b"one"
    assert decoder.next_frame() == b"two"
    assert decoder.next_frame() is None
    assert decoder.garbage == len(b"noise\r\n") + len(b"junk")


def test_decoder_cr_arriving_late_is_not_garbage():
    decoder = FrameDecoder(max_frame=1000)
    decoder.feed(b"\x0bone\x1c")
    assert decoder.next_frame() == b"one"
    decoder.feed(b"\r\x0btwo\x1c\r")
    assert decoder.next_frame() == b"two"
    assert decoder.garbage == 0


def test_decoder_refuses_an_oversized_frame_and_keeps_its_head():
    decoder = FrameDecoder(max_frame=100)
    decoder.feed(b"\x0b" + msg("BIG") + b"x" * 200)
    with pytest.raises(FrameTooLarge) as info:
        decoder.next_frame()
    assert info.value.head.startswith(b"MSH|")
    assert parse(info.value.head.split(b"\r")[0]).control_id == "BIG"


async def _reader_with(data: bytes, eof: bool) -> MllpReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    if eof:
        stream.feed_eof()
    return MllpReader(stream, max_frame=1000)


async def test_reader_eof_inside_a_frame_is_an_error():
    reader = await _reader_with(b"\x0bpartial", eof=True)
    with pytest.raises(IncompleteFrame):
        await reader.read_frame()


async def test_reader_clean_eof_ends_the_stream():
    reader = await _reader_with(frame(b"one"), eof=True)
    assert await reader.read_frame() == b"one"
    assert await reader.read_frame() is None


async def test_reader_frame_and_idle_timeouts():
    stalled = await _reader_with(b"\x0bstarted but never ended", eof=False)
    with pytest.raises(IncompleteFrame):
        await stalled.read_frame(frame_timeout=0.1)
    idle = await _reader_with(b"", eof=False)
    with pytest.raises(TimeoutError):
        await idle.read_frame(idle_timeout=0.1)


# ---------------------------------------------------------------- server


async def test_many_connections_each_answered_in_order():
    seen: list[tuple[int, str]] = []

    async def handler(payload: bytes, peer: PeerInfo) -> bytes:
        seen.append((peer.connection_id, parse(payload).control_id))
        await asyncio.sleep(0.001)
        return ack_for(payload)

    async def one_client(n: int, port: int) -> list[str]:
        async with MllpClient("127.0.0.1", port, timeout=5) as client:
            answers = [await client.send(msg(f"C{n}-{i}")) for i in range(5)]
        return [parse(a)["MSA-2"] for a in answers]

    async with MllpServer(handler, port=0) as server:
        results = await asyncio.gather(*(one_client(n, server.port) for n in range(20)))
    for n, answers in enumerate(results):
        assert answers == [f"C{n}-{i}" for i in range(5)]
    per_connection: dict[int, list[str]] = {}
    for cid, control_id in seen:
        per_connection.setdefault(cid, []).append(control_id)
    assert all(ids == sorted(ids) for ids in per_connection.values())
    assert server.stats["frames"] == 100


async def test_garbage_before_a_frame_is_skipped_and_counted():
    async with MllpServer(echo_ack, port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n" + frame(msg("G1")))
        mllp = MllpReader(reader, max_frame=10_000)
        answer = await mllp.read_frame(idle_timeout=5)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
    assert parse(answer)["MSA-2"] == "G1"
    assert server.stats["garbage_bytes"] == len(b"GET / HTTP/1.0\r\n\r\n")


async def test_oversized_frame_gets_the_refusal_then_the_connection_closes():
    refused: list[bytes] = []

    async def refuse(head, error, peer):
        refused.append(head)
        return ack_for(head.split(b"\r")[0] + b"\r", "AR", "too large")

    async with MllpServer(echo_ack, port=0, limits=Limits(max_bytes=500), refuse=refuse) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(frame(msg("HUGE") + b"OBX|1|TX|||" + b"x" * 1000 + b"\r"))
        mllp = MllpReader(reader, max_frame=10_000)
        answer = await mllp.read_frame(idle_timeout=5)
        assert await mllp.read_frame(idle_timeout=5) is None  # closed by the server
        writer.close()
    nak = parse(answer)
    assert (nak["MSA-1"], nak["MSA-2"], nak["MSA-3"]) == ("AR", "HUGE", "too large")
    assert len(refused) == 1


async def test_missing_end_block_is_an_error_not_a_message():
    handled: list[bytes] = []

    async def handler(payload, peer):
        handled.append(payload)
        return ack_for(payload)

    async with MllpServer(handler, port=0, frame_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x0b" + msg("NOEND"))
        await writer.drain()
        assert await reader.read() == b""  # closed after the frame timeout, nothing sent
        writer.close()
    assert handled == []


async def test_idle_connection_is_closed():
    async with MllpServer(echo_ack, port=0, idle_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_failing_handler_closes_without_an_answer():
    async def broken(payload, peer):
        raise RuntimeError("boom")

    async with MllpServer(broken, port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(frame(msg("X")))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_source_ip_allow_list():
    allow = PeerAllowList.of(ips=["10.0.0.0/8"])
    async with MllpServer(echo_ack, port=0, allowed_peers=allow) as server:
        with pytest.raises(PartnerUnavailable):
            async with MllpClient("127.0.0.1", server.port, timeout=5) as client:
                await client.send(msg("IP"))
    assert server.stats["refused"] == 1
    local = PeerAllowList.of(ips=["127.0.0.1"])
    async with (
        MllpServer(echo_ack, port=0, allowed_peers=local) as server,
        MllpClient("127.0.0.1", server.port, timeout=5) as client,
    ):
        assert parse(await client.send(msg("IP")))["MSA-2"] == "IP"


async def test_connection_cap():
    async with (
        MllpServer(echo_ack, port=0, max_connections=1) as server,
        MllpClient("127.0.0.1", server.port, timeout=5) as first,
    ):
        await first.send(msg("1"))
        with pytest.raises(PartnerUnavailable):
            async with MllpClient("127.0.0.1", server.port, timeout=5) as second:
                await second.send(msg("2"))
        assert parse(await first.send(msg("3")))["MSA-2"] == "3"


# ---------------------------------------------------------------- TLS


@pytest.fixture
def pki(tmp_path: Path):
    from hl7v2_tls import make_pki

    return make_pki(tmp_path)


def client_context(pki, cn: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cn is not None:
        cert, key, _ = pki.clients[cn]
        context.load_cert_chain(str(cert), str(key))
    return context


async def test_mutual_tls_with_a_subject_allow_list(pki):
    context = server_ssl_context(
        str(pki.server_cert), str(pki.server_key), client_cafile=str(pki.ca)
    )
    peers: list[PeerInfo] = []

    async def handler(payload, peer):
        peers.append(peer)
        return ack_for(payload)

    allow = PeerAllowList.of(subjects=["partner-a"])
    async with MllpServer(handler, port=0, ssl_context=context, allowed_peers=allow) as server:
        ok = MllpClient(
            "127.0.0.1",
            server.port,
            ssl_context=client_context(pki, "partner-a"),
            server_hostname="localhost",
            timeout=5,
        )
        async with ok:
            assert parse(await ok.send(msg("TLS1")))["MSA-1"] == "AA"
        for cn in ("partner-b", None):
            other = MllpClient(
                "127.0.0.1",
                server.port,
                ssl_context=client_context(pki, cn),
                server_hostname="localhost",
                timeout=5,
            )
            with pytest.raises((PartnerUnavailable, DeliveryTimeout)):
                async with other:
                    await other.send(msg("TLS2"))
    assert [(p.tls, p.subject_cn) for p in peers] == [(True, "partner-a")]
    assert peers[0].fingerprint == pki.clients["partner-a"][2]


async def test_mutual_tls_with_a_fingerprint_allow_list(pki):
    context = server_ssl_context(
        str(pki.server_cert), str(pki.server_key), client_cafile=str(pki.ca)
    )
    allow = PeerAllowList.of(fingerprints=[pki.clients["partner-b"][2].upper()])
    async with MllpServer(echo_ack, port=0, ssl_context=context, allowed_peers=allow) as server:
        client = MllpClient(
            "127.0.0.1",
            server.port,
            ssl_context=client_context(pki, "partner-b"),
            server_hostname="localhost",
            timeout=5,
        )
        async with client:
            assert parse(await client.send(msg("FP")))["MSA-2"] == "FP"


def test_tls_below_1_2_is_refused():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(ConfigError):
        MllpServer(echo_ack, ssl_context=context)


# ---------------------------------------------------------------- client and sender


async def test_sender_discards_a_late_ack_for_an_earlier_message():
    async def partner(reader, writer):
        mllp = MllpReader(reader, max_frame=100_000)
        payload = await mllp.read_frame(idle_timeout=5)
        # a stale answer for an earlier message comes first, then the right one
        writer.write(frame(ack_for(msg("OLD"))) + frame(ack_for(payload)))
        await writer.drain()
        await mllp.read_frame(idle_timeout=5)

    server = await asyncio.start_server(partner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, MllpSender("127.0.0.1", port, ack_timeout=5) as sender:
        ack = await sender.send(msg("NEW"))
        assert ack["MSA-2"] == "NEW"
        assert sender.discarded == 1


async def test_sender_times_out_when_only_other_acks_arrive():
    async def partner(reader, writer):
        mllp = MllpReader(reader, max_frame=100_000)
        while await mllp.read_frame(idle_timeout=5) is not None:
            writer.write(frame(ack_for(msg("SOMEONE-ELSE"))))

    server = await asyncio.start_server(partner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with (
        server,
        MllpSender("127.0.0.1", port, ack_timeout=0.3, attempts=2, backoff_initial=0.01) as sender,
    ):
        with pytest.raises(DeliveryTimeout):
            await sender.send(msg("MINE"))
        assert sender.discarded >= 2


async def test_sender_reconnects_after_the_partner_drops_the_connection():
    calls = 0

    async def flaky(payload, peer):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError  # the server closes without answering
        return ack_for(payload)

    async with (
        MllpServer(flaky, port=0) as server,
        MllpSender("127.0.0.1", server.port, ack_timeout=5, backoff_initial=0.01) as sender,
    ):
        ack = await sender.send(msg("RETRY"))
    assert ack["MSA-2"] == "RETRY"
    assert calls == 2
    assert server.stats["connections"] == 2


async def test_sender_gives_up_with_partner_unavailable_when_refused():
    sender = MllpSender("127.0.0.1", free_port(), attempts=2, backoff_initial=0.01)
    with pytest.raises(PartnerUnavailable):
        await sender.send(msg("NOBODY"))


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        (
            "MSA|AE|{id}\rERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 is empty\r",
            "AE",
            "PID-3 is empty",
        ),
        ("MSA|AR|{id}|unsupported message type\r", "AR", "unsupported message type"),
        ("MSA|CR|{id}\r", "CR", "partner answered CR"),
    ],
)
async def test_sender_raises_partner_rejected_with_the_partners_text(answer, code, text):
    async def handler(payload, peer):
        control_id = parse(payload).control_id
        return b"MSH|^~\\&|HUB||EHR||2024||ACK|X|P|2.5\r" + answer.format(id=control_id).encode()

    async with (
        MllpServer(handler, port=0) as server,
        MllpSender("127.0.0.1", server.port, ack_timeout=5) as sender,
    ):
        with pytest.raises(PartnerRejected) as info:
            await sender.send(msg("REJ"))
    assert info.value.code == code
    assert info.value.message == text


async def test_sender_accepts_a_commit_accept():
    async def handler(payload, peer):
        return ack_for(payload, "CA")

    async with (
        MllpServer(handler, port=0) as server,
        MllpSender("127.0.0.1", server.port, ack_timeout=5) as sender,
    ):
        assert (await sender.send(msg("CA1")))["MSA-1"] == "CA"


async def test_client_read_timeout_is_delivery_timeout():
    async def silent(payload, peer):
        await asyncio.sleep(5)
        return b""

    async with (
        MllpServer(silent, port=0) as server,
        MllpClient("127.0.0.1", server.port, timeout=0.2) as client,
    ):
        with pytest.raises(DeliveryTimeout):
            await client.send(msg("SLOW"))


# ---------------------------------------------------------------- python-hl7's mllp_send CLI


async def test_mllp_send_cli_gets_our_ack():
    mllp_send = Path(sys.executable).with_name("mllp_send")
    if not mllp_send.exists():
        pytest.fail("mllp_send (from the hl7 package, a dev dependency) is not installed")
    received: list[str] = []

    async def handler(payload, peer):
        received.append(parse(payload).control_id)
        return ack_for(payload)

    source = HL7_DIR / "hl7dotnet__Sample-ADT.txt"
    async with MllpServer(handler, port=0) as server:
        proc = await asyncio.create_subprocess_exec(
            str(mllp_send),
            "--loose",
            "--file",
            str(source),
            "--port",
            str(server.port),
            "127.0.0.1",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert received == ["MSGID12349876"]
    assert b"MSA|AA|MSGID12349876" in out
