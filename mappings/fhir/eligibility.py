"""FHIR CoverageEligibilityRequest / CoverageEligibilityResponse ↔ canonical EligibilityCheck
(X12 270/271 meanings: one canonical record holds the question and its answer).

Request: ``identifier[0].value`` ↔ ``trace_number`` (TRN02), ``patient``, ``created`` ↔
``requested_at``, ``servicedDate`` ↔ ``service_date``, ``provider``, ``insurer`` ↔ ``payer``,
``item.category`` codes ↔ ``service_types`` (X12 service type codes, EQ01).

Response: the same identity fields, ``created`` ↔ ``responded_at``, ``insurance[0].inforce`` ↔
``active``, ``insurance.item.benefit`` ↔ ``benefits`` (benefit type ↔ EB01: deductible C,
copay B, copay-percent A, copay-maximum G, benefit F; other types kept verbatim),
``error.code`` ↔ ``errors``. ``request`` is 1..1: it is written as
``CoverageEligibilityRequest/<id of this check>`` (both resources share the canonical id) or,
without an id, as a logical reference by the trace number; read, it is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from hub.canonical import (
    Benefit,
    Coded,
    EligibilityCheck,
    EntityType,
    EventKind,
    Identifier,
    Ref,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, money, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    date_from,
    date_to,
    datetime_from,
    datetime_to,
    decimal_from,
    decimal_to,
    get_bool,
    get_list,
    get_obj,
    get_str,
    money_from,
    money_to,
)
from mappings.fhir.references import (
    identifier_to,
    identifiers_from,
    identifiers_to,
    party_from,
    party_to,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "MAPPINGS",
    "SERVICE_TYPE_SYSTEM",
    "eligibility_request_from_fhir",
    "eligibility_request_to_fhir",
    "eligibility_response_from_fhir",
    "eligibility_response_to_fhir",
]

SERVICE_TYPE_SYSTEM = "https://x12.org/codes/service-type-codes"
BENEFIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-type"
TRACE_NAMESPACE = "TRN"
#: display of a required Coverage reference the canonical model cannot fill
UNKNOWN_COVERAGE = "coverage not kept by carehub"
_EB01 = {
    "deductible": "C",
    "copay": "B",
    "copay-percent": "A",
    "copay-maximum": "G",
    "benefit": "F",
}
_BENEFIT_TYPE = {v: k for k, v in _EB01.items()}
_STATUS_ONLY = {"1", "6"}  # EB01 active/inactive coverage: carried by insurance.inforce
_PATIENT = (EntityType.PATIENT,)
_PROVIDER = (EntityType.PRACTITIONER, EntityType.ORGANIZATION)
_ORG = (EntityType.ORGANIZATION,)


# --------------------------------------------------------------------------- shared parts


def _common(resource: Json, kind: str, ctx: FhirMapContext) -> dict[str, object]:
    entity_id, kept = resource_id_from(resource, EntityType.ELIGIBILITY_CHECK, ctx)
    identifiers = identifiers_from(
        get_list(resource, "identifier", f"{kind}.identifier"), f"{kind}.identifier", ctx
    )
    patient = party_from(
        get_obj(resource, "patient", f"{kind}.patient"), f"{kind}.patient", ctx, _PATIENT
    )
    return {
        "id": entity_id,
        "identifiers": [*identifiers, *kept],
        "trace_number": identifiers[0].value if identifiers else None,
        "patient": patient.ref if patient else None,
        "payer": party_from(
            get_obj(resource, "insurer", f"{kind}.insurer"), f"{kind}.insurer", ctx, _ORG
        ),
        "service_date": date_from(resource.get("servicedDate"), f"{kind}.servicedDate"),
    }


def _identifiers(check: EligibilityCheck, ctx: FhirMapContext) -> list[Json]:
    """Identifiers, plus the trace number when no identifier already holds it."""
    out = identifiers_to(check.identifiers, ctx)
    if check.trace_number and all(i.value != check.trace_number for i in check.identifiers):
        out.append(identifier_to(Identifier(system=TRACE_NAMESPACE, value=check.trace_number), ctx))
    return out


def _required(value: Json | str | None, location: str) -> Json | str:
    if value is None:
        raise MappingError(
            "required by FHIR but not known for this eligibility check", location=location
        )
    return value


def _head(check: EligibilityCheck, kind: str, ctx: FhirMapContext) -> Json:
    return {
        "resourceType": kind,
        "id": resource_id_to(check.id, check.identifiers, EntityType.ELIGIBILITY_CHECK, ctx),
        "identifier": _identifiers(check, ctx),
        "status": "active",
        "purpose": ["benefits" if check.service_types or check.benefits else "validation"],
        "patient": _required(ref_to(check.patient, ctx), f"{kind}.patient"),
        "servicedDate": date_to(check.service_date),
        "insurer": _required(
            party_to(check.payer, EntityType.ORGANIZATION, ctx), f"{kind}.insurer"
        ),
    }


# --------------------------------------------------------------------------- request


def _service_types(resource: Json) -> list[str]:
    codes: list[str] = []
    for i, item in enumerate(get_list(resource, "item", "CoverageEligibilityRequest.item")):
        category = coded_from(
            get_obj(item, "category", "CoverageEligibilityRequest.item"),
            f"CoverageEligibilityRequest.item[{i}].category",
        )
        codes += [category.code] if category and category.code else []
    return codes


def eligibility_request_from_fhir(resource: Json, ctx: FhirMapContext) -> EligibilityCheck:
    """FHIR CoverageEligibilityRequest (X12 270) → canonical EligibilityCheck."""
    kind = "CoverageEligibilityRequest"
    resource = expect_resource(resource, kind)
    return build(
        EligibilityCheck,
        ctx,
        kind,
        **_common(resource, kind, ctx),
        requested_at=datetime_from(resource.get("created"), f"{kind}.created"),
        provider=party_from(
            get_obj(resource, "provider", f"{kind}.provider"), f"{kind}.provider", ctx, _PROVIDER
        ),
        service_types=_service_types(resource),
    )


def eligibility_request_to_fhir(check: EligibilityCheck, ctx: FhirMapContext) -> Json:
    """Canonical EligibilityCheck → FHIR CoverageEligibilityRequest."""
    kind = "CoverageEligibilityRequest"
    items = [
        {"category": {"coding": [{"system": SERVICE_TYPE_SYSTEM, "code": code}]}}
        for code in check.service_types
    ]
    return compact(
        {
            **_head(check, kind, ctx),
            "created": _required(datetime_to(check.requested_at, ctx), f"{kind}.created"),
            "provider": party_to(check.provider, EntityType.ORGANIZATION, ctx),
            "item": items,
        }
    )


# --------------------------------------------------------------------------- response


def _benefit(item: Json, entry: Json, path: str) -> Benefit:
    kind = coded_from(get_obj(entry, "type", f"{path}.type"), f"{path}.type")
    code = (kind.code or kind.display or "") if kind else ""
    category = coded_from(get_obj(item, "category", "category"), "category")
    network = coded_from(get_obj(item, "network", "network"), "network")
    term = coded_from(get_obj(item, "term", "term"), "term")
    description = get_str(item, "description", "description")
    return Benefit(
        info=_EB01.get(code, code),
        service_types=[category.code] if category and category.code else [],
        time_period=term.code if term else None,
        amount=money_from(
            get_obj(entry, "allowedMoney", f"{path}.allowedMoney"), f"{path}.allowedMoney"
        ),
        percent=decimal_from(entry.get("allowedUnsignedInt"), f"{path}.allowedUnsignedInt"),
        in_network={"in": True, "out": False}.get(network.code or "") if network else None,
        messages=[description] if description else [],
    )


def _benefits(insurance: Json, path: str) -> list[Benefit]:
    found: list[Benefit] = []
    for i, item in enumerate(get_list(insurance, "item", f"{path}.item")):
        entries = get_list(item, "benefit", f"{path}.item[{i}].benefit")
        found += [
            _benefit(item, e, f"{path}.item[{i}].benefit[{j}]") for j, e in enumerate(entries)
        ]
    return found


def _errors(resource: Json) -> list[Coded]:
    errors = get_list(resource, "error", "CoverageEligibilityResponse.error")
    found = (
        coded_from(get_obj(e, "code", "code"), f"CoverageEligibilityResponse.error[{i}].code")
        for i, e in enumerate(errors)
    )
    return [c for c in found if c is not None]


def eligibility_response_from_fhir(resource: Json, ctx: FhirMapContext) -> EligibilityCheck:
    """FHIR CoverageEligibilityResponse (X12 271) → canonical EligibilityCheck."""
    kind = "CoverageEligibilityResponse"
    resource = expect_resource(resource, kind)
    insurance = get_list(resource, "insurance", f"{kind}.insurance")
    first = insurance[0] if insurance else {}
    return build(
        EligibilityCheck,
        ctx,
        kind,
        **_common(resource, kind, ctx),
        responded_at=datetime_from(resource.get("created"), f"{kind}.created"),
        provider=party_from(
            get_obj(resource, "requestor", f"{kind}.requestor"), f"{kind}.requestor", ctx, _PROVIDER
        ),
        active=get_bool(first, "inforce", f"{kind}.insurance[0].inforce"),
        benefits=_benefits(first, f"{kind}.insurance[0]"),
        errors=_errors(resource),
    )


def _item_key(benefit: Benefit) -> tuple[object, ...]:
    return (
        tuple(benefit.service_types),
        benefit.in_network,
        benefit.time_period,
        tuple(benefit.messages),
    )


def _benefit_to(benefit: Benefit) -> Json:
    code = _BENEFIT_TYPE.get(benefit.info, benefit.info)
    return compact(
        {
            "type": {"coding": [{"system": BENEFIT_TYPE_SYSTEM, "code": code}]},
            "allowedUnsignedInt": decimal_to(benefit.percent),
            "allowedMoney": money_to(benefit.amount),
        }
    )


def _items_to(benefits: Sequence[Benefit]) -> list[Json]:
    """Consecutive benefits sharing category/network/term/description make one item."""
    items: list[Json] = []
    shown = [b for b in benefits if b.info not in _STATUS_ONLY]
    for _, group in groupby(shown, key=_item_key):
        members = list(group)
        head = members[0]
        items.append(
            compact(
                {
                    "category": {
                        "coding": [{"system": SERVICE_TYPE_SYSTEM, "code": head.service_types[0]}]
                    }
                    if head.service_types
                    else None,
                    "description": head.messages[0] if head.messages else None,
                    "network": {"coding": [{"code": "in" if head.in_network else "out"}]}
                    if head.in_network is not None
                    else None,
                    "term": {"coding": [{"code": head.time_period}]} if head.time_period else None,
                    "benefit": [_benefit_to(b) for b in members],
                }
            )
        )
    return items


def _request_ref(check: EligibilityCheck, ctx: FhirMapContext) -> Json:
    ref = Ref(type=EntityType.ELIGIBILITY_CHECK, id=check.id)
    if check.id is not None and (literal := ref_to(ref, ctx)):
        return {
            "reference": literal["reference"].replace(
                "EligibilityCheck/", "CoverageEligibilityRequest/"
            )
        }
    if check.trace_number:
        return {
            "identifier": identifier_to(
                Identifier(system=TRACE_NAMESPACE, value=check.trace_number), ctx
            )
        }
    raise MappingError(
        "no request id or trace number to name the request by",
        location="CoverageEligibilityResponse.request",
    )


def _coverage_ref(check: EligibilityCheck, ctx: FhirMapContext) -> Json:
    """``insurance.coverage`` (1..1): the canonical check keeps no Coverage reference, so the
    coverage is named by the subscriber's member id when known, else by a plain display."""
    member = check.subscriber.identifiers[:1] if check.subscriber else []
    if member:
        return {"type": "Coverage", "identifier": identifier_to(member[0], ctx)}
    return {"display": UNKNOWN_COVERAGE}


def eligibility_response_to_fhir(check: EligibilityCheck, ctx: FhirMapContext) -> Json:
    """Canonical EligibilityCheck → FHIR CoverageEligibilityResponse."""
    kind = "CoverageEligibilityResponse"
    insurance = compact({"inforce": check.active, "item": _items_to(check.benefits)})
    if insurance:
        insurance = {"coverage": _coverage_ref(check, ctx), **insurance}
    return compact(
        {
            **_head(check, kind, ctx),
            "created": _required(datetime_to(check.responded_at, ctx), f"{kind}.created"),
            "requestor": party_to(check.provider, EntityType.ORGANIZATION, ctx),
            "request": _request_ref(check, ctx),
            "outcome": "error" if check.errors and not check.benefits else "complete",
            "insurance": [insurance] if insurance else None,
            "error": [{"code": coded_to(e)} for e in check.errors if coded_to(e)],
        }
    )


# --------------------------------------------------------------------------- registry entries


def _requested(check: EligibilityCheck, previous: EligibilityCheck | None) -> EventKind:
    return EventKind.ELIGIBILITY_REQUESTED


def _reported(check: EligibilityCheck, previous: EligibilityCheck | None) -> EventKind:
    return EventKind.ELIGIBILITY_REPORTED


def _shared(kind: str) -> tuple[Carried, ...]:
    return (
        *leaf(f"{kind}.id"),
        *identifier(f"{kind}.identifier"),
        *reference(f"{kind}.patient", ("Patient",)),
        *leaf(f"{kind}.servicedDate", "date"),
        *reference(f"{kind}.insurer", ("Organization",)),
        *leaf(f"{kind}.created", "datetime"),
    )


_ITEM = "CoverageEligibilityResponse.insurance.first().item"

MAPPINGS = (
    ResourceMapping(
        resource_type="CoverageEligibilityRequest",
        entity_types=(EntityType.ELIGIBILITY_CHECK,),
        to_fhir=eligibility_request_to_fhir,
        from_fhir=eligibility_request_from_fhir,
        event_kind=_requested,
        carried=(
            *_shared("CoverageEligibilityRequest"),
            *reference("CoverageEligibilityRequest.provider", ("Practitioner", "Organization")),
            *leaf("CoverageEligibilityRequest.item.select(category.coding.first()).code"),
        ),
        notes=(
            "identifier[0].value is also the trace number (TRN02); a trace number no "
            "identifier holds is written with system urn:carehub:id:TRN.",
            "status, priority, purpose and insurance (the Coverage asked about) are dropped; "
            "status is written active and purpose benefits/validation.",
            "item: only category (the X12 service type code) is kept.",
        ),
    ),
    ResourceMapping(
        resource_type="CoverageEligibilityResponse",
        entity_types=(EntityType.ELIGIBILITY_CHECK,),
        to_fhir=eligibility_response_to_fhir,
        from_fhir=eligibility_response_from_fhir,
        event_kind=_reported,
        carried=(
            *_shared("CoverageEligibilityResponse"),
            *reference("CoverageEligibilityResponse.requestor", ("Practitioner", "Organization")),
            *leaf("CoverageEligibilityResponse.insurance.first().inforce", "boolean"),
            *leaf(f"{_ITEM}.select(category.coding.first()).code"),
            *leaf(f"{_ITEM}.select(network.coding.first()).code"),
            *leaf(f"{_ITEM}.select(term.coding.first()).code"),
            *leaf(f"{_ITEM}.description"),
            *leaf(f"{_ITEM}.benefit.select(type.coding.first()).code"),
            *leaf(f"{_ITEM}.benefit.allowedUnsignedInt", "decimal"),
            *money(f"{_ITEM}.benefit.allowedMoney"),
            *coded("CoverageEligibilityResponse.error.code"),
        ),
        notes=(
            "request (1..1) is written from the check's id or trace number and dropped on "
            "reading; outcome, disposition, preAuthRef and form are dropped.",
            "Only the first insurance entry is kept (inforce and its benefit items); its "
            "coverage reference is dropped (no canonical field) and written as the "
            "subscriber's member id, else as the display 'coverage not kept by carehub'.",
            "A benefit item's name, productOrService, modifiers, provider, excluded, unit, "
            "authorization fields and used* values are dropped.",
        ),
    ),
)
