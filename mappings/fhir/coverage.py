"""FHIR Coverage ↔ canonical Coverage (IN1 / X12 2000B+2010BA meanings).

``class`` entries by type (coverage-class code system): ``group`` ↔ ``group_number`` (value)
and ``group_name`` (name); ``plan`` ↔ ``plan_name`` (name). ``Coverage.class.value`` is 1..1,
and the canonical model keeps no plan identifier, so a written plan class repeats the plan
name as its value. ``payor`` (1..*): the first one ↔ ``payer`` (an Organization, or the
Patient for self-pay).
"""

from __future__ import annotations

from hub.canonical import Coverage, EntityType, EventKind
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import coded, identifier, leaf, period, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    get_int,
    get_list,
    get_obj,
    get_str,
    period_from,
    period_to,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["COVERAGE_CLASS", "MAPPING", "coverage_from_fhir", "coverage_to_fhir"]

COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
_PATIENT = (EntityType.PATIENT,)
_PAYER = (EntityType.ORGANIZATION, EntityType.PATIENT)


def _class(resource: Json, kind: str) -> Json:
    """The first ``Coverage.class`` whose type is ``kind`` (group, plan, …)."""
    for i, entry in enumerate(get_list(resource, "class", "Coverage.class")):
        concept = get_obj(entry, "type", f"Coverage.class[{i}].type") or {}
        if any(c.get("code") == kind for c in get_list(concept, "coding", "Coverage.class")):
            return entry
    return {}


def coverage_from_fhir(resource: Json, ctx: FhirMapContext) -> Coverage:
    """FHIR Coverage → canonical Coverage."""
    resource = expect_resource(resource, "Coverage")
    entity_id, kept = resource_id_from(resource, EntityType.COVERAGE, ctx)
    group, plan = _class(resource, "group"), _class(resource, "plan")
    payors = get_list(resource, "payor", "Coverage.payor")
    return build(
        Coverage,
        ctx,
        "Coverage",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Coverage.identifier"), "Coverage.identifier", ctx
            ),
            *kept,
        ],
        status=get_str(resource, "status", "Coverage.status"),
        type=coded_from(get_obj(resource, "type", "Coverage.type"), "Coverage.type"),
        subscriber=ref_from(
            get_obj(resource, "subscriber", "Coverage.subscriber"),
            "Coverage.subscriber",
            ctx,
            _PATIENT,
        ),
        subscriber_id=get_str(resource, "subscriberId", "Coverage.subscriberId"),
        beneficiary=ref_from(
            get_obj(resource, "beneficiary", "Coverage.beneficiary"),
            "Coverage.beneficiary",
            ctx,
            _PATIENT,
        ),
        relationship=coded_from(
            get_obj(resource, "relationship", "Coverage.relationship"), "Coverage.relationship"
        ),
        period=period_from(get_obj(resource, "period", "Coverage.period"), "Coverage.period"),
        payer=ref_from(payors[0], "Coverage.payor[0]", ctx, _PAYER) if payors else None,
        group_number=get_str(group, "value", "Coverage.class.value"),
        group_name=get_str(group, "name", "Coverage.class.name"),
        plan_name=get_str(plan, "name", "Coverage.class.name"),
        order=get_int(resource, "order", "Coverage.order"),
    )


def _class_to(kind: str, value: str | None, label: str | None) -> Json | None:
    if value is None:
        return None
    concept = {"coding": [{"system": COVERAGE_CLASS, "code": kind}]}
    return compact({"type": concept, "value": value, "name": label})


def coverage_to_fhir(coverage: Coverage, ctx: FhirMapContext) -> Json:
    """Canonical Coverage → FHIR Coverage (beneficiary and payor are 1..1 and 1..*)."""
    beneficiary, payer = ref_to(coverage.beneficiary, ctx), ref_to(coverage.payer, ctx)
    if beneficiary is None or payer is None:
        missing = "beneficiary" if beneficiary is None else "payor"
        raise MappingError(
            "required by FHIR but not known for this coverage", location=f"Coverage.{missing}"
        )
    classes = [
        _class_to("group", coverage.group_number, coverage.group_name),
        _class_to("plan", coverage.plan_name, coverage.plan_name),
    ]
    return compact(
        {
            "resourceType": "Coverage",
            "id": resource_id_to(coverage.id, coverage.identifiers, EntityType.COVERAGE, ctx),
            "identifier": identifiers_to(coverage.identifiers, ctx),
            "status": coverage.status or "active",
            "type": coded_to(coverage.type),
            "subscriber": ref_to(coverage.subscriber, ctx),
            "subscriberId": coverage.subscriber_id,
            "beneficiary": beneficiary,
            "relationship": coded_to(coverage.relationship),
            "period": period_to(coverage.period, ctx),
            "payor": [payer],
            "class": [c for c in classes if c],
            "order": coverage.order,
        }
    )


def _event(coverage: Coverage, previous: Coverage | None) -> EventKind:
    return EventKind.COVERAGE_UPDATED


_GROUP = "Coverage.class.where(type.coding.code='group').first()"
_PLAN = "Coverage.class.where(type.coding.code='plan').first()"

MAPPING = ResourceMapping(
    resource_type="Coverage",
    entity_types=(EntityType.COVERAGE,),
    to_fhir=coverage_to_fhir,
    from_fhir=coverage_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("Coverage.id"),
        *identifier("Coverage.identifier"),
        *leaf("Coverage.status"),
        *coded("Coverage.type"),
        *reference("Coverage.subscriber", ("Patient",)),
        *leaf("Coverage.subscriberId"),
        *reference("Coverage.beneficiary", ("Patient",)),
        *coded("Coverage.relationship"),
        *period("Coverage.period"),
        *reference("Coverage.payor.first()", ("Organization", "Patient")),
        *leaf(f"{_GROUP}.value"),
        *leaf(f"{_GROUP}.name"),
        *leaf(f"{_PLAN}.name"),
        *leaf("Coverage.order", "integer"),
    ),
    notes=(
        "class: group (value, name) and plan (name) are kept; other classes (subgroup, "
        "subplan, class, rxbin, …) and the plan's own value are dropped. A written plan class "
        "repeats the name as its value (class.value is 1..1).",
        "Only the first payor is kept. A subscriber or beneficiary that is a RelatedPerson is "
        "dropped (no canonical entity).",
        "policyHolder, dependent, network, costToBeneficiary, subrogation and contract are "
        "dropped.",
    ),
)
