"""Canonical events: facts with a kind, about one entity, with where they came from.

The event kind is the routing key on ``carehub.ingress`` and ``carehub.events``; systems
subscribe to patterns of kinds (``patient.*``, ``claim.#``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from hub.canonical.base import CanonicalModel, Identifier, Ref
from hub.canonical.entities import Entity

__all__ = ["Event", "EventKind", "Provenance"]


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
