"""Over the whole HL7 v2 corpus: every message the codec accepts either maps, or is refused
with UnsupportedMessage and a table 0357 code. No other exception may escape."""

from __future__ import annotations

import pytest
from hl7map_support import HL7_CORPUS, context

from adapters.hl7v2 import parse, split_messages
from hub.errors import MappingError, ParseError, UnsupportedMessage
from mappings.hl7v2 import INBOUND, map_message, message_key
from mappings.hl7v2.adt import ADT_STORED

FILES = sorted(p for p in HL7_CORPUS.iterdir() if p.is_file())

#: corpus messages of a mapped type whose content is refused, and the field named: the
#: ORU of mirth__small writes its birth date as free text ("Aug 15, 1942")
REFUSED = {"mirth__small.hl7": "PID-7"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_corpus_message_maps_or_is_unsupported(path):
    for raw in split_messages(path.read_bytes()):
        try:
            msg = parse(raw)
        except ParseError:
            continue  # the codec's business, tested there
        key = message_key(msg)
        if path.name in REFUSED and key in INBOUND:
            with pytest.raises(MappingError) as refused:
                map_message(msg, context())
            assert refused.value.location == REFUSED[path.name]
            continue
        try:
            events = map_message(msg, context())
        except UnsupportedMessage as exc:
            assert key not in INBOUND
            assert exc.code in ("200", "201") and exc.location in ("MSH-9.1", "MSH-9.2")
            continue
        assert key in INBOUND
        if key.startswith("ADT^") and key[4:] in ADT_STORED:
            assert events == [], f"{key} is stored and acknowledged, without events"
            continue
        # an A60 without IAM/AL1 (the corpus has one) says nothing about allergies
        assert events or key == "ADT^A60", f"{key} mapped to no event"
        assert all(e.provenance.message_key == key for e in events)


def test_the_corpus_exercises_the_mappings():
    keys = [
        message_key(parse(raw))
        for path in FILES
        for raw in split_messages(path.read_bytes())
        if raw.startswith(b"MSH")
    ]
    mapped = {k for k in keys if k in INBOUND}
    # ADT A01 A03 A04 A08 A24 A28 A31 A40 A41 A60, SIU S12 S13 S14 S15 S26, DFT P03 P11,
    # ORU R01, MDM T02, VXU V04
    assert len(mapped) == 20
    assert len([k for k in keys if k in INBOUND]) > 150
