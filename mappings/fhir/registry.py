"""The FHIR mapping registry: an explicit value that ``carehub.app`` wires, built from the
per-family modules' ``MAPPING``/``MAPPINGS`` values (importing this module registers nothing
anywhere else)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from hub.canonical import EntityType, EventKind
from mappings.fhir import (
    allergy,
    appointment,
    claim,
    claim_response,
    coverage,
    diagnostic_report,
    document_reference,
    eligibility,
    encounter,
    explanation_of_benefit,
    immunization,
    location,
    observation,
    organization,
    patient,
    practitioner,
    supply,
)
from mappings.fhir.base import ResourceMapping

__all__ = [
    "DEFAULT_RESOURCE",
    "EVENT_RESOURCE",
    "FHIR_MAPPINGS",
    "FHIR_VERSION",
    "coverage_report",
    "resource_for",
]

#: the FHIR version the hub serves; models are fhir.resources R4B (4.3.0), see the docs
FHIR_VERSION = "4.0.1"

FHIR_MAPPINGS: Mapping[str, ResourceMapping] = MappingProxyType(
    {
        m.resource_type: m
        for m in (
            patient.MAPPING,
            *practitioner.MAPPINGS,
            organization.MAPPING,
            location.MAPPING,
            coverage.MAPPING,
            *eligibility.MAPPINGS,
            *appointment.MAPPINGS,
            encounter.MAPPING,
            claim.MAPPING,
            claim_response.MAPPING,
            explanation_of_benefit.MAPPING,
            *supply.MAPPINGS,
            allergy.MAPPING,
            observation.MAPPING,
            diagnostic_report.MAPPING,
            document_reference.MAPPING,
            immunization.MAPPING,
        )
    }
)

#: the resource a canonical entity is written as when the caller does not say
DEFAULT_RESOURCE: Mapping[EntityType, str] = MappingProxyType(
    {
        EntityType.PATIENT: "Patient",
        EntityType.PRACTITIONER: "Practitioner",
        EntityType.ORGANIZATION: "Organization",
        EntityType.LOCATION: "Location",
        EntityType.COVERAGE: "Coverage",
        EntityType.ELIGIBILITY_CHECK: "CoverageEligibilityResponse",
        EntityType.APPOINTMENT: "Appointment",
        EntityType.ENCOUNTER: "Encounter",
        EntityType.CLAIM: "Claim",
        EntityType.REMITTANCE: "ClaimResponse",
        EntityType.CLAIM_STATUS: "ClaimResponse",
        EntityType.PURCHASE_ORDER: "SupplyRequest",
        EntityType.SHIP_NOTICE: "SupplyDelivery",
        EntityType.ALLERGY: "AllergyIntolerance",
        EntityType.OBSERVATION: "Observation",
        EntityType.DIAGNOSTIC_REPORT: "DiagnosticReport",
        EntityType.DOCUMENT: "DocumentReference",
        EntityType.IMMUNIZATION: "Immunization",
    }
)

#: the resource an event is written as when its kind, not its entity, decides: one canonical
#: EligibilityCheck is the question (X12 270) or the answer (X12 271)
EVENT_RESOURCE: Mapping[EventKind, str] = MappingProxyType(
    {
        EventKind.ELIGIBILITY_REQUESTED: "CoverageEligibilityRequest",
        EventKind.ELIGIBILITY_REPORTED: "CoverageEligibilityResponse",
    }
)


def resource_for(entity_type: EntityType, event: EventKind | None = None) -> str | None:
    """The resource an entity is written as: by the event's kind when that decides
    (``EVENT_RESOURCE``), else the entity's usual resource (``DEFAULT_RESOURCE``)."""
    by_event = EVENT_RESOURCE.get(event) if event is not None else None
    return by_event or DEFAULT_RESOURCE.get(entity_type)


def coverage_report() -> dict[str, dict[str, Any]]:
    """Per resource type: canonical entity types, carried element paths (FHIRPath), dropped
    element paths (computed from the R4B model) and the mapping's notes."""
    return {name: mapping.coverage() for name, mapping in sorted(FHIR_MAPPINGS.items())}
