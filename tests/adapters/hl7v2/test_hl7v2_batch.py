"""Batch files (FHS/BHS/BTS/FTS) and plain multi-message files."""

from __future__ import annotations

import pytest
from hl7v2_corpus import HL7_DIR, normalise

from adapters.hl7v2 import parse_batch
from hub.errors import LimitExceeded, ParseError

MSG = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|{id}|P|2.5\rPID|1||{id}\r"


def _batch(count_in_bts: int, messages: int = 2) -> bytes:
    body = "".join(MSG.format(id=f"M{i}") for i in range(messages))
    return f"FHS|^~\\&|A\rBHS|^~\\&|A\r{body}BTS|{count_in_bts}\rFTS|1\r".encode()


def test_corpus_batch_file_round_trips_and_notes_missing_trailers():
    raw = (HL7_DIR / "mirth__test-hl7-batch-input.txt").read_bytes()
    batch = parse_batch(raw)
    assert batch.fhs is not None and batch.bhs is not None
    assert [m.control_id for m in batch.messages] == ["12345678"]
    assert batch.render() == normalise(raw)
    assert {f.location for f in batch.findings} == {"BTS", "FTS"}


def test_full_envelope_round_trips():
    raw = _batch(2)
    batch = parse_batch(raw)
    assert [m.control_id for m in batch.messages] == ["M0", "M1"]
    assert batch.bts is not None and batch.bts.value(1) == "2"
    assert batch.findings == []
    assert batch.render() == raw


def test_wrong_message_count_is_a_finding():
    batch = parse_batch(_batch(5))
    assert [f.location for f in batch.findings] == ["BTS-1"]


def test_plain_multi_message_file():
    raw = (HL7_DIR / "mirth__batch_batch01.hl7").read_bytes()
    batch = parse_batch(raw)
    assert [m.trigger_event for m in batch.messages] == ["S12", "S14", "S15"]
    assert batch.fhs is None
    assert batch.render() == normalise(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"PID|1\rMSH|^~\\&|A\r",
        b"FHS|^~\\&|A\rFHS|^~\\&|A\r",
        b"BHS|^~\\&|A\rMSH|^~\\&|A\rBTS|1\rMSH|^~\\&|B\r",
        b"BTS|0\r",
    ],
)
def test_broken_envelopes_raise_parse_error(raw):
    with pytest.raises(ParseError):
        parse_batch(raw)


def test_batch_size_limit_applies_to_the_whole_file():
    from adapters.hl7v2 import Limits

    with pytest.raises(LimitExceeded):
        parse_batch(_batch(2), limits=Limits(max_bytes=50))
