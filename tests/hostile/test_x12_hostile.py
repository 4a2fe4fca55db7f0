"""Hostile and broken X12 POSTed to /x12/{system} of a running hub (and one file through the
watched inbox): each gets its TA1 note code or 999 IK3/IK4 codes, fast, and the interchange
is in the message log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from adapters.x12 import parse
from carehub.app.hub import Hub
from hub.records import MessageRecord
from tests.corpus import corpus_dir
from tests.hostile.hubkit import X12_TOKEN, find_raw, post

SAMPLE = "lfhx12__837_005010X222A2_demo.autoaccident.837"
EDI = "application/edi-x12"


@pytest.fixture(scope="module")
def claim() -> bytes:
    path = corpus_dir() / "x12" / SAMPLE
    if not path.is_file():
        pytest.fail(f"corpus sample {path} is missing; set CAREHUB_CORPUS")
    return path.read_bytes()


def numbered(data: bytes, control: int) -> bytes:
    """The sample with ISA13/IEA02 set to ``control`` (each test its own interchange)."""
    return data.replace(b"*000000907*", b"*%09d*" % control).replace(
        b"IEA*1*000000907", b"IEA*1*%09d" % control
    )


async def send(hub: Hub, data: bytes) -> bytes:
    started = time.monotonic()
    async with asyncio.timeout(15):
        status, body, _ = await post(hub, "/x12/payer", data, token=X12_TOKEN, content_type=EDI)
    assert status == 200
    assert time.monotonic() - started < 10
    return body


def ta1_of(answer: bytes) -> list[str]:
    """TA101..TA105 of the TA1 in ``answer``."""
    doc = parse(answer)
    segment = next(s for s in doc.interchanges[0].strays if getattr(s, "id", "") == "TA1")
    return [segment.element(i) for i in range(1, 6)]


def segments_of(answer: bytes, tag: str) -> list[list[str]]:
    out = []
    for ic in parse(answer).interchanges:
        for ts in ic.transaction_sets() if hasattr(ic, "transaction_sets") else []:
            for seg in ts.segments:
                if seg.id == tag:
                    out.append([seg.element(i) for i in range(1, 6)])
    return out


async def kept(hub: Hub, data: bytes) -> MessageRecord:
    return await find_raw(hub, lambda m: m.raw == data)


async def test_an_isa_of_the_wrong_length_gets_ta1_naming_the_element(hub: Hub, claim: bytes):
    """ISA08 cut to 6 characters (the ISA is 97 long): still read, rejected TA1 R 008."""
    data = numbered(claim, 301).replace(b"*30*12345          *", b"*30*12345*", 1)
    ta1 = ta1_of(await send(hub, data))
    assert ta1[0] == "000000301" and ta1[3:] == ["R", "008"]
    assert (await kept(hub, data)).status == "error"


async def test_bad_separators_get_ta1_026(hub: Hub, claim: bytes):
    """Element separators that differ inside the ISA: no interchange can be read; the TA1
    still echoes ISA13 from its fixed position and says 026."""
    data = numbered(claim, 302).replace(b"*", b"\x00", 3)
    ta1 = ta1_of(await send(hub, data))
    assert ta1[0] == "000000302" and ta1[3:] == ["R", "026"]
    assert (await kept(hub, data)).status == "rejected"


async def test_a_letter_as_element_separator_gets_ta1_026(hub: Hub, claim: bytes):
    data = numbered(claim, 303).replace(b"*", b"Q")
    ta1 = ta1_of(await send(hub, data))
    assert ta1[3:] == ["R", "026"]
    assert (await kept(hub, data)).status == "rejected"


async def test_isa13_not_equal_to_iea02_gets_ta1_001(hub: Hub, claim: bytes):
    data = numbered(claim, 304).replace(b"IEA*1*000000304", b"IEA*1*000000999")
    ta1 = ta1_of(await send(hub, data))
    assert ta1[0] == "000000304" and ta1[3:] == ["R", "001"]
    assert (await kept(hub, data)).status == "error"


async def test_a_truncated_file_gets_ta1_023(hub: Hub, claim: bytes):
    whole = numbered(claim, 305)
    data = whole[: len(whole) // 2]
    ta1 = ta1_of(await send(hub, data))
    assert ta1[0] == "000000305" and ta1[3:] == ["R", "023"]
    assert (await kept(hub, data)).status == "error"


async def test_a_file_cut_inside_the_isa_gets_ta1_023(hub: Hub, claim: bytes):
    data = numbered(claim, 306)[:60]
    ta1 = ta1_of(await send(hub, data))
    assert ta1[3:] == ["R", "023"]
    assert (await kept(hub, data)).status == "rejected"


async def test_a_duplicate_isa13_gets_ta1_025_and_is_not_processed_again(hub: Hub, claim: bytes):
    data = numbered(claim, 307)
    first = await send(hub, data)
    assert b"AK9*A*" in first
    ta1 = ta1_of(await send(hub, data))
    assert ta1[0] == "000000307" and ta1[3:] == ["R", "025"]
    assert hub.store is not None
    rows = [m for m in await hub.store.list_messages(direction="in") if m.raw == data]
    assert sorted(m.status for m in rows) == ["accepted", "duplicate"]
    assert next(m for m in rows if m.status == "duplicate").event_count == 0


async def test_se01_mismatch_gets_999_ik5_r_code_4(hub: Hub, claim: bytes):
    """SE01 says 99 segments, the set has 39: the interchange is accepted (TA1 A or none),
    the set rejected by the 999 — IK5 R with IK501 code 4 (number of included segments
    does not match actual count) — and its claim is not mapped."""
    data = numbered(claim, 308).replace(b"~\nSE*39*0021~", b"~\nSE*99*0021~")
    assert data != numbered(claim, 308)
    answer = await send(hub, data)
    assert b"ST*999*" in answer
    ik5 = segments_of(answer, "IK5")
    ak9 = segments_of(answer, "AK9")
    assert ik5 and ik5[0][0] == "R" and "4" in ik5[0][1:]
    assert ak9 and ak9[0][0] == "R"
    record = await kept(hub, data)
    assert record.status in ("error", "rejected") and record.event_count == 0


async def test_an_element_too_long_gets_999_ik3_8_and_ik4_5(hub: Hub, claim: bytes):
    """N402 (state) of three characters: the 999 names the segment (IK3: N4, its position,
    8 = segment has data element errors) and the element (IK4: 2, 5 = too long)."""
    data = numbered(claim, 310).replace(b"N4*ROCKING HORSE*CA*", b"N4*ROCKING HORSE*CAX*")
    answer = await send(hub, data)
    ik3 = segments_of(answer, "IK3")
    ik4 = segments_of(answer, "IK4")
    assert ik3 and ik3[0][0] == "N4" and ik3[0][3] == "8"
    assert ik4 and ik4[0][0] == "2" and ik4[0][2] == "5"
    assert (await kept(hub, data)).status in ("error", "rejected")


async def test_a_broken_file_in_the_inbox_is_answered_in_the_acks_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claim: bytes
):
    """The same answers for a file dropped in a watched inbox: the TA1 lands in acks/."""
    from carehub.app.hub import Hub as HubClass
    from hub.config import parse_config

    inbox, acks = tmp_path / "in", tmp_path / "acks"
    inbox.mkdir()
    cfg = parse_config(
        f"""
hub: {{namespace: hostilex}}
systems:
  payer:
    inbound: [{{type: x12-inbox, path: "{inbox}", acks_path: "{acks}",
               poll_seconds: 0.05, settle_seconds: 0}}]
"""
    ).with_overrides(db_url=f"sqlite:///{tmp_path / 'x.db'}")
    data = numbered(claim, 309).replace(b"IEA*1*000000309", b"IEA*1*000000998")
    async with HubClass(cfg) as hub:
        (inbox / "bad.837").write_bytes(data)
        async with asyncio.timeout(10):
            while not (acks.is_dir() and any(acks.iterdir())):
                await asyncio.sleep(0.05)
        answer = next(iter(sorted(acks.iterdir()))).read_bytes()
        assert ta1_of(answer)[3:] == ["R", "001"]
        assert (await find_raw(hub, lambda m: m.raw == data)).status == "error"


async def test_a_body_that_is_not_x12_gets_415_and_is_kept(hub: Hub):
    data = b"<claim><patient>not X12</patient></claim>"
    async with asyncio.timeout(10):
        status, body, _ = await post(hub, "/x12/payer", data, token=X12_TOKEN, content_type=EDI)
    assert status == 415 and b"no ISA" in body
    record = await kept(hub, data)
    assert record.status == "rejected" and record.format == "x12"
    assert record.findings[0]["code"] == "structure"


def test_unreadable_input_gets_the_ta1_note_for_what_is_wrong():
    """``refuse_unreadable`` (the answer when no interchange can be read): 022 without an
    ISA, 023 when the input ends inside it, 026 for unusable separators."""
    from adapters.x12 import counter_allocator
    from conformance.x12 import refuse_unreadable

    isa = (
        b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
        b"*240101*1200*^*00501*000000042*0*P*:~"
    )
    cases = {
        b"hello, not X12 at all": ("000000000", "022"),
        isa[:50]: ("000000000", "023"),
        isa.replace(b"*", b" "): ("000000042", "026"),
    }
    for data, (control, note) in cases.items():
        ta1 = ta1_of(refuse_unreadable(data, counter_allocator()))
        assert ta1[0] == control and ta1[3:] == ["R", note], data


async def test_a_reused_isa13_with_other_content_is_processed_with_a_warning(
    hub: Hub, claim: bytes
):
    """The same ISA13 from the same sender on another interchange (another claim amount):
    not answered as a duplicate (TA1 R 025) — processed, its 999 accepts it, and the reuse is
    a 205 warning in the message log."""
    data = numbered(claim, 310)
    other = data.replace(b"CLM*900000032*185.00", b"CLM*900000099*210.00")
    assert other != data
    assert b"AK9*A*" in await send(hub, data)
    answer = await send(hub, other)
    assert b"AK9*A*" in answer and b"*R*025" not in answer
    kept = await find_raw(hub, lambda m: m.raw == other)
    assert kept.status == "accepted" and kept.duplicate_of is None and kept.event_count
    assert any(f["format_code"] == "205" and f["severity"] == "warning" for f in kept.findings)
