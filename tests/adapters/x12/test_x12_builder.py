"""Outbound interchanges: fixed-width ISA, counted trailers, allocated control numbers."""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.x12.builder import InterchangeBuilder, counter_allocator
from adapters.x12.codec import parse, parse_interchange, render
from adapters.x12.delimiters import ISA_LENGTH, Delimiters
from hub.errors import MappingError

WHEN = datetime(2024, 1, 2, 3, 4)


def builder(**kw: object) -> InterchangeBuilder:
    calls: list[str] = []
    alloc = counter_allocator(start=41)

    def next_control(kind: str) -> int:
        calls.append(kind)
        return alloc(kind)

    b = InterchangeBuilder(("ZZ", "CAREHUB"), ("30", "PAYER ID"), next_control, when=WHEN, **kw)  # type: ignore[arg-type]
    b.calls = calls  # type: ignore[attr-defined]
    return b


def test_envelope_counts_and_control_numbers() -> None:
    b = builder()
    g = b.group("HC", "005010X222A1", "CAREHUB", "PAYER")
    one = g.transaction("837", "005010X222A1")
    one.add("BHT", "0019", "00", "REF1", "20240102", "0304", "CH")
    one.add("CLM", "PCN1", "100", "", "", ["11", "B", "1"], "Y", "A", "Y", "Y")
    g.transaction("837", "005010X222A1").add("BHT", "0019", "00", "REF2", "20240102", "0304")
    data = b.render()
    ic = parse_interchange(data)
    assert b.calls == ["ISA13", "GS06", "ST02", "ST02"]  # type: ignore[attr-defined]
    assert ic.control_number == "000000041" and ic.iea is not None
    assert ic.iea.element(1) == "1" and ic.iea.element(2) == "000000041"
    group = ic.groups[0]
    assert group.control_number == "41" and group.ge is not None
    assert group.ge.element(1) == "2" and group.ge.element(2) == "41"
    sets = group.transaction_sets
    assert [t.control_number for t in sets] == ["0041", "0042"]
    assert [t.se.element(1) for t in sets if t.se] == ["4", "3"]
    assert sets[0].segments[2]["CLM05-2"] == "B"
    assert render(parse(data)) == data


def test_isa_has_its_fixed_widths() -> None:
    ic = parse_interchange(builder().render())
    assert ic.isa_fixed_width and len(ic.isa.raw) + 1 == ISA_LENGTH
    assert ic.isa.element(6) == "CAREHUB        " and ic.isa.element(8) == "PAYER ID       "
    assert ic.isa.element(2) == " " * 10
    assert (ic.isa.element(9), ic.isa.element(10), ic.isa.element(11)) == ("240102", "0304", "^")
    assert ic.sender == ("ZZ", "CAREHUB") and ic.receiver == ("30", "PAYER ID")


def test_chosen_separators_and_line_breaks() -> None:
    d = Delimiters("|", ">", "}", "\n")
    b = builder(delimiters=d, line_break="")
    b.group("PO", "005010", "A", "B").transaction("850").add(
        "BEG", "00", "SA", "PO1", "", "20240102"
    )
    ic = parse_interchange(b.render())
    assert ic.delimiters == d
    b2 = builder(line_break="\r\n")
    data = b2.render()
    assert data.count(b"~\r\n") == 2 and render(parse(data)) == data


def test_4010_interchange_writes_u_in_isa11() -> None:
    ic = parse_interchange(builder(version="00401").render())
    assert ic.isa.element(11) == "U" and ic.delimiters.repetition is None


@pytest.mark.parametrize("value", ["A*B", "A~B", "A:B", "A^B"])
def test_a_value_holding_a_separator_cannot_be_carried(value: str) -> None:
    ts = builder().group("HC", "005010X222A1", "A", "B").transaction("837")
    with pytest.raises(MappingError) as err:
        ts.add("NM1", "IL", "1", value)
    assert err.value.location == "NM103"


def test_too_long_isa_id_and_bad_separators_are_refused() -> None:
    with pytest.raises(MappingError):
        InterchangeBuilder(("ZZ", "X" * 16), ("ZZ", "Y"), counter_allocator()).render()
    with pytest.raises(ValueError):
        InterchangeBuilder(
            ("ZZ", "X"), ("ZZ", "Y"), counter_allocator(), delimiters=Delimiters("*", "*", "^", "~")
        )


def test_segments_read_elsewhere_are_rewritten_with_our_separators() -> None:
    src = parse_interchange(
        builder(delimiters=Delimiters("|", ">", "}", "~")).render()
    ).isa  # any segment
    ts = builder().group("HC", "X", "A", "B").transaction("837")
    ts.extend([src])
    assert ts.body[0].raw.startswith("ISA*00*")
