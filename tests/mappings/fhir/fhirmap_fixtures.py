"""Rich canonical records, one per FHIR resource type, using every field the FHIR mapping
carries (the fields it cannot carry are tested on their own)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hub.canonical import (
    Address,
    Adjustment,
    AdministrativeSex,
    Allergy,
    AllergyReaction,
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Attachment,
    Benefit,
    Claim,
    ClaimKind,
    ClaimParty,
    Coded,
    Contact,
    ContactPoint,
    Coverage,
    Credential,
    CredentialKind,
    Diagnosis,
    DiagnosticReport,
    Document,
    EligibilityCheck,
    Encounter,
    EncounterStatus,
    EntityType,
    HumanName,
    Identifier,
    Immunization,
    ImmunizationEducation,
    ImmunizationStatus,
    Location,
    Money,
    Observation,
    ObservationValue,
    OrderLine,
    Organization,
    OrganizationKind,
    Patient,
    Period,
    Practitioner,
    PurchaseOrder,
    Quantity,
    Ref,
    ReferenceRange,
    Remittance,
    ReportStatus,
    ResultStatus,
    ServiceLine,
    ServiceLinePayment,
    ShipNotice,
    ShippedItem,
)

EST = timezone(timedelta(hours=-5))
SRC = "ehr"


def ident(system: str | None, value: str, kind: str | None = None) -> Identifier:
    return Identifier(system=system, value=value, type=kind, source=SRC)


def ref(kind: EntityType, id_: str, display: str | None = None) -> Ref:
    return Ref(type=kind, id=id_, display=display)


def coded(code: str, system: str, display: str | None = None) -> Coded:
    return Coded(code=code, system=system, display=display)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount))


def patient() -> Patient:
    return Patient(
        id="p-1",
        identifiers=[
            ident("HOSP-MRN", "12345", "MR"),
            ident("http://hl7.org/fhir/sid/us-ssn", "999-33-5538", "SS"),
            ident("1.2.36.146.595.217.0.1", "A77", "PI"),
        ],
        active=True,
        names=[
            HumanName(
                family="Chalmers",
                given=["Peter", "James"],
                prefix="Mr",
                suffix="Jr",
                use="official",
            ),
            HumanName(given=["Jim"], use="usual"),
        ],
        birth_date=date(1974, 12, 25),
        sex=AdministrativeSex.MALE,
        deceased=False,
        addresses=[
            Address(
                lines=["534 Erewhon St", "Apt 4"],
                city="PleasantVille",
                state="VA",
                postal_code="22000",
                country="US",
                district="Rainbow",
                use="home",
                type="both",
            )
        ],
        telecom=[
            ContactPoint(system="phone", value="555-0100", use="home"),
            ContactPoint(system="email", value="pc@example.org"),
        ],
        marital_status=coded(
            "M", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "Married"
        ),
        language=coded("en-US", "urn:ietf:bcp:47", "English"),
        race=[
            coded("2106-3", "urn:oid:2.16.840.1.113883.6.238", "White"),
            coded("2108-9", "urn:oid:2.16.840.1.113883.6.238", "European"),
        ],
        ethnicity=[coded("2186-5", "urn:oid:2.16.840.1.113883.6.238", "Not Hispanic")],
        multiple_birth=2,
        contacts=[
            Contact(
                name=HumanName(family="Chalmers", given=["Mary"]),
                relationship=coded("N", "http://terminology.hl7.org/CodeSystem/v2-0131"),
                telecom=[ContactPoint(system="phone", value="555-0101")],
                address=Address(city="PleasantVille"),
            )
        ],
        primary_care=[ref(EntityType.PRACTITIONER, "dr-1", "Dr Adam Careful")],
        merged_into="p-9",
    )


def practitioner() -> Practitioner:
    return Practitioner(
        id="dr-1",
        identifiers=[ident("http://hl7.org/fhir/sid/us-npi", "1234567893", "NPI")],
        active=False,
        names=[HumanName(family="Careful", given=["Adam"], prefix="Dr")],
        sex=AdministrativeSex.MALE,
        birth_date=date(1960, 1, 2),
        telecom=[ContactPoint(system="phone", value="555-0199", use="work")],
        addresses=[Address(lines=["1 Clinic Way"], city="Richmond", state="VA")],
        credentials=[
            Credential(
                kind=CredentialKind.LICENSE,
                code=coded("MD", "http://terminology.hl7.org/CodeSystem/v2-0360"),
                number="0101234567",
                issuer="Virginia Board of Medicine",
                jurisdiction="VA",
                issued=date(2000, 7, 1),
                expires=date(2026, 6, 30),
                status="active",
            )
        ],
    )


def practitioner_role() -> Practitioner:
    return Practitioner(
        id="dr-1",
        roles=[coded("RP", "http://terminology.hl7.org/CodeSystem/v2-0286")],
        specialties=[coded("207Q00000X", "http://nucc.org/provider-taxonomy", "Family Medicine")],
        organization=ref(EntityType.ORGANIZATION, "org-1"),
    )


def organization() -> Organization:
    return Organization(
        id="org-1",
        identifiers=[ident("http://hl7.org/fhir/sid/us-npi", "1999999984")],
        active=True,
        name="Good Health Clinic",
        kind=OrganizationKind.CLEARINGHOUSE,
        addresses=[Address(lines=["2 Main St"], city="Richmond", state="VA", postal_code="23219")],
        telecom=[ContactPoint(system="phone", value="555-0111", use="work")],
        part_of=ref(EntityType.ORGANIZATION, "org-0"),
    )


def location() -> Location:
    return Location(
        id="loc-1",
        identifiers=[ident("HOSP-LOC", "4W-401-A")],
        name="4 West 401 A",
        status="active",
        kind=coded("bd", "http://terminology.hl7.org/CodeSystem/location-physical-type", "Bed"),
        address=Address(lines=["1 Hospital Dr"], city="Richmond"),
        part_of=ref(EntityType.LOCATION, "loc-ward"),
    )


def coverage() -> Coverage:
    return Coverage(
        id="cov-1",
        identifiers=[ident("http://benefitsinc.com/certificate", "12345")],
        status="active",
        beneficiary=ref(EntityType.PATIENT, "p-1"),
        subscriber=ref(EntityType.PATIENT, "p-1"),
        subscriber_id="AB9876",
        relationship=coded("self", "http://terminology.hl7.org/CodeSystem/subscriber-relationship"),
        payer=ref(EntityType.ORGANIZATION, "payer-1", "Acme Health"),
        plan_name="Gold PPO",
        group_number="WESTAIR",
        group_name="Western Airlines",
        type=coded("EHCPOL", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
        period=Period(start=date(2024, 1, 1), end=date(2024, 12, 31)),
        order=1,
    )


def _party(kind: EntityType, id_: str) -> ClaimParty:
    return ClaimParty(ref=ref(kind, id_))


def eligibility_request() -> EligibilityCheck:
    return EligibilityCheck(
        id="elig-1",
        identifiers=[ident("TRN", "TRACE-1")],
        trace_number="TRACE-1",
        patient=ref(EntityType.PATIENT, "p-1"),
        payer=_party(EntityType.ORGANIZATION, "payer-1"),
        provider=_party(EntityType.ORGANIZATION, "org-1"),
        service_types=["30", "98"],
        service_date=date(2024, 5, 2),
        requested_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )


def eligibility_response() -> EligibilityCheck:
    return EligibilityCheck(
        id="elig-1",
        identifiers=[ident("TRN", "TRACE-1")],
        trace_number="TRACE-1",
        patient=ref(EntityType.PATIENT, "p-1"),
        payer=_party(EntityType.ORGANIZATION, "payer-1"),
        provider=_party(EntityType.ORGANIZATION, "org-1"),
        responded_at=datetime(2024, 5, 1, 9, 31, tzinfo=UTC),
        active=True,
        benefits=[
            Benefit(
                info="C",
                service_types=["30"],
                time_period="annual",
                amount=usd("500.00"),
                in_network=True,
            ),
            Benefit(
                info="B",
                service_types=["30"],
                time_period="annual",
                amount=usd("20"),
                in_network=True,
            ),
            Benefit(
                info="A",
                service_types=["98"],
                percent=Decimal(20),
                in_network=False,
                messages=["Specialist visits"],
            ),
        ],
        errors=[coded("a001", "http://terminology.hl7.org/CodeSystem/adjudication-error")],
    )


def appointment() -> Appointment:
    return Appointment(
        id="appt-1",
        identifiers=[
            ident("SCHED", "A-1"),
            ident(None, "PL-77", "PLAC"),
            ident(None, "FL-88", "FILL"),
        ],
        status=AppointmentStatus.BOOKED,
        start=datetime(2024, 5, 2, 9, 0, tzinfo=EST),
        end=datetime(2024, 5, 2, 9, 30, tzinfo=EST),
        duration_minutes=30,
        patient=ref(EntityType.PATIENT, "p-1"),
        participants=[
            AppointmentParticipant(
                kind=EntityType.PATIENT,
                ref=ref(EntityType.PATIENT, "p-1"),
                required=True,
                status="accepted",
            ),
            AppointmentParticipant(
                kind=EntityType.PRACTITIONER,
                ref=ref(EntityType.PRACTITIONER, "dr-1", "Dr Careful"),
                role=coded("ATND", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"),
                required=False,
                status="tentative",
            ),
            AppointmentParticipant(
                kind=EntityType.LOCATION, ref=ref(EntityType.LOCATION, "loc-1"), status="accepted"
            ),
        ],
        service_type=coded("57", "http://terminology.hl7.org/CodeSystem/service-type"),
        appointment_type=coded("FOLLOWUP", "http://terminology.hl7.org/CodeSystem/v2-0276"),
        reason=coded("413095006", "http://snomed.info/sct"),
        priority=5,
        comment="Bring previous results",
        placer_id="PL-77",
        filler_id="FL-88",
        cancellation_reason=None,
    )


def encounter() -> Encounter:
    return Encounter(
        id="enc-1",
        identifiers=[ident("HOSP-VN", "V100", "VN")],
        status=EncounterStatus.IN_PROGRESS,
        patient_class=coded(
            "IMP", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "inpatient encounter"
        ),
        patient=ref(EntityType.PATIENT, "p-1"),
        location=ref(EntityType.LOCATION, "loc-1"),
        prior_location=ref(EntityType.LOCATION, "loc-er"),
        period=Period(start=datetime(2024, 5, 1, 7, 15, tzinfo=EST)),
        attending=[ref(EntityType.PRACTITIONER, "dr-1")],
        referring=[ref(EntityType.PRACTITIONER, "dr-2")],
        admitting=[ref(EntityType.PRACTITIONER, "dr-3")],
        consulting=[ref(EntityType.PRACTITIONER, "dr-4")],
        hospital_service=coded("MED", "http://terminology.hl7.org/CodeSystem/v2-0069"),
        admit_source=coded("emd", "http://terminology.hl7.org/CodeSystem/admit-source"),
        admission_type=coded("E", "http://terminology.hl7.org/CodeSystem/v2-0007"),
        discharge_disposition=coded(
            "home", "http://terminology.hl7.org/CodeSystem/discharge-disposition"
        ),
        reason=[coded("34068001", "http://snomed.info/sct")],
        appointment=ref(EntityType.APPOINTMENT, "appt-1"),
    )


def claim() -> Claim:
    return Claim(
        id="clm-1",
        identifiers=[ident("http://clinic.example/claims", "PCN-1")],
        kind=ClaimKind.INSTITUTIONAL,
        status="active",
        patient_control_number="PCN-1",
        total_charge=usd("250.00"),
        place_of_service="83",
        frequency_code="1",
        billing_provider=_party(EntityType.ORGANIZATION, "org-1"),
        rendering_provider=_party(EntityType.PRACTITIONER, "dr-1"),
        service_facility=_party(EntityType.LOCATION, "loc-1"),
        patient=_party(EntityType.PATIENT, "p-1"),
        payer=_party(EntityType.ORGANIZATION, "payer-1"),
        coverage=ref(EntityType.COVERAGE, "cov-1"),
        encounter=ref(EntityType.ENCOUNTER, "enc-1"),
        service_period=Period(start=date(2024, 5, 1), end=date(2024, 5, 2)),
        prior_authorization="AUTH-9",
        diagnoses=[
            Diagnosis(
                code=coded("M96.1", "http://hl7.org/fhir/sid/icd-10-cm"),
                sequence=1,
                kind="principal",
                present_on_admission="Y",
            )
        ],
        service_lines=[
            ServiceLine(
                number=1,
                procedure=coded("99213", "http://www.ama-assn.org/go/cpt"),
                revenue_code="0450",
                modifiers=["25"],
                charge=usd("150.00"),
                units=Decimal(1),
                unit_type="UN",
                service_date=date(2024, 5, 1),
                place_of_service="23",
                diagnosis_pointers=[1],
            ),
            ServiceLine(
                number=2,
                procedure=coded("36415", "http://www.ama-assn.org/go/cpt"),
                charge=usd("100.00"),
                units=Decimal("2"),
                service_period=Period(start=date(2024, 5, 1), end=date(2024, 5, 2)),
            ),
        ],
        created=datetime(2024, 5, 3, 10, 0, tzinfo=UTC),
    )


def claim_from_837() -> Claim:
    """A professional claim as the X12 837 reading makes it: a line sent with DTP*472*RD8
    keeps the period and its first day as the service date."""
    base = claim()
    line = base.service_lines[1].model_copy(update={"service_date": date(2024, 5, 1)})
    return base.model_copy(
        update={
            "kind": ClaimKind.PROFESSIONAL,
            "place_of_service": "11",
            "frequency_code": "1",
            "service_lines": [base.service_lines[0], line],
        }
    )


def remittance(with_procedure: bool = True) -> Remittance:
    """ClaimResponse.item has no productOrService in R4: the ClaimResponse record has none."""
    return Remittance(
        id="rem-1",
        identifiers=[ident("http://payer.example/icn", "ICN-1")],
        claim=ref(EntityType.CLAIM, "clm-1"),
        payer_claim_control_number="ICN-1",
        status_code="1",
        total_charge=usd("250.00"),
        paid=usd("180.00"),
        patient_responsibility=usd("30.00"),
        payer=_party(EntityType.ORGANIZATION, "payer-1"),
        payee=_party(EntityType.ORGANIZATION, "org-1"),
        patient=_party(EntityType.PATIENT, "p-1"),
        adjustments=[Adjustment(group="CO", reason="45", amount=usd("40.00"))],
        service_lines=[
            ServiceLinePayment(
                procedure=coded("99213", "http://www.ama-assn.org/go/cpt")
                if with_procedure
                else None,
                charge=usd("150.00"),
                paid=usd("100.00"),
                line_control_number="1",
                adjustments=[
                    Adjustment(group="PR", reason="1", amount=usd("20.00")),
                    Adjustment(group="PR", reason="3", amount=usd("10.00")),
                    Adjustment(group="CO", reason="45", amount=usd("20.00")),
                ],
            )
        ],
        payment_amount=usd("180.00"),
        payment_date=date(2024, 6, 1),
        trace_number="EFT-555",
    )


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder(
        id="po-1",
        identifiers=[ident("BEG03", "PO-1001")],
        po_number="PO-1001",
        status="active",
        order_date=date(2024, 5, 1),
        requested_delivery=date(2024, 5, 8),
        buyer=_party(EntityType.ORGANIZATION, "org-1"),
        vendor=_party(EntityType.ORGANIZATION, "vendor-1"),
        ship_to=_party(EntityType.LOCATION, "loc-1"),
        lines=[
            OrderLine(
                line_number="1",
                item_identifiers=[ident("VP", "BlueTubes")],
                description="Blood collect tubes blue cap",
                quantity=Decimal(10),
                unit_of_measure="box",
            )
        ],
    )


def ship_notice() -> ShipNotice:
    return ShipNotice(
        id="asn-1",
        identifiers=[ident("BSN02", "SHIP-1")],
        shipment_id="SHIP-1",
        po_numbers=["PO-1001"],
        shipped_at=datetime(2024, 5, 5, 14, 0, tzinfo=UTC),
        ship_from=_party(EntityType.ORGANIZATION, "vendor-1"),
        ship_to=_party(EntityType.LOCATION, "loc-1"),
        items=[
            ShippedItem(
                line_number="1",
                item_identifiers=[ident("VP", "BlueTubes")],
                quantity=Decimal(10),
                unit_of_measure="box",
            )
        ],
    )


def allergy() -> Allergy:
    return Allergy(
        id="alg-1",
        identifiers=[ident("HOSP-ALLERGY", "56789")],
        patient=ref(EntityType.PATIENT, "p-1"),
        code=coded("91935009", "http://snomed.info/sct", "Allergy to peanuts"),
        category=["food"],
        kind="allergy",
        clinical_status="active",
        verification_status="confirmed",
        criticality="high",
        onset=date(2018, 5, 1),
        recorded_at=datetime(2020, 10, 5, 16, 0, tzinfo=UTC),
        reactions=[
            AllergyReaction(
                manifestations=[coded("271807003", "http://snomed.info/sct", "Skin rash")],
                severity="mild",
            )
        ],
        note="Observed at the clinic",
    )


UCUM_MG = {"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}


def observation() -> Observation:
    return Observation(
        id="obs-1",
        identifiers=[ident("http://lab.example/obs", "O-1")],
        status=ResultStatus.CORRECTED,
        code=coded("2093-3", "http://loinc.org", "Cholesterol"),
        value=ObservationValue(type="NM", quantity=Quantity(value=Decimal("212.5"), **UCUM_MG)),
        reference_range=ReferenceRange(
            low=Quantity(value=Decimal(100), **UCUM_MG),
            high=Quantity(value=Decimal(199), **UCUM_MG),
            text="100-199",
        ),
        interpretation=[
            coded("H", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation")
        ],
        effective=datetime(2024, 5, 1, 7, 15, tzinfo=EST),
        issued=datetime(2024, 5, 1, 9, 0, tzinfo=EST),
        method=coded("LAB-ENZ", "http://lab.example/methods"),
        patient=ref(EntityType.PATIENT, "p-1"),
        encounter=ref(EntityType.ENCOUNTER, "enc-1"),
        performers=[ref(EntityType.PRACTITIONER, "dr-1"), ref(EntityType.ORGANIZATION, "org-1")],
        notes=["fasting sample"],
    )


def diagnostic_report() -> DiagnosticReport:
    filler = ident("http://lab.example/order", "FL-1", "FILL")
    placer = ident("http://clinic.example/order", "PL-1", "PLAC")
    return DiagnosticReport(
        id="rep-1",
        identifiers=[filler, placer],
        filler_number=filler,
        placer_number=placer,
        status=ReportStatus.FINAL,
        code=coded("24331-1", "http://loinc.org", "Lipid panel"),
        category=coded("CH", "http://terminology.hl7.org/CodeSystem/v2-0074"),
        effective=datetime(2024, 5, 1, 7, 0, tzinfo=EST),
        effective_end=datetime(2024, 5, 1, 7, 15, tzinfo=EST),
        issued=datetime(2024, 5, 1, 9, 0, tzinfo=EST),
        patient=ref(EntityType.PATIENT, "p-1"),
        encounter=ref(EntityType.ENCOUNTER, "enc-1"),
        interpreters=[ref(EntityType.PRACTITIONER, "dr-2")],
        results=[ref(EntityType.OBSERVATION, "obs-1")],
        conclusion="Raised cholesterol",
        presented_form=[
            Attachment(content_type="application/pdf", data="JVBERi0xLjQ=", size=8, title="report")
        ],
    )


def document() -> Document:
    return Document(
        id="doc-1",
        identifiers=[ident("http://hosp.example/doc", "DOC-55"), ident("HOSP-FILE", "F-9")],
        status="superseded",
        doc_status="amended",
        type=coded("18842-5", "http://loinc.org", "Discharge summary"),
        created=datetime(2024, 5, 2, 10, 0, tzinfo=EST),
        date=datetime(2024, 5, 2, 11, 30, tzinfo=EST),
        patient=ref(EntityType.PATIENT, "p-1"),
        encounter=ref(EntityType.ENCOUNTER, "enc-1"),
        authors=[ref(EntityType.PRACTITIONER, "dr-1")],
        authenticator=ref(EntityType.PRACTITIONER, "dr-2"),
        description="Discharge summary, amended",
        content=[
            Attachment(content_type="text/plain; charset=utf-8", data="TGluZSBvbmU=", size=8),
            Attachment(content_type="image/jpeg", url="https://pacs.example/1", title="scan"),
        ],
    )


#: resource type → the canonical record written as it
RICH = {
    "Patient": patient,
    "Practitioner": practitioner,
    "PractitionerRole": practitioner_role,
    "Organization": organization,
    "Location": location,
    "Coverage": coverage,
    "CoverageEligibilityRequest": eligibility_request,
    "CoverageEligibilityResponse": eligibility_response,
    "Appointment": appointment,
    "Encounter": encounter,
    "Claim": claim,
    "ClaimResponse": lambda: remittance(with_procedure=False),
    "ExplanationOfBenefit": remittance,
    "SupplyRequest": purchase_order,
    "SupplyDelivery": ship_notice,
    "AllergyIntolerance": allergy,
    "Observation": observation,
    "DiagnosticReport": diagnostic_report,
    "DocumentReference": document,
}


def immunization() -> Immunization:
    return Immunization(
        id="imm-1",
        identifiers=[ident("NIST-AA-IZ-2", "13696", "FILL")],
        status=ImmunizationStatus.NOT_DONE,
        status_reason=coded("00", "http://terminology.hl7.org/CodeSystem/v2-0239", "refusal"),
        vaccine_codes=[
            coded("115", "http://hl7.org/fhir/sid/cvx", "Tdap"),
            coded("49281-0400-10", "http://hl7.org/fhir/sid/ndc", "ADACEL"),
        ],
        patient=ref(EntityType.PATIENT, "p-1"),
        encounter=ref(EntityType.ENCOUNTER, "enc-1"),
        occurred_at=datetime(2024, 5, 1, 9, 30, tzinfo=EST),
        recorded=datetime(2024, 5, 1, 9, 45, tzinfo=EST),
        primary_source=False,
        report_origin=coded("01", "NIP001", "Historical information - source unspecified"),
        location=ref(EntityType.LOCATION, "loc-1"),
        manufacturer=Ref(
            type=EntityType.ORGANIZATION,
            identifiers=[ident("http://hl7.org/fhir/sid/mvx", "PMC")],
            display="sanofi pasteur",
        ),
        lot_number="C5111AA",
        expiration_date=date(2025, 7, 31),
        site=coded("LA", "http://terminology.hl7.org/CodeSystem/v2-0163", "Left Arm"),
        route=coded(
            "C28161", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "Intramuscular"
        ),
        dose_quantity=Decimal("0.5"),
        dose_unit=coded("mL", "http://unitsofmeasure.org", "milliliter"),
        administered_by=[ref(EntityType.PRACTITIONER, "dr-1")],
        ordered_by=[ref(EntityType.PRACTITIONER, "dr-2")],
        subpotent=True,
        funding_source=coded("VXC50", "urn:oid:2.16.840.1.114222.4.5.274", "Public"),
        program_eligibility=[coded("V02", "http://terminology.hl7.org/CodeSystem/v2-0064")],
        education=[
            ImmunizationEducation(
                document_type="253088698300028811170411",
                published=date(2020, 4, 1),
                presented=date(2024, 5, 1),
            )
        ],
    )


RICH["Immunization"] = immunization
