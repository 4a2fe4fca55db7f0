"""The codec on hand-made interchanges: separators, line breaks, broken envelopes, accessors."""

from __future__ import annotations

import io

import pytest

from adapters.x12 import codec
from adapters.x12.codec import X12Codec, parse, parse_interchange, render
from adapters.x12.delimiters import ISA_LENGTH, Delimiters, read_isa
from adapters.x12.lexer import EndToken, IsaToken, Lexer
from adapters.x12.segment import Segment, parse_ref
from hub.errors import LimitExceeded, ParseError
from hub.ports import Codec


def isa(
    sep: str = "*",
    rep: str = "^",
    comp: str = ":",
    version: str = "00501",
    control: str = "000000001",
    sender: str = "SENDER",
) -> str:
    fields = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        sender.ljust(15),
        "ZZ",
        "RECEIVER".ljust(15),
        "240102",
        "1200",
        rep,
        version,
        control,
        "0",
        "P",
        comp,
    ]
    return sep.join(fields)


def interchange(
    sep: str = "*",
    rep: str = "^",
    comp: str = ":",
    term: str = "~",
    brk: str = "",
    body: list[str] | None = None,
    **kw: str,
) -> str:
    segs = [
        isa(sep, rep, comp, **kw),
        f"GS{sep}HC{sep}S{sep}R{sep}20240102{sep}1200{sep}7{sep}X{sep}005010X222A1",
    ]
    body = (
        body
        if body is not None
        else [f"BHT{sep}0019", f"CLM{sep}A1{sep}10{sep}{sep}{sep}11{comp}B{comp}1"]
    )
    segs += [
        f"ST{sep}837{sep}0001",
        *body,
        f"SE{sep}{len(body) + 2}{sep}0001",
        f"GE{sep}1{sep}7",
        f"IEA{sep}1{sep}{kw.get('control', '000000001')}",
    ]
    return "".join(s + term + brk for s in segs)


# --------------------------------------------------------------------------- separators


def test_isa_is_106_characters_and_separators_come_from_it() -> None:
    text = interchange(sep="|", rep="}", comp="\\", term="\r")
    assert len(isa("|", "}", "\\") + "\r") == ISA_LENGTH
    ic = parse_interchange(text.encode())
    assert ic.delimiters == Delimiters("|", "\\", "}", "\r")
    assert ic.isa_fixed_width
    clm = ic.groups[0].transaction_sets[0].segments[2]
    assert clm["CLM05-1"] == "11" and clm["CLM05-03"] == "1"


def test_4010_isa11_is_the_standards_id_not_a_repetition_separator() -> None:
    ic = parse_interchange(interchange(rep="U", version="00401").encode())
    assert ic.delimiters.repetition is None
    seg = ic.groups[0].transaction_sets[0].segments[1]
    assert seg.repetitions(1) == ["0019"]


def test_5010_repetition_separator_splits_repeats() -> None:
    ic = parse_interchange(interchange(body=["EB*1**30^1^35"]).encode())
    eb = ic.groups[0].transaction_sets[0].segments[1]
    assert eb.repetitions(3) == ["30", "1", "35"]


def test_isa_that_breaks_the_fixed_width_is_read_by_counting_separators() -> None:
    text = interchange(sender="SHORT").replace("SHORT          ", "SHORT")
    ic = parse_interchange(text.encode())
    assert not ic.isa_fixed_width
    assert ic.delimiters == Delimiters("*", ":", "^", "~")
    assert render(parse(text.encode())) == text.encode()


def test_read_isa_asks_for_more_text_or_refuses_a_non_isa() -> None:
    head = isa() + "~"
    assert read_isa(head[:50], 0, at_eof=False) is False
    assert read_isa("ISAAC NEWTON", 0, at_eof=True) is None
    found = read_isa(head, 0, at_eof=True)
    assert not isinstance(found, bool) and found is not None and found.fixed_width


# --------------------------------------------------------------------------- line breaks


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r", "\r\n\r\n"])
def test_line_breaks_after_terminators_are_kept_for_the_round_trip(brk: str) -> None:
    data = interchange(brk=brk).encode()
    ic = parse_interchange(data)
    assert ic.isa.after == brk
    assert all(s.after == brk for s in ic.groups[0].transaction_sets[0].segments)
    assert ic.iea is not None and ic.iea.after == brk
    assert render(parse(data)) == data


def test_newline_as_segment_terminator_makes_blank_lines_empty_segments() -> None:
    data = interchange(term="\n", body=["BHT*0019", "", "CLM*A1*10"]).encode()
    ts = parse_interchange(data).groups[0].transaction_sets[0]
    assert [s.id for s in ts.segments] == ["ST", "BHT", "", "CLM", "SE"]
    assert render(parse(data)) == data


# --------------------------------------------------------------------------- several, broken


def test_several_interchanges_with_text_between_and_around() -> None:
    one = interchange(control="000000001")
    two = interchange(control="000000002", sep="|")
    data = ("\ufeffpreface\n" + one + "\n-- next --\n" + two + "\n\x1a").encode("utf-8")
    doc = parse(data)
    assert [ic.control_number for ic in doc.interchanges] == ["000000001", "000000002"]
    assert doc.interchanges[0].leading.startswith("\xef\xbb\xbfpreface")
    assert doc.interchanges[1].leading == "-- next --\n"
    assert doc.interchanges[0].iea is not None and doc.interchanges[0].iea.after == "\n"
    assert doc.interchanges[1].trailing == "\x1a"
    assert render(doc) == data


def test_missing_trailers_are_none_and_still_round_trip() -> None:
    text = interchange()
    cut = text[: text.index("SE*")]  # no SE, GE, IEA
    data = (cut + interchange(control="000000002")).encode()
    doc = parse(data)
    first = doc.interchanges[0]
    assert first.iea is None
    assert first.groups[0].ge is None
    assert first.groups[0].transaction_sets[0].se is None
    assert doc.interchanges[1].iea is not None
    assert render(doc) == data


def test_stray_segments_and_sets_outside_groups_keep_their_place() -> None:
    text = interchange()
    text = text.replace("GS*", "TA1*000000009*240101*1200*A*000~GS*", 1)
    text = text.replace("GE*", "NTE*stray~GE*", 1)
    text = text.replace("IEA*", "ST*837*0002~SE*2*0002~IEA*", 1)
    ic = parse_interchange(text.encode())
    assert [s.id for s in ic.strays if isinstance(s, Segment)] == ["TA1"]
    assert [ts.control_number for ts in ic.transaction_sets()] == ["0001", "0002"]
    assert [s.id for s in ic.groups[0].strays] == ["NTE"]
    assert ic.render() == text


def test_unterminated_last_segment() -> None:
    data = interchange().rstrip("~").encode()
    ic = parse_interchange(data)
    assert ic.iea is not None and not ic.iea.terminated
    assert render(parse(data)) == data


def test_a_new_isa_closes_an_interchange_that_has_no_iea() -> None:
    one = interchange(control="000000001")
    one = one[: one.index("IEA")]
    data = (one + "\r\n" + interchange(control="000000002")).encode()
    doc = parse(data)
    assert len(doc.interchanges) == 2 and doc.interchanges[0].iea is None
    assert doc.interchanges[0].groups[0].ge is not None
    assert render(doc) == data


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("data", [b"", b"hello world", b"ISA", b"ISA*00*", b"\x00\xff" * 50])
def test_input_without_an_interchange_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


def test_text_input_is_refused_as_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse("ISA*…")  # type: ignore[arg-type]


def test_parse_interchange_wants_exactly_one() -> None:
    with pytest.raises(ParseError):
        parse_interchange((interchange() + interchange()).encode())


def test_a_segment_without_terminator_cannot_grow_without_bound() -> None:
    data = (isa() + "~" + "NM1*" + "X" * 5000).encode()
    with pytest.raises(LimitExceeded):
        list(Lexer(io.BytesIO(data), chunk_size=512, max_segment=1000))


def test_text_outside_interchanges_is_bounded_too() -> None:
    with pytest.raises(LimitExceeded):
        list(Lexer(io.BytesIO(b"x" * 5000), chunk_size=100, max_junk=1000))


def test_lexer_tokens_account_for_every_character() -> None:
    data = ("junk" + interchange(brk="\n") + "tail").encode()
    text = ""
    for tok in Lexer(io.BytesIO(data), chunk_size=3):
        if isinstance(tok, IsaToken):
            text += tok.leading + tok.segment.render()
        elif isinstance(tok, EndToken):
            text += tok.trailing
        else:
            text += tok.render()
    assert text.encode() == data


# --------------------------------------------------------------------------- segments


def test_segment_accessors_in_the_guides_terms() -> None:
    d = Delimiters()
    sv1 = Segment("SV1*HC:99213:25*100*UN*1***1:2", d)
    assert sv1.id == "SV1" and len(sv1) == 7
    assert sv1["SV101"] == "HC:99213:25"
    assert sv1["SV101-2"] == "99213" and sv1["SV101-03"] == "25"
    assert sv1.element(2) == "100" and sv1.element(6) == "" and sv1.element(99) == ""
    assert sv1.components(7) == ["1", "2"]
    assert sv1.get("SV105", "none") == "none"
    with pytest.raises(KeyError):
        sv1["CLM01"]
    with pytest.raises(KeyError):
        sv1["SV1X"]


def test_parse_ref_splits_element_and_component() -> None:
    assert parse_ref("CLM", "CLM05-1") == (5, 1)
    assert parse_ref("HI", "HI01-02") == (1, 2)
    assert parse_ref("N3", "N301") == (1, None)
    with pytest.raises(KeyError):
        parse_ref("N3", "N3001")


def test_segment_build_drops_trailing_empty_elements_and_joins_composites() -> None:
    seg = Segment.build(
        "CLM", "A1", "10", "", "", ["11", "B", "1"], "", "", delimiters=Delimiters()
    )
    assert seg.raw == "CLM*A1*10***11:B:1"
    assert Segment.build("HI", ["ABK", "J10", ""], delimiters=Delimiters()).raw == "HI*ABK:J10"


def test_repr_carries_no_element_values() -> None:
    assert "SMITH" not in repr(Segment("NM1*IL*1*SMITH*JOHN", Delimiters()))


def test_the_codec_honours_the_hub_codec_port() -> None:
    c = X12Codec()
    assert isinstance(c, Codec)
    data = interchange().encode()
    assert c.render(c.parse(data)) == data
    assert codec.__all__  # the public surface is declared
