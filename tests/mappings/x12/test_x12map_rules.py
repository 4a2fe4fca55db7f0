"""Behaviour rules of the inbound X12 mappings, each on a small input: values, identifier
namespaces (shared with HL7 v2 and FHIR), registry keys, the denied and accepted rules,
errors that name places and never values, stable event ids, no logging."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

import pytest
from x12map_support import FIXTURES, X12_CORPUS, context, sets

from adapters.x12 import parse
from hub.canonical import (
    Claim,
    ClaimStatus,
    EligibilityCheck,
    EventKind,
    OrderAckLineStatus,
    OrderAcknowledgment,
    Remittance,
)
from hub.errors import MappingError, UnsupportedMessage
from mappings.hl7v2.datatypes import NPI_SYSTEM
from mappings.vocab import Table, VocabularyTables, builtin_tables
from mappings.x12 import INBOUND, map_transaction
from mappings.x12.values import (
    format_decimal,
    icd_from_x12,
    icd_to_x12,
    parse_date,
    parse_implied,
    parse_period,
    parse_time,
)

K = EventKind


def _x12(body: str, gs: str = "HC", version: str = "005010X222A1", st: str = "837") -> bytes:
    segments = [s for s in body.strip().splitlines() if s]
    st03 = f"*{version}" if version.startswith("005010X") and st != "835" else ""
    out = [
        "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
        "*240101*1200*^*00501*000000001*0*T*:",
        f"GS*{gs}*SENDER*RECEIVER*20240101*1200*1*X*{version}",
        f"ST*{st}*0001{st03}",
        *segments,
        f"SE*{len(segments) + 2}*0001",
        "GE*1*1",
        "IEA*1*000000001",
    ]
    return ("~".join(out) + "~").encode()


def _map(data: bytes, **ctx: object) -> list:  # type: ignore[type-arg]
    return map_transaction(next(parse(data).transaction_sets()), context(**ctx))


CLAIM = """
BHT*0019*00*1*20240101*1200*CH
NM1*41*2*SUB*****46*S1
PER*IC*X*TE*5555555555
NM1*40*2*REC*****46*R1
HL*1**20*1
NM1*85*2*CLINIC*****XX*1497758544
N3*1 MAIN
N4*CITY*OR*97201
REF*EI*931234567
HL*2*1*22*0
SBR*P*18*G1******CI
NM1*IL*1*DOE*JO****MI*M123
DMG*D8*19800101*F
NM1*PR*2*PAYER*****PI*P01
CLM*PCN1*{charge}***11:B:1*Y*A*Y*Y
HI*ABK:Z0000
LX*1
SV1*HC:99213*{line}*UN*1***1
DTP*472*D8*{date}
"""


def claim(charge: str = "100", day: str = "20240102", line: str = "100") -> bytes:
    return _x12(CLAIM.format(charge=charge, date=day, line=line))


# --------------------------------------------------------------------------- values


def test_dates_times_and_periods() -> None:
    assert parse_date("20240229", "X") == date(2024, 2, 29)
    assert parse_date("240229", "X") == date(2024, 2, 29)
    assert parse_time("09460000", "X") is not None and parse_time("0946", "X").minute == 46  # type: ignore[union-attr]
    assert parse_time("12000050", "X").microsecond == 500000  # type: ignore[union-attr]
    day, period = parse_period("RD8", "20240101-20240105", "X")
    assert day == date(2024, 1, 1) and period is not None and period.end == date(2024, 1, 5)
    one, same = parse_period("RD8", "20240101", "X")  # a range written as one day
    assert same is not None and same.start == same.end == one
    assert parse_period("DT", "202403100815", "X")[0] == datetime(2024, 3, 10, 8, 15)
    assert parse_period("TM", "1200", "X") == (None, None)


@pytest.mark.parametrize("text", ["20240230", "2024013", "2024-01-01", "ABCDEFGH"])
def test_bad_dates_name_the_place_not_the_value(text: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_date(text, "2300/DTP03")
    assert err.value.location == "2300/DTP03"
    assert text not in str(err.value)


def test_numbers() -> None:
    assert parse_implied("28566", 2, "TDS01") == Decimal("285.66")
    assert parse_implied("-150", 2, "TDS01") == Decimal("-1.50")
    assert format_decimal(Decimal("700.00")) == "700"
    assert format_decimal(Decimal("8.20")) == "8.2"
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("0.005")) == "0.005"


def test_icd_codes_get_and_lose_their_decimal_point() -> None:
    assert icd_from_x12("J449", icd10=True) == "J44.9"
    assert icd_from_x12("I10", icd10=True) == "I10"
    assert icd_from_x12("V4352XA", icd10=True) == "V43.52XA"
    assert icd_from_x12("4779", icd10=False) == "477.9"
    assert icd_from_x12("E8888", icd10=False) == "E888.8"
    assert icd_from_x12("V7389", icd10=False) == "V73.89"
    assert icd_to_x12("V43.52XA") == "V4352XA"


def test_a_bad_amount_is_named_by_loop_and_element_and_not_quoted() -> None:
    with pytest.raises(MappingError) as err:
        _map(claim(charge="12A.5"))
    assert err.value.location == "2300/CLM02"
    assert "12A.5" not in str(err.value)
    with pytest.raises(MappingError) as err:
        _map(claim(line="1O0"))
    assert err.value.location == "2400/SV102"
    with pytest.raises(MappingError) as err:
        _map(claim(day="20241301"))
    assert err.value.location == "2400/DTP03" and "20241301" not in str(err.value)


# --------------------------------------------------------------------------- namespaces


def test_npi_namespace_is_the_one_hl7v2_and_fhir_use() -> None:
    (_, ev) = _map(claim())
    billing = ev.entity.billing_provider
    npi = billing.identifiers[0]
    assert (npi.system, npi.type, npi.value) == (NPI_SYSTEM, "NPI", "1497758544")
    fhir = {r.split(",")[0]: r.split(",")[1] for r in _fhir_rows()}
    assert fhir["NPI"] == NPI_SYSTEM


def _fhir_rows() -> list[str]:
    from importlib import resources

    text = resources.files("mappings.vocab").joinpath("fhir_identifier_systems.csv").read_text()
    return text.splitlines()[1:]


def test_member_id_lives_in_the_payers_namespace_and_sites_can_name_it() -> None:
    (cov, ev) = _map(claim())
    member = ev.entity.subscriber.identifiers[0]
    assert (member.value, member.type, member.system) == ("M123", "MB", "urn:carehub:x12:payer:P01")
    assert cov.kind is K.COVERAGE_UPDATED and cov.entity.subscriber_id == "M123"
    assert cov.entity.identifiers == [member]
    (_, named) = _map(claim(), namespaces={"member:P01": "ACME-MEMBERS"})
    assert named.entity.subscriber.identifiers[0].system == "ACME-MEMBERS"
    (_, site) = _map(claim(), namespaces={"member": "ALL-MEMBERS", "x12:PI": "CH-PAYERS"})
    assert site.entity.subscriber.identifiers[0].system == "ALL-MEMBERS"
    assert site.entity.payer.identifiers[0].system == "CH-PAYERS"


def test_partner_qualifiers_are_private_to_the_sender() -> None:
    (_, ev) = _map(claim(), source_system="clearinghouse-a")
    payer_id = ev.entity.payer.identifiers[0]
    assert payer_id.system == "clearinghouse-a:x12:PI" and payer_id.type == "NIIP"
    assert ev.entity.billing_provider.identifiers[1].system == "urn:oid:2.16.840.1.113883.4.4"


def test_claims_and_remittances_share_the_clm01_namespace() -> None:
    """A remittance names the claim it pays the way the claim names itself (and FHIR)."""
    (_, ev) = _map(claim())
    remit = next(
        e.entity for e in map_transaction(sets(FIXTURES / "835_denials_reversal.edi")[0], context())
    )
    assert ev.entity.identifiers[0].system == "CLM01"
    assert isinstance(remit, Remittance) and remit.claim is not None
    assert remit.claim.identifiers[0].system == "CLM01"


def test_without_2000c_the_subscriber_is_the_patient() -> None:
    (_, ev) = _map(claim())
    c = ev.entity
    assert isinstance(c, Claim) and c.patient is not None
    assert c.patient.relationship is not None and c.patient.relationship.code == "self"
    assert c.patient.name == c.subscriber.name  # type: ignore[union-attr]
    assert ev.subject_identifiers == c.patient.identifiers


def test_site_vocabulary_overrides_apply() -> None:
    tables = dict(builtin_tables())
    tables["x12_sex"] = Table("x12_sex", {"F": "other"})
    (_, ev) = _map(claim(), vocab=VocabularyTables(tables))
    assert ev.entity.subscriber.sex.value == "other"


# --------------------------------------------------------------------------- registry


def test_registry_keys_cover_errata_base_and_4010_versions() -> None:
    for key in (
        "837:005010X222A1",
        "837:005010X222A2",
        "837:005010X222",
        "837:004010X098A1",
        "837:005010X223A2",
        "837:005010X223A3",
        "837:004010X096A1",
        "835:005010X221A1",
        "835:004010X091A1",
        "270:005010X279A1",
        "271:005010X279A1",
        "277:005010X212",
        "277:005010X214",
        "850",
        "855",
        "856",
        "810",
    ):
        assert key in INBOUND, key
    assert INBOUND["837:005010X222A2"] is INBOUND["837:005010X222A1"]
    assert INBOUND["277:005010X214"].message_key == "277CA"


@pytest.mark.parametrize(
    ("name", "location", "words"),
    [
        ("lfhx12__834_005010X220A1_enroll-employee-multiple-products.834", "ST01", "834"),
        ("pyx12__834_ls_le_ls_5010.999.txt", "ST01", "acknowledgement"),
        ("stupidedi__005010_X212_HR276_pass_claim-request.edi", "ST01", "status request"),
        (
            "stupidedi__005010_X224A2_HC837_pass_commercial-health-insurance.edi",
            "ST03",
            "005010X224A2",
        ),
    ],
)
def test_unsupported_sets_say_why(name: str, location: str, words: str) -> None:
    with pytest.raises(UnsupportedMessage) as err:
        map_transaction(sets(X12_CORPUS / name)[0], context())
    assert err.value.location == location
    assert words in err.value.message


# --------------------------------------------------------------------------- 835 / 277 / 271 / 855


def test_denied_rule() -> None:
    events = map_transaction(sets(FIXTURES / "835_denials_reversal.edi")[0], context())
    verdicts = {e.entity.patient_control_number: e.kind for e in events}
    assert verdicts == {
        "PCN-2024-0001": K.CLAIM_PAID,  # paid 100
        "PCN-2024-0002": K.CLAIM_DENIED,  # paid 0, only CO: denied though CLP02 = 1
        "PCN-2024-0003": K.CLAIM_PAID,  # paid 0, all deductible (PR-1): processed, not denied
        "PCN-2024-0004": K.CLAIM_DENIED,  # CLP02 = 4
        "PCN-2023-0999": K.CLAIM_PAID,  # reversal, negative amounts
    }
    assert all(e.entity.denied == (e.kind is K.CLAIM_DENIED) for e in events)


def test_277ca_acceptance_rule() -> None:
    events = map_transaction(sets(FIXTURES / "277ca_accept_reject.edi")[0], context())
    statuses = [e.entity for e in events]
    assert all(isinstance(s, ClaimStatus) for s in statuses)
    assert [(s.category.code, s.accepted) for s in statuses] == [("A2", True), ("A7", False)]  # type: ignore[union-attr]
    assert statuses[0].payer_claim_control_number == "CHP-ICN-1"
    assert statuses[1].message == "BILLING PROVIDER NPI NOT VALID"
    assert all(e.provenance.message_key == "277CA" for e in events)


def test_271_inactive_and_errors() -> None:
    (inactive,) = map_transaction(sets(FIXTURES / "271_inactive.edi")[0], context())
    check = inactive.entity
    assert isinstance(check, EligibilityCheck) and check.active is False
    assert check.trace_number == "TRACE-77"  # the echoed TRN*2, not the payer's own TRN*1
    assert check.benefits[0].messages == ["COVERAGE TERMINATED 20231231"]
    name = "lfhx12__271_005010X279A1_subscriber-health-benefit-check-error.271"
    (error,) = map_transaction(sets(X12_CORPUS / name)[0], context())
    assert [e.code for e in error.entity.errors] == ["50"]
    assert error.entity.subscriber is None


def test_270_and_271_name_the_same_check() -> None:
    """The request's trace (TRN02 + TRN03) identifies the check in both directions."""
    (req,) = map_transaction(
        sets(X12_CORPUS / "lfhx12__270_005010X279A1_dependent-health-benefit-check.270")[0],
        context(),
    )
    (ans,) = map_transaction(
        sets(X12_CORPUS / "lfhx12__271_005010X279A1_dependent-health-benefit-check.271")[0],
        context(),
    )
    assert req.entity.identifiers == ans.entity.identifiers != []
    assert req.kind is K.ELIGIBILITY_REQUESTED and ans.kind is K.ELIGIBILITY_REPORTED
    assert ans.entity.active is True and ans.entity.dependent.name.given == ["MARY"]


def test_855_line_statuses() -> None:
    (ev,) = map_transaction(sets(FIXTURES / "855_backorder_change.edi")[0], context())
    ack = ev.entity
    assert isinstance(ack, OrderAcknowledgment) and ack.accepted is True
    assert [line.status for line in ack.lines] == [
        OrderAckLineStatus.BACKORDERED,
        OrderAckLineStatus.CHANGED,
        OrderAckLineStatus.REJECTED,
    ]
    assert ack.lines[1].quantity == 4 and ack.lines[1].scheduled_date == date(2024, 4, 5)
    assert ack.ack_date == date(2024, 4, 2)
    rejected = "stupidedi__004010_X358_SC855_pass_basic-po-ack-rejected.edi"
    (no_lines,) = map_transaction(sets(X12_CORPUS / rejected)[0], context())
    assert no_lines.entity.accepted is False


def test_unknown_ack_line_status_is_named() -> None:
    data = _x12(
        "BAK*00*AC*PO1*20240101\nPO1*1*1*EA*1**VP*X\nACK*Q9*1*EA\nCTT*1",
        gs="PR",
        version="004010",
        st="855",
    )
    with pytest.raises(MappingError) as err:
        _map(data)
    assert err.value.location == "PO1[1]/ACK01"


def test_810_total_has_two_implied_decimals() -> None:
    (ev,) = map_transaction(sets(X12_CORPUS / "stupidedi__004010_IN810_pass_1.edi")[0], context())
    assert ev.entity.total.amount == Decimal("285.66")
    assert sum(line.quantity * line.unit_price.amount for line in ev.entity.lines) == Decimal(
        "285.66"
    )


# --------------------------------------------------------------------------- events
# (event ids are the pipeline's to give: tests/hub/test_ids.py)


def test_provenance_names_the_set() -> None:
    (_, ev) = _map(claim())
    assert ev.provenance.message_key == "837P"
    assert ev.provenance.control_id == "000000001/1/0001"
    assert ev.provenance.recorded_at == datetime(2024, 1, 1, 12, 0)
    assert ev.occurred_at == datetime(2024, 1, 1, 12, 0)  # BHT04/05


def test_mapping_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for path in sorted(FIXTURES.glob("*.edi")):
        for ts in sets(path):
            map_transaction(ts, context())
    assert caplog.records == []


def test_line_rendering_provider_stands_in_only_when_it_is_one() -> None:
    """837P: no 2310B → the first 2420A renders; 837I: 2420A is the operating physician."""
    with_line = claim().replace(
        b"DTP*472*D8*20240102~", b"DTP*472*D8*20240102~NM1*82*1*LINE*DOC****XX*1245319599~"
    )
    with_line = with_line.replace(b"SE*20*", b"SE*21*")
    (_, ev) = _map(with_line)
    assert ev.entity.rendering_provider.name.family == "LINE"
    text = (FIXTURES / "837i_icd10_rich.edi").read_text()
    text = text.replace("NM1*82*1*GOMEZ*ANA****XX*1555000037~\n", "")
    text = text.replace(
        "DTP*472*D8*20240310~\n", "DTP*472*D8*20240310~\nNM1*72*1*OPS*DOC****XX*1245319599~\n"
    )
    (_, inst) = map_transaction(next(parse(text.encode()).transaction_sets()), context())
    assert inst.entity.rendering_provider is None
