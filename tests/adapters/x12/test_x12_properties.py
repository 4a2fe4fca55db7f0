"""Property tests: round trip on generated interchanges, only ParseError on any bytes."""

from __future__ import annotations

import io
import random
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.x12.codec import parse, render
from adapters.x12.fuzz import fuzz_one, mutate
from adapters.x12.reader import iter_interchanges
from hub.errors import ParseError

SEPARATOR_CHARS = "*|^~:>{}!`\\+'#$%&@;"
TEXT = string.ascii_uppercase + string.digits + " .-/()"


@st.composite
def separators(draw: st.DrawFn) -> tuple[str, str, str, str]:
    element, component, repetition = draw(st.permutations(SEPARATOR_CHARS))[:3]
    terminator = draw(
        st.sampled_from(
            [c for c in SEPARATOR_CHARS + "\r\n" if c not in (element, component, repetition)]
        )
    )
    return element, component, repetition, terminator


@st.composite
def interchanges(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """An interchange text and, per segment, its elements as written."""
    el, comp, rep, term = draw(separators())
    breaks = [b for b in ("", "\n", "\r\n", "\r") if term not in b]
    brk = draw(st.sampled_from(breaks))
    value = st.text(TEXT, min_size=0, max_size=8)
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        "A".ljust(15),
        "ZZ",
        "B".ljust(15),
        "240102",
        "1200",
        rep,
        "00501",
        "000000001",
        "0",
        "P",
        comp,
    ]
    segments = [isa, ["GS", "HC", "A", "B", "20240102", "1200", "1", "X", "005010X222A1"]]
    n_sets = draw(st.integers(1, 3))
    for n in range(n_sets):
        body = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["NM1", "REF", "CLM", "SV1", "DTP"]),
                    st.lists(value, max_size=6),
                ),
                max_size=6,
            )
        )
        segments.append(["ST", "837", f"{n + 1:04d}"])
        segments += [[sid, *els] for sid, els in body]
        segments.append(["SE", str(len(body) + 2), f"{n + 1:04d}"])
    segments += [["GE", str(n_sets), "1"], ["IEA", "1", "000000001"]]
    text = "".join(el.join(s) + term + brk for s in segments)
    return text, segments


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interchanges())
def test_generated_interchanges_round_trip_and_read_back(case: tuple[str, list[list[str]]]) -> None:
    text, segments = case
    data = text.encode("latin-1")
    doc = parse(data)
    assert render(doc) == data
    ic = doc.interchanges[0]
    read = [ic.isa, ic.groups[0].gs]
    for ts in ic.groups[0].transaction_sets:
        read += ts.segments
    read += [ic.groups[0].ge, ic.iea]
    assert [s.elements for s in read if s is not None] == segments


@settings(max_examples=100, deadline=None)
@given(interchanges(), st.integers(1, 97))
def test_streaming_any_chunk_size_is_the_same(
    case: tuple[str, list[list[str]]], chunk: int
) -> None:
    data = case[0].encode("latin-1")
    out = "".join(ic.render() for ic in iter_interchanges(io.BytesIO(data), chunk))
    assert out.encode("latin-1") == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_nothing_but_parse_error(data: bytes) -> None:
    fuzz_one(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_bytes_after_a_valid_isa_raise_nothing_but_parse_error(tail: bytes) -> None:
    head = (
        b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240102"
        b"*1200*^*00501*000000001*0*P*:~"
    )
    fuzz_one(head + tail)


def test_mutated_corpus_files_keep_the_property(x12_dir: Path) -> None:
    rng = random.Random(20240102)
    seeds = [p.read_bytes() for p in sorted(x12_dir.iterdir())]
    for _ in range(1500):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        try:
            doc = parse(data)
        except ParseError:
            continue
        assert render(doc) == data
