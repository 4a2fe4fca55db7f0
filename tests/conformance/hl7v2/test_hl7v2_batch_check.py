"""File/batch envelopes: a broken envelope leaves every message readable, so each problem is
a warning naming the envelope segment and its line (an error with ``strict=True``)."""

from __future__ import annotations

import pytest

from conformance.hl7v2 import check_batch
from hub.findings import Severity

MSG = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A04|X1|P|2.5.1\rPID|1||1^^^H^MR||Doe^J\r"


def found(data: bytes, *, strict: bool = False) -> list[tuple[str, str]]:
    return [(f.location or "", f.text) for f in check_batch(data, strict=strict).findings]


def test_a_plain_file_has_no_envelope_findings():
    assert check_batch(MSG + MSG).findings == []


def test_a_well_formed_batch_is_clean():
    data = b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + MSG + MSG + b"BTS|2\rFTS|1\r"
    assert check_batch(data).findings == []


def test_several_batches_in_one_file_are_clean():
    one = b"BHS|^~\\&|A\r" + MSG + b"BTS|1\r"
    two = b"BHS|^~\\&|A\r" + MSG + MSG + b"BTS|2\r"
    assert check_batch(b"FHS|^~\\&|A\r" + one + two + b"FTS|2\r").findings == []


def test_loose_messages_in_a_file_count_as_one_batch_or_none():
    for count in (b"0", b"1"):
        assert check_batch(b"FHS|^~\\&|A\r" + MSG + MSG + b"FTS|" + count + b"\r").findings == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"BHS|^~\\&|A\r" + MSG + b"BTS|3\r",
            [("BTS-1", "line 4: BTS-1 says 3 messages, there are 1")],
        ),
        (
            b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + MSG + b"BTS|1\rFTS|2\r",
            [("FTS-1", "line 6: FTS-1 says 2 batches, there are 1")],
        ),
        (b"BHS|^~\\&|A\r" + MSG, [("BTS", "the batch opened at line 1 has no BTS")]),
        (MSG + b"BTS|1\r", [("BHS", "line 3: BTS closes no batch (its BHS is missing)")]),
        (b"FHS|^~\\&|A\r" + MSG, [("FTS", "the file opened at line 1 has no FTS")]),
        (MSG + b"FTS|1\r", [("FHS", "line 3: FTS closes no file (its FHS is missing)")]),
        (
            b"BHS|^~\\&|A\r" + MSG + b"BHS|^~\\&|A\r" + MSG + b"BTS|1\r",
            [("BTS", "line 4: the batch opened at line 1 has no BTS")],
        ),
    ],
)
def test_each_envelope_departure_is_a_warning_naming_segment_and_line(data, expected):
    report = check_batch(data)
    assert report.ok
    assert {f.severity for f in report.findings} == {Severity.WARNING}
    assert found(data) == expected


def test_strict_makes_the_same_findings_errors():
    data = b"BHS|^~\\&|A\r" + MSG + b"BTS|3\r"
    strict = check_batch(data, strict=True)
    assert not strict.ok
    assert [(f.location, f.text) for f in strict.errors] == found(data)


def test_headers_out_of_order_are_named():
    out_of_order = b"BHS|^~\\&|A\rFHS|^~\\&|A\r" + MSG + b"FTS|1\rBTS|1\r"
    texts = [text for _, text in found(out_of_order)]
    assert "line 2: FHS is not the first line of the file" in texts
    assert "line 6: BTS closes no batch (its BHS is missing)" in texts
