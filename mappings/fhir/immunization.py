"""FHIR Immunization ↔ canonical Immunization (US Core Immunization; V2-to-FHIR RXA/RXR/ORC
→ Immunization meanings).

``vaccineCode.coding`` ↔ ``vaccine_codes`` (CVX ``http://hl7.org/fhir/sid/cvx`` first, as
US Core wants, then NDC and the rest); ``occurrenceDateTime`` ↔ RXA-3; ``primarySource`` and
``reportOrigin`` ↔ RXA-9; ``performer`` with function ``AP`` (administering, RXA-10; an
untyped performer reads as administering) and ``OP`` (ordering, ORC-12) of table v2-0443;
``doseQuantity`` ↔ RXA-6/RXA-7 (``unit`` the display, ``code``/``system`` the UCUM code);
``manufacturer`` a reference by its MVX identifier; ``education`` the VIS statements;
``programEligibility`` and ``fundingSource`` the IG's OBX 64994-7 and 30963-3.
"""

from __future__ import annotations

from decimal import Decimal

from hub.canonical import (
    Coded,
    EntityType,
    EventKind,
    Immunization,
    ImmunizationEducation,
    ImmunizationStatus,
    Ref,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import coded, coding, identifier, leaf, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    coding_from,
    coding_to,
    compact,
    date_from,
    date_to,
    datetime_to,
    decimal_from,
    decimal_to,
    get_bool,
    get_list,
    get_obj,
    get_str,
    many,
    when_from,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "PERFORMER_FUNCTION", "immunization_from_fhir", "immunization_to_fhir"]

#: Immunization.performer.function: HL7 table 0443 provider role
PERFORMER_FUNCTION = "http://terminology.hl7.org/CodeSystem/v2-0443"
_ADMINISTERING, _ORDERING = "AP", "OP"
_PRACTITIONER = (EntityType.PRACTITIONER,)
_R = "Immunization"


# --------------------------------------------------------------------------- reading


def _status(resource: Json) -> ImmunizationStatus:
    value = get_str(resource, "status", f"{_R}.status")
    try:
        return ImmunizationStatus(value or "")
    except ValueError as exc:
        raise MappingError("unknown immunization status", location=f"{_R}.status") from exc


def _vaccine_from(resource: Json) -> list[Coded]:
    concept = get_obj(resource, "vaccineCode", f"{_R}.vaccineCode") or {}
    path = f"{_R}.vaccineCode.coding"
    codes = [
        c
        for i, obj in enumerate(get_list(concept, "coding", path))
        if (c := coding_from(obj, f"{path}[{i}]"))
    ]
    if codes:
        return codes
    text = get_str(concept, "text", f"{_R}.vaccineCode.text")
    return [Coded(display=text)] if text else []


def _performers(resource: Json, ctx: FhirMapContext) -> dict[str, list[Ref]]:
    found: dict[str, list[Ref]] = {"administered_by": [], "ordered_by": []}
    for i, obj in enumerate(get_list(resource, "performer", f"{_R}.performer")):
        path = f"{_R}.performer[{i}]"
        function = coded_from(get_obj(obj, "function", f"{path}.function"), f"{path}.function")
        code = function.code if function else _ADMINISTERING
        role = {_ADMINISTERING: "administered_by", _ORDERING: "ordered_by"}.get(code or "")
        who = ref_from(get_obj(obj, "actor", f"{path}.actor"), f"{path}.actor", ctx, _PRACTITIONER)
        if role and who:
            found[role].append(who)
    return found


def _dose_from(resource: Json) -> tuple[Decimal | None, Coded | None]:
    dose = get_obj(resource, "doseQuantity", f"{_R}.doseQuantity") or {}
    path = f"{_R}.doseQuantity"
    amount = decimal_from(dose.get("value"), f"{path}.value")
    unit = Coded(
        code=get_str(dose, "code", f"{path}.code"),
        system=get_str(dose, "system", f"{path}.system"),
        display=get_str(dose, "unit", f"{path}.unit"),
    )
    return amount, unit if unit != Coded() else None


def _education_from(resource: Json) -> list[ImmunizationEducation]:
    out = []
    for i, obj in enumerate(get_list(resource, "education", f"{_R}.education")):
        path = f"{_R}.education[{i}]"
        entry = ImmunizationEducation(
            document_type=get_str(obj, "documentType", f"{path}.documentType"),
            published=date_from(_day(obj.get("publicationDate")), f"{path}.publicationDate"),
            presented=date_from(_day(obj.get("presentationDate")), f"{path}.presentationDate"),
        )
        if entry != ImmunizationEducation():
            out.append(entry)
    return out


def _day(value: object) -> object:
    """A dateTime's day (the VIS dates are days in HL7 v2)."""
    return value.split("T", 1)[0] if isinstance(value, str) else value


def _ref(
    resource: Json, key: str, types: tuple[EntityType, ...], ctx: FhirMapContext
) -> Ref | None:
    return ref_from(get_obj(resource, key, f"{_R}.{key}"), f"{_R}.{key}", ctx, types)


def _concept(resource: Json, key: str) -> Coded | None:
    return coded_from(get_obj(resource, key, f"{_R}.{key}"), f"{_R}.{key}")


def immunization_from_fhir(resource: Json, ctx: FhirMapContext) -> Immunization:
    """FHIR Immunization → canonical Immunization."""
    resource = expect_resource(resource, _R)
    entity_id, kept = resource_id_from(resource, EntityType.IMMUNIZATION, ctx)
    amount, unit = _dose_from(resource)
    return build(
        Immunization,
        ctx,
        _R,
        id=entity_id,
        identifiers=[
            *identifiers_from(get_list(resource, "identifier", f"{_R}.identifier"), _R, ctx),
            *kept,
        ],
        status=_status(resource),
        status_reason=_concept(resource, "statusReason"),
        vaccine_codes=_vaccine_from(resource),
        patient=_ref(resource, "patient", (EntityType.PATIENT,), ctx),
        encounter=_ref(resource, "encounter", (EntityType.ENCOUNTER,), ctx),
        occurred_at=when_from(resource.get("occurrenceDateTime"), f"{_R}.occurrenceDateTime"),
        recorded=when_from(resource.get("recorded"), f"{_R}.recorded"),
        primary_source=get_bool(resource, "primarySource", f"{_R}.primarySource"),
        report_origin=_concept(resource, "reportOrigin"),
        location=_ref(resource, "location", (EntityType.LOCATION,), ctx),
        manufacturer=_ref(resource, "manufacturer", (EntityType.ORGANIZATION,), ctx),
        lot_number=get_str(resource, "lotNumber", f"{_R}.lotNumber"),
        expiration_date=date_from(resource.get("expirationDate"), f"{_R}.expirationDate"),
        site=_concept(resource, "site"),
        route=_concept(resource, "route"),
        dose_quantity=amount,
        dose_unit=unit,
        **_performers(resource, ctx),
        subpotent=get_bool(resource, "isSubpotent", f"{_R}.isSubpotent"),
        funding_source=_concept(resource, "fundingSource"),
        program_eligibility=many(
            get_list(resource, "programEligibility", f"{_R}.programEligibility"),
            f"{_R}.programEligibility",
            coded_from,
        ),
        education=_education_from(resource),
    )


# --------------------------------------------------------------------------- writing


def _vaccine_to(item: Immunization) -> Json:
    """``vaccineCode`` is 1..1: codings, or the text of a code sent without one."""
    codings = [c for c in (coding_to(v) for v in item.vaccine_codes if v.code) if c]
    if codings:
        return {"coding": codings}
    text = next((v.display for v in item.vaccine_codes if v.display), None)
    if text is None:
        raise MappingError("the vaccine (RXA-5) is required", location=f"{_R}.vaccineCode")
    return {"text": text}


def _performers_to(item: Immunization, ctx: FhirMapContext) -> list[Json]:
    out: list[Json] = []
    for code, refs in ((_ADMINISTERING, item.administered_by), (_ORDERING, item.ordered_by)):
        function = {"coding": [{"system": PERFORMER_FUNCTION, "code": code}]}
        out += [{"function": function, "actor": r} for r in (ref_to(x, ctx) for x in refs) if r]
    return out


def _dose_to(item: Immunization) -> Json | None:
    unit = item.dose_unit or Coded()
    return (
        compact(
            {
                "value": decimal_to(item.dose_quantity),
                "unit": unit.display,
                "system": unit.system,
                "code": unit.code,
            }
        )
        or None
    )


def _education_to(item: Immunization) -> list[Json]:
    """VIS statements with a document type (imm-1 needs documentType or reference)."""
    return [
        compact(
            {
                "documentType": e.document_type,
                "publicationDate": date_to(e.published),
                "presentationDate": date_to(e.presented),
            }
        )
        for e in item.education
        if e.document_type
    ]


def immunization_to_fhir(item: Immunization, ctx: FhirMapContext) -> Json:
    """Canonical Immunization → FHIR Immunization (US Core shape)."""
    patient = ref_to(item.patient, ctx)
    if patient is None:
        raise MappingError("the immunization names no patient (PID-3)", location=f"{_R}.patient")
    occurred = datetime_to(item.occurred_at, ctx)
    if occurred is None:
        raise MappingError(
            "the administration time (RXA-3) is required", location=f"{_R}.occurrenceDateTime"
        )
    return compact(
        {
            "resourceType": _R,
            "id": resource_id_to(item.id, item.identifiers, EntityType.IMMUNIZATION, ctx),
            "identifier": identifiers_to(item.identifiers, ctx),
            "status": item.status.value,
            "statusReason": coded_to(item.status_reason),
            "vaccineCode": _vaccine_to(item),
            "patient": patient,
            "encounter": ref_to(item.encounter, ctx),
            "occurrenceDateTime": occurred,
            "recorded": datetime_to(item.recorded, ctx),
            "primarySource": item.primary_source,
            "reportOrigin": coded_to(item.report_origin),
            "location": ref_to(item.location, ctx),
            "manufacturer": ref_to(item.manufacturer, ctx),
            "lotNumber": item.lot_number,
            "expirationDate": date_to(item.expiration_date),
            "site": coded_to(item.site),
            "route": coded_to(item.route),
            "doseQuantity": _dose_to(item),
            "performer": _performers_to(item, ctx),
            "isSubpotent": item.subpotent,
            "education": _education_to(item),
            "programEligibility": [c for c in (coded_to(p) for p in item.program_eligibility) if c],
            "fundingSource": coded_to(item.funding_source),
        }
    )


# --------------------------------------------------------------------------- registry entry


def _event(item: Immunization, previous: Immunization | None) -> EventKind:
    """Entered-in-error is its own kind (subscribers retract the dose); else recorded."""
    if item.status is ImmunizationStatus.ENTERED_IN_ERROR:
        return EventKind.IMMUNIZATION_ENTERED_IN_ERROR
    return EventKind.IMMUNIZATION_RECORDED


def _performer(code: str) -> str:
    if code == _ADMINISTERING:
        return f"{_R}.performer.where(function.empty() or function.coding.code='AP').actor"
    return f"{_R}.performer.where(function.coding.code='{code}').actor"


MAPPING = ResourceMapping(
    resource_type=_R,
    entity_types=(EntityType.IMMUNIZATION,),
    to_fhir=immunization_to_fhir,
    from_fhir=immunization_from_fhir,
    event_kind=_event,
    carried=(
        *leaf(f"{_R}.id"),
        *identifier(f"{_R}.identifier"),
        *leaf(f"{_R}.status"),
        *coded(f"{_R}.statusReason"),
        *coding(f"{_R}.vaccineCode.coding"),
        *leaf(f"{_R}.vaccineCode.where(coding.empty()).text"),
        *reference(f"{_R}.patient", ("Patient",)),
        *reference(f"{_R}.encounter", ("Encounter",)),
        *leaf(f"{_R}.occurrenceDateTime", "datetime"),
        *leaf(f"{_R}.recorded", "datetime"),
        *leaf(f"{_R}.primarySource", "boolean"),
        *coded(f"{_R}.reportOrigin"),
        *reference(f"{_R}.location", ("Location",)),
        *reference(f"{_R}.manufacturer", ("Organization",)),
        *leaf(f"{_R}.lotNumber"),
        *leaf(f"{_R}.expirationDate", "date"),
        *coded(f"{_R}.site"),
        *coded(f"{_R}.route"),
        *leaf(f"{_R}.doseQuantity.value", "decimal"),
        *leaf(f"{_R}.doseQuantity.unit"),
        *leaf(f"{_R}.doseQuantity.system"),
        *leaf(f"{_R}.doseQuantity.code"),
        *reference(_performer(_ADMINISTERING), ("Practitioner",)),
        *reference(_performer(_ORDERING), ("Practitioner",)),
        *leaf(f"{_R}.isSubpotent", "boolean"),
        *leaf(f"{_R}.education.where(documentType.exists()).documentType"),
        *leaf(f"{_R}.education.where(documentType.exists()).publicationDate", "date"),
        *leaf(f"{_R}.education.where(documentType.exists()).presentationDate", "date"),
        *coded(f"{_R}.programEligibility"),
        *coded(f"{_R}.fundingSource"),
    ),
    notes=(
        "occurrenceString has no canonical place (RXA-3 is a time): it is dropped, and a "
        "written Immunization needs occurrenceDateTime.",
        "Performers other than AP/OP (or untyped = administering), and those that are not "
        "Practitioners, are dropped.",
        "education entries without documentType are dropped when written (imm-1 needs "
        "documentType or reference; the VIS by vaccine type, OBX 30956-7, has no document).",
        "note, reasonCode, reasonReference, reaction, protocolApplied and subpotentReason are "
        "dropped; RXA-20 completion status is kept canonically but FHIR says it through "
        "status and isSubpotent.",
    ),
)
