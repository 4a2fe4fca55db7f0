"""Group and transaction-set rules and the 999 (005010X231A1) / 997 rendered from them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from adapters.x12.builder import counter_allocator
from adapters.x12.codec import parse, parse_interchange
from conformance.x12.acknowledge import Acknowledgment, acknowledge
from conformance.x12.findings import Level, x12_findings

WHEN = datetime(2024, 1, 2, 3, 4)
BASE = "stupidedi__005010_X223A2_HC837_pass_ppo-repriced-claim.edi"


@pytest.fixture(scope="module")
def base(x12_dir: Path) -> str:
    """A valid 837I (005010X223A2) the checks accept, as text to mutate."""
    return (x12_dir / BASE).read_bytes().decode("latin-1")


def ack_of(raw: str, **kw: object) -> Acknowledgment:
    ic = parse_interchange(raw.encode("latin-1"))
    return acknowledge(ic, counter_allocator(), when=WHEN, **kw)  # type: ignore[arg-type]


def segments(ack: bytes | None, seg_id: str) -> list[list[str]]:
    assert ack is not None
    return [s.split("*") for s in ack.decode().split("~") if s.split("*")[0] == seg_id]


def test_valid_set_gets_an_accepting_999(base: str, pyx12: Callable[[bytes], object]) -> None:
    ack = ack_of(base)
    assert ack.accepted and ack.ta1 is None and ack.ack_997 is None
    assert segments(ack.ack_999, "AK1") == [["AK1", "HC", "20213", "005010X223A2"]]
    assert segments(ack.ack_999, "AK2") == [["AK2", "837", "1002", "005010X223A2"]]
    assert segments(ack.ack_999, "IK5") == [["IK5", "A"]]
    assert segments(ack.ack_999, "AK9") == [["AK9", "A", "1", "1", "1"]]
    assert pyx12(ack.ack_999).ok is True  # type: ignore[arg-type, attr-defined]


def test_999_envelope_numbers_come_from_the_allocator(base: str) -> None:
    calls: list[str] = []

    def next_control(kind: str) -> int:
        calls.append(kind)
        return {"ISA13": 555, "GS06": 77, "ST02": 9}[kind]

    ack = acknowledge(parse_interchange(base.encode()), next_control, when=WHEN)
    out = parse_interchange(ack.ack_999 or b"")
    assert calls == ["ISA13", "GS06", "ST02"]
    assert out.control_number == "000000555" and out.groups[0].control_number == "77"
    assert out.groups[0].transaction_sets[0].control_number == "0009"
    assert out.groups[0].version == "005010X231A1" and out.sender[1] == "123456789012346"


@pytest.mark.parametrize(
    ("edit", "ak9"),
    [
        (("GE*1*20213", "GE*1*20214"), ["R", "1", "1", "1", "4"]),
        (("GE*1*20213", "GE*2*20213"), ["R", "2", "1", "1", "5"]),
        (("GE*1*20213~", ""), ["R", "1", "1", "1", "3"]),
        (("*20213*X*", "*2A213*X*"), ["R", "1", "1", "1", "6", "4"]),
    ],
)
def test_group_trailer_errors_reject_the_group_with_ak905(
    base: str, edit: tuple[str, str], ak9: list[str]
) -> None:
    ack = ack_of(base.replace(*edit, 1))
    assert segments(ack.ack_999, "AK9") == [["AK9", *ak9]]


@pytest.mark.parametrize(
    ("edit", "ik5"),
    [
        (("SE*48*1002", "SE*48*1003"), ["IK5", "R", "3"]),
        (("SE*48*1002", "SE*47*1002"), ["IK5", "R", "4"]),
        (("SE*48*1002~", ""), ["IK5", "R", "2"]),
        (("ST*837*1002*", "ST*837*12*"), ["IK5", "R", "7", "3"]),
        # ST03 names the table: read as an 837P, the 837I content is in error too
        (("*005010X223A2~BHT", "*005010X222A1~BHT"), ["IK5", "R", "19", "5"]),
    ],
)
def test_set_envelope_errors_give_ik5_codes(
    base: str, edit: tuple[str, str], ik5: list[str]
) -> None:
    ack = ack_of(base.replace(*edit, 1))
    assert segments(ack.ack_999, "IK5") == [ik5]
    assert segments(ack.ack_999, "AK9")[0][1] == "R"


def test_duplicate_control_number_in_a_group_is_23(base: str) -> None:
    ic = parse_interchange(base.encode())
    ts = ic.groups[0].transaction_sets[0].render()
    raw = base.replace("GE*1*20213", "GE*2*20213").replace(ts, ts + ts)
    ack = ack_of(raw)
    assert segments(ack.ack_999, "IK5") == [["IK5", "A"], ["IK5", "R", "23"]]
    assert segments(ack.ack_999, "AK9") == [["AK9", "P", "2", "2", "1"]]


def test_missing_required_segment_is_ik3_code_3(base: str) -> None:
    ack = ack_of(
        base.replace("BHT*0019*00*1002*20050721*09460000*CH~", "").replace("SE*48*", "SE*47*")
    )
    assert ["IK3", "BHT", "2", "", "3"] in segments(ack.ack_999, "IK3")
    assert segments(ack.ack_999, "IK5") == [["IK5", "R", "5"]]


def test_missing_required_element_is_ik4_code_1(base: str) -> None:
    ack = ack_of(base.replace("NM1*85*2*GOOD HEALTH HOSPITAL*", "NM1*85*2**"))
    assert segments(ack.ack_999, "IK3") == [["IK3", "NM1", "7", "", "8"]]
    assert segments(ack.ack_999, "IK4") == [["IK4", "3", "1035", "1"]]


def test_invalid_code_is_ik4_code_7_without_a_copy_of_the_value(base: str) -> None:
    """No IK404: an answer echoes no data value of the input (docs/security.md)."""
    ack = ack_of(base.replace("HL*1**20*1", "HL*1**20*9"))
    assert segments(ack.ack_999, "IK4") == [["IK4", "4", "736", "7"]]
    report = ack.report
    (finding,) = [f for f in x12_findings(report) if f.level == Level.ELEMENT]
    assert finding.location == "2000A/HL04" and finding.value == "9"
    assert "9" not in finding.text and "value" not in finding.as_dict()


def test_component_errors_point_at_the_component(base: str) -> None:
    ack = ack_of(base.replace("CLM*456DFH43*237.5***13:A:1", "CLM*456DFH43*237.5***13:X:1"))
    assert segments(ack.ack_999, "IK4") == [["IK4", "5:2", "1332", "7"]]
    (finding,) = [f for f in x12_findings(ack.report) if f.level == Level.ELEMENT]
    assert finding.location == "2300/CLM05-2"


def test_out_of_sequence_and_over_max_use_segments(base: str) -> None:
    moved = base.replace("PER*IC*SUBMITTER CONTACT INFO*TE*8001231234~", "").replace(
        "HL*1**20*1~", "HL*1**20*1~PER*IC*SUBMITTER CONTACT INFO*TE*8001231234~"
    )
    assert segments(ack_of(moved).ack_999, "IK3") == [
        ["IK3", "PER", "4", "", "3"],
        ["IK3", "PER", "6", "", "2"],
    ]
    twice = base.replace("CL1*1*2*01~", "CL1*1*2*01~CL1*1*2*01~").replace("SE*48*", "SE*49*")
    assert segments(ack_of(twice).ack_999, "IK3") == [["IK3", "CL1", "28", "", "5"]]


def test_a_bad_value_with_a_control_character_is_reported_without_its_copy(base: str) -> None:
    ack = ack_of(base.replace("N3*592 NORTH ELM STREET", "N3*592 NORTH\tELM STREET"))
    assert segments(ack.ack_999, "IK4") == [["IK4", "1", "166", "6"]]


def test_unsupported_implementation_convention_is_i6(base: str) -> None:
    raw = base.replace("005010X223A2", "005010X299A9")
    ack = ack_of(raw)
    assert segments(ack.ack_999, "IK5") == [["IK5", "R", "I6"]]


def test_every_corpus_999_validates_with_pyx12(
    x12_file: Path, pyx12: Callable[[bytes], object]
) -> None:
    for ic in parse(x12_file.read_bytes()).interchanges:
        ack = acknowledge(ic, counter_allocator(), when=WHEN)
        if ack.ack_999 is None:
            continue
        result = pyx12(ack.ack_999)
        assert result.ok is True and not result.errors, result  # type: ignore[attr-defined]


def test_supply_chain_groups_get_a_997_in_their_version(x12_dir: Path) -> None:
    ic = parse((x12_dir / "nodex12__850_3.edi").read_bytes()).interchanges[0]
    ack = acknowledge(ic, counter_allocator(), when=WHEN)
    assert ack.ack_999 is None and ack.ack_997 is not None
    out = parse_interchange(ack.ack_997)
    assert out.version == ic.version and out.groups[0].version == "004010"
    assert segments(ack.ack_997, "AK1") == [["AK1", "PO", ic.groups[0].control_number]]
    assert segments(ack.ack_997, "AK5") == [["AK5", "A"]]


def test_997_maps_implementation_codes_to_standard_ones(x12_dir: Path) -> None:
    raw = (x12_dir / "nodex12__850_3.edi").read_bytes().decode("latin-1")
    raw = raw.replace("BEG*00*", "BEG**", 1)  # BEG01 required
    ack = ack_of(raw)
    assert segments(ack.ack_997, "AK4") == [["AK4", "1", "", "1"]]
    assert segments(ack.ack_997, "AK3")[0][0] == "AK3"
    assert segments(ack.ack_997, "AK5") == [["AK5", "R", "5"]]


def test_acknowledgments_are_not_acknowledged(x12_dir: Path) -> None:
    name = "stupidedi__005010_X231A1_FA999_pass_response-to-functional-group-containing-3-837s.edi"
    ic = parse((x12_dir / name).read_bytes()).interchanges[0]
    ack = acknowledge(ic, counter_allocator(), when=WHEN)
    assert ack.ack_999 is None and ack.ack_997 is None and ack.report.ok


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "pyx12__x12testdata_fail_no_IEA_source.txt",
            {("interchange", "023"), ("transaction", "4")},
        ),
        (
            "pyx12__x12testdata_trailer_errors_source.txt",
            {("interchange", "001"), ("interchange", "021"), ("group", "4"), ("transaction", "4")},
        ),
        (
            "stupidedi__004010_PR855_fail_2.edi",
            {("interchange", "011"), ("interchange", "006"), ("interchange", "015")},
        ),
        ("stupidedi__004010_SH856_fail_2.edi", {("transaction", "4"), ("segment", "7")}),
    ],
)
def test_deliberately_broken_corpus_files_give_findings_not_exceptions(
    x12_dir: Path, name: str, expected: set[tuple[str, str]]
) -> None:
    data = (x12_dir / name).read_bytes()
    found: set[tuple[str, str]] = set()
    for ic in parse(data).interchanges:
        ack = acknowledge(ic, counter_allocator(), when=WHEN)
        assert not ack.accepted
        found |= {(f.level, f.format_code or "") for f in x12_findings(ack.report) if f.is_error}
    assert expected <= found
