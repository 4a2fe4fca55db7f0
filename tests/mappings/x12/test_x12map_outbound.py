"""Outbound: canonical → 837P/837I (pyx12 must report zero errors), 270 and 850 (pyx12 has
no map for them, which each golden test asserts; our own guide tables must report no
errors), goldens of the rendered X12, and the 837 round trip corpus → canonical → 837 →
canonical. Every golden test runs its validator on the same output it compares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import x12map_events as fx
from x12map_support import (
    FIXTURES,
    check_golden,
    context,
    corpus_files,
    options,
    segment_lines,
    sets,
)

from adapters.x12 import parse
from conformance.x12 import check_interchange
from hub.canonical import Claim, Event, EventKind, Identifier
from hub.errors import ConfigError, MappingError, UnsupportedMessage
from mappings.x12 import map_transaction
from mappings.x12.outbound import OUTBOUND, render_x12_event
from tests.x12_support import pyx12_says, run_pyx12

K = EventKind


def _claims(path: Path) -> list[Event]:
    out = []
    for ts in sets(path):
        if ts.id != "837":
            continue
        try:
            out += [e for e in map_transaction(ts, context()) if e.kind is K.CLAIM_SUBMITTED]
        except UnsupportedMessage:
            continue
    return out


CORPUS_837 = [p for p in corpus_files() if _claims(p)] + [
    FIXTURES / "837p_icd10_rich.edi",
    FIXTURES / "837i_icd10_rich.edi",
]
#: corpus claims the guides do not let us send as they are, and why
REFUSED = {
    "lfhx12__837_004010X098A1_patient-is-dependent.837": "2010AA/NM109",  # 4010: EIN, no NPI
    "pyx12__x12testdata_simple_837i_source.txt": "2010AA/NM109",  # 4010: no NPI
    "pyx12__x12testdata_trailer_errors_source.txt": "2010AA/NM109",  # 4010: no NPI
    # X223A2 2010AA N403 is ZIP+4 (nine digits); these claims have five
    "lfhx12__837_005010X223A3_institutional-claim.837i": "2010AA/N403",
    "lfhx12__837_005010X223A3_two-claims-single-provider.837i": "2010AA/N403",
    "stupidedi__005010_X223A2_HC837_pass_837-institutional-claim.edi": "2010AA/N403",
    "stupidedi__005010_X223A2_HC837_pass_two-claims-for-the-same-provider.edi": "2010AA/N403",
}


def _pyx12_clean(data: bytes) -> None:
    result = run_pyx12(data)
    assert result.raised is None, result
    assert result.ok is True and result.errors == [], result


def _own_tables_clean(data: bytes) -> None:
    report = check_interchange(parse(data).interchanges[0])
    errors = [
        (f.location, f.text) for f in report.findings if f.severity.value in ("error", "fatal")
    ]
    assert errors == []


# --------------------------------------------------------------------------- 837 built by hand


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("837p_rich", fx.rich_professional),
        ("837p_minimal", fx.minimal_professional),
        ("837i_rich", fx.rich_institutional),
        ("837i_minimal", fx.minimal_institutional),
    ],
)
def test_claims_pass_pyx12_and_match_golden(name: str, build: Callable[[], Claim]) -> None:
    data = render_x12_event(fx.event(K.CLAIM_SUBMITTED, build()), options())
    _pyx12_clean(data)
    check_golden(f"out_{name}.x12", segment_lines(data))


@pytest.mark.parametrize("build", [fx.rich_professional, fx.rich_institutional])
def test_a_line_with_a_date_and_a_period_gets_one_dtp_472(build: Callable[[], Claim]) -> None:
    """2400 DTP*472 is D8 or RD8, never both (max use 1): the period wins, as read."""
    claim = build()
    both = [
        n
        for n, line in enumerate(claim.service_lines, 1)
        if line.service_date and line.service_period
    ]
    assert both, "the fixture must keep a line with both"
    ts = next(
        parse(render_x12_event(fx.event(K.CLAIM_SUBMITTED, claim), options())).transaction_sets()
    )
    lines: list[list[str]] = []
    for segment in ts.segments:
        if segment.id == "LX":
            lines.append([])
        elif segment.id == "DTP" and lines and segment.element(1) == "472":
            lines[-1].append(segment.element(2))
    assert all(lines[n - 1] == ["RD8"] for n in both), lines


def test_rich_professional_claim_reads_back_the_same() -> None:
    """Every value the 837P carries comes back; pointers follow the principal-first HI."""
    claim = fx.rich_professional()
    data = render_x12_event(fx.event(K.CLAIM_SUBMITTED, claim), options())
    back = _claim_of(data)
    assert back.patient_control_number == claim.patient_control_number
    assert back.total_charge == claim.total_charge
    assert [d.code.code for d in back.diagnoses] == ["J06.9", "R05.9", "E11.9"]
    # line 1 pointed at sequences 1 (J06.9) and 2 (R05.9): still those codes
    codes = {d.sequence: d.code.code for d in back.diagnoses}
    assert [codes[p] for p in back.service_lines[0].diagnosis_pointers] == ["J06.9", "R05.9"]
    assert [codes[p] for p in back.service_lines[2].diagnosis_pointers] == ["E11.9"]
    assert back.service_lines[2].ndc == "00009001501"
    assert back.service_lines[1].place_of_service == "22"
    assert back.patient is not None and back.patient.relationship is not None
    assert back.patient.relationship.code == "child"
    assert back.patient.identifiers[-1].value == "MRN-777"  # REF*EA
    assert back.rendering_provider is not None
    assert [i.value for i in back.rendering_provider.identifiers] == ["1972838472", "CHEN-77"]
    assert back.prior_authorization == "AUTH-555"
    assert back.payer_claim_control_number == "CHP-ICN-OLD"
    assert back.admission_date == datetime(2024, 3, 11)


def test_institutional_diagnoses_split_by_kind_and_keep_poa() -> None:
    data = render_x12_event(fx.event(K.CLAIM_SUBMITTED, fx.rich_institutional()), options())
    back = _claim_of(data)
    kinds = [(d.kind, d.code.code, d.present_on_admission) for d in back.diagnoses]
    assert kinds[0] == ("principal", "I21.4", "Y")
    assert kinds[1] == ("admitting", "R07.9", None)
    assert ("external-cause", "V43.52XA", None) in kinds  # ABN has no POA written
    assert sum(1 for k in kinds if k[0] == "other") == 13  # 12 + 1: two HI*ABF segments
    text = data.decode()
    assert text.count("HI*ABF:") == 2


def _claim_of(data: bytes) -> Claim:
    events = map_transaction(next(parse(data).transaction_sets()), context())
    claim = next(e.entity for e in events if e.kind is K.CLAIM_SUBMITTED)
    assert isinstance(claim, Claim)
    return claim


# --------------------------------------------------------------------------- 837 from the corpus


@pytest.mark.parametrize("path", CORPUS_837, ids=[p.name[:60] for p in CORPUS_837])
def test_corpus_claims_render_to_pyx12_clean_837s(path: Path) -> None:
    for event in _claims(path):
        if path.name in REFUSED:
            with pytest.raises(MappingError) as err:
                render_x12_event(event, options())
            assert err.value.location == REFUSED[path.name]
            continue
        _pyx12_clean(render_x12_event(event, options()))


@pytest.mark.parametrize("path", CORPUS_837, ids=[p.name[:60] for p in CORPUS_837])
def test_corpus_round_trip_keeps_every_carried_value(path: Path) -> None:
    """837 → canonical → 837 → canonical: the same claim (values compare as Decimals, so
    ``700.00`` and ``700`` are equal). Claims refused only for their ZIP are sent with the
    ZIP+4 the guide requires, which is then the one difference."""
    for event in _claims(path):
        claim = event.entity
        assert isinstance(claim, Claim)
        if REFUSED.get(path.name) == "2010AA/NM109":
            continue
        if REFUSED.get(path.name) == "2010AA/N403":
            claim.billing_provider.address.postal_code += "1234"  # type: ignore[union-attr, operator]
        data = render_x12_event(event, options())
        _pyx12_clean(data)
        back = _claim_of(data)
        assert back.model_dump(exclude={"meta"}) == claim.model_dump(exclude={"meta"})


# --------------------------------------------------------------------------- envelope


def test_control_numbers_come_from_the_allocator_and_counts_are_right() -> None:
    calls: list[str] = []
    numbers = {"ISA13": 41, "GS06": 7, "ST02": 1234}

    def allocate(kind: str) -> int:
        calls.append(kind)
        return numbers[kind]

    data = render_x12_event(
        fx.event(K.CLAIM_SUBMITTED, fx.rich_professional()), options(next_control=allocate)
    )
    ic = parse(data).interchanges[0]
    ts = next(ic.transaction_sets())
    assert calls == ["ISA13", "GS06", "ST02"]
    assert (
        ic.isa.element(13) == "000000041"
        and ic.iea is not None
        and ic.iea.element(2) == "000000041"
    )
    assert ts.st.element(2) == "1234" and ts.se is not None and ts.se.element(2) == "1234"
    assert int(ts.se.element(1)) == len(ts.segments)
    assert ic.isa.element(15) == "T" and ic.isa.element(6).strip() == "CAREHUB"
    _own_tables_clean(data)


def test_re_rendering_an_event_keeps_its_reference() -> None:
    """BHT03 comes from the event id: a resend of the same event is recognisable."""
    event = fx.event(K.CLAIM_SUBMITTED, fx.minimal_professional(), n=5)
    first = next(parse(render_x12_event(event, options())).transaction_sets()).segments[1]
    again = next(parse(render_x12_event(event, options())).transaction_sets()).segments[1]
    other = fx.event(K.CLAIM_SUBMITTED, fx.minimal_professional(), n=6)
    third = next(parse(render_x12_event(other, options())).transaction_sets()).segments[1]
    assert first.element(3) == again.element(3) != third.element(3)


# --------------------------------------------------------------------------- refusals


def _without(claim: Claim, **changes: object) -> Claim:
    return claim.model_copy(update=changes)


@pytest.mark.parametrize(
    ("claim", "location"),
    [
        (_without(fx.minimal_professional(), diagnoses=[]), "2300/HI01"),
        (_without(fx.minimal_professional(), service_lines=[]), "2400"),
        (_without(fx.minimal_professional(), billing_provider=None), "2010AA"),
        (_without(fx.minimal_professional(), patient_control_number=None), "2300/CLM01"),
        (
            _without(fx.minimal_professional(), payer=fx.ClaimParty(organization_name="X")),
            "2010BB/NM109",
        ),
        (
            _without(
                fx.minimal_professional(), subscriber=fx.ClaimParty(name=fx.HumanName(family="DOE"))
            ),
            "2010BA/NM109",
        ),
    ],
    ids=["no-diagnosis", "no-lines", "no-billing", "no-pcn", "no-payer-id", "no-member-id"],
)
def test_what_the_guide_requires_and_the_claim_lacks_is_named(claim: Claim, location: str) -> None:
    with pytest.raises(MappingError) as err:
        render_x12_event(fx.event(K.CLAIM_SUBMITTED, claim), options())
    assert err.value.location == location


def test_institutional_claim_needs_a_patient_status_from_the_options() -> None:
    with pytest.raises(MappingError) as err:
        render_x12_event(
            fx.event(K.CLAIM_SUBMITTED, fx.minimal_institutional()), options(patient_status=None)
        )
    assert err.value.location == "2300/CL103"


def test_a_separator_inside_a_value_is_refused_not_written() -> None:
    claim = fx.minimal_professional()
    claim.subscriber.name.family = "O*BRIEN"  # type: ignore[union-attr]
    with pytest.raises(MappingError) as err:
        render_x12_event(fx.event(K.CLAIM_SUBMITTED, claim), options())
    assert err.value.location == "NM103"
    assert "O*BRIEN" not in str(err.value)


def test_events_without_an_x12_rendering_are_unsupported() -> None:
    with pytest.raises(UnsupportedMessage):
        render_x12_event(fx.event(K.CLAIM_PAID, fx.minimal_professional()), options())
    with pytest.raises(MappingError):
        render_x12_event(fx.event(K.CLAIM_SUBMITTED, fx.purchase_order()), options())
    assert set(OUTBOUND) == {K.CLAIM_SUBMITTED, K.ELIGIBILITY_REQUESTED, K.SUPPLY_ORDER_PLACED}


def test_options_refuse_versions_we_cannot_write() -> None:
    with pytest.raises(ConfigError):
        options(professional_version="005010X222")
    with pytest.raises(ConfigError):
        options(purchase_order_version="004060")
    with pytest.raises(ConfigError):
        options(usage="X")


# --------------------------------------------------------------------------- 270


def test_270_with_dependent_passes_our_tables_and_matches_golden() -> None:
    data = render_x12_event(fx.event(K.ELIGIBILITY_REQUESTED, fx.eligibility_request()), options())
    assert pyx12_says(data) == ("no map for 005010X279A1",)  # so our tables are the oracle
    _own_tables_clean(data)
    check_golden("out_270_dependent.x12", segment_lines(data))
    (check,) = [e.entity for e in map_transaction(next(parse(data).transaction_sets()), context())]
    assert check.dependent is not None and check.dependent.name is not None  # type: ignore[union-attr]
    assert check.dependent.name.given == ["SOFIA"]  # type: ignore[union-attr]
    assert check.service_types == ["30", "98"]  # type: ignore[union-attr]
    assert check.trace_number == "TRACE-77"  # type: ignore[union-attr]


CORPUS_270 = [p for p in corpus_files() if any(ts.id == "270" for ts in sets(p))]


@pytest.mark.parametrize("path", CORPUS_270, ids=[p.name[:60] for p in CORPUS_270])
def test_corpus_270_round_trips_to_the_same_structure(path: Path) -> None:
    """The 270 we write for a corpus request has the corpus file's segments, in order."""
    (ts,) = sets(path)
    (event,) = map_transaction(ts, context())
    data = render_x12_event(event, options())
    _own_tables_clean(data)
    ours = next(parse(data).transaction_sets())
    assert [s.id for s in ours.segments] == [s.id for s in ts.segments]
    assert [s.element(3) for s in ours.segments if s.id == "HL"] == [
        s.element(3) for s in ts.segments if s.id == "HL"
    ]


# --------------------------------------------------------------------------- 850

#: segments of corpus 850s the canonical order does not carry (dropped, documented)
NOT_CARRIED_850 = {"REF", "ITD", "PKG", "TD5", "PO4", "N9", "MSG", "IT8", "CUR", "PER", "SAC"}
CORPUS_850 = [p for p in corpus_files() if any(ts.id == "850" for ts in sets(p))]


@pytest.mark.parametrize("version", ["005010", "004010"])
def test_purchase_order_passes_our_tables_and_matches_golden(version: str) -> None:
    data = render_x12_event(
        fx.event(K.SUPPLY_ORDER_PLACED, fx.purchase_order()),
        options(purchase_order_version=version),
    )
    assert pyx12_says(data) == (f"no map for {version}",)  # so our tables are the oracle
    _own_tables_clean(data)
    check_golden(f"out_850_{version}.x12", segment_lines(data))
    ic = parse(data).interchanges[0]
    assert ic.isa.element(12) == ("00501" if version == "005010" else "00401")
    assert next(ic.transaction_sets()).version == version


@pytest.mark.parametrize("path", CORPUS_850, ids=[p.name[:60] for p in CORPUS_850])
def test_corpus_850_round_trips_to_the_same_structure(path: Path) -> None:
    """Our 850 for a corpus order keeps its loops in order: the corpus file's segments
    less those the canonical order does not carry (plus a PID for a PO1 description)."""
    for ts in sets(path):
        (event,) = map_transaction(ts, context())
        data = render_x12_event(event, options(purchase_order_version="004010"))
        _own_tables_clean(data)
        ours = [s for s in next(parse(data).transaction_sets()).segments if s.id != "PID"]
        theirs = [s for s in ts.segments if s.id not in NOT_CARRIED_850 and s.id != "PID"]
        theirs = [s for s in theirs if not (s.id == "DTM" and s.element(1) not in ("002", "106"))]
        assert [s.id for s in ours] == [s.id for s in theirs]
        assert [s.element(2) for s in ours if s.id == "PO1"] == [
            s.element(2) for s in theirs if s.id == "PO1"
        ]
        back = map_transaction(next(parse(data).transaction_sets()), context())[0].entity
        assert back.model_dump(exclude={"meta"}) == event.entity.model_dump(exclude={"meta"})


# --------------------------------------------------------------------------- 2010AA REF*0B/1G


def test_billing_provider_upin_and_licence_survive_the_837p_round_trip() -> None:
    """X222A1 2010AA allows the billing provider's state licence (REF*0B) and UPIN (REF*1G)
    beside its tax id: canonical → 837P → canonical keeps both, both validators agree."""
    claim = fx.rich_professional()
    assert claim.billing_provider is not None
    claim.billing_provider.identifiers += [
        Identifier(value="B99977", system="partner:x12:1G", type="UPIN"),
        Identifier(value="OR-LIC-4411", system="partner:x12:0B", type="LN"),
    ]
    data = render_x12_event(fx.event(K.CLAIM_SUBMITTED, claim), options())
    _pyx12_clean(data)
    _own_tables_clean(data)
    ts = next(parse(data).transaction_sets())
    in_2010aa = [
        (s.element(1), s.element(2)) for s in ts.loops("2010AA")[0].segments if s.id == "REF"
    ]
    assert ("1G", "B99977") in in_2010aa and ("0B", "OR-LIC-4411") in in_2010aa
    back = _claim_of(data).billing_provider
    assert back is not None
    kept = {(i.value, i.type) for i in back.identifiers}
    assert {("B99977", "UPIN"), ("OR-LIC-4411", "LN")} <= kept
