"""``rewrite_header``: MSH fields set for a destination, every other byte as it came."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.hl7v2 import parse, rewrite_header
from hub.errors import MappingError, ParseError

ORM_BOM = "hl7v2/fhirconverter__ORM-O01-01.hl7"  # UTF-8 BOM, LF line ends
REPS = "hl7v2/mirth__test-hl7-repetitions-input.txt"  # CRLF line ends, OBX repetitions


def _tail(raw: bytes) -> bytes:
    """What follows the MSH segment."""
    start = raw.find(b"MSH")
    ends = [i for i in (raw.find(b"\r", start), raw.find(b"\n", start)) if i >= 0]
    return raw[min(ends) :]


def test_only_the_named_fields_change():
    raw = b"MSH|^~\\&|LAB|HOSP|EHR|FAC|20240101||ORU^R01|123|P|2.5\rZXX|a\\F\\b~c^d&e\r"
    out = rewrite_header(raw, {5: "LIS", 6: "LAB", 10: "X1"})
    assert out == b"MSH|^~\\&|LAB|HOSP|LIS|LAB|20240101||ORU^R01|X1|P|2.5\rZXX|a\\F\\b~c^d&e\r"


def test_the_messages_own_separators_carry_components():
    raw = b"MSH#:!?*#LAB#HOSP#EHR#FAC#2024##ORU:R01#1#P#2.5\rPID#1##A!B\r"
    out = rewrite_header(raw, {5: "ARCH^1.2.3^ISO", 6: "F&G"})
    assert out == b"MSH#:!?*#LAB#HOSP#ARCH:1.2.3:ISO#F*G#2024##ORU:R01#1#P#2.5\rPID#1##A!B\r"
    assert parse(out)["MSH-5.2"] == "1.2.3"


def test_a_short_header_is_extended_to_the_field():
    out = rewrite_header(b"MSH|^~\\&|A|B\rPID|1\r", {6: "F", 10: "C"})
    assert out == b"MSH|^~\\&|A|B||F||||C\rPID|1\r"


def test_a_bom_and_lf_line_ends_stay(corpus: Path):
    raw = (corpus / ORM_BOM).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfMSH") and b"\r" not in raw
    out = rewrite_header(raw, {5: "LIS", 10: "0123456789abcdef0123"})
    assert out.startswith(b"\xef\xbb\xbfMSH|^~\\&|ORDApp|") and _tail(out) == _tail(raw)
    assert parse(out)["MSH-5"] == "LIS" and parse(out).control_id == "0123456789abcdef0123"


def test_crlf_and_repetitions_stay(corpus: Path):
    raw = (corpus / REPS).read_bytes()
    out = rewrite_header(raw, {5: "LIS", 6: "LAB", 10: "C2"})
    assert _tail(out) == _tail(raw) and b"\r\nOBX|1|foo~bar~baz|" in out
    assert (
        out.split(b"\r\n", 1)[0]
        == b"MSH|^~\\&|MIRTH|MIRTH|LIS|LAB|200612131519||ORM^O01|C2|P|2.4|||AL|NE"
    )


def test_a_latin1_message_keeps_its_character_set():
    raw = "MSH|^~\\&|A|Hôpital|C|D|2024||ADT^A01|1|P|2.5||||||8859/1\rPID|1||||Müller\r".encode(
        "latin-1"
    )
    out = rewrite_header(raw, {5: "LIS", 10: "C9"})
    assert out == (
        "MSH|^~\\&|A|Hôpital|LIS|D|2024||ADT^A01|C9|P|2.5||||||8859/1\rPID|1||||Müller\r"
    ).encode("latin-1")


@pytest.mark.parametrize("value", ["A|B", "A~B", "A\\B", "A\rB"])
def test_a_value_holding_a_delimiter_is_refused(value: str):
    with pytest.raises(MappingError, match="MSH-5: the value holds a delimiter"):
        rewrite_header(b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r", {5: value})


def test_a_value_the_character_set_cannot_carry_is_refused():
    raw = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||ASCII\rPID|1\r"
    with pytest.raises(MappingError, match="cannot be carried"):
        rewrite_header(raw, {5: "LÄB"})


def test_the_delimiters_are_never_rewritten_and_garbage_is_refused():
    with pytest.raises(ValueError):
        rewrite_header(b"MSH|^~\\&|A\r", {2: "^~"})
    with pytest.raises(ParseError):
        rewrite_header(b"PID|1||x\r", {5: "LIS"})
