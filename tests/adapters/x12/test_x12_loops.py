"""The generic loop builder over the guide tables, on corpus sets and hand-made ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.x12.codec import parse
from adapters.x12.delimiters import Delimiters
from adapters.x12.guides import default_registry
from adapters.x12.loops import build_tree
from adapters.x12.model import TransactionSet
from adapters.x12.segment import Segment

D = Delimiters()


def corpus_set(directory: Path, name: str) -> TransactionSet:
    return next(parse((directory / name).read_bytes()).transaction_sets())


def make_set(*raws: str, version: str = "005010X222A1") -> TransactionSet:
    segs = [Segment(r, D) for r in raws]
    gs = Segment(f"GS*HC*A*B*20240102*1200*1*X*{version}", D)
    return TransactionSet(segments=segs, se=segs[-1] if segs[-1].id == "SE" else None, gs=gs)


def test_every_segment_lands_exactly_once_in_the_tree(x12_file: Path) -> None:
    for ts in parse(x12_file.read_bytes()).transaction_sets():
        tree = ts.tree()
        walked = list(tree.root.walk())
        assert len(walked) == len(ts.segments)
        assert all(a is b for a, b in zip(walked, ts.segments, strict=True))
        assert [p.position for p in tree.placed] == sorted(p.position for p in tree.placed)


def test_837p_claims_are_loops_2300_under_their_subscriber(x12_dir: Path) -> None:
    ts = corpus_set(x12_dir, "lfhx12__837_005010X222A2_demo.cob.example3.B.837")
    clms = [s for s in ts.segments if s.id == "CLM"]
    claims = ts.loops("2300")
    assert claims and [c.segment("CLM") for c in claims] == clms
    assert ts.loop("2300") is claims[0]
    subscriber = ts.loop("2000B")
    assert subscriber is not None and subscriber.find("2300") is claims[0]
    lines = claims[0].find_all("2400")
    assert len(lines) == sum(1 for s in claims[0].walk() if s.id == "LX")
    assert all(line.segments[0].id == "LX" for line in lines)


def test_837i_hl_levels_give_one_2000_loop_per_hl(x12_dir: Path) -> None:
    name = "stupidedi__005010_X223A2_HC837_pass_two-claims-for-the-same-provider.edi"
    ts = corpus_set(x12_dir, name)
    hls = [s for s in ts.segments if s.id == "HL"]
    loops = ts.loops("2000A") + ts.loops("2000B") + ts.loops("2000C")
    assert sorted(lp.segments[0].element(1) for lp in loops) == sorted(h.element(1) for h in hls)
    assert len(ts.loops("2300")) == sum(1 for s in ts.segments if s.id == "CLM")


def test_271_benefit_loops_nest_ls_le_and_related_entities(x12_dir: Path) -> None:
    ts = corpus_set(x12_dir, "lfhx12__271_005010X279A1_dependent-health-benefit-check.271")
    tree = ts.tree()
    assert not tree.notes
    ebs = [s for s in ts.segments if s.id == "EB"]
    benefit_loops = ts.loops("2110C") + ts.loops("2110D")
    assert len(benefit_loops) == len(ebs)
    # the LS … LE pair and the 2120 loop between them sit in the same 2110 instance
    holder = next(lp for lp in benefit_loops if lp.segment("LS") is not None)
    ids = [i.id for i in holder.items]
    assert ids.index("LS") < ids.index("2120C" if "2120C" in ids else "2120D") < ids.index("LE")


def test_835_service_payment_loops_are_inside_their_claim(x12_dir: Path) -> None:
    ts = corpus_set(x12_dir, "stupidedi__005010_X221A1_HP835_pass_multiple-claims-single-check.edi")
    claims = ts.loops("2100")
    assert len(claims) == sum(1 for s in ts.segments if s.id == "CLP")
    svcs = sum(len(c.find_all("2110")) for c in claims)
    assert svcs == sum(1 for s in ts.segments if s.id == "SVC")


def test_a_set_without_a_table_is_one_flat_loop() -> None:
    ts = make_set("ST*123*0001", "XYZ*1", "SE*3*0001", version="009999")
    tree = ts.tree()
    assert tree.guide is None and not tree.notes
    assert [s.id for s in tree.root.items] == ["ST", "XYZ", "SE"]


# --------------------------------------------------------------------------- structure notes

ST = "ST*270*0001*005010X279A1"
BHT = "BHT*0022*13*10001234*20240102*1319"
SOURCE = ["HL*1**20*1", "NM1*PR*2*PAYER*****PI*12345"]
RECEIVER = ["HL*2*1*21*1", "NM1*1P*2*CLINIC*****XX*1234567893"]
SUBSCRIBER = [
    "HL*3*2*22*0",
    "TRN*1*93175-012547*9877281234",
    "NM1*IL*1*DOE*JANE****MI*ABC",
    "DMG*D8*19800519",
    "DTP*291*D8*20240102",
    "EQ*30",
]


def codes(*raws: str) -> list[tuple[str, str]]:
    tree = make_set(*raws, version="005010X279A1").tree()
    return [(n.code, n.segment_id) for n in tree.notes]


def test_a_valid_270_has_no_notes() -> None:
    assert codes(ST, BHT, *SOURCE, *RECEIVER, *SUBSCRIBER, "SE*13*0001") == []


def test_required_segment_missing_is_code_3() -> None:
    assert ("3", "BHT") in codes(ST, *SOURCE, *RECEIVER, *SUBSCRIBER, "SE*12*0001")
    assert ("3", "NM1") in codes(ST, BHT, SOURCE[0], *RECEIVER, *SUBSCRIBER, "SE*12*0001")


def test_segment_over_its_max_use_is_code_5() -> None:
    sub = [*SUBSCRIBER[:2], SUBSCRIBER[1], SUBSCRIBER[1], *SUBSCRIBER[2:]]
    assert ("5", "TRN") in codes(ST, BHT, *SOURCE, *RECEIVER, *sub, "SE*15*0001")


def test_segment_out_of_sequence_is_code_7_and_unknown_ids_6_and_bad_ids_1() -> None:
    out = codes(
        ST,
        BHT,
        *SOURCE,
        *RECEIVER,
        *SUBSCRIBER,
        "BHT*0022*13*1*20240102*1319",
        "CLM*1*2",
        "nm1*x",
        "SE*16*0001",
    )
    assert ("7", "BHT") in out
    assert ("6", "CLM") in out
    assert ("1", "nm1") in out


def test_loop_over_its_maximum_is_code_4() -> None:
    eqs = [f"EQ*{n}" for n in range(1, 101)]  # loop 2110C repeats at most 99 times
    out = codes(ST, BHT, *SOURCE, *RECEIVER, *SUBSCRIBER[:-1], *eqs, "SE*112*0001")
    assert out.count(("4", "EQ")) == 1


def test_wrong_qualifier_is_placed_by_id_for_the_element_check_to_flag() -> None:
    ts = make_set(
        ST,
        BHT,
        "HL*1**20*1",
        "NM1*ZZ*2*PAYER*****PI*1",
        *RECEIVER,
        *SUBSCRIBER,
        "SE*13*0001",
        version="005010X279A1",
    )
    tree = ts.tree()
    assert tree.notes == []
    placed = {p.position: p for p in tree.placed}
    spec = placed[4].spec
    assert spec is not None and spec.id == "NM1" and placed[4].loop_id == "2100A"


def test_hl_may_climb_back_up_the_hierarchy() -> None:
    second_receiver = [
        "HL*4*1*21*1",
        "NM1*1P*2*OTHER*****XX*1234567893",
        "HL*5*4*22*0",
        "NM1*IL*1*ROE*RICHARD****MI*XYZ",
        "EQ*30",
    ]
    ts = make_set(
        ST,
        BHT,
        *SOURCE,
        *RECEIVER,
        *SUBSCRIBER,
        *second_receiver,
        "SE*18*0001",
        version="005010X279A1",
    )
    assert ts.tree().notes == []
    assert len(ts.loops("2000B")) == 2 and len(ts.loops("2000C")) == 2


@pytest.mark.parametrize("key", default_registry().keys)
def test_every_table_loads_and_every_loop_starts_with_a_segment(key: tuple[str, str]) -> None:
    guide = default_registry().find(*key)
    assert guide is not None and guide.transaction_set == key[0]
    ids = [c.id for c in guide.root.children]
    assert ids[0] == "ST" and ids[-1] == "SE"
    assert guide.provenance, "every table says where its facts come from"
    tree = build_tree([Segment(f"ST*{key[0]}*0001", D), Segment("SE*2*0001", D)], guide)
    assert [p.segment.id for p in tree.placed] == ["ST", "SE"]
