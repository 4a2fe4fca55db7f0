"""Canonical events for the outbound tests: a rich one (every field the rendering carries
filled) and a minimal one (only what the message cannot do without) per event kind."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hub.canonical import (
    Address,
    AdministrativeSex,
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Attachment,
    Charge,
    Coded,
    Contact,
    ContactPoint,
    Diagnosis,
    DiagnosticReport,
    Document,
    EntityType,
    Event,
    EventKind,
    HumanName,
    Identifier,
    Immunization,
    ImmunizationEducation,
    ImmunizationStatus,
    Money,
    Observation,
    ObservationValue,
    Patient,
    Provenance,
    Quantity,
    Ref,
    ReferenceRange,
    ReportStatus,
    ResultStatus,
)

CST = timezone(timedelta(hours=-6))
AT = datetime(2024, 3, 4, 9, 15, 30, tzinfo=CST)
PROV = Provenance(source_system="ehr", format="canonical")
NPI = "http://hl7.org/fhir/sid/us-npi"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
CDCREC = "urn:oid:2.16.840.1.113883.6.238"
K = EventKind


def event(kind: EventKind, entity, number: int, **extra) -> Event:
    return Event(
        id=f"00000000-0000-4000-8000-{number:012d}",
        kind=kind,
        entity=entity,
        provenance=PROV,
        occurred_at=AT,
        **extra,
    )


def mrn(value: str, system: str = "GHH", source: str | None = "ehr") -> Identifier:
    return Identifier(value=value, system=system, type="MR", source=source)


def doctor(npi: str, display: str) -> Ref:
    ident = Identifier(value=npi, system=NPI, type="NPI")
    return Ref(type=EntityType.PRACTITIONER, identifiers=[ident], display=display)


def rich_patient() -> Patient:
    return Patient(
        identifiers=[
            mrn("MRN-1001"),
            Identifier(value="999112222", system="http://hl7.org/fhir/sid/us-ssn", type="SS"),
        ],
        names=[
            HumanName(family="Rivera", given=["Ana", "Lucia"], prefix="Ms.", use="official"),
            HumanName(family="Garcia", given=["Ana"], use="maiden"),
        ],
        birth_date=date(1975, 2, 14),
        sex=AdministrativeSex.FEMALE,
        addresses=[
            Address(
                lines=["12 Elm St", "Apt 3"],
                city="Springfield",
                state="IL",
                postal_code="62701",
                country="USA",
                district="Sangamon",
                use="home",
            ),
            Address(lines=["PO Box 9"], city="Springfield", state="IL", type="postal"),
        ],
        telecom=[
            ContactPoint(system="phone", value="+1 217 555 0101", use="home"),
            ContactPoint(system="phone", value="+1 217 555 0177", use="mobile"),
            ContactPoint(system="email", value="ana.rivera@example.org", use="home"),
            ContactPoint(system="fax", value="+1 217 555 0198", use="work"),
            ContactPoint(system="phone", value="+1 217 555 0199", use="work"),
        ],
        marital_status=Coded(code="M", system=V3_MARITAL, display="Married"),
        language=Coded(code="spa", display="Spanish", system="ISO6392"),
        race=[Coded(code="2106-3", system=CDCREC, display="White")],
        ethnicity=[Coded(code="2135-2", system=CDCREC, display="Hispanic or Latino")],
        multiple_birth=2,
        deceased=True,
        deceased_at=datetime(2024, 3, 1, 22, 5, tzinfo=CST),
        contacts=[
            Contact(
                name=HumanName(family="Rivera", given=["Marco"]),
                relationship=Coded(
                    code="SPO",
                    display="Spouse",
                    system="http://terminology.hl7.org/CodeSystem/v2-0063",
                ),
                telecom=[
                    ContactPoint(system="phone", value="+1 217 555 0102", use="home"),
                    ContactPoint(system="phone", value="+1 217 555 0400", use="work"),
                ],
                address=Address(lines=["12 Elm St"], city="Springfield", state="IL"),
            ),
            Contact(name=HumanName(family="O^Neil & Sons", given=["Pat"])),
        ],
        primary_care=[
            doctor("1234567890", "Chen, Wei"),
            Ref(
                type=EntityType.ORGANIZATION,
                identifiers=[Identifier(value="GHH-FM", system="GHH")],
                display="Family Medicine Clinic",
            ),
        ],
    )


def minimal_patient() -> Patient:
    return Patient(identifiers=[mrn("MRN-2002")], names=[HumanName(family="Nguyen")])


def rich_appointment(status: AppointmentStatus = AppointmentStatus.BOOKED) -> Appointment:
    start = datetime(2024, 3, 12, 9, 30, tzinfo=CST)
    room = Identifier(value="CLIN/EXAM2", system="GHH", type="PL")
    scope = Identifier(value="SCOPE-7", system="GHH-EQUIP")
    return Appointment(
        identifiers=[
            Identifier(value="PL-8801", system="SCHED", type="PLAC"),
            Identifier(value="FL-55120", system="CLINIC", type="FILL"),
        ],
        placer_id="PL-8801",
        filler_id="FL-55120",
        status=status,
        start=start,
        end=start + timedelta(minutes=30),
        duration_minutes=30,
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-1001")], display="Rivera, Ana"),
        participants=[
            AppointmentParticipant(
                kind=EntityType.ORGANIZATION,
                ref=Ref(type=EntityType.ORGANIZATION, identifiers=[scope], display="Endoscope 7"),
                role=Coded(code="EQ", display="Equipment", system="GHH-RES"),
                start=start,
                duration_minutes=30,
                status="accepted",
            ),
            AppointmentParticipant(
                kind=EntityType.LOCATION,
                ref=Ref(type=EntityType.LOCATION, identifiers=[room], display="Exam room 2"),
                role=Coded(
                    code="C",
                    display="Clinic",
                    system="http://terminology.hl7.org/CodeSystem/v2-0305",
                ),
                start=start,
                duration_minutes=30,
                status="accepted",
            ),
            AppointmentParticipant(
                kind=EntityType.PRACTITIONER,
                ref=doctor("1234567890", "Chen, Wei"),
                role=Coded(code="ATT", display="Attending", system="GHH-ROLE"),
                start=start,
                duration_minutes=30,
                status="tentative",
            ),
        ],
        service_type=Coded(
            code="99213", display="Office visit", system="http://www.ama-assn.org/go/cpt"
        ),
        appointment_type=Coded(
            code="FOLLOWUP",
            display="Follow-up visit",
            system="http://terminology.hl7.org/CodeSystem/v2-0277",
        ),
        reason=Coded(
            code="FU", display="Follow-up", system="http://terminology.hl7.org/CodeSystem/v2-0276"
        ),
        comment="Bring the glucose log.\nFasting from midnight.",
    )


def minimal_appointment() -> Appointment:
    return Appointment(
        identifiers=[Identifier(value="FL-9", system="CLINIC", type="FILL")],
        filler_id="FL-9",
        start=datetime(2024, 3, 12, 9, 30, tzinfo=CST),
    )


def rich_charge() -> Charge:
    return Charge(
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-1001")], display="Rivera, Ana"),
        encounter=Ref(
            type=EntityType.ENCOUNTER,
            identifiers=[Identifier(value="V-2024-0042", system="GHH", type="VN")],
        ),
        transaction_id="T-5001",
        transaction_type="CG",
        service_date=date(2024, 3, 1),
        posted_date=datetime(2024, 3, 2, 17, 0, tzinfo=CST),
        code=Coded(
            code="71045", display="X-ray chest 1 view", system="http://www.ama-assn.org/go/cpt"
        ),
        description="Chest X-ray, one view",
        quantity=Decimal(2),
        amount=Money(amount=Decimal("240.00")),
        unit_price=Money(amount=Decimal("120.00")),
        department=Coded(code="RAD", display="Radiology", system="L"),
        insurance_plan=Coded(code="PPO-GOLD", display="Gold PPO Plan"),
        performed_by=[doctor("1234567890", "Chen, Wei")],
        ordered_by=[doctor("1098765432", "Ross, Elaine")],
        diagnoses=[
            Diagnosis(
                code=Coded(
                    code="R07.9", display="Chest pain", system="http://hl7.org/fhir/sid/icd-10-cm"
                ),
                sequence=1,
                kind="principal",
            ),
            Diagnosis(
                code=Coded(
                    code="J34.89",
                    display="Nasal congestion",
                    system="http://hl7.org/fhir/sid/icd-10-cm",
                ),
                sequence=2,
                kind="admitting",
            ),
        ],
        modifiers=["26", "RT"],
    )


def minimal_charge() -> Charge:
    return Charge(
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-2002")]),
        service_date=date(2024, 3, 1),
        code=Coded(code="99213"),
    )


def retired(value: str) -> Ref:
    return Ref(
        type=EntityType.PATIENT,
        identifiers=[mrn(value), mrn(f"OLD-{value}", system="OLDHIS")],
        display="Rivera, Anna",
    )


def _merge(patient: Patient, number: int, *retired_refs: Ref) -> Event:
    return event(K.PATIENT_MERGED, patient, number, replaces=list(retired_refs))


def _cancelled(appt: Appointment, number: int, reason: Coded | None) -> Event:
    update = {"status": AppointmentStatus.CANCELLED, "cancellation_reason": reason}
    return event(K.APPOINTMENT_CANCELLED, appt.model_copy(update=update), number)


def _discontinued(appt: Appointment, number: int, reason: Coded | None) -> Event:
    update = {"status": AppointmentStatus.CANCELLED, "cancellation_reason": reason}
    return event(K.APPOINTMENT_DISCONTINUED, appt.model_copy(update=update), number)


UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
PAT_REF = Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-2002")], display="Rivera, Anna")
VISIT = Ref(type=EntityType.ENCOUNTER, identifiers=[mrn("V-300", system="GHH-VN")])


def rich_result() -> Observation:
    mg = {"unit": "mg/dL", "system": UCUM, "code": "mg/dL"}
    return Observation(
        identifiers=[mrn("FL-1|2093-3", system="LAB-OBS")],
        filler_number=Identifier(value="FL-1", system="LAB", type="FILL"),
        placer_number=Identifier(value="PL-1", system="EHR", type="PLAC"),
        status=ResultStatus.CORRECTED,
        code=Coded(code="2093-3", system=LOINC, display="Cholesterol"),
        sub_id="1",
        value=ObservationValue(type="NM", quantity=Quantity(value=Decimal("212.5"), **mg)),
        reference_range=ReferenceRange(
            low=Quantity(value=Decimal(100), **mg),
            high=Quantity(value=Decimal(199), **mg),
            text="100-199",
        ),
        interpretation=[
            Coded(
                code="H",
                system="http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            )
        ],
        effective=AT - timedelta(hours=2),
        issued=AT,
        method=Coded(code="ENZ", display="Enzymatic", system="GHH-METHOD"),
        patient=PAT_REF,
        encounter=VISIT,
        performers=[
            doctor("1234567893", "Welby, Marcus"),
            Ref(
                type=EntityType.ORGANIZATION,
                display="GHH Lab",
                identifiers=[mrn("LAB1", system="GHH")],
            ),
        ],
        notes=["fasting sample", "second line"],
    )


def minimal_result() -> Observation:
    return Observation(
        status=ResultStatus.FINAL,
        code=Coded(code="8251-1", display="Comment"),
        value=ObservationValue(type="ST", text="Hemolysed & lipemic"),
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-2002")]),
    )


def rich_report() -> DiagnosticReport:
    return DiagnosticReport(
        identifiers=[mrn("FL-1", system="LAB", source="ehr")],
        filler_number=Identifier(value="FL-1", system="LAB", type="FILL"),
        placer_number=Identifier(value="PL-1", system="EHR", type="PLAC"),
        status=ReportStatus.FINAL,
        code=Coded(code="24331-1", system=LOINC, display="Lipid panel"),
        category=Coded(code="CH", system="http://terminology.hl7.org/CodeSystem/v2-0074"),
        effective=AT - timedelta(hours=3),
        effective_end=AT - timedelta(hours=2, minutes=45),
        issued=AT,
        patient=PAT_REF,
        encounter=VISIT,
        ordered_by=[doctor("1234567893", "Welby, Marcus")],
        interpreters=[
            Ref(type=EntityType.PRACTITIONER, identifiers=[mrn("P-9")], display="Cyto, Jane")
        ],
        conclusion="Raised cholesterol",
    )


def rich_document() -> Document:
    return Document(
        identifiers=[mrn("DOC-55", system="GHH-DOC")],
        status="superseded",
        doc_status="final",
        type=Coded(code="DS", display="Discharge summary"),
        created=AT - timedelta(hours=1),
        date=AT,
        patient=PAT_REF,
        encounter=VISIT,
        authors=[doctor("1234567893", "Welby, Marcus")],
        authenticator=doctor("1234567893", "Welby, Marcus"),
        description="summary-55.txt",
        content=[
            Attachment(
                content_type="text/plain; charset=utf-8", data="TGluZSBvbmUKTGluZSB0d28=", size=17
            ),
            Attachment(content_type="application/pdf", data="JVBERi0xLjQ=", size=8),
            Attachment(content_type="image/jpeg", url="https://pacs.example/img?a=1&b=2"),
        ],
    )


def minimal_document() -> Document:
    return Document(
        identifiers=[mrn("DOC-1", system="GHH-DOC")],
        type=Coded(code="PN"),
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-2002")]),
        content=[Attachment(content_type="text/plain", data="bm90ZQ==", size=4)],
    )


PATREQ = Coded(code="PATREQ", display="Patient request", system="GHH-CXL")
BARE_RETIRED = Ref(type=EntityType.PATIENT, identifiers=[mrn("M-9")])

#: name → event, for the golden, strict and round-trip tests
EVENTS = {
    "a04_rich": lambda: event(K.PATIENT_REGISTERED, rich_patient(), 1),
    "a04_minimal": lambda: event(K.PATIENT_REGISTERED, minimal_patient(), 2),
    "a08_rich": lambda: event(K.PATIENT_UPDATED, rich_patient(), 3),
    "a08_minimal": lambda: event(K.PATIENT_UPDATED, minimal_patient(), 4),
    "a40_rich": lambda: _merge(rich_patient(), 5, retired("M-7"), retired("M-8")),
    "a40_minimal": lambda: _merge(minimal_patient(), 6, BARE_RETIRED),
    "s12_rich": lambda: event(K.APPOINTMENT_BOOKED, rich_appointment(), 7),
    "s12_minimal": lambda: event(K.APPOINTMENT_BOOKED, minimal_appointment(), 8),
    "s13_rich": lambda: event(K.APPOINTMENT_RESCHEDULED, rich_appointment(), 9),
    "s14_rich": lambda: event(
        K.APPOINTMENT_MODIFIED, rich_appointment(AppointmentStatus.PENDING), 10
    ),
    "s14_minimal": lambda: event(K.APPOINTMENT_MODIFIED, minimal_appointment(), 11),
    "s15_rich": lambda: _cancelled(rich_appointment(), 12, PATREQ),
    "s15_minimal": lambda: _cancelled(minimal_appointment(), 13, None),
    "p03_rich": lambda: event(K.CHARGE_POSTED, rich_charge(), 14),
    "p03_minimal": lambda: event(K.CHARGE_POSTED, minimal_charge(), 15),
    "a47_rich": lambda: event(
        K.PATIENT_IDENTIFIER_CHANGED, rich_patient(), 16, replaces=[retired("M-7")]
    ),
    "a47_minimal": lambda: event(
        K.PATIENT_IDENTIFIER_CHANGED, minimal_patient(), 17, replaces=[BARE_RETIRED]
    ),
    "s16_rich": lambda: _discontinued(rich_appointment(), 18, PATREQ),
    "s16_minimal": lambda: _discontinued(minimal_appointment(), 19, None),
    "r01_result_rich": lambda: event(K.RESULT_REPORTED, rich_result(), 16),
    "r01_result_minimal": lambda: event(K.RESULT_REPORTED, minimal_result(), 17),
    "r01_report_rich": lambda: event(K.REPORT_ISSUED, rich_report(), 18),
    "t02_rich": lambda: event(K.DOCUMENT_REPORTED, rich_document(), 19),
    "t02_minimal": lambda: event(K.DOCUMENT_REPORTED, minimal_document(), 20),
}


# ------------------------------------------------------------------ immunizations (VXU^V04)

CVX = "http://hl7.org/fhir/sid/cvx"
MVX = "http://hl7.org/fhir/sid/mvx"


def rich_immunization() -> Immunization:
    """Every field VXU^V04 carries (RXA-20 left to be derived from status and subpotent)."""
    return Immunization(
        identifiers=[
            Identifier(value="IZ-1001", system="GHH-IZ", type="FILL", source="ehr"),
            Identifier(value="ORD-77", system="GHH-ORD", type="PLAC", source="ehr"),
        ],
        status=ImmunizationStatus.COMPLETED,
        vaccine_codes=[
            Coded(code="115", system=CVX, display="Tdap"),
            Coded(code="49281-0400-10", system="http://hl7.org/fhir/sid/ndc", display="ADACEL"),
        ],
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-1001")], display="Rivera, Anna"),
        occurred_at=datetime(2024, 3, 4, 9, 0, tzinfo=CST),
        recorded=datetime(2024, 3, 4, 9, 10, tzinfo=CST),
        primary_source=True,
        location=Ref(
            type=EntityType.LOCATION,
            identifiers=[Identifier(value="PEDS", system="GHH", type="PL", source="ehr")],
        ),
        manufacturer=Ref(
            type=EntityType.ORGANIZATION,
            identifiers=[Identifier(value="PMC", system=MVX, source="ehr")],
            display="sanofi pasteur",
        ),
        lot_number="C5111AA",
        expiration_date=date(2025, 7, 31),
        site=Coded(
            code="LA", system="http://terminology.hl7.org/CodeSystem/v2-0163", display="Left Arm"
        ),
        route=Coded(
            code="C28161",
            system="http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
            display="Intramuscular",
        ),
        dose_quantity=Decimal("0.5"),
        dose_unit=Coded(code="mL", system="http://unitsofmeasure.org", display="milliliter"),
        administered_by=[doctor("1234567893", "Nurse, Nora")],
        ordered_by=[doctor("1999999984", "House, Greg")],
        funding_source=Coded(
            code="VXC50", system="urn:oid:2.16.840.1.114222.4.5.274", display="Public"
        ),
        program_eligibility=[
            Coded(
                code="V02",
                system="http://terminology.hl7.org/CodeSystem/v2-0064",
                display="VFC Medicaid",
            )
        ],
        education=[
            ImmunizationEducation(
                document_type="253088698300028811170411",
                published=date(2020, 4, 1),
                presented=date(2024, 3, 4),
            )
        ],
    )


def minimal_immunization() -> Immunization:
    return Immunization(
        patient=Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-2002")]),
        occurred_at=date(2024, 3, 1),
        vaccine_codes=[Coded(code="88", system=CVX)],
    )


def refused_immunization() -> Immunization:
    return minimal_immunization().model_copy(
        update={
            "status": ImmunizationStatus.NOT_DONE,
            "status_reason": Coded(
                code="00",
                system="NIP002",
                display="Parental decision",
            ),
        }
    )


def _retracted() -> Immunization:
    return rich_immunization().model_copy(update={"status": ImmunizationStatus.ENTERED_IN_ERROR})


EVENTS.update(
    {
        "v04_rich": lambda: event(K.IMMUNIZATION_RECORDED, rich_immunization(), 101),
        "v04_minimal": lambda: event(K.IMMUNIZATION_RECORDED, minimal_immunization(), 102),
        "v04_refused": lambda: event(K.IMMUNIZATION_RECORDED, refused_immunization(), 103),
        "v04_entered_in_error": lambda: event(K.IMMUNIZATION_ENTERED_IN_ERROR, _retracted(), 104),
        "v04_removed": lambda: event(K.IMMUNIZATION_REMOVED, rich_immunization(), 105),
    }
)
