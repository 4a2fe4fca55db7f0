"""``rewrite_header``: MSH fields set for a destination, every other byte as it came."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.hl7v2 import parse, rewrite_header
from adapters.hl7v2.limits import Limits
from hub.errors import LimitExceeded, MappingError, ParseError

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


@pytest.mark.parametrize(("bom", "codec"), [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_a_utf16_message_is_rewritten_in_utf16_behind_the_same_mark(bom: bytes, codec: str):
    text = (
        "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|C1|P|2.5.1\r"
        "PID|1||123^^^HOSP^MR||Dvo\u0159\u00e1k^Ji\u0159\u00ed\rOBX|1|NM|WBC||7.1|10*3/uL\r"
    )
    raw = bom + text.encode(codec)
    out = rewrite_header(raw, {5: "LIS^1.2&x", 10: "NEW-10"})
    assert out[:2] == bom
    got = out[2:].decode(codec)
    assert got.split("\r", 1)[1] == text.split("\r", 1)[1]  # every other segment as it was
    assert got.split("\r", 1)[0] == (
        "MSH|^~\\&|LAB|HOSP|LIS^1.2&x|HOSP|20240101120000||ORU^R01|NEW-10|P|2.5.1"
    )
    assert parse(out).control_id == "NEW-10"


def test_limits_are_the_callers_a_message_over_the_default_size_is_rewritten():
    big = (
        b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|C1|P|2.5.1\r"
        + b"OBX|1|ED|PDF||^AP^^Base64^"
        + b"A" * (17 * 1024 * 1024)
        + b"\r"
    )
    roomy = Limits(max_bytes=32 * 1024 * 1024)
    out = rewrite_header(big, {10: "NEW-10"}, limits=roomy)
    assert out.endswith(big[big.index(b"\rOBX") :]) and b"|NEW-10|" in out[:100]
    with pytest.raises(LimitExceeded):
        rewrite_header(big, {10: "NEW-10"})  # the default 16 MiB
