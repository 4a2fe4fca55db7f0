"""Liberal in, over real MLLP sockets through the whole hub (embedded transport, SQLite), and
through ``carehub validate``: every departure from HL7 v2 that leaves the content
unambiguous is AA with an ERR-4 W naming the field (a ``warning``, exit 0); the same
departure of MSH-11/MSH-12 on a port with ``reading: strict`` is AE/AR with the same text as
an error; what the version does not define stays a warning there, a Z-segment has no ERR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.hl7v2 import Message, parse, parse_batch, split_messages
from adapters.hl7v2.client import MllpClient
from carehub.app.files import FileItem, validate_item
from carehub.app.hub import Hub
from hub.config import parse_config
from hub.findings import Severity
from tests.e2e.test_adt_to_fhir import A04

CONFIG = """
hub: {namespace: liberal}
systems:
  ehr:
    inbound: [{type: mllp, port: 0}]
    identifiers: {patient: GOODHEALTH}
  strictehr:
    inbound: [{type: mllp, port: 0, reading: strict}]
    identifiers: {patient: GOODHEALTH}
"""

PV1 = b"PV1|1|O|CLINIC^201^A^GOODHEALTH"


def _variant(old: bytes, new: bytes, control: str) -> bytes:
    assert old in A04
    return A04.replace(old, new).replace(b"MSG-A04-0001", control.encode())


#: (name, message, ERR-2 location, words of the text, strict MSA-1). What the version does
#: not define (extra fields, components, repetitions) HL7 tells a receiver to ignore
#: (v2.7.1 2.6.2): AA with the warning on a strict port too
DEPARTURES = [
    (
        "msh11-empty",
        _variant(b"|P|2.5.1\r", b"||2.5.1\r", "D-11E"),
        "MSH^1^11",
        "MSH-11 (processing id) is empty: read as P (production)",
        "AE",
    ),
    (
        "msh11-outside-0103",
        _variant(b"|P|2.5.1\r", b"|PROD|2.5.1\r", "D-11X"),
        "MSH^1^11",
        "MSH-11 processing id 'PROD' is not one of D, P, T (table 0103): read as P",
        "AR",
    ),
    (
        "msh12-v-prefix",
        _variant(b"|P|2.5.1\r", b"|P|v2.5.1\r", "D-12V"),
        "MSH^1^12",
        "MSH-12 'v2.5.1' is not how table 0104 writes a version: read as 2.5.1",
        "AR",
    ),
    (
        "msh12-compact",
        _variant(b"|P|2.5.1\r", b"|P|251\r", "D-12C"),
        "MSH^1^12",
        "MSH-12 '251' is not how table 0104 writes a version: read as 2.5.1",
        "AR",
    ),
    (
        "extra-components",
        _variant(b"|19850214|F|", b"|19850214|F^Female^HL70001|", "D-XC"),
        "PID^1^8^^2",
        "PID-8 has 3 components, IS has 1 in 2.5.1: PID-8.2 to PID-8.3 not read",
        "AA",
    ),
    (
        "extra-repetitions",
        _variant(b"|19850214|F|", b"|19850214~19850215|F|", "D-XR"),
        "PID^1^7",
        "PID-7 does not repeat in 2.5.1 but has 2 repetitions: only the first is read",
        "AA",
    ),
    (
        "fields-past-the-end",
        _variant(b"V0001\r", b"V0001" + b"|" * 40 + b"EXTRA\r", "D-XF"),
        "PV1^1^58",
        "PV1-58: past the last field PV1 has in 2.5.1 (PV1-52): not read",
        "AA",
    ),
]


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    async with Hub(cfg) as h:
        yield h


def _port(hub: Hub, system: str) -> int:
    assert hub.inbound is not None
    return int(hub.inbound.find(system).server.port)


async def _exchange(hub: Hub, system: str, frame: bytes) -> bytes:
    async with MllpClient("127.0.0.1", _port(hub, system), timeout=10) as client:
        return await client.send(frame)


def _errs(ack: Message) -> list[tuple[str | None, str | None, str | None]]:
    """(ERR-2 location, ERR-4 severity, ERR-8 text) of each ERR."""
    return [
        (ack.raw(f"ERR[{n}]-2"), ack.get(f"ERR[{n}]-4"), ack.get(f"ERR[{n}]-8"))
        for n in range(1, len(list(ack.segments_by_id("ERR"))) + 1)
    ]


async def _status(hub: Hub, raw: bytes) -> str:
    assert hub.store is not None
    rows = await hub.store.list_messages(direction="in")
    return next(m.status for m in rows if m.raw == raw)


@pytest.mark.parametrize(
    ("message", "where", "text", "strict_code"),
    [pytest.param(*rest, id=name) for name, *rest in DEPARTURES],
)
async def test_a_departure_is_aa_with_a_warning_and_an_error_on_a_strict_port(
    hub: Hub, message: bytes, where: str, text: str, strict_code: str
):
    ack = parse(await _exchange(hub, "ehr", message))
    assert ack["MSA-1"] == "AA", _errs(ack)
    assert any(e[0] == where and e[1] == "W" and text in (e[2] or "") for e in _errs(ack)), _errs(
        ack
    )
    assert await _status(hub, message) == "accepted"

    strict = parse(await _exchange(hub, "strictehr", message))
    assert strict["MSA-1"] == strict_code, _errs(strict)
    severity = "W" if strict_code == "AA" else "E"
    assert any(
        e[0] == where and e[1] == severity and text in (e[2] or "") for e in _errs(strict)
    ), _errs(strict)


Z_SEGMENTS = [
    pytest.param(
        _variant(b"PID|1|", b"ZPI|1|VIP^Very important\rPID|1|", "D-ZB"), "ZPI", id="before-pid"
    ),
    pytest.param(_variant(b"V0001\r", b"V0001\rZPV|1|BED-HOLD\r", "D-ZE"), "ZPV", id="at-the-end"),
]


@pytest.mark.parametrize(("message", "segment"), Z_SEGMENTS)
async def test_a_z_segment_is_aa_without_err_on_every_port(hub: Hub, message: bytes, segment: str):
    """Site-defined, expected, kept in the raw message: no ERR (never 100, segment sequence
    error), on a strict port neither; ``validate`` names it as information."""
    for system in ("ehr", "strictehr"):
        ack = parse(await _exchange(hub, system, message.replace(b"D-Z", system.encode())))
        assert ack["MSA-1"] == "AA", _errs(ack)
        assert not [e for e in _errs(ack) if (e[0] or "").startswith(segment)], _errs(ack)
    verdict = validate_item(FileItem(Path("in.hl7"), 1, 1, "hl7v2", message))
    assert verdict.ok and verdict.events
    [note] = [f for f in verdict.report.findings if f.location == segment]
    assert note.severity.value == "information" and note.format_code != "100"
    assert "site-defined segment: not mapped" in note.text


@pytest.mark.parametrize(
    ("message", "where", "text"),
    [pytest.param(m, w, t, id=name) for name, m, w, t, _ in DEPARTURES],
)
def test_validate_reports_a_departure_as_a_warning(message: bytes, where: str, text: str):
    verdict = validate_item(FileItem(Path("in.hl7"), 1, 1, "hl7v2", message))
    assert verdict.ok, verdict.report.as_list()
    warnings = [f for f in verdict.report.findings if f.severity.value == "warning"]
    assert any(text in f.text for f in warnings), verdict.report.as_list()
    assert verdict.events  # read and mapped, not dropped


def test_the_explicit_null_is_valid_in_every_data_type():
    """``""`` in a date (PID-7 TS), a code (PID-8 IS), a name (PID-5 XPN is required, so
    PID-9), an address (XAD), a telecom (XTN), a coded CE (PID-10, PID-15), a numeric
    (PID-25 NM), an identifier (PID-18 CX) and a visit time (PV1-45 TS): no error, no
    warning about the value. What says who the patient is (PID-7, PID-8, the PID-19/20
    identifiers) is never cleared by a feed: a warning each, the rest is cleared."""
    message = A04.replace(b"|19850214|F|||", b'|""|""|""|""|').replace(
        b"12 Harbour Rd^^Portland^ME^04101^USA^H||^PRN^PH^^1^207^5550142",
        b'""||""|""|""|""|""|""|""|""|""|""|""|""',
    )
    message = message.replace(b"V0001\r", b"V0001" + b"|" * 25 + b'""\r')
    verdict = validate_item(FileItem(Path("in.hl7"), 1, 1, "hl7v2", message))
    assert verdict.ok, verdict.report.as_list()
    pid = [f for f in verdict.report.findings if f.location and f.location.startswith("PID")]
    assert [(f.severity, f.location) for f in pid] == [
        (Severity.WARNING, f"PID-{n}") for n in (7, 8, 19, 20)
    ]
    assert all(f.text.startswith(f"explicit null in {f.location} ignored") for f in pid)
    patient = verdict.events[0].entity.model_dump()
    assert patient["birth_date"] is None and patient["sex"] is None
    assert patient["meta"]["cleared"] == [
        "race",
        "addresses",
        "telecom:home",
        "telecom:work",
        "language",
        "marital_status",
        "ethnicity",
        "multiple_birth",
    ]


# ---------------------------------------------------------------- batches over MLLP

MSG_A = A04.replace(b"MSG-A04-0001", b"B-1")
MSG_B = A04.replace(b"MSG-A04-0001", b"B-2").replace(b"ADT^A04", b"ADT^A08")
BHS = b"BHS|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128||||BATCH-7\r"


@pytest.mark.parametrize(
    ("frame", "warning"),
    [
        pytest.param(BHS + MSG_A + MSG_B + b"BTS|2\r", None, id="well-formed"),
        pytest.param(
            BHS + MSG_A + MSG_B + b"BTS|5\r",
            "line 10: BTS-1 says 5 messages, there are 2",
            id="wrong-bts-count",
        ),
        pytest.param(BHS + MSG_A + MSG_B, "the batch opened at line 1 has no BTS", id="no-bts"),
        pytest.param(
            MSG_A + MSG_B + b"BTS|2\r",
            "line 9: BTS closes no batch (its BHS is missing)",
            id="no-bhs",
        ),
        pytest.param(
            MSG_A + MSG_B,
            "2 messages in one frame without a batch envelope (BHS … BTS): each read and answered",
            id="no-envelope",
        ),
        pytest.param(
            b"FHS|^~\\&|EPIC\r" + BHS + MSG_A + MSG_B + b"BTS|2\rFTS|3\r",
            "line 12: FTS-1 says 3 batches, there are 1",
            id="wrong-fts-count",
        ),
    ],
)
async def test_a_batch_frame_gets_a_batch_of_acks_every_message_processed(
    hub: Hub, frame: bytes, warning: str | None
):
    batch = parse_batch(await _exchange(hub, "ehr", frame))
    assert [m["MSA-1"] for m in batch.messages] == ["AA", "AA"]
    assert [m["MSA-2"] for m in batch.messages] == ["B-1", "B-2"]
    assert batch.bts is not None and batch.bts.value(1) == "2"
    assert batch.bhs is not None and batch.bhs.value(3) == "CAREHUB"
    comment = batch.bts.value(2)
    assert comment == warning
    if b"BATCH-7" in frame:
        assert batch.bhs.value(12) == "BATCH-7"
    assert await _status(hub, MSG_A) == "accepted"
    assert await _status(hub, MSG_B) == "accepted"


async def test_a_broken_batch_on_a_strict_port_is_rejected_and_kept(hub: Hub):
    frame = BHS + MSG_A + MSG_B + b"BTS|5\r"
    ack = parse(await _exchange(hub, "strictehr", frame))
    assert ack["MSA-1"] == "AR" and ack["MSA-2"] == "B-1"
    assert _errs(ack)[0][1:] == ("E", "batch envelope: line 10: BTS-1 says 5 messages, there are 2")
    assert await _status(hub, frame) == "rejected"


async def test_a_well_formed_batch_on_a_strict_port_is_processed(hub: Hub):
    batch = parse_batch(await _exchange(hub, "strictehr", BHS + MSG_A + MSG_B + b"BTS|2\r"))
    assert [m["MSA-1"] for m in batch.messages] == ["AA", "AA"]


#: a note whose text holds a bare LF (its second line is no segment), then one more segment
BROKEN_NOTE = b"NTE|1||first line\nsecond line of the note\rAL1|1|DA|PCN^Penicillin||HIVES\r"


@pytest.mark.parametrize("where", ["first", "last"])
async def test_a_non_segment_line_in_a_batched_message_gets_the_answer_it_gets_alone(
    hub: Hub, where: str
):
    """A line that is not a segment inside a message of a batch is judged with that
    message, exactly as when the message is sent alone — never cut off there, with the
    segments after it lost and the shorter message AA'd."""
    broken = A04.replace(b"MSG-A04-0001", f"NS-{where}".encode()) + BROKEN_NOTE
    alone = parse(await _exchange(hub, "ehr", broken.replace(b"NS-", b"NX-")))
    messages = [broken, MSG_B] if where == "first" else [MSG_A, broken]
    batch = parse_batch(await _exchange(hub, "ehr", BHS + b"".join(messages) + b"BTS|2\r"))
    verdicts = {m["MSA-2"]: m["MSA-1"] for m in batch.messages}
    assert alone["MSA-1"] != "AA"
    assert verdicts[f"NS-{where}"] == alone["MSA-1"]
    other = "B-2" if where == "first" else "B-1"
    assert verdicts[other] == "AA"
    assert hub.store is not None
    stored = {m.raw for m in await hub.store.list_messages(direction="in")}
    assert broken in stored  # kept whole, the lines after the note included


def test_split_messages_keeps_a_non_segment_line_inside_a_message():
    first = A04 + BROKEN_NOTE
    assert split_messages(BHS + first + MSG_B + b"BTS|2\r") == [first, MSG_B]
    # a comment between messages (after a blank line, before the next MSH) is no part of one
    assert split_messages(A04 + b"\r// a comment\r" + MSG_B) == [A04, MSG_B]
    # a non-segment line that ends a message (no blank line before it) is still the message's
    tail = A04 + b"NTE|1||first line\nsecond line\r"
    assert split_messages(tail + MSG_B) == [tail, MSG_B]
