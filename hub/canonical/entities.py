"""Canonical entities: one model per business thing the hub keeps in sync.

Each entity has ``entity_type`` (a literal, the discriminator), an optional canonical ``id``
(assigned by the sync engine), its ``identifiers`` per source system, and ``meta`` saying
where its values came from.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hub.canonical.base import (
    Address,
    CanonicalModel,
    Coded,
    ContactPoint,
    EntityType,
    HumanName,
    Identifier,
    Money,
    Period,
    RecordMeta,
    Ref,
)

__all__ = [
    "Adjustment",
    "AdministrativeSex",
    "Allergy",
    "AllergyReaction",
    "Appointment",
    "AppointmentParticipant",
    "AppointmentStatus",
    "Benefit",
    "Charge",
    "Claim",
    "ClaimKind",
    "ClaimParty",
    "ClaimStatus",
    "Contact",
    "Coverage",
    "Credential",
    "CredentialKind",
    "Diagnosis",
    "EligibilityCheck",
    "Encounter",
    "EncounterStatus",
    "Entity",
    "Immunization",
    "ImmunizationEducation",
    "ImmunizationStatus",
    "InventoryLevel",
    "Invoice",
    "InvoiceLine",
    "Location",
    "OrderAckLine",
    "OrderAckLineStatus",
    "OrderAcknowledgment",
    "OrderLine",
    "Organization",
    "OrganizationKind",
    "Patient",
    "Practitioner",
    "PurchaseOrder",
    "Remittance",
    "ServiceLine",
    "ServiceLinePayment",
    "ShipNotice",
    "ShippedItem",
    "SupplyItem",
    "Attachment",
    "DiagnosticReport",
    "Document",
    "Observation",
    "ObservationValue",
    "Quantity",
    "Range",
    "Ratio",
    "ReferenceRange",
    "ReportStatus",
    "ResultStatus",
    "Specimen",
]


class _Record(CanonicalModel):
    id: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    meta: RecordMeta = Field(default_factory=RecordMeta)


# --------------------------------------------------------------------------- people


class AdministrativeSex(StrEnum):
    """FHIR administrative-gender; HL7 table 0001 maps onto it (vocab/administrative_sex.csv)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class Contact(CanonicalModel):
    """NK1 / Patient.contact."""

    name: HumanName | None = None
    relationship: Coded | None = None
    telecom: list[ContactPoint] = Field(default_factory=list)
    address: Address | None = None


class Patient(_Record):
    entity_type: Literal[EntityType.PATIENT] = EntityType.PATIENT
    active: bool = True
    names: list[HumanName] = Field(default_factory=list)
    birth_date: date | None = None
    sex: AdministrativeSex | None = None
    deceased: bool | None = None
    deceased_at: datetime | None = None
    addresses: list[Address] = Field(default_factory=list)
    telecom: list[ContactPoint] = Field(default_factory=list)
    marital_status: Coded | None = None
    language: Coded | None = None
    race: list[Coded] = Field(default_factory=list)
    ethnicity: list[Coded] = Field(default_factory=list)
    multiple_birth: bool | int | None = None
    contacts: list[Contact] = Field(default_factory=list)
    primary_care: list[Ref] = Field(default_factory=list)
    #: canonical id of the patient this one was merged into (set by the sync engine)
    merged_into: str | None = None


class CredentialKind(StrEnum):
    LICENSE = "license"
    CERTIFICATION = "certification"
    REGISTRATION = "registration"  # NPI, DEA and similar registrations
    PRIVILEGE = "privilege"


class Credential(CanonicalModel):
    """A licence, board certification or registration (STF/PRA, Practitioner.qualification)."""

    kind: CredentialKind
    code: Coded | None = None  # e.g. MD licence, board specialty
    number: str | None = None
    issuer: str | None = None  # issuing authority or board
    jurisdiction: str | None = None  # state or country
    issued: date | None = None
    expires: date | None = None
    status: str | None = None


class Practitioner(_Record):
    entity_type: Literal[EntityType.PRACTITIONER] = EntityType.PRACTITIONER
    active: bool = True
    names: list[HumanName] = Field(default_factory=list)
    sex: AdministrativeSex | None = None
    birth_date: date | None = None
    telecom: list[ContactPoint] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    specialties: list[Coded] = Field(default_factory=list)
    roles: list[Coded] = Field(default_factory=list)
    credentials: list[Credential] = Field(default_factory=list)
    organization: Ref | None = None


class OrganizationKind(StrEnum):
    PROVIDER = "provider"
    PAYER = "payer"
    VENDOR = "vendor"
    CLEARINGHOUSE = "clearinghouse"
    DEPARTMENT = "department"
    OTHER = "other"


class Organization(_Record):
    entity_type: Literal[EntityType.ORGANIZATION] = EntityType.ORGANIZATION
    active: bool = True
    name: str | None = None
    kind: OrganizationKind | None = None
    addresses: list[Address] = Field(default_factory=list)
    telecom: list[ContactPoint] = Field(default_factory=list)
    part_of: Ref | None = None


class Location(_Record):
    """PL (PV1-3, AIL-3) / FHIR Location."""

    entity_type: Literal[EntityType.LOCATION] = EntityType.LOCATION
    name: str | None = None
    status: str | None = None
    kind: Coded | None = None
    point_of_care: str | None = None
    room: str | None = None
    bed: str | None = None
    facility: str | None = None
    address: Address | None = None
    part_of: Ref | None = None


class Coverage(_Record):
    """IN1 / FHIR Coverage / X12 2000B+2010BA."""

    entity_type: Literal[EntityType.COVERAGE] = EntityType.COVERAGE
    status: str | None = "active"
    beneficiary: Ref | None = None
    subscriber: Ref | None = None
    subscriber_id: str | None = None  # member id
    relationship: Coded | None = None  # self, spouse, child, … (X12 INS02 / IN1-17)
    payer: Ref | None = None
    plan_name: str | None = None
    group_number: str | None = None
    group_name: str | None = None
    type: Coded | None = None
    period: Period | None = None
    order: int | None = None  # 1 = primary, 2 = secondary, …


# --------------------------------------------------------------------------- visits


class AppointmentStatus(StrEnum):
    """FHIR appointmentstatus; SIU triggers and SCH-25 map onto it."""

    PROPOSED = "proposed"
    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    ENTERED_IN_ERROR = "entered-in-error"
    CHECKED_IN = "checked-in"
    WAITLIST = "waitlist"


class AppointmentParticipant(CanonicalModel):
    """AIP/AIL/AIG/AIS resource lines / Appointment.participant."""

    kind: EntityType  # Practitioner, Location, Patient, or Organization for a group resource
    ref: Ref
    role: Coded | None = None
    required: bool | None = None
    status: str | None = None  # accepted, declined, tentative, needs-action
    start: datetime | None = None
    duration_minutes: int | None = None


class Appointment(_Record):
    entity_type: Literal[EntityType.APPOINTMENT] = EntityType.APPOINTMENT
    status: AppointmentStatus = AppointmentStatus.BOOKED
    start: datetime | None = None
    end: datetime | None = None
    duration_minutes: int | None = None
    patient: Ref | None = None
    participants: list[AppointmentParticipant] = Field(default_factory=list)
    service_type: Coded | None = None
    appointment_type: Coded | None = None
    reason: Coded | None = None
    priority: int | None = None
    comment: str | None = None
    cancellation_reason: Coded | None = None
    placer_id: str | None = None  # SCH-1
    filler_id: str | None = None  # SCH-2


class EncounterStatus(StrEnum):
    PLANNED = "planned"
    ARRIVED = "arrived"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"
    ON_LEAVE = "onleave"  # ADT A21 leave of absence


class Encounter(_Record):
    """PV1/PV2 / FHIR Encounter."""

    entity_type: Literal[EntityType.ENCOUNTER] = EntityType.ENCOUNTER
    status: EncounterStatus = EncounterStatus.UNKNOWN
    patient_class: Coded | None = None  # HL7 0004 → FHIR v3-ActCode (IMP, AMB, EMER, …)
    patient: Ref | None = None
    location: Ref | None = None
    prior_location: Ref | None = None
    period: Period | None = None
    attending: list[Ref] = Field(default_factory=list)
    referring: list[Ref] = Field(default_factory=list)
    admitting: list[Ref] = Field(default_factory=list)
    consulting: list[Ref] = Field(default_factory=list)
    hospital_service: Coded | None = None
    admit_source: Coded | None = None
    admission_type: Coded | None = None
    discharge_disposition: Coded | None = None
    reason: list[Coded] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    appointment: Ref | None = None


# --------------------------------------------------------------------------- revenue cycle


class Diagnosis(CanonicalModel):
    """DG1 / X12 HI / Claim.diagnosis."""

    code: Coded
    sequence: int | None = None
    kind: str | None = None  # principal, admitting, other, …
    present_on_admission: str | None = None


class Charge(_Record):
    """FT1 / a charge posted against a visit."""

    entity_type: Literal[EntityType.CHARGE] = EntityType.CHARGE
    patient: Ref | None = None
    encounter: Ref | None = None
    transaction_id: str | None = None  # FT1-2
    transaction_type: str | None = None  # FT1-6: CG charge, CD credit, PY payment, AJ adjustment
    service_date: datetime | date | None = None  # FT1-4
    posted_date: datetime | date | None = None  # FT1-5
    code: Coded | None = None  # FT1-7 / FT1-25 procedure
    description: str | None = None
    quantity: Decimal | None = None
    amount: Money | None = None  # extended amount FT1-11
    unit_price: Money | None = None  # FT1-12
    department: Coded | None = None
    performed_by: list[Ref] = Field(default_factory=list)
    ordered_by: list[Ref] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    modifiers: list[str] = Field(default_factory=list)
    insurance_plan: Coded | None = None


class ClaimKind(StrEnum):
    PROFESSIONAL = "professional"  # 837P / CMS-1500
    INSTITUTIONAL = "institutional"  # 837I / UB-04
    DENTAL = "dental"
    PHARMACY = "pharmacy"


class ClaimParty(CanonicalModel):
    """A party on a claim as the claim names it (X12 NM1 loops), with a link when resolved."""

    ref: Ref | None = None
    name: HumanName | None = None
    organization_name: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    address: Address | None = None
    birth_date: date | None = None
    sex: AdministrativeSex | None = None
    relationship: Coded | None = None
    telecom: list[ContactPoint] = Field(default_factory=list)


class ServiceLine(CanonicalModel):
    """X12 2400 / Claim.item."""

    number: int
    procedure: Coded | None = None  # HCPCS/CPT (SV101), or revenue code for 837I
    revenue_code: str | None = None  # SV201
    modifiers: list[str] = Field(default_factory=list)
    charge: Money | None = None
    units: Decimal | None = None
    unit_type: str | None = None  # UN, MJ, DA
    service_date: date | None = None
    service_period: Period | None = None
    place_of_service: str | None = None
    diagnosis_pointers: list[int] = Field(default_factory=list)
    ndc: str | None = None
    line_control_number: str | None = None  # REF*6R


class Claim(_Record):
    """X12 837 claim (2300) / FHIR Claim."""

    entity_type: Literal[EntityType.CLAIM] = EntityType.CLAIM
    kind: ClaimKind = ClaimKind.PROFESSIONAL
    status: str = "active"
    patient_control_number: str | None = None  # CLM01
    total_charge: Money | None = None  # CLM02
    place_of_service: str | None = None  # CLM05-1 (facility code for 837I)
    frequency_code: str | None = None  # CLM05-3
    billing_provider: ClaimParty | None = None
    rendering_provider: ClaimParty | None = None
    referring_provider: ClaimParty | None = None
    service_facility: ClaimParty | None = None
    subscriber: ClaimParty | None = None
    patient: ClaimParty | None = None
    payer: ClaimParty | None = None
    coverage: Ref | None = None
    encounter: Ref | None = None
    member_id: str | None = None
    group_number: str | None = None
    service_period: Period | None = None
    admission_date: datetime | None = None
    prior_authorization: str | None = None
    payer_claim_control_number: str | None = None
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    service_lines: list[ServiceLine] = Field(default_factory=list)
    created: datetime | None = None


class ClaimStatus(_Record):
    """X12 277 / 277CA status of one claim."""

    entity_type: Literal[EntityType.CLAIM_STATUS] = EntityType.CLAIM_STATUS
    claim: Ref | None = None
    patient_control_number: str | None = None
    payer_claim_control_number: str | None = None
    category: Coded | None = None  # STC01-1 (code source 507)
    status: Coded | None = None  # STC01-2 (code source 508)
    entity: str | None = None  # STC01-3
    effective_date: date | None = None
    total_charge: Money | None = None
    paid_amount: Money | None = None
    payer: ClaimParty | None = None
    message: str | None = None
    accepted: bool | None = None
    #: who the claim is for: the 2100E dependent (QC) when there is one, else the 2100D
    #: subscriber (IL), with a patient reference (``ref``) the identity rules resolve
    patient: ClaimParty | None = None


class Adjustment(CanonicalModel):
    """X12 CAS: group code (CO, PR, OA, PI, CR), reason code (CARC), amount, quantity."""

    group: str
    reason: str
    amount: Money
    quantity: Decimal | None = None


class ServiceLinePayment(CanonicalModel):
    """X12 835 loop 2110 SVC."""

    procedure: Coded | None = None
    modifiers: list[str] = Field(default_factory=list)
    charge: Money | None = None
    paid: Money | None = None
    units: Decimal | None = None
    service_date: date | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    line_control_number: str | None = None
    remark_codes: list[str] = Field(default_factory=list)


class Remittance(_Record):
    """X12 835 claim payment (loop 2100) / FHIR ClaimResponse + ExplanationOfBenefit."""

    entity_type: Literal[EntityType.REMITTANCE] = EntityType.REMITTANCE
    claim: Ref | None = None
    patient_control_number: str | None = None  # CLP01
    status_code: str | None = None  # CLP02 (1 primary, 2 secondary, 4 denied, 22 reversal, …)
    total_charge: Money | None = None  # CLP03
    paid: Money | None = None  # CLP04
    patient_responsibility: Money | None = None  # CLP05
    payer_claim_control_number: str | None = None  # CLP07
    payer: ClaimParty | None = None
    payee: ClaimParty | None = None
    patient: ClaimParty | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    service_lines: list[ServiceLinePayment] = Field(default_factory=list)
    payment_method: str | None = None  # BPR04 (CHK, ACH, NON)
    payment_amount: Money | None = None  # BPR02 for the whole remittance
    payment_date: date | None = None  # BPR16
    trace_number: str | None = None  # TRN02 (check or EFT number)
    denied: bool = False


class Benefit(CanonicalModel):
    """X12 271 EB / CoverageEligibilityResponse.insurance.item."""

    info: str  # EB01: 1 active, 6 inactive, C deductible, B co-payment, A co-insurance, …
    coverage_level: str | None = None  # EB02
    service_types: list[str] = Field(default_factory=list)  # EB03
    insurance_type: str | None = None  # EB04
    plan: str | None = None  # EB05
    time_period: str | None = None  # EB06
    amount: Money | None = None  # EB07
    percent: Decimal | None = None  # EB08
    in_network: bool | None = None  # EB12
    messages: list[str] = Field(default_factory=list)  # MSG


class EligibilityCheck(_Record):
    """X12 270 request and its 271 answer / CoverageEligibilityRequest+Response."""

    entity_type: Literal[EntityType.ELIGIBILITY_CHECK] = EntityType.ELIGIBILITY_CHECK
    trace_number: str | None = None  # TRN02
    patient: Ref | None = None
    subscriber: ClaimParty | None = None
    dependent: ClaimParty | None = None
    payer: ClaimParty | None = None
    provider: ClaimParty | None = None
    service_types: list[str] = Field(default_factory=list)  # EQ01
    service_date: date | None = None
    requested_at: datetime | None = None
    responded_at: datetime | None = None
    active: bool | None = None
    benefits: list[Benefit] = Field(default_factory=list)
    errors: list[Coded] = Field(default_factory=list)  # AAA rejects


# --------------------------------------------------------------------------- supply chain


class SupplyItem(_Record):
    entity_type: Literal[EntityType.SUPPLY_ITEM] = EntityType.SUPPLY_ITEM
    description: str | None = None
    unit_of_measure: str | None = None
    unit_price: Money | None = None
    vendor: Ref | None = None
    # part numbers are identifiers: VP vendor part, BP buyer part, UP UPC, N4 NDC, …


class InventoryLevel(_Record):
    entity_type: Literal[EntityType.INVENTORY_LEVEL] = EntityType.INVENTORY_LEVEL
    item: Ref
    location: Ref | None = None
    on_hand: Decimal
    reorder_point: Decimal | None = None
    unit_of_measure: str | None = None
    as_of: datetime | None = None


class OrderLine(CanonicalModel):
    """X12 PO1 / SupplyRequest."""

    line_number: str | None = None
    item_identifiers: list[Identifier] = Field(default_factory=list)
    description: str | None = None
    quantity: Decimal
    unit_of_measure: str | None = None
    unit_price: Money | None = None


class PurchaseOrder(_Record):
    """X12 850 / FHIR SupplyRequest."""

    entity_type: Literal[EntityType.PURCHASE_ORDER] = EntityType.PURCHASE_ORDER
    po_number: str
    purpose: str | None = None  # BEG01
    order_type: str | None = None  # BEG02
    order_date: date | None = None
    status: str = "active"
    buyer: ClaimParty | None = None
    vendor: ClaimParty | None = None
    ship_to: ClaimParty | None = None
    requested_delivery: date | None = None
    lines: list[OrderLine] = Field(default_factory=list)
    total: Money | None = None


class OrderAckLineStatus(StrEnum):
    ACCEPTED = "accepted"
    CHANGED = "changed"
    BACKORDERED = "backordered"
    REJECTED = "rejected"


class OrderAckLine(CanonicalModel):
    """X12 855 PO1 + ACK."""

    line_number: str | None = None
    status: OrderAckLineStatus
    status_code: str | None = None  # ACK01 (IA, IB, IR, IC, …)
    quantity: Decimal | None = None
    unit_of_measure: str | None = None
    unit_price: Money | None = None
    item_identifiers: list[Identifier] = Field(default_factory=list)
    scheduled_date: date | None = None


class OrderAcknowledgment(_Record):
    """X12 855."""

    entity_type: Literal[EntityType.ORDER_ACKNOWLEDGMENT] = EntityType.ORDER_ACKNOWLEDGMENT
    po_number: str
    ack_type: str | None = None  # BAK02: AC, AD, AE, AK, RD, RJ, …
    accepted: bool | None = None
    ack_date: date | None = None  # BAK04
    vendor: ClaimParty | None = None
    lines: list[OrderAckLine] = Field(default_factory=list)


class ShippedItem(CanonicalModel):
    """X12 856 item level (LIN/SN1)."""

    line_number: str | None = None
    item_identifiers: list[Identifier] = Field(default_factory=list)
    quantity: Decimal
    unit_of_measure: str | None = None
    lot: str | None = None
    expires: date | None = None
    po_number: str | None = None


class ShipNotice(_Record):
    """X12 856 / FHIR SupplyDelivery."""

    entity_type: Literal[EntityType.SHIP_NOTICE] = EntityType.SHIP_NOTICE
    shipment_id: str  # BSN02
    po_numbers: list[str] = Field(default_factory=list)
    shipped_at: datetime | date | None = None
    carrier: str | None = None
    tracking_numbers: list[str] = Field(default_factory=list)
    ship_from: ClaimParty | None = None
    ship_to: ClaimParty | None = None
    items: list[ShippedItem] = Field(default_factory=list)


class InvoiceLine(CanonicalModel):
    """X12 810 IT1."""

    line_number: str | None = None
    item_identifiers: list[Identifier] = Field(default_factory=list)
    description: str | None = None
    quantity: Decimal
    unit_of_measure: str | None = None
    unit_price: Money | None = None


class Invoice(_Record):
    """X12 810."""

    entity_type: Literal[EntityType.INVOICE] = EntityType.INVOICE
    invoice_number: str  # BIG02
    invoice_date: date | None = None
    po_number: str | None = None  # BIG04
    vendor: ClaimParty | None = None
    bill_to: ClaimParty | None = None
    lines: list[InvoiceLine] = Field(default_factory=list)
    total: Money | None = None  # TDS01
    terms: str | None = None


# --------------------------------------------------------------------------- clinical


class AllergyReaction(CanonicalModel):
    """One reaction to the substance: what showed (IAM-5/AL1-5) and how severe it was."""

    manifestations: list[Coded] = Field(default_factory=list)
    severity: str | None = None  # mild | moderate | severe (HL7 0128 via hl7_allergy_severity)


class Allergy(_Record):
    """IAM / AL1 (ADT^A60) / FHIR AllergyIntolerance: one substance a patient reacts to.

    The statuses are FHIR's codes: ``clinical_status`` active | inactive | resolved,
    ``verification_status`` unconfirmed | confirmed | refuted | entered-in-error;
    ``category`` food | medication | environment | biologic; ``kind`` allergy | intolerance;
    ``criticality`` low | high | unable-to-assess."""

    entity_type: Literal[EntityType.ALLERGY] = EntityType.ALLERGY
    patient: Ref | None = None
    code: Coded | None = None
    category: list[str] = Field(default_factory=list)
    kind: str | None = None
    clinical_status: str | None = None
    verification_status: str | None = None
    criticality: str | None = None
    onset: datetime | date | None = None
    recorded_at: datetime | date | None = None
    reactions: list[AllergyReaction] = Field(default_factory=list)
    note: str | None = None


# --------------------------------------------------------------------------- results and documents


class ResultStatus(StrEnum):
    """FHIR observation-status; HL7 table 0085 (OBX-11) maps onto it."""

    REGISTERED = "registered"
    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


class ReportStatus(StrEnum):
    """FHIR diagnostic-report-status; HL7 table 0123 (OBR-25) maps onto it."""

    REGISTERED = "registered"
    PARTIAL = "partial"
    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"
    CORRECTED = "corrected"
    APPENDED = "appended"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


class Quantity(CanonicalModel):
    """A measured amount: NM/SN value with OBX-6 units (UCUM when the sender says so)."""

    value: Decimal | None = None
    comparator: str | None = None  # <, <=, >=, > (SN.1)
    unit: str | None = None  # the unit as displayed (CWE.2, else CWE.1)
    system: str | None = None  # http://unitsofmeasure.org when CWE.3 is UCUM
    code: str | None = None  # the unit's code in ``system``


class Range(CanonicalModel):
    """SN with separator ``-`` (``10-20``), or an OBX-7 reference range."""

    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(CanonicalModel):
    """SN with separator ``:`` or ``/`` (``1:128``)."""

    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Attachment(CanonicalModel):
    """ED/RP in OBX-5, or a document's content: bytes (base64) with their media type, or
    a URL that points at them."""

    content_type: str | None = None  # MIME type: ED.2/ED.3 (application/pdf)
    data: str | None = None  # the decoded bytes, base64 (standard alphabet, padded)
    url: str | None = None  # RP.1 reference pointer
    title: str | None = None
    size: int | None = None  # the decoded bytes' length
    language: str | None = None
    #: ED.4 as sent (Base64, Hex, A): outbound writes Base64 whatever came in
    original_encoding: str | None = None


class ReferenceRange(CanonicalModel):
    """OBX-7: the range as numbers when it reads as one (``3.5-5.0``, ``<10``), and as sent."""

    low: Quantity | None = None
    high: Quantity | None = None
    text: str | None = None


class ObservationValue(CanonicalModel):
    """OBX-5 read by OBX-2: exactly one of the value fields is set. ``type`` is the HL7
    value type as sent (NM, SN, CWE, ST, TX, FT, DT, TS, DTM, TM, ED, RP, …)."""

    type: str
    quantity: Quantity | None = None  # NM, SN with one number
    range: Range | None = None  # SN n-m
    ratio: Ratio | None = None  # SN n:m, n/m
    coded: Coded | None = None  # CE, CWE, CNE
    text: str | None = None  # ST, TX, FT (repetitions joined by line breaks), SN n+
    date_time: datetime | date | None = None  # DT, TS, DTM
    time: str | None = None  # TM as HH:MM[:SS]
    attachment: Attachment | None = None  # ED, RP


class Specimen(CanonicalModel):
    """SPM (v2.5) or OBR-15: what was examined and when it was collected."""

    identifier: Identifier | None = None  # SPM-2
    type: Coded | None = None  # SPM-4, else OBR-15.1
    collected_at: datetime | date | None = None  # SPM-17, else OBR-7
    received_at: datetime | None = None  # SPM-18, else OBR-14
    body_site: Coded | None = None  # SPM-8


class Observation(_Record):
    """OBX / FHIR Observation: one result."""

    entity_type: Literal[EntityType.OBSERVATION] = EntityType.OBSERVATION
    status: ResultStatus = ResultStatus.UNKNOWN
    code: Coded | None = None  # OBX-3
    sub_id: str | None = None  # OBX-4
    value: ObservationValue | None = None  # OBX-2 + OBX-5 (+ OBX-6 units)
    absent_reason: Coded | None = None  # an OBX without a value (OBX-11 X, or empty)
    reference_range: ReferenceRange | None = None  # OBX-7
    interpretation: list[Coded] = Field(default_factory=list)  # OBX-8 (table 0078)
    effective: datetime | date | None = None  # OBX-14, else OBR-7
    issued: datetime | None = None  # OBX-19 analysis time, else OBR-22
    method: Coded | None = None  # OBX-17
    patient: Ref | None = None
    encounter: Ref | None = None
    performers: list[Ref] = Field(default_factory=list)  # OBX-16 responsible, OBX-23 lab
    specimen: Specimen | None = None
    notes: list[str] = Field(default_factory=list)  # NTE after the OBX
    placer_number: Identifier | None = None  # its order's OBR-2 (else ORC-2)
    filler_number: Identifier | None = None  # its order's OBR-3 (else ORC-3)


class DiagnosticReport(_Record):
    """OBR / FHIR DiagnosticReport: the report an order's results make."""

    entity_type: Literal[EntityType.DIAGNOSTIC_REPORT] = EntityType.DIAGNOSTIC_REPORT
    status: ReportStatus = ReportStatus.UNKNOWN
    code: Coded | None = None  # OBR-4 universal service identifier
    placer_number: Identifier | None = None  # OBR-2 (else ORC-2)
    filler_number: Identifier | None = None  # OBR-3 (else ORC-3)
    category: Coded | None = None  # OBR-24 diagnostic service section
    effective: datetime | date | None = None  # OBR-7 (to OBR-8)
    effective_end: datetime | date | None = None  # OBR-8
    issued: datetime | None = None  # OBR-22
    patient: Ref | None = None
    encounter: Ref | None = None
    interpreters: list[Ref] = Field(default_factory=list)  # OBR-32 principal interpreter
    ordered_by: list[Ref] = Field(default_factory=list)  # OBR-16
    results: list[Ref] = Field(default_factory=list)  # the OBX of the OBR group
    specimen: Specimen | None = None
    conclusion: str | None = None  # NTE after the OBR
    presented_form: list[Attachment] = Field(default_factory=list)


class Document(_Record):
    """TXA + OBX / FHIR DocumentReference: a clinical document and its content."""

    entity_type: Literal[EntityType.DOCUMENT] = EntityType.DOCUMENT
    #: current | superseded | entered-in-error (from TXA-19 availability, TXA-17 status)
    status: str = "current"
    doc_status: str | None = None  # preliminary | final | amended (TXA-17 table 0271)
    type: Coded | None = None  # TXA-2 (table 0270)
    created: datetime | date | None = None  # TXA-4 activity date/time
    date: datetime | None = None  # TXA-8 edit, else TXA-6 origination, else TXA-4
    patient: Ref | None = None
    encounter: Ref | None = None
    authors: list[Ref] = Field(default_factory=list)  # TXA-9 originator, TXA-5 provider
    authenticator: Ref | None = None  # TXA-10, TXA-22
    description: str | None = None  # TXA-16 unique file name or OBX-3 text
    content: list[Attachment] = Field(default_factory=list)  # OBX-5 (TX/FT joined; ED)
    related: list[Identifier] = Field(default_factory=list)  # TXA-13 parent document
    #: how this document relates to ``related``: replaces (MDM T10), appends (T06 addendum)
    relation: str | None = None


# --------------------------------------------------------------------------- immunizations


class ImmunizationStatus(StrEnum):
    """FHIR immunization-status; RXA-20 and RXA-21 map onto it."""

    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"
    NOT_DONE = "not-done"


class ImmunizationEducation(CanonicalModel):
    """A vaccine information statement given (VIS OBX group / Immunization.education)."""

    document_type: str | None = None  # OBX 69764-9: the VIS document's GS1 bar code
    published: date | None = None  # OBX 29768-9
    presented: date | None = None  # OBX 29769-7


class Immunization(_Record):
    """RXA (+ORC, RXR, OBX) of a VXU^V04 (CDC IG for Immunization Messaging r1.5) / FHIR
    Immunization (US Core)."""

    entity_type: Literal[EntityType.IMMUNIZATION] = EntityType.IMMUNIZATION
    status: ImmunizationStatus = ImmunizationStatus.COMPLETED
    status_reason: Coded | None = None  # RXA-18 refusal reason
    completion_status: str | None = None  # RXA-20 as sent: CP, RE, NA, PA
    vaccine_codes: list[Coded] = Field(default_factory=list)  # RXA-5 (CVX first, NDC, …)
    patient: Ref | None = None
    encounter: Ref | None = None
    occurred_at: datetime | date | None = None  # RXA-3
    recorded: datetime | date | None = None  # RXA-22 system entry date/time
    primary_source: bool | None = None  # RXA-9: 00 new record; 01–08 historical
    report_origin: Coded | None = None  # RXA-9 source of a historical record
    location: Ref | None = None  # RXA-11
    manufacturer: Ref | None = None  # RXA-17 (MVX)
    lot_number: str | None = None  # RXA-15
    expiration_date: date | None = None  # RXA-16
    site: Coded | None = None  # RXR-2
    route: Coded | None = None  # RXR-1
    dose_quantity: Decimal | None = None  # RXA-6
    dose_unit: Coded | None = None  # RXA-7 (UCUM)
    administered_by: list[Ref] = Field(default_factory=list)  # RXA-10
    ordered_by: list[Ref] = Field(default_factory=list)  # ORC-12
    subpotent: bool | None = None  # RXA-20 PA
    funding_source: Coded | None = None  # OBX 30963-3
    program_eligibility: list[Coded] = Field(default_factory=list)  # OBX 64994-7
    education: list[ImmunizationEducation] = Field(default_factory=list)


Entity = Annotated[
    Patient
    | Practitioner
    | Organization
    | Location
    | Coverage
    | Appointment
    | Encounter
    | Charge
    | Claim
    | ClaimStatus
    | Remittance
    | EligibilityCheck
    | SupplyItem
    | InventoryLevel
    | PurchaseOrder
    | OrderAcknowledgment
    | ShipNotice
    | Invoice
    | Allergy
    | Observation
    | DiagnosticReport
    | Document
    | Immunization,
    Field(discriminator="entity_type"),
]
