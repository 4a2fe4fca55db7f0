"""What the claim family (Claim, ClaimResponse, ExplanationOfBenefit) shares: the claim-type
code system, the reference targets a claim party may name, and three small helpers for
elements FHIR requires (``identifier[0]``, 1..1 elements, the Coverage display)."""

from __future__ import annotations

from typing import Any

from hub.canonical import ClaimParty, EntityType
from hub.errors import MappingError
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import Json, get_list
from mappings.fhir.references import identifier_from

__all__ = [
    "CLAIM_TYPE",
    "ORGANIZATION",
    "PATIENT",
    "PROVIDER",
    "UNKNOWN_COVERAGE",
    "first_identifier_value",
    "payer_name",
    "required",
]

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
UNKNOWN_COVERAGE = "coverage not kept by carehub"
#: the entity types a party reference may resolve to, per role
PATIENT = (EntityType.PATIENT,)
PROVIDER = (EntityType.ORGANIZATION, EntityType.PRACTITIONER)
ORGANIZATION = (EntityType.ORGANIZATION,)


def first_identifier_value(resource: Json, path: str, ctx: FhirMapContext) -> str | None:
    """``identifier[0].value`` (CLM01 for a Claim, CLP07 for an answer)."""
    items = get_list(resource, "identifier", f"{path}.identifier")
    found = identifier_from(items[0], f"{path}.identifier[0]", ctx) if items else None
    return found.value if found else None


def required(value: Any, location: str) -> Any:
    """``value``, or ``MappingError`` at ``location`` for a 1..1 element the record lacks."""
    if value is None:
        raise MappingError("required by FHIR but not known for this record", location=location)
    return value


def payer_name(payer: ClaimParty | None) -> str:
    """A display for a required Coverage reference the canonical record cannot fill."""
    name = (payer.ref.display if payer and payer.ref else None) or (
        payer.organization_name if payer else None
    )
    return name or UNKNOWN_COVERAGE
