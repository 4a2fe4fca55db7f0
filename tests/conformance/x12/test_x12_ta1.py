"""Interchange envelope rules and the TA1 rendered from them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from adapters.x12.builder import counter_allocator
from adapters.x12.codec import parse_interchange
from adapters.x12.model import Interchange
from conformance.x12.acknowledge import acknowledge
from conformance.x12.check import check_interchange
from conformance.x12.findings import Level, x12_findings
from hub.findings import Severity

WHEN = datetime(2024, 1, 2, 3, 4)
ISA = (
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1200*^"
    "*00501*000000123*{ack}*T*:~"
)
GROUP = (
    "GS*HS*SUBMITTER*RECEIVER*20240102*1200*7*X*005010X279A1~ST*270*0001*005010X279A1~"
    "BHT*0022*13*10001234*20240102*1319~HL*1**20*1~NM1*PR*2*PAYER*****PI*12345~"
    "HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~HL*3*2*22*0~"
    "NM1*IL*1*DOE*JANE****MI*ABC123~DMG*D8*19800519~DTP*291*D8*20240102~EQ*30~"
    "SE*12*0001~GE*1*7~"
)
IEA = "IEA*1*000000123~"


def text(ack: str = "0") -> str:
    return ISA.format(ack=ack) + GROUP + IEA


def ic_of(raw: str) -> Interchange:
    return parse_interchange(raw.encode("latin-1"))


def envelope_codes(raw: str) -> list[str]:
    report = check_interchange(ic_of(raw))
    return [
        f.format_code or ""
        for f in x12_findings(report)
        if f.level == Level.INTERCHANGE and f.is_error
    ]


def ta1_of(raw: str, **kw: object) -> str | None:
    ack = acknowledge(ic_of(raw), counter_allocator(), when=WHEN, **kw)  # type: ignore[arg-type]
    return ack.ta1.decode() if ack.ta1 else None


def ta1_segment(ta1: str) -> list[str]:
    seg = next(s for s in ta1.split("~") if s.startswith("TA1"))
    return seg.split("*")


def test_a_clean_interchange_has_no_envelope_findings_and_no_ta1_unless_asked() -> None:
    assert envelope_codes(text()) == []
    assert ta1_of(text()) is None
    ta1 = ta1_of(text(ack="1"))
    assert ta1 is not None
    assert ta1_segment(ta1) == ["TA1", "000000123", "240102", "1200", "A", "000"]


def test_ta1_envelope_answers_the_sender_with_our_control_number() -> None:
    ta1 = ta1_of(text(ack="1"))
    assert ta1 is not None
    ic = ic_of(ta1)
    assert ic.sender == ("ZZ", "RECEIVER") and ic.receiver == ("ZZ", "SUBMITTER")
    assert ic.control_number == "000000001" and ic.isa.element(15) == "T"
    assert ic.iea is not None and ic.iea.element(1) == "0"
    assert ta1_of(text(ack="1"), sender=("01", "123456789")) is not None
    assert ic_of(ta1_of(text(ack="1"), sender=("01", "123456789")) or "").sender == (
        "01",
        "123456789",
    )


def test_iea02_not_isa13_is_001_and_rejects_so_no_999() -> None:
    raw = text().replace(IEA, "IEA*1*000000999~")
    assert envelope_codes(raw) == ["001"]
    ack = acknowledge(ic_of(raw), counter_allocator(), when=WHEN)
    assert ack.ta1 is not None and ta1_segment(ack.ta1.decode())[4:] == ["R", "001"]
    assert ack.ack_999 is None and not ack.accepted


def test_missing_iea_is_a_premature_end_023() -> None:
    raw = text().replace(IEA, "")
    assert envelope_codes(raw) == ["023"]
    assert ta1_segment(ta1_of(raw) or "")[4:] == ["R", "023"]


def test_iea01_not_counting_groups_is_021_accepted_with_errors() -> None:
    raw = text().replace(IEA, "IEA*2*000000123~")
    assert envelope_codes(raw) == ["021"]
    ack = acknowledge(ic_of(raw), counter_allocator(), when=WHEN)
    assert ack.ta1 is not None and ta1_segment(ack.ta1.decode())[4:] == ["E", "021"]
    assert ack.ack_999 is not None  # groups still processed
    assert not ack.accepted  # accepted with errors noted is not accepted outright


@pytest.mark.parametrize(
    ("field", "value", "note"),
    [
        (1, "99", "010"),
        (3, "02", "012"),
        (5, "!?", "005"),
        (6, " " * 15, "006"),
        (8, " " * 15, "008"),
        (9, "241302", "014"),
        (10, "2561", "015"),
        (12, "0050A", "017"),
        (12, "00601", "003"),
        (13, "00000012X", "018,001"),
        (14, "2", "019"),
        (15, "X", "020"),
    ],
)
def test_invalid_isa_values_get_their_own_note_code(field: int, value: str, note: str) -> None:
    parts = ISA.format(ack="0").split("*")
    parts[field] = value
    # a bad ISA13 can no longer match IEA02 either: both are reported
    assert envelope_codes("*".join(parts) + GROUP + IEA) == note.split(",")


def test_isa_fields_of_the_wrong_width_are_named() -> None:
    raw = text().replace("SUBMITTER      ", "SUBMITTER")
    assert envelope_codes(raw) == ["006"]
    assert not ic_of(raw).isa_fixed_width


def test_5010_isa11_that_is_not_a_separator_is_016_noted_not_rejected() -> None:
    raw = text().replace("*1200*^*00501*", "*1200*U*00501*")
    assert envelope_codes(raw) == ["016"]
    assert ta1_segment(ta1_of(raw) or "")[4] == "E"


def test_segment_terminator_letter_is_004() -> None:
    raw = text().replace("~", "Z")
    assert "004" in envelope_codes(raw)


def test_component_separator_equal_to_element_separator_is_026_and_027() -> None:
    raw = text().replace("*T*:~", "*T**~", 1)
    codes = envelope_codes(raw)
    assert "026" in codes and "027" in codes


def test_alphanumeric_component_separator_is_027() -> None:
    raw = text().replace("*T*:~", "*T*A~", 1)
    assert envelope_codes(raw) == ["027"]


def test_duplicate_interchange_from_the_same_sender_is_025() -> None:
    asked: list[tuple[str, str, str]] = []

    def seen(qualifier: str, sender: str, control: str) -> bool:
        asked.append((qualifier, sender, control))
        return True

    report = check_interchange(ic_of(text()), seen=seen)
    assert asked == [("ZZ", "SUBMITTER", "000000123")]
    assert [f.format_code for f in report.errors] == ["025"]
    assert ta1_segment(ta1_of(text(), seen=seen) or "")[4:] == ["R", "025"]
    assert envelope_codes(text()) == []  # without ``seen`` nothing is assumed


def test_content_outside_groups_is_024_noted_but_a_ta1_inside_is_fine() -> None:
    raw = text().replace(IEA, "NTE*stray~" + IEA)
    assert envelope_codes(raw) == ["024"]
    assert ta1_segment(ta1_of(raw) or "")[4:] == ["E", "024"]
    with_ta1 = text().replace("GS*", "TA1*000000009*240101*1200*A*000~GS*", 1)
    assert envelope_codes(with_ta1) == []


def test_text_before_the_isa_is_a_warning_not_an_error() -> None:
    report = check_interchange(ic_of("\xef\xbb\xbfNotes from the sender\r\n" + text()))
    assert report.ok
    assert [f.severity for f in report.findings] == [Severity.WARNING]
    assert report.findings[0].location == "ISA"


def test_ta1_values_that_cannot_be_echoed_read_as_zeros() -> None:
    raw = text().replace("000000123", "12X", 1).replace("*240102*1200*", "*2401*99*", 1)
    seg = ta1_segment(ta1_of(raw) or "")
    assert seg[1:4] == ["000000000", "000101", "0000"] and seg[4] == "R"


def test_rendered_ta1_validates_with_pyx12(pyx12: Callable[[bytes], object]) -> None:
    ack = acknowledge(ic_of(text(ack="1")), counter_allocator(), when=WHEN)
    assert ack.ta1 is not None
    result = pyx12(ack.ta1)
    assert result.ok is True, result  # type: ignore[attr-defined]


def test_findings_are_data_with_locations() -> None:
    raw = text().replace(IEA, "IEA*1*000000999~")
    finding = check_interchange(ic_of(raw)).errors[0]
    assert finding.as_dict() == {
        "severity": "error",
        "code": "value",
        "text": "IEA02 differs from ISA13",
        "location": "IEA02",
        "format_code": "001",
    }


def test_the_sample_interchange_is_fully_accepted() -> None:
    ack = acknowledge(ic_of(text()), counter_allocator(), when=WHEN)
    assert ack.report.ok and ack.accepted
    assert ack.ack_999 is not None and b"IK5*A~" in ack.ack_999 and b"AK9*A*1*1*1~" in ack.ack_999


def test_answers_can_be_rendered_from_a_report_checked_earlier() -> None:
    ic = ic_of(text().replace(IEA, "IEA*1*000000999~"))
    report = check_interchange(ic)
    later = acknowledge(ic, counter_allocator(), when=WHEN, report=report)
    assert later.report is report
    assert later.ta1 == acknowledge(ic, counter_allocator(), when=WHEN).ta1


def test_a_malformed_ta1_inside_an_interchange_is_024() -> None:
    bad = text().replace("GS*", "TA1*12*240101*1200*Q*999~GS*", 1)
    assert envelope_codes(bad) == ["024"]
