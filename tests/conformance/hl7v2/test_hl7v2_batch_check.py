"""File/batch envelopes: nesting and counts are errors of the file."""

from __future__ import annotations

from conformance.hl7v2 import check_batch

MSG = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A04|X1|P|2.5.1\rPID|1||1^^^H^MR||Doe^J\r"


def codes(data: bytes) -> list[str]:
    return [f.location or "" for f in check_batch(data).errors]


def test_a_plain_file_has_no_envelope_findings():
    assert check_batch(MSG + MSG).findings == []


def test_a_well_formed_batch_is_clean():
    data = b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + MSG + MSG + b"BTS|2\rFTS|1\r"
    assert check_batch(data).findings == []


def test_wrong_bts_count_is_an_error():
    data = b"BHS|^~\\&|A\r" + MSG + b"BTS|3\r"
    assert codes(data) == ["BTS-1"]


def test_wrong_fts_count_is_an_error():
    data = b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + MSG + b"BTS|1\rFTS|2\r"
    assert codes(data) == ["FTS-1"]


def test_headers_and_trailers_must_pair_and_nest():
    assert "BTS" in codes(b"BHS|^~\\&|A\r" + MSG)
    assert "FHS" in codes(MSG + b"FTS|0\r")
    out_of_order = b"BHS|^~\\&|A\rFHS|^~\\&|A\r" + MSG + b"FTS|1\rBTS|1\r"
    assert check_batch(out_of_order).errors
    assert "out of order" in check_batch(out_of_order).errors[0].text
