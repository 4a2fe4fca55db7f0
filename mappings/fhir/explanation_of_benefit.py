"""FHIR ExplanationOfBenefit ↔ canonical Remittance (X12 835 CLP meaning; the part shared
with ClaimResponse is in ``claim_answer``)."""

from __future__ import annotations

from hub.canonical import EntityType, Remittance
from mappings.fhir.base import ResourceMapping, expect_resource
from mappings.fhir.claim_answer import (
    answer_carried,
    answer_to,
    answered,
    line_payments_to,
    remittance_from,
)
from mappings.fhir.claim_shared import payer_name, required
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import Json, compact
from mappings.fhir.references import party_to, ref_to

__all__ = ["MAPPING", "eob_from_fhir", "eob_to_fhir"]


def eob_from_fhir(resource: Json, ctx: FhirMapContext) -> Remittance:
    """FHIR ExplanationOfBenefit → Remittance."""
    resource = expect_resource(resource, "ExplanationOfBenefit")
    return remittance_from(resource, "ExplanationOfBenefit", "claim", "provider", ctx)


def eob_to_fhir(remittance: Remittance, ctx: FhirMapContext) -> Json:
    """Canonical Remittance → FHIR ExplanationOfBenefit (provider and insurance are 1..1/1..*:
    the payee is the provider; the coverage, not kept, is named by the payer)."""
    out = answer_to(remittance, "ExplanationOfBenefit", ctx)
    out.update(
        {
            "claim": ref_to(remittance.claim, ctx),
            "provider": required(
                party_to(remittance.payee, EntityType.ORGANIZATION, ctx),
                "ExplanationOfBenefit.provider",
            ),
            "insurance": [{"focal": True, "coverage": {"display": payer_name(remittance.payer)}}],
            "item": line_payments_to(remittance.service_lines, "sequence"),
        }
    )
    return compact(out)


MAPPING = ResourceMapping(
    resource_type="ExplanationOfBenefit",
    entity_types=(EntityType.REMITTANCE,),
    to_fhir=eob_to_fhir,
    from_fhir=eob_from_fhir,
    event_kind=answered,
    carried=answer_carried("ExplanationOfBenefit", "claim", "provider", "sequence"),
    notes=(
        "Read as a Remittance like ClaimResponse; careTeam, diagnosis, procedure, "
        "supportingInfo, benefitBalance and insurance are dropped.",
        "insurance.coverage (1..1) is written as a display (the payer's name).",
    ),
)
