"""Datatypes shared by every canonical entity.

The canonical model is Carehub's own: one shape per business thing, whichever format it
arrived in. Field meanings follow the HL7 V2-to-FHIR mapping guide where a field has an HL7 v2
or FHIR origin, so the same patient looks the same whichever way it came.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Address",
    "CanonicalModel",
    "Coded",
    "ContactPoint",
    "EntityType",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "RecordMeta",
    "Ref",
]


class CanonicalModel(BaseModel):
    """Base for every canonical value: strict about unknown fields, compact when dumped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


class EntityType(StrEnum):
    PATIENT = "Patient"
    PRACTITIONER = "Practitioner"
    ORGANIZATION = "Organization"
    LOCATION = "Location"
    COVERAGE = "Coverage"
    APPOINTMENT = "Appointment"
    ENCOUNTER = "Encounter"
    CHARGE = "Charge"
    CLAIM = "Claim"
    CLAIM_STATUS = "ClaimStatus"
    REMITTANCE = "Remittance"
    ELIGIBILITY_CHECK = "EligibilityCheck"
    SUPPLY_ITEM = "SupplyItem"
    INVENTORY_LEVEL = "InventoryLevel"
    PURCHASE_ORDER = "PurchaseOrder"
    ORDER_ACKNOWLEDGMENT = "OrderAcknowledgment"
    SHIP_NOTICE = "ShipNotice"
    INVOICE = "Invoice"
    ALLERGY = "Allergy"
    OBSERVATION = "Observation"
    DIAGNOSTIC_REPORT = "DiagnosticReport"
    DOCUMENT = "Document"
    IMMUNIZATION = "Immunization"


class Identifier(CanonicalModel):
    """One identifier of a record, as one system knows it.

    ``source`` is the partner system (by its configured name) that issued or uses the
    identifier; ``system`` is the identifier namespace (an assigning authority such as
    ``HOSP-MRN``, a URI such as ``http://hl7.org/fhir/sid/us-npi``, or an X12 qualifier).
    ``type`` is the HL7 table 0203 identifier type (MR, NPI, MB, PN, VN, …) where known.
    """

    value: str
    system: str | None = None
    type: str | None = None
    source: str | None = None
    assigner: str | None = None
    period: Period | None = None

    def key(self) -> tuple[str, str]:
        """(namespace, value): the pair two identifiers must share to name the same thing."""
        return (self.system or self.type or "", self.value)


class Coded(CanonicalModel):
    """A coded value: code, code system and display (HL7 CWE/CE, FHIR Coding)."""

    code: str | None = None
    system: str | None = None
    display: str | None = None


class Period(CanonicalModel):
    start: datetime | date | None = None
    end: datetime | date | None = None


class HumanName(CanonicalModel):
    """XPN / FHIR HumanName."""

    family: str | None = None
    given: list[str] = Field(default_factory=list)
    prefix: str | None = None
    suffix: str | None = None
    use: str | None = None  # official, usual, maiden, nickname, … (FHIR name-use)
    text: str | None = None


class Address(CanonicalModel):
    """XAD / FHIR Address / X12 N3+N4."""

    lines: list[str] = Field(default_factory=list)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    district: str | None = None
    use: str | None = None  # home, work, temp, billing, …
    type: str | None = None  # postal, physical, both


class ContactPoint(CanonicalModel):
    """XTN / FHIR ContactPoint / X12 PER."""

    system: str | None = None  # phone, fax, email, pager, url, sms, other
    value: str
    use: str | None = None  # home, work, mobile, temp


class Money(CanonicalModel):
    amount: Decimal
    currency: str = "USD"


class Ref(CanonicalModel):
    """A reference from one canonical record to another.

    ``id`` is the canonical id when the sync engine knows it; ``identifiers`` are how the
    sending system named the target, so the reference can be resolved later.
    """

    type: EntityType
    id: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    display: str | None = None


class RecordMeta(CanonicalModel):
    """Where a record's values came from.

    ``field_sources`` maps a top-level field name to the system that last set it;
    ``recorded_at`` is when the sender says the last applied change happened (MSH-7, EVN-2,
    meta.lastUpdated): an update stamped earlier is stale and is not applied.
    ``pending_review`` marks a record created because a match was ambiguous.
    ``cleared`` names the top-level fields the change explicitly deletes (HL7 v2's ``""``),
    as distinct from fields it leaves out (kept as they are): on an event it is the sender's
    instruction, on a stored version the fields that version cleared (so a destination that
    needs an explicit delete, an HL7 v2 ``""``, can write one).
    """

    source: str | None = None
    updated_at: datetime | None = None
    version: int | None = None
    recorded_at: datetime | None = None
    pending_review: bool | None = None
    field_sources: dict[str, str] = Field(default_factory=dict)
    cleared: list[str] | None = None


Identifier.model_rebuild()
