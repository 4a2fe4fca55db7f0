"""What a message carries beyond its version's definitions (``conformance/hl7v2/shape.py``)
and how ``check_message`` weighs it. HL7 v2.7.1 §2.6.2 (rules for the recipient): segments,
fields, components, subcomponents and repetitions present but not expected are ignored —
so none of it is an error, even on a strict port; a Z-segment is information only; what
the hub's mappings read beyond a version's definition (MSH-9.3 before 2.3.1, AL1-6 in
2.7+) and what a CDC/IG profile adds (MSH-22/23 in 2.5.1) is not flagged at all."""

from __future__ import annotations

from adapters.hl7v2 import parse
from conformance.hl7v2 import check_message
from hub.findings import Severity
from tests.corpus import corpus_dir


def _msg(version: str, *segments: str, msh9: str = "ADT^A01", tail: str = "") -> bytes:
    msh = f"MSH|^~\\&|EHR|FAC|HUB|HUB|20240101120000||{msh9}|M1|P|{version}{tail}"
    return "\r".join((msh, *segments, "")).encode()


PID = "PID|1||555^^^H^MR||DOE^JANE||19800101|F"


def test_a_z_segment_is_information_only_never_a_sequence_error() -> None:
    raw = _msg("2.3", "EVN|A01|20240101120000", PID, "PV1|1|I", "ZPV|1|x")
    for strict in (False, True):
        report = check_message(parse(raw), strict=strict)
        assert report.ok, report.as_list()
        [zpv] = [f for f in report.findings if f.location == "ZPV"]
        assert zpv.severity == Severity.INFORMATION
        assert zpv.format_code != "100"
        assert "ignored" not in zpv.text
        assert not [f for f in report.findings if f.severity == Severity.WARNING]


def test_msh_9_3_before_2_3_1_is_read_so_never_flagged() -> None:
    raw = _msg("2.3", "EVN|A01|20240101120000", PID, "PV1|1|I", msh9="ADT^A01^ADT_A01")
    report = check_message(parse(raw), strict=True)
    assert report.ok and not report.findings, report.as_list()


def test_al1_6_is_mapped_as_onset_so_never_flagged() -> None:
    raw = _msg(
        "2.8",
        "EVN||20240101120000",
        PID,
        "AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives|20190301",
        msh9="ADT^A60^ADT_A60",
    )
    report = check_message(parse(raw), strict=True)
    assert report.ok and not report.findings, report.as_list()


def test_cdc_ig_msh_22_and_23_in_2_5_1_are_not_flagged() -> None:
    raw = _msg(
        "2.5.1",
        "PID|1||555^^^H^MR||DOE^JANE||19800101|F",
        msh9="VXU^V04^VXU_V04",
        tail="|||ER|AL|||||Z22^CDCPHINVS|SENDORG^L^^^^CDC^XX^^^1234|RECVORG^L^^^^CDC^XX^^^5678",
    )
    report = check_message(parse(raw), strict=True)
    assert report.ok, report.as_list()
    assert not [f for f in report.findings if (f.location or "").startswith("MSH")]


def test_pr1_11_and_12_are_not_judged_by_hl7apys_wrong_type() -> None:
    """hl7apy types the withdrawn PR1-11/12 (surgeon, anesthesiologist: XCN) as NM in 2.8."""
    raw = _msg(
        "2.8",
        "EVN|A01|20240101120000",
        PID,
        "PV1|1|I",
        "PR1|1||0TJ^APPENDECTOMY^I10P||20240101||||||1234^CUTTER^SAM^^^DR|5678^GAS^ANNA",
    )
    report = check_message(parse(raw), strict=True)
    assert not [f for f in report.findings if (f.location or "").startswith("PR1")], (
        report.as_list()
    )


def test_the_corpus_a01_with_surgeons_in_pr1_is_clean_on_a_strict_port() -> None:
    raw = (corpus_dir() / "hl7v2" / "fhirconverter__ADT-A01-01.hl7").read_bytes()
    report = check_message(parse(raw), strict=True)
    assert not [f for f in report.findings if (f.location or "").startswith("PR1")], (
        report.as_list()
    )


def test_shape_departures_stay_warnings_on_a_strict_port_and_are_one_per_segment() -> None:
    raw = _msg(
        "2.5.1",
        "EVN|A01|20240101120000",
        # PID-7 repeated and PID-8 with extra components: two departures in PID
        "PID|1||555^^^H^MR||DOE^JANE||19800101~19800102|F^Female^HL70001",
        "PV1|1|I" + "|" * 60 + "EXTRA",
    )
    for strict in (False, True):
        report = check_message(parse(raw), strict=strict)
        assert report.ok, report.as_list()
        shape = [f for f in report.findings if f.severity == Severity.WARNING]
        assert [f.location for f in shape] == ["PID-7", "PV1-62"], report.as_list()
        assert "1 more in PID" in shape[0].text
        assert all("ignored" not in f.text for f in shape)


def test_strict_still_escalates_the_real_departures() -> None:
    """MSH-11 empty is AE (101), outside table 0103 AR (202), MSH-12 misspelt AR (203)."""
    for tail, code in (("||2.5", "101"), ("|PROD|2.5", "202"), ("|P|v2.5", "203")):
        raw = f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|C1{tail}\r".encode()
        assert [f.format_code for f in check_message(parse(raw)).errors] == []
        assert [f.format_code for f in check_message(parse(raw), strict=True).errors] == [code]


def test_repeated_segments_with_the_same_habit_give_one_warning() -> None:
    """A feed that puts a code's text into the IS-typed NK1-15 of every NK1: one warning for
    the segment id, the others counted, never one per occurrence."""
    nk1 = [f"NK1|{n}|DOE^JOHN|SPO^Spouse^HL70063||||||||||||F^Female^HL70001" for n in (1, 2, 3)]
    raw = _msg("2.5.1", "EVN|A01|20240101120000", PID, *nk1, "PV1|1|I")
    report = check_message(parse(raw), strict=True)
    nk1_findings = [f for f in report.findings if (f.location or "").startswith("NK1")]
    assert [f.location for f in nk1_findings] == ["NK1-15.2"], report.as_list()
    assert "(and 2 more in NK1)" in nk1_findings[0].text
