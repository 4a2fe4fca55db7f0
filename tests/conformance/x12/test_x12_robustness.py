"""Whatever the input, checking and acknowledging never raise, and every 999 is valid."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.x12.builder import counter_allocator
from adapters.x12.codec import parse
from adapters.x12.fuzz import mutate
from conformance.x12.acknowledge import acknowledge
from hub.errors import ParseError

WHEN = datetime(2024, 1, 2, 3, 4)


def test_mutated_corpus_gets_valid_acknowledgments(
    x12_dir: Path, pyx12: Callable[[bytes], object]
) -> None:
    rng = random.Random(7)
    seeds = [p.read_bytes() for p in sorted(x12_dir.iterdir())]
    validated = 0
    for i in range(400):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        try:
            doc = parse(data)
        except ParseError:
            continue
        for ic in doc.interchanges:
            ack = acknowledge(ic, counter_allocator(), when=WHEN)
            for answer in (ack.ta1, ack.ack_999, ack.ack_997):
                if answer is not None:
                    assert parse(answer).interchanges[0].iea is not None
            if ack.ack_999 is not None and i % 8 == 0:
                result = pyx12(ack.ack_999)
                assert result.ok is True, result  # type: ignore[attr-defined]
                validated += 1
    assert validated >= 10


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=400))
def test_arbitrary_content_after_an_isa_is_acknowledged_without_raising(tail: bytes) -> None:
    head = (
        b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240102"
        b"*1200*^*00501*000000001*1*P*:~GS*HC*A*B*20240102*1200*1*X*005010X222A1~ST*837*0001~"
    )
    for ic in parse(head + tail).interchanges:
        ack = acknowledge(ic, counter_allocator(), when=WHEN)
        assert ack.ta1 is not None  # ISA14 = 1 asks for one
