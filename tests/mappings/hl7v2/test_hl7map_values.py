"""HL7 v2 primitives and datatypes: DTM precision and offsets, numbers, XTN/XAD/CWE reading."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hl7map_support import context

from adapters.hl7v2 import parse
from hub.errors import MappingError
from mappings.hl7v2.datatypes import address, coded, contact_point
from mappings.hl7v2.source import Hl7v2Source
from mappings.hl7v2.values import parse_decimal, parse_int, parse_moment, parse_when

PLUS_0215 = timezone(timedelta(hours=2, minutes=15))
MINUS_5 = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "day", "clock", "tz"),
    [
        ("2024", date(2024, 1, 1), None, None),
        ("202403", date(2024, 3, 1), None, None),
        ("20240304", date(2024, 3, 4), None, None),
        ("2024030409", date(2024, 3, 4), time(9), None),
        ("202403040915", date(2024, 3, 4), time(9, 15), None),
        ("20240304091530.25", date(2024, 3, 4), time(9, 15, 30, 250000), None),
        ("20240304091530637", date(2024, 3, 4), time(9, 15, 30, 637000), None),
        ("202403040915+0215", date(2024, 3, 4), time(9, 15), PLUS_0215),
        ("20240304-0500", date(2024, 3, 4), None, MINUS_5),
    ],
)
def test_dtm_keeps_precision_and_offset(text, day, clock, tz):
    moment = parse_moment(text, "X-1", what="date/time")
    assert (moment.day, moment.clock, moment.tz) == (day, clock, tz)


@pytest.mark.parametrize(
    "text", ["2023133", "20241301", "20240230", "2024030425", "20240304+2500", "2024-03-04", "abc"]
)
def test_invalid_dtm_is_a_mapping_error_naming_the_field(text):
    with pytest.raises(MappingError) as info:
        parse_moment(text, "EVN-2", what="date/time")
    assert info.value.location == "EVN-2"
    assert str(info.value) == f"EVN-2: {text!r} is not a valid date/time"


def test_the_senders_offset_applies_only_without_an_offset_of_its_own():
    assert parse_when("202403040915", "X", MINUS_5) == datetime(2024, 3, 4, 9, 15, tzinfo=MINUS_5)
    assert parse_when("202403040915+0215", "X", MINUS_5).utcoffset() == timedelta(
        hours=2, minutes=15
    )
    assert parse_when("20240304", "X", MINUS_5) == date(2024, 3, 4)


def test_numbers():
    assert parse_decimal(" -12.50 ", "FT1-10") == Decimal("-12.50")
    assert parse_int("3", "X") == 3
    for bad in ("NaN", "1e", "Infinity"):
        with pytest.raises(MappingError):
            parse_decimal(bad, "FT1-10")
    with pytest.raises(MappingError, match="whole number"):
        parse_int("2.5", "SCH-9")


def reps(field_text: str):
    msg = parse(f"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5.1\rZZZ|{field_text}\r")
    return Hl7v2Source(msg, context(), "ADT^A04"), msg.repetitions("ZZZ-1")


@pytest.mark.parametrize(
    ("xtn", "system", "value", "use"),
    [
        ("(555)555-2004", "phone", "(555)555-2004", "home"),
        ("^WPN^PH^^1^217^5550199^12", "phone", "+1 (217) 5550199 x12", "work"),
        ("^PRN^CP^^^217^5550177", "phone", "(217) 5550177", "mobile"),
        ("^NET^Internet^a@example.org", "email", "a@example.org", "home"),
        ("^^^b@example.org", "email", "b@example.org", "home"),
        ("^ORN^FX^^^^^^^^^2175550100", "fax", "2175550100", "home"),
        ("555-0100^BPN^BP", "pager", "555-0100", "home"),
    ],
)
def test_xtn_reading(xtn, system, value, use):
    src, (rep,) = reps(xtn)
    point = contact_point(src, rep, "home")
    assert (point.system, point.value, point.use) == (system, value, use)


def test_xad_type_goes_to_use_or_type():
    src, (home, mail, bad) = reps("1 Main^^Town^ST^1^^H~PO Box 2^^Town^^^^M~3 Old Rd^^^^^^BA")
    assert (address(src, home).use, address(src, home).type) == ("home", None)
    assert (address(src, mail).use, address(src, mail).type) == (None, "postal")
    assert address(src, bad).use == "old"


def test_xad_street_from_sad_parts_when_sad_1_is_empty():
    src, (rep,) = reps("&Main St&12^^Town")
    assert address(src, rep).lines == ["12 Main St"]


def test_cwe_falls_back_to_the_alternate_coding():
    src, (rep,) = reps("^^^R07.9^Chest pain^I10C")
    code = coded(src, rep)
    assert (code.code, code.display, code.system) == (
        "R07.9",
        "Chest pain",
        "http://hl7.org/fhir/sid/icd-10-cm",
    )
