"""FHIR ClaimResponse ↔ canonical Remittance (outcome complete or partial: X12 835 CLP
meaning, see ``claim_answer``) or ClaimStatus (outcome queued or error: 277/277CA meaning,
accepted when queued).

A ClaimStatus is written with ``patient`` from the status's patient (the 277's 2100E
dependent or 2100D subscriber), ``insurer`` from its payer, ``request`` the claim (by its
patient control number), ``identifier`` its identifiers plus the payer's claim control
number, ``outcome`` queued (accepted, pending or unknown) or error (rejected),
``disposition`` the STC12 message, else the status category's name, ``preAuthPeriod``
nothing, and ``error`` the STC01-2 status code when the claim was rejected. ``created`` is
the STC02 effective date, else the time of writing."""

from __future__ import annotations

from datetime import datetime, time

from hub.canonical import ClaimStatus, EntityType, Identifier, Remittance
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.claim_answer import (
    answer_carried,
    answer_to,
    answered,
    line_payments_to,
    remittance_from,
)
from mappings.fhir.claim_shared import (
    CLAIM_TYPE,
    ORGANIZATION,
    PATIENT,
    first_identifier_value,
    required,
)
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    datetime_to,
    get_list,
    get_obj,
    get_str,
)
from mappings.fhir.references import (
    identifier_to,
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "PAYER_ICN", "claim_response_from_fhir", "claim_response_to_fhir"]

#: namespace of the payer's claim control number (X12 REF*1K / CLP07), written as
#: urn:carehub:id:payer-claim-control-number
PAYER_ICN = "payer-claim-control-number"


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
        payer_claim_control_number=_payer_icn(resource, ctx),
        status=first_error,
        payer=party_from(
            get_obj(resource, "insurer", f"{key}.insurer"), f"{key}.insurer", ctx, ORGANIZATION
        ),
        patient=party_from(
            get_obj(resource, "patient", f"{key}.patient"), f"{key}.patient", ctx, PATIENT
        ),
        message=get_str(resource, "disposition", f"{key}.disposition"),
        accepted=resource.get("outcome") == "queued",
    )


def _payer_icn(resource: Json, ctx: FhirMapContext) -> str | None:
    """The identifier in the payer-ICN namespace (as written from a 277), else
    ``identifier[0]`` (a 277CA-style answer names the claim by the payer's number)."""
    key = "ClaimResponse"
    found = identifiers_from(get_list(resource, "identifier", f"{key}.identifier"), key, ctx)
    icn = next((i.value for i in found if i.system == PAYER_ICN), None)
    return icn or first_identifier_value(resource, key, ctx)


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
    """A claim status (X12 277/277CA meaning) → ClaimResponse with outcome queued or error."""
    key = "ClaimResponse"
    rejected = status.accepted is False
    identifiers = identifiers_to(status.identifiers, ctx)
    icn = status.payer_claim_control_number
    if icn and all(i.value != icn for i in status.identifiers):
        # the payer's claim control number (REF*1K) names the claim at the payer
        identifiers.append(identifier_to(Identifier(system=PAYER_ICN, value=icn), ctx))
    when = (
        datetime.combine(status.effective_date, time(), tzinfo=ctx.clock().tzinfo)
        if status.effective_date
        else ctx.clock()
    )
    category = status.category
    disposition = status.message or (category.display or category.code if category else None)
    return compact(
        {
            "resourceType": key,
            "id": resource_id_to(status.id, status.identifiers, EntityType.CLAIM_STATUS, ctx),
            "identifier": identifiers,
            "status": "active",
            # type is 1..1 and a claim status keeps no claim kind (as for a remittance)
            "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
            "use": "claim",
            "patient": required(
                party_to(status.patient, EntityType.PATIENT, ctx), f"{key}.patient"
            ),
            "created": datetime_to(when, ctx),
            "insurer": required(
                party_to(status.payer, EntityType.ORGANIZATION, ctx), f"{key}.insurer"
            ),
            "request": ref_to(status.claim, ctx),
            "outcome": "error" if rejected else "queued",
            "disposition": disposition,
            "error": [{"code": coded_to(status.status)}]
            if rejected and coded_to(status.status)
            else None,
        }
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
        "A Remittance's type, created and outcome are not kept (no canonical field): "
        "written as professional, the time of writing, and complete.",
        "A ClaimStatus keeps outcome as accepted (queued) or rejected (error) and "
        "disposition as its message; its type is not kept (written professional) and "
        "created is not read back.",
        "A ClaimStatus (X12 277/277CA) is written with outcome queued (error when "
        "rejected), its patient (2100E dependent, else 2100D subscriber), payer, claim, "
        "the STC12 message (else the category name) as disposition, the status code as "
        "error when rejected, and created from the STC02 effective date.",
        "R4 ClaimResponse.item has no productOrService: a line's procedure is not "
        "written there (ExplanationOfBenefit carries it).",
        "A line with no amount and no adjustment is not written as a ClaimResponse.item "
        "(item.adjudication is 1..*, and the line would carry only its number).",
        "Line adjudications other than submitted/benefit/deductible/copay/X12 CAS, "
        "addItem, processNote, communicationRequest, insurance and error are dropped.",
    ),
)
