"""Strict validation: structure order against hl7apy definitions, and hl7apy's own checks."""

from __future__ import annotations

import pytest

from adapters.hl7v2 import parse
from conformance.hl7v2 import check_segment_order, validate_strict
from hub.findings import Severity

HEAD = "MSH|^~\\&|EHR|HOSP|HUB|CARE|20240101||{type}|C1|P|{v}\r"
EVN = "EVN|A04|20240101\r"
PID = "PID|1||1^^^H^MR||DOE^J\r"
PV1 = "PV1|1|O\r"


def message(*segments: str, type_: str = "ADT^A04^ADT_A01", version: str = "2.5.1") -> bytes:
    return (HEAD.format(type=type_, v=version) + "".join(segments)).encode()


def test_a_correct_message_has_no_errors():
    assert validate_strict(message(EVN, PID, PV1)).ok


def test_wrong_segment_order_is_caught():
    report = validate_strict(message(PID, EVN, PV1))
    errors = report.errors
    assert errors[0].location == "PID"
    assert errors[0].format_code == "100"
    assert "out of order" in errors[0].text


def test_a_missing_required_segment_is_caught():
    report = validate_strict(message(EVN, PID))
    assert (report.errors[0].location, report.errors[0].format_code) == ("message", "100")
    assert "PV1" in report.errors[0].text


def test_too_many_of_a_single_segment():
    report = validate_strict(message(EVN, PID, PID, PV1))
    assert report.errors[0].location == "PID[2]"


def test_segment_foreign_to_the_structure():
    report = validate_strict(message(EVN, PID, PV1, "SCH|1\r"))
    assert report.errors[0].location == "SCH"
    assert "not allowed" in report.errors[0].text


def test_z_segments_may_stand_anywhere():
    assert validate_strict(message(EVN, "ZPI|x\r", PID, PV1, "ZXT|y\r")).ok


def test_repeating_groups_in_order():
    body = EVN + PID + PV1 + "OBX|1|ST|A||x\rOBX|2|ST|B||y\rAL1|1||A\rDG1|1||D\r"
    assert check_segment_order(parse(message(body)), "ADT_A01", "2.5.1").ok
    wrong = EVN + PID + PV1 + "AL1|1||A\rOBX|1|ST|A||x\r"
    report = check_segment_order(parse(message(wrong)), "ADT_A01", "2.5.1")
    assert report.errors[0].location == "OBX"


def test_structure_resolved_from_the_event_before_v2_3_1():
    assert validate_strict(message(EVN, PID, PV1, type_="ADT^A04", version="2.3")).ok
    report = validate_strict(message(PID, EVN, PV1, type_="ADT^A08", version="2.3"))
    assert report.errors[0].location == "PID"


def test_field_level_errors_come_from_hl7apy():
    # MSH-9 missing entirely and an EVN-2 that is not a timestamp
    report = validate_strict(message("EVN|A04|notadate\r", PID, PV1))
    assert not report.ok
    assert all(f.format_code in {"100", "101", "102", "103"} for f in report.findings)


def test_unparseable_input_is_fatal():
    report = validate_strict(b"not hl7 at all")
    assert [f.severity for f in report.findings] == [Severity.FATAL]


def test_unknown_version_and_structure():
    assert validate_strict(message(EVN, PID, PV1, version="2.9")).errors[0].format_code == "203"
    report = validate_strict(message(EVN, type_="XYZ^Q99", version="2.5"))
    assert report.errors[0].format_code == "200"


@pytest.mark.parametrize("structure", ["ADT_A01", "ACK"])
def test_check_segment_order_directly(structure):
    msg = parse(message(EVN, PID, PV1))
    report = check_segment_order(msg, structure, "2.5")
    assert report.ok == (structure == "ADT_A01")


# ------------------------------------------ OBX-5 text: its real length, not ST's 199

ORU = "ORU^R01^ORU_R01"
OBR = "OBR|1||F1|1234-5^Panel^LN\r"


def _obx(kind: str, value: str) -> bytes:
    return message(PID, OBR, f"OBX|1|{kind}|1-1^Text^LN||{value}||||||F\r", type_=ORU)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("TX", "a" * 300),
        ("FT", "b" * 300),
        ("TX", "short~" + "c" * 5000),
        ("ED", "^AP^PDF^Base64^" + "QUFB" * 500),
    ],
)
def test_long_tx_ft_and_ed_data_are_valid(kind: str, value: str):
    assert validate_strict(_obx(kind, value)).ok


def test_an_st_value_is_still_held_to_199_characters():
    assert not validate_strict(_obx("ST", "d" * 300)).ok


def test_text_longer_than_tx_allows_is_refused_at_obx_5_without_the_value():
    (error,) = validate_strict(_obx("TX", "e" * 70000)).errors
    assert error.location == "OBX-5"
    assert "65536" in error.text and "eee" not in error.text


def test_only_the_ed_data_is_let_through_not_its_other_components():
    # ED.5 is TX; a 250-character ED.2 (type of data) is still refused
    report = validate_strict(_obx("ED", "^" + "A" * 250 + "^PDF^Base64^" + "QUFB" * 500))
    assert not report.ok
