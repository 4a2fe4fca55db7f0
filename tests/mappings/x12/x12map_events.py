"""Canonical events built by hand for the outbound tests: rich and minimal claims (both
kinds), an eligibility request with a dependent, a purchase order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hub.canonical import (
    Address,
    AdministrativeSex,
    Claim,
    ClaimKind,
    ClaimParty,
    Coded,
    ContactPoint,
    Diagnosis,
    EligibilityCheck,
    Event,
    EventKind,
    HumanName,
    Identifier,
    Money,
    OrderLine,
    Period,
    Provenance,
    PurchaseOrder,
    ServiceLine,
)
from hub.canonical.entities import Entity

NPI = "http://hl7.org/fhir/sid/us-npi"
EIN = "urn:oid:2.16.840.1.113883.4.4"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "urn:oid:2.16.840.1.113883.6.285"
SELF = Coded(code="self", system="http://terminology.hl7.org/CodeSystem/subscriber-relationship")
CHILD = Coded(code="child", system="http://terminology.hl7.org/CodeSystem/subscriber-relationship")


def event(kind: EventKind, entity: Entity, n: int = 1) -> Event:
    return Event(
        id=f"00000000-0000-4000-8000-{n:012d}",
        kind=kind,
        entity=entity,
        provenance=Provenance(source_system="ehr", format="fhir"),
        occurred_at=datetime(2024, 7, 1, 9, 0, tzinfo=UTC),
    )


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount))


def npi(value: str) -> Identifier:
    return Identifier(value=value, system=NPI, type="NPI")


def billing() -> ClaimParty:
    return ClaimParty(
        organization_name="RIVERSIDE FAMILY MEDICINE",
        identifiers=[npi("1497758544"), Identifier(value="931234567", system=EIN, type="TAX")],
        address=Address(
            lines=["100 RIVER RD", "SUITE 200"],
            city="PORTLAND",
            state="OR",
            postal_code="97201-1234",
        ),
        telecom=[ContactPoint(system="phone", value="5035550123", use="work")],
    )


def payer() -> ClaimParty:
    return ClaimParty(
        organization_name="CASCADE HEALTH PLAN",
        identifiers=[Identifier(value="CHP01", system="partner:x12:PI", type="NIIP")],
        address=Address(lines=["PO BOX 1000"], city="SALEM", state="OR", postal_code="97301"),
    )


def member(value: str = "W123456789") -> Identifier:
    return Identifier(value=value, system="urn:carehub:x12:payer:CHP01", type="MB")


def subscriber() -> ClaimParty:
    return ClaimParty(
        name=HumanName(family="RIVERA", given=["MARIA", "L"]),
        identifiers=[member()],
        address=Address(lines=["42 OAK AVE"], city="PORTLAND", state="OR", postal_code="97205"),
        birth_date=date(1980, 2, 14),
        sex=AdministrativeSex.FEMALE,
        relationship=SELF,
    )


def child() -> ClaimParty:
    return ClaimParty(
        name=HumanName(family="RIVERA", given=["SOFIA"]),
        address=Address(lines=["42 OAK AVE"], city="PORTLAND", state="OR", postal_code="97205"),
        birth_date=date(2015, 6, 30),
        sex=AdministrativeSex.FEMALE,
        relationship=CHILD,
        identifiers=[Identifier(value="MRN-777", system="ehr:patient", type="MR")],
    )


def dx(code: str, n: int, kind: str = "other", poa: str | None = None) -> Diagnosis:
    return Diagnosis(
        code=Coded(code=code, system=ICD10), sequence=n, kind=kind, present_on_admission=poa
    )


def rich_professional() -> Claim:
    """A claim for a dependent child, with every field the 837P carries."""
    return Claim(
        kind=ClaimKind.PROFESSIONAL,
        patient_control_number="PCN-RICH-1",
        total_charge=usd("245.50"),
        place_of_service="11",
        frequency_code="1",
        billing_provider=billing(),
        rendering_provider=ClaimParty(
            name=HumanName(family="CHEN", given=["LI"]),
            identifiers=[
                npi("1972838472"),
                Identifier(value="CHEN-77", system="partner:x12:G2", type="PRN"),
            ],
        ),
        referring_provider=ClaimParty(
            name=HumanName(family="OKAFOR", given=["CHIDI"]), identifiers=[npi("1811993231")]
        ),
        service_facility=ClaimParty(
            organization_name="RIVERSIDE EAST",
            identifiers=[npi("1629074646")],
            address=Address(
                lines=["200 EAST ST"], city="PORTLAND", state="OR", postal_code="972141234"
            ),
        ),
        subscriber=subscriber(),
        patient=child(),
        payer=payer(),
        member_id="W123456789",
        group_number="GRP7788",
        admission_date=datetime(2024, 3, 11, 0, 0),
        prior_authorization="AUTH-555",
        payer_claim_control_number="CHP-ICN-OLD",
        diagnoses=[dx("R05.9", 2), dx("J06.9", 1, "principal"), dx("E11.9", 3)],
        service_lines=[
            ServiceLine(
                number=1,
                procedure=Coded(code="99214", system=CPT),
                modifiers=["25"],
                charge=usd("150"),
                units=Decimal(1),
                unit_type="UN",
                service_date=date(2024, 3, 12),
                diagnosis_pointers=[1, 2],
                line_control_number="LINE-1",
            ),
            ServiceLine(
                number=2,
                procedure=Coded(code="87880", system=CPT),
                modifiers=["QW"],
                charge=usd("45.5"),
                units=Decimal(1),
                unit_type="UN",
                service_date=date(2024, 3, 12),
                place_of_service="22",
                diagnosis_pointers=[2],
            ),
            ServiceLine(
                number=3,
                procedure=Coded(code="J1100", system=HCPCS),
                charge=usd("50"),
                units=Decimal(2),
                unit_type="UN",
                service_date=date(2024, 3, 12),
                service_period=Period(start=date(2024, 3, 12), end=date(2024, 3, 13)),
                diagnosis_pointers=[3],
                ndc="00009-0015-01",
            ),
        ],
        created=datetime(2024, 3, 15, 9, 30),
    )


def minimal_professional() -> Claim:
    """Only what the 837P cannot do without."""
    return Claim(
        patient_control_number="PCN-MIN-1",
        total_charge=usd("80"),
        place_of_service="11",
        billing_provider=ClaimParty(
            name=HumanName(family="SOLO", given=["DANA"]),
            identifiers=[npi("1245319599"), Identifier(value="123456789", type="TAX")],
            address=Address(lines=["1 MAIN ST"], city="BEND", state="OR", postal_code="97701"),
        ),
        subscriber=ClaimParty(
            name=HumanName(family="DOE", given=["JO"]), identifiers=[member("M1")]
        ),
        payer=ClaimParty(
            organization_name="CASCADE HEALTH PLAN",
            identifiers=[Identifier(value="CHP01", type="NIIP")],
        ),
        diagnoses=[dx("Z00.00", 1, "principal")],
        service_lines=[
            ServiceLine(
                number=1,
                procedure=Coded(code="99395", system=CPT),
                charge=usd("80"),
                service_date=date(2024, 5, 2),
            )
        ],
    )


def rich_institutional() -> Claim:
    """An inpatient claim with admitting, other and external-cause diagnoses (13 others:
    two HI segments) and present-on-admission indicators."""
    others = [
        dx(code, n, "other", "Y")
        for n, code in enumerate(
            [
                "E11.9",
                "I10",
                "E78.5",
                "N18.3",
                "J44.9",
                "F32.9",
                "K21.9",
                "M19.90",
                "G47.33",
                "E66.9",
                "Z79.4",
                "Z87.891",
                "I48.91",
            ],
            start=3,
        )
    ]
    return Claim(
        kind=ClaimKind.INSTITUTIONAL,
        patient_control_number="INST-RICH",
        total_charge=usd("1250"),
        place_of_service="11",
        frequency_code="1",
        billing_provider=ClaimParty(
            organization_name="MERCY GENERAL HOSPITAL",
            identifiers=[npi("1333000010"), Identifier(value="930000001", system=EIN, type="TAX")],
            address=Address(
                lines=["500 HOSPITAL WAY"], city="PORTLAND", state="OR", postal_code="972101234"
            ),
        ),
        rendering_provider=ClaimParty(
            name=HumanName(family="GOMEZ", given=["ANA"]), identifiers=[npi("1555000037")]
        ),
        referring_provider=ClaimParty(
            name=HumanName(family="WU", given=["KEN"]), identifiers=[npi("1666000041")]
        ),
        service_facility=ClaimParty(
            organization_name="MERCY WEST CAMPUS",
            identifiers=[npi("1444000024")],
            address=Address(lines=["9 WEST RD"], city="PORTLAND", state="OR", postal_code="97229"),
        ),
        subscriber=subscriber(),
        patient=subscriber(),
        payer=payer(),
        member_id="W123456789",
        service_period=Period(start=date(2024, 3, 10), end=date(2024, 3, 12)),
        admission_date=datetime(2024, 3, 10, 8, 15),
        diagnoses=[
            dx("I21.4", 1, "principal", "Y"),
            dx("R07.9", 2, "admitting"),
            *others,
            dx("V43.52XA", 16, "external-cause", "Y"),
        ],
        service_lines=[
            ServiceLine(
                number=1,
                revenue_code="0120",
                charge=usd("900"),
                units=Decimal(2),
                unit_type="DA",
                service_period=Period(start=date(2024, 3, 10), end=date(2024, 3, 12)),
                service_date=date(2024, 3, 10),
            ),
            ServiceLine(
                number=2,
                revenue_code="0300",
                procedure=Coded(code="80053", system=CPT),
                charge=usd("350"),
                units=Decimal(1),
                unit_type="UN",
                service_date=date(2024, 3, 10),
            ),
        ],
        created=datetime(2024, 3, 20, 14, 15),
    )


def minimal_institutional() -> Claim:
    claim = minimal_professional()
    claim.kind = ClaimKind.INSTITUTIONAL
    claim.billing_provider.address.postal_code = "977011234"  # type: ignore[union-attr]
    claim.service_lines = [
        ServiceLine(
            number=1,
            revenue_code="0450",
            charge=usd("80"),
            units=Decimal(1),
            service_date=date(2024, 5, 2),
        )
    ]
    return claim


def eligibility_request() -> EligibilityCheck:
    return EligibilityCheck(
        trace_number="TRACE-77",
        subscriber=subscriber(),
        dependent=child(),
        payer=payer(),
        provider=billing(),
        service_types=["30", "98"],
        service_date=date(2024, 3, 15),
        requested_at=datetime(2024, 3, 15, 9, 31),
    )


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder(
        po_number="PO-4500012345",
        order_date=date(2024, 4, 1),
        requested_delivery=date(2024, 4, 10),
        buyer=ClaimParty(
            organization_name="RIVERSIDE FAMILY MEDICINE",
            identifiers=[Identifier(value="RFM", system="vendor:x12:92")],
        ),
        vendor=ClaimParty(organization_name="MEDSUPPLY CO"),
        ship_to=ClaimParty(
            organization_name="RIVERSIDE FAMILY MEDICINE",
            address=Address(
                lines=["100 RIVER RD"], city="PORTLAND", state="OR", postal_code="97201"
            ),
        ),
        lines=[
            OrderLine(
                line_number="1",
                item_identifiers=[
                    Identifier(value="GLV-M-100", type="VP"),
                    Identifier(value="00409488850", system="http://hl7.org/fhir/sid/ndc"),
                ],
                description="NITRILE EXAM GLOVES MEDIUM",
                quantity=Decimal(10),
                unit_of_measure="BX",
                unit_price=usd("12.50"),
            ),
            OrderLine(
                item_identifiers=[Identifier(value="ACME-42", system="urn:carehub:id:ACME")],
                quantity=Decimal("2.5"),
                unit_of_measure="CA",
            ),
        ],
        total=usd("125"),
    )
