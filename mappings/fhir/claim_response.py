"""FHIR ClaimResponse ↔ canonical Remittance (outcome complete or partial: X12 835 CLP
meaning, see ``claim_answer``) or ClaimStatus (outcome queued or error: 277CA meaning,
accepted when queued). A ClaimStatus cannot be written: ClaimResponse.patient is 1..1."""

from __future__ import annotations

from hub.canonical import ClaimStatus, EntityType, Remittance
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.claim_answer import (
    answer_carried,
    answer_to,
    answered,
    line_payments_to,
    remittance_from,
)
from mappings.fhir.claim_shared import ORGANIZATION, first_identifier_value
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import Json, coded_from, compact, get_list, get_obj, get_str
from mappings.fhir.references import (
    identifiers_from,
    party_from,
    party_to,
    ref_from,
    ref_to,
    resource_id_from,
)

__all__ = ["MAPPING", "claim_response_from_fhir", "claim_response_to_fhir"]


def _claim_status(resource: Json, ctx: FhirMapContext) -> ClaimStatus:
    key = "ClaimResponse"
    entity_id, kept = resource_id_from(resource, EntityType.CLAIM_STATUS, ctx)
    errors = get_list(resource, "error", f"{key}.error")
    first_error = (
        coded_from(get_obj(errors[0], "code", f"{key}.error[0]"), f"{key}.error[0].code")
        if errors
        else None
    )
    return build(
        ClaimStatus,
        ctx,
        key,
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", f"{key}.identifier"), f"{key}.identifier", ctx
            ),
            *kept,
        ],
        claim=ref_from(
            get_obj(resource, "request", f"{key}.request"),
            f"{key}.request",
            ctx,
            (EntityType.CLAIM,),
        ),
        payer_claim_control_number=first_identifier_value(resource, key, ctx),
        status=first_error,
        payer=party_from(
            get_obj(resource, "insurer", f"{key}.insurer"), f"{key}.insurer", ctx, ORGANIZATION
        ),
        message=get_str(resource, "disposition", f"{key}.disposition"),
        accepted=resource.get("outcome") == "queued",
    )


def claim_response_from_fhir(resource: Json, ctx: FhirMapContext) -> Remittance | ClaimStatus:
    """FHIR ClaimResponse → Remittance (outcome complete/partial) or ClaimStatus (queued/error)."""
    resource = expect_resource(resource, "ClaimResponse")
    if resource.get("outcome") in ("queued", "error"):
        return _claim_status(resource, ctx)
    return remittance_from(resource, "ClaimResponse", "request", "requestor", ctx)


def claim_response_to_fhir(entity: Remittance | ClaimStatus, ctx: FhirMapContext) -> Json:
    """Canonical Remittance (or ClaimStatus) → FHIR ClaimResponse."""
    if isinstance(entity, ClaimStatus):
        return _status_to(entity, ctx)
    out = answer_to(entity, "ClaimResponse", ctx)
    out.update(
        {
            "request": ref_to(entity.claim, ctx),
            "requestor": party_to(entity.payee, EntityType.ORGANIZATION, ctx),
            # item.adjudication is 1..1+: a line with no amount and no adjustment (an
            # ExplanationOfBenefit line that only names its service) has nothing to say here
            "item": [
                line
                for line in line_payments_to(entity.service_lines, "itemSequence")
                if line.get("adjudication")
            ],
        }
    )
    return compact(out)


def _status_to(status: ClaimStatus, ctx: FhirMapContext) -> Json:
    # ClaimResponse.patient is 1..1 and a canonical ClaimStatus names no patient
    raise MappingError(
        "a claim status names no patient, which ClaimResponse requires",
        location="ClaimResponse.patient",
    )


MAPPING = ResourceMapping(
    resource_type="ClaimResponse",
    entity_types=(EntityType.REMITTANCE, EntityType.CLAIM_STATUS),
    to_fhir=claim_response_to_fhir,
    from_fhir=claim_response_from_fhir,
    event_kind=answered,
    carried=answer_carried("ClaimResponse", "request", "requestor", "itemSequence"),
    notes=(
        "outcome queued/error → ClaimStatus; complete/partial → Remittance.",
        "type, created and outcome are not kept (no canonical field): written as "
        "professional, the time of writing, and complete.",
        "A ClaimStatus cannot be written (ClaimResponse.patient is 1..1, ClaimStatus names "
        "no patient): MappingError.",
        "R4 ClaimResponse.item has no productOrService: a line's procedure is not "
        "written there (ExplanationOfBenefit carries it).",
        "A line with no amount and no adjustment is not written as a ClaimResponse.item "
        "(item.adjudication is 1..*, and the line would carry only its number).",
        "Line adjudications other than submitted/benefit/deductible/copay/X12 CAS, "
        "addItem, processNote, communicationRequest, insurance and error are dropped.",
    ),
)
