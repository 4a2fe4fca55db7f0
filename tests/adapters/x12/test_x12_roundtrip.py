"""render(parse(x)) == x over the whole X12 corpus, whole-file and streaming."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from adapters.x12.codec import parse, render
from adapters.x12.reader import iter_interchanges, iter_transaction_sets


def test_render_parse_is_byte_identical(x12_file: Path) -> None:
    data = x12_file.read_bytes()
    assert render(parse(data)) == data


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_streaming_round_trip_whatever_the_chunk_size(x12_file: Path, chunk: int) -> None:
    data = x12_file.read_bytes()
    out = b"".join(
        ic.render().encode("latin-1") for ic in iter_interchanges(io.BytesIO(data), chunk)
    )
    assert out == data


def test_every_interchange_reads_its_separators_from_its_isa(x12_file: Path) -> None:
    text = x12_file.read_bytes().decode("latin-1")
    for ic in parse(x12_file.read_bytes()).interchanges:
        start = text.index(ic.isa.raw)
        assert ic.delimiters.element == text[start + 3]
        assert ic.delimiters.component == ic.isa.raw[-1]  # ISA16
        assert ic.delimiters.segment == text[start + len(ic.isa.raw)]


def test_transaction_sets_stream_with_their_envelope(x12_file: Path) -> None:
    data = x12_file.read_bytes()
    streamed = list(iter_transaction_sets(io.BytesIO(data), 256))
    whole = list(parse(data).transaction_sets())
    assert [t.render() for t in streamed] == [t.render() for t in whole]
    for ts in streamed:
        assert ts.isa is not None and ts.isa.id == "ISA"
        assert ts.st.id == "ST"
        if ts.gs is not None:
            assert ts.gs.id == "GS"
