"""ACK rendering, the outcome → MSA-1 table, enhanced-mode decisions and message checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7v2_conformance_corpus import HL7_DIR, HL7_FILES

from adapters.hl7v2 import Limits, MllpClient, MllpServer, parse, split_messages
from conformance.hl7v2 import (
    AckMode,
    AckOutcome,
    ErrorCode,
    ack_code,
    acks_to_send,
    check_message,
    make_ack_handler,
    outcome_of,
    refuse_frame,
    render_ack,
    report_for_error,
    validate_strict,
)
from hub.errors import LimitExceeded, ParseError
from hub.findings import Finding, Report, Severity

ADT = (
    "MSH|^~\\&|EHR|HOSP|HUB|CARE|20240101||ADT^A04^ADT_A01|C1|P|{v}\r"
    "EVN|A04|20240101\rPID|1||1^^^H^MR||DOE^J\rPV1|1|O\r"
)


def adt(version: str = "2.5.1") -> bytes:
    return ADT.format(v=version).encode()


def report_of(*findings: Finding) -> Report:
    return Report(list(findings))


def error(code: str, location: str | None = "PID-3", severity=Severity.ERROR) -> Finding:
    return Finding(severity, "value", f"problem {code}", location, code)


# ---------------------------------------------------------------- the decision table


@pytest.mark.parametrize(
    ("findings", "outcome", "codes"),
    [
        ((), AckOutcome.ACCEPTED, ("AA", "CA", "AA")),
        ((Finding(Severity.WARNING, "value", "w"),), AckOutcome.ACCEPTED, ("AA", "CA", "AA")),
        ((error("101"),), AckOutcome.CONTENT_ERROR, ("AE", "CA", "AE")),
        ((error("103"), error("101")), AckOutcome.CONTENT_ERROR, ("AE", "CA", "AE")),
        ((error("100", severity=Severity.FATAL),), AckOutcome.REJECTED, ("AR", "CR", "AR")),
        ((error("200"),), AckOutcome.REJECTED, ("AR", "CR", "AR")),
        ((error("201"), error("101")), AckOutcome.REJECTED, ("AR", "CR", "AR")),
        ((error("203"),), AckOutcome.REJECTED, ("AR", "CR", "AR")),
        # a control id reused with other content: refused on a reject port, else a warning
        ((error("205", "MSH-10"),), AckOutcome.REJECTED, ("AR", "CR", "AR")),
        ((error("205", "MSH-10", Severity.WARNING),), AckOutcome.ACCEPTED, ("AA", "CA", "AA")),
        ((error("201", None, Severity.WARNING),), AckOutcome.ACCEPTED, ("AA", "CA", "AA")),
        ((error("207"),), AckOutcome.INTERNAL_ERROR, ("AR", "CE", "AE")),
        ((error("206"), error("101")), AckOutcome.INTERNAL_ERROR, ("AR", "CE", "AE")),
    ],
)
def test_outcome_and_ack_codes(findings, outcome, codes):
    assert outcome_of(report_of(*findings)) == outcome
    modes = (AckMode.ORIGINAL, AckMode.ACCEPT, AckMode.APPLICATION)
    assert tuple(ack_code(outcome, mode) for mode in modes) == codes


@pytest.mark.parametrize(
    ("msh15", "msh16", "outcome", "expected"),
    [
        (None, None, AckOutcome.ACCEPTED, ("original",)),
        (None, None, AckOutcome.REJECTED, ("original",)),
        ("AL", "AL", AckOutcome.ACCEPTED, ("accept", "application")),
        ("AL", "NE", AckOutcome.ACCEPTED, ("accept",)),
        ("NE", "AL", AckOutcome.CONTENT_ERROR, ("application",)),
        ("ER", "ER", AckOutcome.ACCEPTED, ()),
        ("ER", "ER", AckOutcome.CONTENT_ERROR, ("application",)),
        ("ER", "AL", AckOutcome.REJECTED, ("accept",)),
        ("SU", "SU", AckOutcome.ACCEPTED, ("accept", "application")),
        ("SU", "SU", AckOutcome.REJECTED, ()),
        ("AL", "SU", AckOutcome.INTERNAL_ERROR, ("accept",)),
        (None, "AL", AckOutcome.ACCEPTED, ("accept", "application")),
        # blank is empty: original mode, one ACK (a blank switched on enhanced mode)
        (" ", " ", AckOutcome.ACCEPTED, ("original",)),
        ("", "  ", AckOutcome.REJECTED, ("original",)),
        (" ne ", "NE", AckOutcome.ACCEPTED, ()),
        # not committed, no accept ack: the application ack answers when MSH-16 asks
        ("NE", "ER", AckOutcome.REJECTED, ("application",)),
        ("NE", "AL", AckOutcome.INTERNAL_ERROR, ("application",)),
        ("SU", " ", AckOutcome.REJECTED, ("application",)),
        ("ER", "ER", AckOutcome.REJECTED, ("accept",)),
        ("NE", "NE", AckOutcome.REJECTED, ()),
        ("NE", "SU", AckOutcome.REJECTED, ()),
    ],
)
def test_which_acks_to_send(msh15, msh16, outcome, expected):
    assert tuple(m.value for m in acks_to_send(msh15, msh16, outcome)) == expected


# ---------------------------------------------------------------- rendering


def test_ack_swaps_parties_and_echoes_the_control_id():
    message = parse(adt())
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    ack = parse(render_ack(message, adt(), Report(), control_id="ACK1", now=when))
    assert (ack.sending_application, ack.sending_facility) == ("HUB", "CARE")
    assert (ack.receiving_application, ack.receiving_facility) == ("EHR", "HOSP")
    assert ack.timestamp == "20240506070809"
    assert ack.raw("MSH-9") == "ACK^A04^ACK"
    assert (ack.control_id, ack.processing_id, ack.version) == ("ACK1", "P", "2.5.1")
    assert (ack["MSA-1"], ack["MSA-2"]) == ("AA", "C1")
    assert ack.segment("ERR") is None


def test_ack_gets_a_fresh_control_id():
    message = parse(adt())
    ids = {parse(render_ack(message, b"", Report())).control_id for _ in range(3)}
    assert len(ids) == 3 and "C1" not in ids


def test_ack_keeps_unusual_delimiters_and_charset():
    raw = (HL7_DIR / "hapi__segmentfinder_a24.hl7").read_bytes()
    message = parse(raw)
    ack_bytes = render_ack(message, raw, Report())
    assert ack_bytes.startswith(b"MSH^~|\\&^")
    ack = parse(ack_bytes)
    assert ack["MSA-2"] == "2003582144"
    assert ack.version == "2.4"
    latin = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|L1|P|2.5||||||8859/1\rPID|1||||Müller\r"
    latin_msg = parse(latin.encode("latin-1"))
    report = report_of(Finding(Severity.ERROR, "value", "Müller is not known", "PID-5", "204"))
    ack = render_ack(latin_msg, b"", report)
    assert parse(ack).raw("MSH-18") == "8859/1"
    assert "Müller".encode("latin-1") in ack


@pytest.mark.parametrize("version", ["9.9", ""])
def test_unknown_version_falls_back_to_2_5_1(version):
    message = parse(adt(version))
    assert parse(render_ack(message, b"", Report())).version == "2.5.1"


def test_err_segments_for_v2_5_and_later():
    report = report_of(
        error("101", "PID-3(2).4.1"),
        Finding(Severity.WARNING, "value", "odd", "OBX[2]-5"),
        error("103", None),
    )
    ack = parse(render_ack(parse(adt()), b"", report))
    errs = list(ack.segments_by_id("ERR"))
    assert ack["MSA-1"] == "AE" and ack["MSA-3"] is None
    assert [e.field(2) for e in errs] == ["PID^1^3^2^4^1", ""]
    assert [e.field(3) for e in errs] == [
        "101^Required field missing^HL70357",
        "103^Table value not found^HL70357",
    ]
    assert [(e.value(4), e.value(8)) for e in errs] == [("E", "problem 101"), ("E", "problem 103")]
    with_warnings = parse(render_ack(parse(adt()), b"", report, include_warnings=True))
    assert [e.value(4) for e in with_warnings.segments_by_id("ERR")] == ["E", "W", "E"]
    assert with_warnings["ERR[2]-2"] == "OBX"
    assert with_warnings["ERR[2]-2.2"] == "2"


def test_err_as_eld_before_v2_5():
    report = report_of(error("101", "PID-3"), error("102", "PV1-2"))
    ack = parse(render_ack(parse(adt("2.3")), b"", report))
    assert ack["MSA-3"] == "problem 101"
    assert ack.raw("ERR-1") == (
        "PID^1^3^101&Required field missing&HL70357~PV1^1^2^102&Data type error&HL70357"
    )
    assert ack.raw("MSH-9") == "ACK^A04"


def test_parse_failure_is_rejected_and_still_echoes_msh10():
    raw = b"MSH|^~\\&|EHR|HOSP|HUB|CARE|2024||ADT^A04|BROKEN-7|P|2.4\rPID|1\rnot a segment\r"
    with pytest.raises(ParseError) as info:
        parse(raw)
    ack = parse(render_ack(None, raw, report_for_error(info.value)))
    assert (ack["MSA-1"], ack["MSA-2"]) == ("AR", "BROKEN-7")
    assert ack.receiving_application == "EHR"
    assert ack.raw("ERR-1").startswith("^^^100&")
    assert ack.version == "2.4"


def test_unreadable_header_gives_an_empty_msa2():
    report = report_for_error(ParseError("first segment is not MSH", code="100"))
    ack = parse(render_ack(None, b"\x00\x01garbage", report))
    assert ack["MSA-1"] == "AR"
    assert ack["MSA-2"] is None
    assert ack.version == "2.5.1"


def test_enhanced_mode_codes():
    message = parse(adt())
    content = report_of(error("101"))
    assert parse(render_ack(message, b"", content, mode=AckMode.ACCEPT))["MSA-1"] == "CA"
    assert parse(render_ack(message, b"", content, mode=AckMode.APPLICATION))["MSA-1"] == "AE"


async def test_refuse_frame_answers_ar_with_the_control_id():
    head = adt()[:80]
    nak = parse(await refuse_frame(head, LimitExceeded("too big", location="frame"), None))
    assert (nak["MSA-1"], nak["MSA-2"]) == ("AR", "C1")
    assert nak.get("ERR-3") == ErrorCode.DATA_TYPE_ERROR


# ---------------------------------------------------------------- every ACK we render validates


@pytest.mark.parametrize(
    "version",
    ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"],
)
@pytest.mark.parametrize(
    "findings",
    [
        (),
        (error("101", "PID-3.1"),),
        (error("200", "MSH-9"), error("103", "PV1-2")),
        (error("100", "line 3", Severity.FATAL),),
    ],
    ids=["AA", "AE", "AR", "parse-error"],
)
def test_rendered_acks_validate_with_hl7apy_strict(version, findings):
    ack = render_ack(parse(adt(version)), b"", report_of(*findings))
    report = validate_strict(ack)
    assert report.ok, report.as_list()


@pytest.mark.parametrize("path", HL7_FILES, ids=lambda p: p.name)
def test_acks_for_every_corpus_message_validate_and_echo_msh10(path):
    for raw in split_messages(path.read_bytes()):
        message = parse(raw)
        ack_bytes = render_ack(message, raw, check_message(message))
        ack = parse(ack_bytes)
        assert ack.raw("MSA-2") == (message.msh.field(10) or None)
        # MSH-3..6 are the original's, swapped: a length the original broke stays broken
        copied = {message.msh.value(n) for n in (3, 4, 5, 6)} - {None}
        errors = [
            f for f in validate_strict(ack_bytes).errors if not any(v in f.text for v in copied)
        ]
        if message.control_id is None:
            # a few corpus messages have no MSH-10: MSA-2 must then stay empty, which the
            # definitions (MSA-2 required) flag — and nothing else may be wrong
            assert [f.location for f in errors] == ["MSA-2"]
        else:
            assert errors == []


# ---------------------------------------------------------------- check_message


def test_well_formed_message_has_no_errors():
    assert check_message(parse(adt()), supported={"ADT": {"A04"}}).ok


@pytest.mark.parametrize(
    ("raw", "location", "code", "severity"),
    [
        ("MSH|^~\\&|A|B|C|D|2024|||C1|P|2.5\r", "MSH-9", "101", Severity.FATAL),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01||P|2.5\r", "MSH-10", "101", Severity.FATAL),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|C1|P\r", "MSH-12", "101", Severity.FATAL),
        ("MSH|^~\\&|A|B|C|D|2024||ADT|C1|P|2.5\r", "MSH-9.2", "101", Severity.ERROR),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|C1|P|3.0\r", "MSH-12", "203", Severity.ERROR),
    ],
)
def test_msh_problems(raw, location, code, severity):
    report = check_message(parse(raw.encode()))
    assert [(f.location, f.format_code, f.severity) for f in report.errors] == [
        (location, code, severity)
    ]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|C1||2.5\r", "101"),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|C1|X|2.5\r", "202"),
    ],
)
def test_msh11_empty_or_outside_table_0103_is_a_warning_or_a_strict_error(raw, code):
    """MSH-11 read as P (production) with a warning; on a strict port the same text is an
    error (202: a reject)."""
    liberal = check_message(parse(raw.encode()))
    assert liberal.ok
    [warning] = [f for f in liberal.findings if f.location == "MSH-11"]
    assert warning.format_code == code and "read as P (production)" in warning.text
    strict = check_message(parse(raw.encode()), strict=True)
    assert [(f.location, f.format_code, f.text) for f in strict.errors] == [
        ("MSH-11", code, warning.text)
    ]


def test_acks_need_no_trigger():
    assert check_message(parse(b"MSH|^~\\&|A|B|C|D|2024||ACK|C1|P|2.5\rMSA|AA|X\r")).ok


@pytest.mark.parametrize(
    ("supported", "codes"),
    [
        ({"ADT": {"A04"}}, []),
        ({"ADT": {"*"}}, []),
        ({"ADT": {"A01"}}, ["201"]),
        ({"SIU": {"S12"}}, ["200"]),
    ],
)
def test_supported_types_and_triggers(supported, codes):
    report = check_message(parse(adt()), supported=supported)
    assert [f.format_code for f in report.errors] == codes
    expected = AckOutcome.REJECTED if codes else AckOutcome.ACCEPTED
    assert outcome_of(report) == expected


def test_unknown_escapes_are_warnings_only():
    raw = adt().replace(b"DOE^J", b"DOE\\Q\\^J\\Zap\\")
    report = check_message(parse(raw))
    assert report.ok
    assert [(f.severity, f.location) for f in report.findings] == [(Severity.WARNING, "PID-5")]


def test_parse_time_findings_are_carried_into_the_report():
    raw = (HL7_DIR / "lfhhl7__sample_unix.hl7").read_bytes()
    report = check_message(parse(raw))
    assert "MSH-2" in {f.location for f in report.findings}


# ---------------------------------------------------------------- the ack-only handler


async def test_ack_handler_over_mllp():
    handler = make_ack_handler(supported={"ADT": {"A04"}, "SIU": {"*"}})
    async with (
        MllpServer(handler, port=0, limits=Limits(max_bytes=2000), refuse=refuse_frame) as srv,
        MllpClient("127.0.0.1", srv.port, timeout=5) as client,
    ):
        ok = parse(await client.send(adt()))
        bad_type = parse(await client.send(adt().replace(b"ADT^A04", b"ORM^O01")))
        junk = parse(await client.send(b"hello"))
        big = adt().replace(b"PV1|1|O", b"PV1|1|O|" + b"x" * 3000)
        huge = parse(await client.send(big))
    assert (ok["MSA-1"], ok["MSA-2"]) == ("AA", "C1")
    assert (bad_type["MSA-1"], bad_type["ERR-3"]) == ("AR", "200")
    assert (junk["MSA-1"], junk["MSA-2"]) == ("AR", None)
    assert (huge["MSA-1"], huge["MSA-2"]) == ("AR", "C1")
