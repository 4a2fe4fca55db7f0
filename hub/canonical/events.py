"""Canonical events: facts with a kind, about one entity, with where they came from.

The event kind is the routing key on ``carehub.ingress`` and ``carehub.events``; systems
subscribe to patterns of kinds (``patient.*``, ``claim.#``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from pydantic import Field

from hub.canonical.base import CanonicalModel, EntityType, Identifier, Ref
from hub.canonical.entities import Entity

__all__ = ["REMOVALS", "REMOVED", "Event", "EventKind", "Provenance"]


class EventKind(StrEnum):
    PATIENT_REGISTERED = "patient.registered"
    PATIENT_UPDATED = "patient.updated"
    PATIENT_MERGED = "patient.merged"
    ENCOUNTER_PLANNED = "encounter.planned"  # A05 pre-admit
    ENCOUNTER_STARTED = "encounter.started"  # A01 admit, A04 register visit
    ENCOUNTER_TRANSFERRED = "encounter.transferred"  # A02
    ENCOUNTER_FINISHED = "encounter.finished"  # A03
    ENCOUNTER_CANCELLED = "encounter.cancelled"  # A11 cancel admit/visit
    ENCOUNTER_DISCHARGE_CANCELLED = "encounter.discharge_cancelled"  # A13
    ENCOUNTER_UPDATED = "encounter.updated"
    APPOINTMENT_BOOKED = "appointment.booked"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
    APPOINTMENT_MODIFIED = "appointment.modified"
    APPOINTMENT_CANCELLED = "appointment.cancelled"
    APPOINTMENT_DELETED = "appointment.deleted"
    APPOINTMENT_NOSHOW = "appointment.noshow"
    APPOINTMENT_CONFLICT = "appointment.conflict"
    PRACTITIONER_UPDATED = "practitioner.updated"
    PRACTITIONER_DEACTIVATED = "practitioner.deactivated"
    PRACTITIONER_CREDENTIAL_EXPIRING = "practitioner.credential_expiring"
    ORGANIZATION_UPDATED = "organization.updated"
    LOCATION_UPDATED = "location.updated"
    COVERAGE_UPDATED = "coverage.updated"
    CHARGE_POSTED = "charge.posted"
    CLAIM_SUBMITTED = "claim.submitted"
    CLAIM_ACKNOWLEDGED = "claim.acknowledged"  # 277CA / 999 accepted
    CLAIM_STATUS_REPORTED = "claim.status_reported"  # 277
    CLAIM_PAID = "claim.paid"
    CLAIM_DENIED = "claim.denied"
    ELIGIBILITY_REQUESTED = "eligibility.requested"  # 270
    ELIGIBILITY_REPORTED = "eligibility.reported"  # 271
    SUPPLY_ITEM_UPDATED = "supply.item.updated"
    SUPPLY_INVENTORY_UPDATED = "supply.inventory.updated"
    SUPPLY_ORDER_PLACED = "supply.order.placed"  # 850
    SUPPLY_ORDER_ACKNOWLEDGED = "supply.order.acknowledged"  # 855
    SUPPLY_ORDER_SHIPPED = "supply.order.shipped"  # 856
    SUPPLY_ORDER_INVOICED = "supply.order.invoiced"  # 810
    # a record removed at its source (FHIR DELETE): subscribers remove their copy. Not the
    # same as appointment.deleted (SIU S17), which keeps the appointment as entered-in-error
    PATIENT_REMOVED = "patient.removed"
    PRACTITIONER_REMOVED = "practitioner.removed"
    ORGANIZATION_REMOVED = "organization.removed"
    LOCATION_REMOVED = "location.removed"
    COVERAGE_REMOVED = "coverage.removed"
    ENCOUNTER_REMOVED = "encounter.removed"
    CHARGE_REMOVED = "charge.removed"
    CLAIM_REMOVED = "claim.removed"
    CLAIM_STATUS_REMOVED = "claim_status.removed"
    REMITTANCE_REMOVED = "remittance.removed"
    ELIGIBILITY_REMOVED = "eligibility.removed"
    SUPPLY_ITEM_REMOVED = "supply.item.removed"
    SUPPLY_INVENTORY_REMOVED = "supply.inventory.removed"
    SUPPLY_ORDER_REMOVED = "supply.order.removed"
    SUPPLY_ORDER_ACKNOWLEDGMENT_REMOVED = "supply.order_acknowledgment.removed"
    SUPPLY_SHIP_NOTICE_REMOVED = "supply.ship_notice.removed"
    SUPPLY_INVOICE_REMOVED = "supply.invoice.removed"
    APPOINTMENT_REMOVED = "appointment.removed"
    # ADT triggers beyond admit/transfer/discharge (docs/hl7v2-mappings.md, the ADT table)
    ENCOUNTER_CLASS_CHANGED = "encounter.class_changed"  # A06 out→in, A07 in→out
    ENCOUNTER_TRANSFER_CANCELLED = "encounter.transfer_cancelled"  # A12
    ENCOUNTER_TRANSFER_PENDING = "encounter.transfer_pending"  # A15
    ENCOUNTER_DISCHARGE_PENDING = "encounter.discharge_pending"  # A16
    ENCOUNTER_PENDING_CANCELLED = "encounter.pending_cancelled"  # A25, A26
    ENCOUNTER_LEAVE_STARTED = "encounter.leave_started"  # A21
    ENCOUNTER_LEAVE_ENDED = "encounter.leave_ended"  # A22
    ENCOUNTER_LEAVE_CANCELLED = "encounter.leave_cancelled"  # A52
    ENCOUNTER_LEAVE_RETURN_CANCELLED = "encounter.leave_return_cancelled"  # A53
    PATIENT_IDENTIFIER_CHANGED = "patient.identifier_changed"  # A46, A47, A48
    APPOINTMENT_DISCONTINUED = "appointment.discontinued"  # SIU S16
    ALLERGY_UPDATED = "allergy.updated"  # ADT A60 IAM/AL1
    ALLERGY_REMOVED = "allergy.removed"  # ADT A60 IAM-6 = D, a FHIR DELETE
    RESULT_REPORTED = "result.reported"  # ORU^R01 OBX / FHIR Observation
    REPORT_ISSUED = "report.issued"  # ORU^R01 OBR / FHIR DiagnosticReport
    DOCUMENT_REPORTED = "document.reported"  # MDM^T02 / FHIR DocumentReference
    RESULT_REMOVED = "result.removed"
    REPORT_REMOVED = "report.removed"
    DOCUMENT_REMOVED = "document.removed"
    IMMUNIZATION_RECORDED = "immunization.recorded"  # VXU^V04 RXA-21 A/U, FHIR Immunization
    # RXA-21 D: the dose was recorded in error; the record stays, as entered-in-error
    IMMUNIZATION_ENTERED_IN_ERROR = "immunization.entered_in_error"
    IMMUNIZATION_REMOVED = "immunization.removed"


class Provenance(CanonicalModel):
    """Where an event came from: which system, through which port, from which message."""

    source_system: str
    source_port: str | None = None
    format: str  # hl7v2, fhir, x12, canonical
    message_key: str | None = None  # ADT^A04, 837P, Patient
    control_id: str | None = None  # MSH-10, ISA13/GS06/ST02, Bundle.id or request id
    message_id: str | None = None  # id of the stored raw message
    received_at: datetime | None = None
    recorded_at: datetime | None = None  # message timestamp as the sender stated it (MSH-7)


class Event(CanonicalModel):
    """One fact about one entity.

    ``id`` is random until the pipeline gives the event its stable id (``hub.ids``); the
    mappings leave it alone.

    ``replaces`` lists the records a merge retires (``patient.merged``); ``related`` holds any
    other records the fact concerns (the other appointment of a conflict).
    """

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    kind: EventKind
    entity: Entity
    provenance: Provenance
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    replaces: list[Ref] = Field(default_factory=list)
    related: list[Ref] = Field(default_factory=list)
    subject_identifiers: list[Identifier] = Field(default_factory=list)
    note: str | None = None


#: entity type → the kind of event that says a record of it was removed at its source
REMOVED: Mapping[EntityType, EventKind] = MappingProxyType(
    {
        EntityType.PATIENT: EventKind.PATIENT_REMOVED,
        EntityType.PRACTITIONER: EventKind.PRACTITIONER_REMOVED,
        EntityType.ORGANIZATION: EventKind.ORGANIZATION_REMOVED,
        EntityType.LOCATION: EventKind.LOCATION_REMOVED,
        EntityType.COVERAGE: EventKind.COVERAGE_REMOVED,
        EntityType.APPOINTMENT: EventKind.APPOINTMENT_REMOVED,
        EntityType.ENCOUNTER: EventKind.ENCOUNTER_REMOVED,
        EntityType.CHARGE: EventKind.CHARGE_REMOVED,
        EntityType.CLAIM: EventKind.CLAIM_REMOVED,
        EntityType.CLAIM_STATUS: EventKind.CLAIM_STATUS_REMOVED,
        EntityType.REMITTANCE: EventKind.REMITTANCE_REMOVED,
        EntityType.ELIGIBILITY_CHECK: EventKind.ELIGIBILITY_REMOVED,
        EntityType.SUPPLY_ITEM: EventKind.SUPPLY_ITEM_REMOVED,
        EntityType.INVENTORY_LEVEL: EventKind.SUPPLY_INVENTORY_REMOVED,
        EntityType.PURCHASE_ORDER: EventKind.SUPPLY_ORDER_REMOVED,
        EntityType.ORDER_ACKNOWLEDGMENT: EventKind.SUPPLY_ORDER_ACKNOWLEDGMENT_REMOVED,
        EntityType.SHIP_NOTICE: EventKind.SUPPLY_SHIP_NOTICE_REMOVED,
        EntityType.INVOICE: EventKind.SUPPLY_INVOICE_REMOVED,
        EntityType.ALLERGY: EventKind.ALLERGY_REMOVED,
        EntityType.OBSERVATION: EventKind.RESULT_REMOVED,
        EntityType.DIAGNOSTIC_REPORT: EventKind.REPORT_REMOVED,
        EntityType.DOCUMENT: EventKind.DOCUMENT_REMOVED,
        EntityType.IMMUNIZATION: EventKind.IMMUNIZATION_REMOVED,
    }
)

#: the removal kinds: the record is gone (a tombstone version), not merely changed
REMOVALS: frozenset[EventKind] = frozenset(REMOVED.values())
