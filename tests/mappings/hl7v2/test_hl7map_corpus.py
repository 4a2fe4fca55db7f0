"""Over the whole HL7 v2 corpus: every message the codec accepts either maps, or is refused
with UnsupportedMessage and a table 0357 code. No other exception may escape."""

from __future__ import annotations

import pytest
from hl7map_support import HL7_CORPUS, context

from adapters.hl7v2 import parse, split_messages
from hub.errors import ParseError, UnsupportedMessage
from mappings.hl7v2 import INBOUND, map_message, message_key

FILES = sorted(p for p in HL7_CORPUS.iterdir() if p.is_file())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_corpus_message_maps_or_is_unsupported(path):
    for raw in split_messages(path.read_bytes()):
        try:
            msg = parse(raw)
        except ParseError:
            continue  # the codec's business, tested there
        key = message_key(msg)
        try:
            events = map_message(msg, context())
        except UnsupportedMessage as exc:
            assert key not in INBOUND
            assert exc.code in ("200", "201") and exc.location in ("MSH-9.1", "MSH-9.2")
            continue
        assert key in INBOUND
        assert events, f"{key} mapped to no event"
        assert all(e.provenance.message_key == key for e in events)


def test_the_corpus_exercises_the_mappings():
    keys = [
        message_key(parse(raw))
        for path in FILES
        for raw in split_messages(path.read_bytes())
        if raw.startswith(b"MSH")
    ]
    mapped = {k for k in keys if k in INBOUND}
    # ADT A01 A03 A04 A08 A28 A31 A40, SIU S12 S13 S14 S15 S26, DFT P03, VXU V04
    assert len(mapped) == 14
    assert len([k for k in keys if k in INBOUND]) > 150
