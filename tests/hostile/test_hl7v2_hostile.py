"""Hostile and broken HL7 v2 over real MLLP sockets into a running hub: each row of
docs/hostile-input.md gets its specific answer (an ACK with ERR, or a bounded close), in
bounded time, and the raw input is in the message log."""

from __future__ import annotations

import asyncio
import contextlib
import time

from adapters.hl7v2 import parse
from carehub.app.hub import Hub
from tests.e2e.test_adt_to_fhir import A04
from tests.hostile.hubkit import (
    FRAME_TIMEOUT,
    MAX_FRAME,
    ack_exchange,
    find_raw,
    mllp_port,
    raw_exchange,
    unframe,
)


def framed(payload: bytes) -> bytes:
    return b"\x0b" + payload + b"\x1c\r"


def msg(control: str, *, msh_tail: bytes = b"|P|2.5.1", body: bytes | None = None) -> bytes:
    head = (
        b"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128093000||ADT^A04^ADT_A01|"
        + control.encode()
        + msh_tail
        + b"\r"
    )
    return head + (body if body is not None else A04.split(b"\r", 1)[1])


def only_ack(data: bytes):
    frames = unframe(data)
    assert len(frames) == 1, f"expected one ACK frame, got {len(frames)}"
    return parse(frames[0])


async def test_oversized_frame_gets_ar_and_is_not_buffered_whole(hub: Hub):
    """A frame over max_frame_bytes: AR with ERR-3 = 102 (data type error, the limit),
    MSA-2 echoing MSH-10 from the head; the connection is closed while the sender is still
    sending, so the hub never holds the whole frame; the head is kept."""
    head = msg("BIG-1")
    reader, writer = await asyncio.open_connection("127.0.0.1", mllp_port(hub))
    answer = bytearray()
    done = asyncio.Event()

    async def collect() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                answer.extend(chunk)
        done.set()

    reading = asyncio.create_task(collect())
    sent = 0
    chunk = b"Z" * 65536
    started = time.monotonic()
    writer.write(b"\x0b" + head)
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(10):
            # up to 64x the limit; the hub must answer and close long before the end
            for _ in range(64):
                if answer or done.is_set():
                    break
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        await done.wait()
    reading.cancel()
    writer.close()
    assert time.monotonic() - started < 10
    assert sent < 64 * 65536, "the hub kept reading past the limit"
    ack = parse(unframe(bytes(answer))[0])
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "BIG-1"
    assert ack["ERR-3.1"] == "102"
    assert hub.inbound is not None
    server = hub.inbound.find("ehr").server
    assert server.stats["refused"] >= 1
    kept = await find_raw(hub, lambda m: m.control_id == "BIG-1" or m.raw.startswith(head))
    assert kept.status == "rejected" and kept.size <= MAX_FRAME + 1


async def test_frame_without_end_block_is_refused_after_the_frame_timeout(hub: Hub):
    """Start block and a message, then nothing: AR (ERR-3 = 100) at frame_timeout, the
    connection closed, the partial bytes kept."""
    partial = msg("NOEND-1")
    started = time.monotonic()
    async with asyncio.timeout(FRAME_TIMEOUT + 5):
        answer = await raw_exchange(hub, b"\x0b" + partial, read_for=FRAME_TIMEOUT + 3)
    elapsed = time.monotonic() - started
    assert FRAME_TIMEOUT * 0.8 <= elapsed < FRAME_TIMEOUT + 3
    ack = only_ack(answer)
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "NOEND-1" and ack["ERR-3.1"] == "100"
    kept = await find_raw(hub, lambda m: m.raw == partial)
    assert kept.status == "rejected"
    assert not await hub.store.list_deliveries()  # type: ignore[union-attr]


async def test_slow_sender_is_cut_off_at_the_frame_timeout(hub: Hub):
    """A sender dribbling one byte every 50 ms (a 700-byte message would take 35 s): the
    frame timeout bounds it; AR 100 and close within about FRAME_TIMEOUT, bytes so far kept."""
    whole = framed(msg("SLOW-1"))
    started = time.monotonic()
    async with asyncio.timeout(FRAME_TIMEOUT + 5):
        answer = await raw_exchange(hub, whole, read_for=2, chunk_delay=0.05)
    assert time.monotonic() - started < FRAME_TIMEOUT + 4
    ack = only_ack(answer)
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "100"
    kept = await find_raw(hub, lambda m: m.raw.startswith(b"MSH|^~\\&|EPIC|GOOD"))
    assert kept.status == "rejected" and len(kept.raw) < len(whole)


async def test_garbage_before_the_start_block_is_skipped_and_the_message_accepted(hub: Hub):
    """Bytes before the start block are not a message: skipped and counted (not logged as
    content); the frame after them is processed normally (AA)."""
    garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff junk"
    async with asyncio.timeout(10):
        answer = await raw_exchange(hub, garbage + framed(msg("AFTER-GARBAGE")), until_frame=True)
    ack = only_ack(answer)
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "AFTER-GARBAGE"
    assert hub.inbound is not None
    server = hub.inbound.find("ehr").server
    async with asyncio.timeout(5):  # counted when the connection ends
        while server.stats["garbage_bytes"] < len(garbage):
            await asyncio.sleep(0.02)
    kept = await find_raw(hub, lambda m: m.control_id == "AFTER-GARBAGE")
    assert kept.status == "accepted"


async def test_a_frame_that_does_not_start_with_msh_gets_ar_100(hub: Hub):
    payload = b"PID|1||4455667^^^GOODHEALTH^MR||Okonkwo^Chidinma\rPV1|1|O\r"
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "100"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "rejected"


async def test_bad_encoding_characters_get_ar_102(hub: Hub):
    """MSH-2 holding a letter (or the field separator, or more than five characters) cannot
    be read: AR, ERR-3 = 102 at MSH-2."""
    payload = msg("ENC-1").replace(b"MSH|^~\\&|", b"MSH|^~Q&|", 1)
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "102"
    assert ack["ERR-2.1"] == "MSH" and ack["ERR-2.3"] == "2"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "rejected"


async def test_one_character_in_two_encoding_roles_is_accepted_with_a_warning(hub: Hub):
    """``MSH|^^\\&|`` (seen in the wild): tolerated, the later role left unused, and the AA
    carries an ERR with severity W at MSH-2 so the sender hears about it."""
    payload = msg("ENC-2").replace(b"MSH|^~\\&|", b"MSH|^^\\&|", 1)
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "ENC-2"
    assert ack["ERR-4"] == "W" and ack["ERR-2.1"] == "MSH" and ack["ERR-2.3"] == "2"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "accepted"


async def test_unsupported_message_type_gets_ar_200(hub: Hub):
    payload = msg("TYPE-1").replace(b"ADT^A04^ADT_A01", b"ZZZ^Z99")
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "TYPE-1" and ack["ERR-3.1"] == "200"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "unsupported"


async def test_unsupported_version_gets_ar_203(hub: Hub):
    payload = msg("VER-1", msh_tail=b"|P|9.9")
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AR" and ack["ERR-3.1"] == "203"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "unsupported"


async def test_ten_thousand_repetitions_get_ar_102_naming_the_field_quickly(hub: Hub):
    """PID-3 with 10,001 repetitions (about 20 KB, under the frame cap): refused by the
    limits scan before splitting, ERR-2 naming PID-3."""
    reps = b"~".join(b"%d" % (i % 10) for i in range(10_001))
    body = b"EVN|A04|20261128093000\rPID|1||" + reps + b"||Okonkwo^Chidinma\r"
    payload = msg("REPS-1", body=body)
    assert len(payload) < MAX_FRAME
    started = time.monotonic()
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert time.monotonic() - started < 3
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "REPS-1" and ack["ERR-3.1"] == "102"
    assert ack["ERR-2.1"] == "PID" and ack["ERR-2.3"] == "3"
    assert (await find_raw(hub, lambda m: m.raw == payload)).status == "rejected"


async def test_bad_hex_escape_gets_an_aa_with_a_102_warning_naming_the_field(hub: Hub):
    """``\\Xzz\\`` (not hex) and an unterminated escape in PID-5: kept as text, not a
    crash and not a loss — the AA carries ERR-3 = 102, ERR-4 = W naming PID-5."""
    body = A04.split(b"\r", 1)[1].replace(b"Okonkwo^Chidinma^A", b"Oko\\Xzz\\nkwo^Chi\\X4")
    payload = msg("ESC-1", body=body)
    async with asyncio.timeout(10):
        ack = parse(await ack_exchange(hub, payload))
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "ESC-1"
    assert ack["ERR-3.1"] == "102" and ack["ERR-4"] == "W"
    assert ack["ERR-2.1"] == "PID" and ack["ERR-2.3"] == "5"
    kept = await find_raw(hub, lambda m: m.raw == payload)
    assert kept.status == "accepted" and kept.findings[0]["location"] == "PID-5"


async def test_duplicate_msh10_gets_the_original_ack_and_is_not_published_again(hub: Hub):
    payload = msg("DUP-1")
    async with asyncio.timeout(10):
        first = await ack_exchange(hub, payload)
        second = await ack_exchange(hub, payload)
    assert parse(first)["MSA-1"] == "AA"
    assert second == first  # the original answer, byte for byte
    assert hub.store is not None
    rows = [m for m in await hub.store.list_messages(direction="in") if m.raw == payload]
    assert sorted(m.status for m in rows) == ["accepted", "duplicate"]
    dup = next(m for m in rows if m.status == "duplicate")
    assert dup.duplicate_of == next(m.id for m in rows if m.status == "accepted")
    assert dup.event_count == 0


async def test_a_bare_start_block_is_closed_at_the_frame_timeout_with_nothing_stored(hub: Hub):
    async with asyncio.timeout(FRAME_TIMEOUT + 5):
        answer = await raw_exchange(hub, b"\x0b", read_for=FRAME_TIMEOUT + 3)
    assert answer == b""  # closed, nothing to answer
    assert hub.store is not None
    assert await hub.store.list_messages(direction="in") == []


async def test_a_reused_msh10_with_other_content_gets_aa_with_a_205_warning(hub: Hub):
    """Same MSH-3, MSH-4, MSH-10, another message (an A08 of another patient): never the
    first message's ACK — processed, AA with ERR-3 205 ERR-4 W; both kept as accepted."""
    first_payload = msg("REUSED-1")
    other = msg("REUSED-1", body=A04.split(b"\r", 1)[1].replace(b"Okonkwo", b"Adeyemi"))
    async with asyncio.timeout(10):
        first = await ack_exchange(hub, first_payload)
        second = await ack_exchange(hub, other)
    assert parse(first)["MSA-1"] == "AA" and second != first
    ack = parse(second)
    assert ack["MSA-1"] == "AA" and ack["MSA-2"] == "REUSED-1"
    assert ack["ERR-3.1"] == "205" and ack["ERR-4"] == "W"
    kept = await find_raw(hub, lambda m: m.raw == other)
    assert kept.status == "accepted" and kept.duplicate_of is None and kept.event_count
    assert [f["format_code"] for f in kept.findings] == ["205"]
