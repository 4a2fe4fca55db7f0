"""FHIR Observation ↔ canonical Observation (V2-to-FHIR OBX → Observation).

``value[x]`` by the canonical value's kind: ``quantity`` → valueQuantity (comparator, UCUM
system and code kept), ``range`` → valueRange, ``ratio`` → valueRatio, ``coded`` →
valueCodeableConcept, ``text`` → valueString, ``date_time`` → valueDateTime, ``time`` →
valueTime. R4 has no valueAttachment: an ED/RP result is written in the R5 cross-version
extension ``extension-Observation.value`` as ``valueAttachment`` (and read back from it).
A result without a value carries ``dataAbsentReason`` when the record states one: from HL7
v2, OBX-11 ``X`` (results cannot be obtained) → ``not-performed`` and ``N`` (not asked) →
``not-asked``; a result without a value and without such a status (a panel header) gets
none, since the sender said nothing of why. The HL7 value type (OBX-2) is not a FHIR
element: read back, it is inferred from the value's kind (NM, SN, CWE, ST, DTM, TM, ED/RP).
"""

from __future__ import annotations

from typing import Any

from hub.canonical import (
    Attachment,
    Coded,
    EntityType,
    EventKind,
    Identifier,
    Observation,
    ObservationValue,
    Quantity,
    Range,
    Ratio,
    ReferenceRange,
    ResultStatus,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import Carried, coded, identifier, leaf, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    compact,
    datetime_from,
    datetime_to,
    decimal_from,
    decimal_to,
    get_list,
    get_obj,
    get_str,
    instant_to,
    many,
    when_from,
)
from mappings.fhir.references import (
    identifier_from,
    identifier_to,
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    refs_from,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "ATTACHMENT_VALUE",
    "DATA_ABSENT",
    "MAPPING",
    "attachment_from",
    "attachment_to",
    "observation_from_fhir",
    "observation_to_fhir",
    "quantity_from",
    "quantity_to",
]

#: the R5 cross-version extension carrying Observation.value[x] types R4 lacks
ATTACHMENT_VALUE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
_PERFORMERS = (EntityType.PRACTITIONER, EntityType.ORGANIZATION, EntityType.PATIENT)


# --------------------------------------------------------------------------- datatypes


def quantity_to(q: Quantity | None, *, simple: bool = False) -> Json | None:
    """Quantity (SimpleQuantity, without comparator, inside ranges and reference ranges).
    A unit code is written only with its system (FHIR qty-3)."""
    if q is None:
        return None
    return (
        compact(
            {
                "value": decimal_to(q.value),
                "comparator": None if simple else q.comparator,
                "unit": q.unit,
                "system": q.system,
                "code": q.code if q.system else None,
            }
        )
        or None
    )


def quantity_from(obj: Json | None, path: str) -> Quantity | None:
    if not obj:
        return None
    return Quantity(
        value=decimal_from(obj.get("value"), f"{path}.value"),
        comparator=get_str(obj, "comparator", f"{path}.comparator"),
        unit=get_str(obj, "unit", f"{path}.unit"),
        system=get_str(obj, "system", f"{path}.system"),
        code=get_str(obj, "code", f"{path}.code"),
    )


def attachment_to(att: Attachment | None) -> Json | None:
    if att is None:
        return None
    return (
        compact(
            {
                "contentType": att.content_type,
                "language": att.language,
                "data": att.data,
                "url": att.url,
                "size": att.size,
                "title": att.title,
            }
        )
        or None
    )


def attachment_from(obj: Json | None, path: str) -> Attachment | None:
    if not obj:
        return None
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise MappingError("expected an unsignedInt", location=f"{path}.size")
    return Attachment(
        content_type=get_str(obj, "contentType", f"{path}.contentType"),
        language=get_str(obj, "language", f"{path}.language"),
        data=get_str(obj, "data", f"{path}.data"),
        url=get_str(obj, "url", f"{path}.url"),
        size=size,
        title=get_str(obj, "title", f"{path}.title"),
    )


# --------------------------------------------------------------------------- value[x]


def _value_to(value: ObservationValue | None, ctx: FhirMapContext) -> Json:
    if value is None:
        return {}
    if value.quantity is not None:
        return {"valueQuantity": quantity_to(value.quantity)}
    if value.range is not None:
        low, high = value.range.low, value.range.high
        return {
            "valueRange": compact(
                {"low": quantity_to(low, simple=True), "high": quantity_to(high, simple=True)}
            )
        }
    if value.ratio is not None:
        num, den = value.ratio.numerator, value.ratio.denominator
        return {
            "valueRatio": compact({"numerator": quantity_to(num), "denominator": quantity_to(den)})
        }
    if value.coded is not None:
        return {"valueCodeableConcept": coded_to(value.coded)}
    if value.text is not None:
        return {"valueString": value.text}
    if value.date_time is not None:
        return {"valueDateTime": datetime_to(value.date_time, ctx)}
    if value.time is not None:
        return {"valueTime": value.time}
    if value.attachment is not None:
        ext = {"url": ATTACHMENT_VALUE, "valueAttachment": attachment_to(value.attachment)}
        return {"extension": [ext]}
    return {}


def _value_from(resource: Json) -> ObservationValue | None:
    path = "Observation"
    if (obj := get_obj(resource, "valueQuantity", f"{path}.valueQuantity")) is not None:
        return ObservationValue(type="NM", quantity=quantity_from(obj, f"{path}.valueQuantity"))
    if (obj := get_obj(resource, "valueRange", f"{path}.valueRange")) is not None:
        at = f"{path}.valueRange"
        low = quantity_from(get_obj(obj, "low", f"{at}.low"), f"{at}.low")
        high = quantity_from(get_obj(obj, "high", f"{at}.high"), f"{at}.high")
        return ObservationValue(type="SN", range=Range(low=low, high=high))
    if (obj := get_obj(resource, "valueRatio", f"{path}.valueRatio")) is not None:
        at = f"{path}.valueRatio"
        num = quantity_from(get_obj(obj, "numerator", f"{at}.numerator"), f"{at}.numerator")
        den = quantity_from(get_obj(obj, "denominator", f"{at}.denominator"), f"{at}.denominator")
        return ObservationValue(type="SN", ratio=Ratio(numerator=num, denominator=den))
    if (
        obj := get_obj(resource, "valueCodeableConcept", f"{path}.valueCodeableConcept")
    ) is not None:
        return ObservationValue(type="CWE", coded=coded_from(obj, f"{path}.valueCodeableConcept"))
    if (text := get_str(resource, "valueString", f"{path}.valueString")) is not None:
        return ObservationValue(type="ST" if "\n" not in text else "TX", text=text)
    if "valueDateTime" in resource:
        when = when_from(resource["valueDateTime"], f"{path}.valueDateTime")
        return ObservationValue(type="DTM", date_time=when)
    if (text := get_str(resource, "valueTime", f"{path}.valueTime")) is not None:
        return ObservationValue(type="TM", time=text)
    if "valueBoolean" in resource:
        flag = resource["valueBoolean"]
        return ObservationValue(
            type="CWE", coded=Coded(code="Y" if flag else "N", system="HL70136")
        )
    if "valueInteger" in resource:
        number = decimal_from(resource["valueInteger"], f"{path}.valueInteger")
        return ObservationValue(type="NM", quantity=Quantity(value=number))
    for i, ext in enumerate(get_list(resource, "extension", f"{path}.extension")):
        if ext.get("url") == ATTACHMENT_VALUE:
            at = f"{path}.extension[{i}].valueAttachment"
            att = attachment_from(get_obj(ext, "valueAttachment", at), at)
            if att is not None:
                return ObservationValue(
                    type="RP" if att.url and not att.data else "ED", attachment=att
                )
    return None


# --------------------------------------------------------------------------- reading


def _status(resource: Json) -> ResultStatus:
    value = get_str(resource, "status", "Observation.status") or "unknown"
    try:
        return ResultStatus(value)
    except ValueError as exc:
        raise MappingError("unknown observation status", location="Observation.status") from exc


def _range_from(resource: Json) -> ReferenceRange | None:
    ranges = get_list(resource, "referenceRange", "Observation.referenceRange")
    if not ranges:
        return None
    at = "Observation.referenceRange[0]"
    first = ranges[0]
    return ReferenceRange(
        low=quantity_from(get_obj(first, "low", f"{at}.low"), f"{at}.low"),
        high=quantity_from(get_obj(first, "high", f"{at}.high"), f"{at}.high"),
        text=get_str(first, "text", f"{at}.text"),
    )


def observation_from_fhir(resource: Json, ctx: FhirMapContext) -> Observation:
    """FHIR Observation → canonical Observation."""
    resource = expect_resource(resource, "Observation")
    entity_id, kept = resource_id_from(resource, EntityType.OBSERVATION, ctx)
    idents = identifiers_from(
        get_list(resource, "identifier", "Observation.identifier"), "Observation.identifier", ctx
    )
    orders = _orders_from(resource, ctx)
    effective = when_from(resource.get("effectiveDateTime"), "Observation.effectiveDateTime")
    if effective is None and (
        period := get_obj(resource, "effectivePeriod", "Observation.effectivePeriod")
    ):
        effective = when_from(period.get("start"), "Observation.effectivePeriod.start")
    notes = [
        text
        for i, n in enumerate(get_list(resource, "note", "Observation.note"))
        if (text := get_str(n, "text", f"Observation.note[{i}].text"))
    ]
    return build(
        Observation,
        ctx,
        "Observation",
        id=entity_id,
        identifiers=[*idents, *kept],
        status=_status(resource),
        code=coded_from(get_obj(resource, "code", "Observation.code"), "Observation.code"),
        value=_value_from(resource),
        absent_reason=coded_from(
            get_obj(resource, "dataAbsentReason", "Observation.dataAbsentReason"),
            "Observation.dataAbsentReason",
        ),
        reference_range=_range_from(resource),
        interpretation=many(
            get_list(resource, "interpretation", "Observation.interpretation"),
            "Observation.interpretation",
            coded_from,
        ),
        effective=effective,
        issued=datetime_from(resource.get("issued"), "Observation.issued"),
        method=coded_from(get_obj(resource, "method", "Observation.method"), "Observation.method"),
        patient=ref_from(
            get_obj(resource, "subject", "Observation.subject"),
            "Observation.subject",
            ctx,
            (EntityType.PATIENT,),
        ),
        encounter=ref_from(
            get_obj(resource, "encounter", "Observation.encounter"),
            "Observation.encounter",
            ctx,
            (EntityType.ENCOUNTER,),
        ),
        performers=refs_from(
            get_list(resource, "performer", "Observation.performer"),
            "Observation.performer",
            ctx,
            _PERFORMERS,
        ),
        notes=notes,
        placer_number=orders.get("PLAC"),
        filler_number=orders.get("FILL"),
    )


def _orders_from(resource: Json, ctx: FhirMapContext) -> dict[str, Identifier]:
    """``basedOn`` ServiceRequest references by identifier: the order's placer (type
    PLAC) and filler (type FILL) numbers; the first of each is kept."""
    found: dict[str, Identifier] = {}
    for i, ref in enumerate(get_list(resource, "basedOn", "Observation.basedOn")):
        ident = get_obj(ref, "identifier", f"Observation.basedOn[{i}].identifier")
        if ident is None:
            continue
        got = identifier_from(ident, f"Observation.basedOn[{i}].identifier", ctx)
        if got is not None and got.type in ("PLAC", "FILL"):
            found.setdefault(got.type, got)
    return found


def _orders_to(obs: Observation, ctx: FhirMapContext) -> list[Json]:
    """The order the result was reported under: a ServiceRequest reference by identifier
    per number (V2-to-FHIR OBR-2/OBR-3 → ServiceRequest.identifier PLAC/FILL)."""
    out = []
    for number, kind in ((obs.placer_number, "PLAC"), (obs.filler_number, "FILL")):
        if number is not None:
            typed = number if number.type else number.model_copy(update={"type": kind})
            out.append({"type": "ServiceRequest", "identifier": identifier_to(typed, ctx)})
    return out


# --------------------------------------------------------------------------- writing


def _code_to(code: Coded | None) -> Json:
    """``code`` is 1..1: an OBX without OBX-3 is written as ``unknown`` data-absent."""
    written = coded_to(code)
    if written:
        return written
    absent = {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown",
    }
    return {"extension": [absent]}


def _absent_to(obs: Observation, value: Json) -> Json | None:
    """dataAbsentReason as the record says, and only without a value (obs-6); a result
    without a value is not given a reason the sender did not state (a panel's components
    carry its values)."""
    return None if value else coded_to(obs.absent_reason)


def _range_to(rr: ReferenceRange | None) -> list[Json] | None:
    if rr is None:
        return None
    written = compact(
        {
            "low": quantity_to(rr.low, simple=True),
            "high": quantity_to(rr.high, simple=True),
            "text": rr.text,
        }
    )
    return [written] if written else None


def observation_to_fhir(obs: Observation, ctx: FhirMapContext) -> Json:
    """Canonical Observation → FHIR Observation."""
    value = _value_to(obs.value, ctx)
    effective = datetime_to(obs.effective, ctx)
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id_to(obs.id, obs.identifiers, EntityType.OBSERVATION, ctx),
        "identifier": identifiers_to(obs.identifiers, ctx),
        "basedOn": _orders_to(obs, ctx),
        "status": obs.status.value,
        "code": _code_to(obs.code),
        "subject": ref_to(obs.patient, ctx),
        "encounter": ref_to(obs.encounter, ctx),
        "effectiveDateTime": effective,
        "issued": instant_to(obs.issued, ctx),
        "performer": [r for r in (ref_to(p, ctx) for p in obs.performers) if r],
        **value,
        "dataAbsentReason": _absent_to(obs, value),
        "interpretation": [c for c in (coded_to(i) for i in obs.interpretation) if c],
        "note": [{"text": n} for n in obs.notes],
        "method": coded_to(obs.method),
        "referenceRange": _range_to(obs.reference_range),
    }
    return compact(out)


# --------------------------------------------------------------------------- registry entry


def _event(obs: Observation, previous: Observation | None) -> EventKind:
    return EventKind.RESULT_REPORTED


def _quantity_carried(base: str) -> tuple[Carried, ...]:
    return (
        Carried(f"{base}.value", "decimal"),
        *(Carried(f"{base}.{part}") for part in ("comparator", "unit", "system", "code")),
    )


_VALUE_EXT = f"Observation.extension.where(url='{ATTACHMENT_VALUE}').valueAttachment"

MAPPING = ResourceMapping(
    resource_type="Observation",
    entity_types=(EntityType.OBSERVATION,),
    to_fhir=observation_to_fhir,
    from_fhir=observation_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("Observation.id"),
        *identifier("Observation.identifier"),
        *identifier("Observation.basedOn.identifier"),
        *leaf("Observation.status"),
        *coded("Observation.code"),
        *reference("Observation.subject", ("Patient",)),
        *reference("Observation.encounter", ("Encounter",)),
        *leaf("Observation.effectiveDateTime", "datetime"),
        *leaf("Observation.issued", "datetime"),
        *reference("Observation.performer", ("Practitioner", "Organization", "Patient")),
        *_quantity_carried("Observation.valueQuantity"),
        *_quantity_carried("Observation.valueRange.low"),
        *_quantity_carried("Observation.valueRange.high"),
        *_quantity_carried("Observation.valueRatio.numerator"),
        *_quantity_carried("Observation.valueRatio.denominator"),
        *coded("Observation.valueCodeableConcept"),
        *leaf("Observation.valueString"),
        *leaf("Observation.valueDateTime", "datetime"),
        *leaf("Observation.valueTime"),
        *(Carried(f"{_VALUE_EXT}.{p}") for p in ("contentType", "data", "url", "title")),
        *coded("Observation.dataAbsentReason"),
        *coded("Observation.interpretation"),
        *leaf("Observation.note.text"),
        *coded("Observation.method"),
        *_quantity_carried("Observation.referenceRange.first().low"),
        *_quantity_carried("Observation.referenceRange.first().high"),
        *leaf("Observation.referenceRange.first().text"),
    ),
    notes=(
        "value[x] Attachment (HL7 v2 ED/RP) travels in the R5 cross-version extension "
        f"{ATTACHMENT_VALUE} (valueAttachment): R4 has no valueAttachment.",
        "valueBoolean reads as a Y/N code (HL7 table 0136) and valueInteger as a number; "
        "valuePeriod and valueSampledData are dropped.",
        "Only the first referenceRange is kept; category, specimen (no canonical Specimen "
        "resource), bodySite, device, hasMember, derivedFrom and component are dropped.",
        "An Observation without code (an OBX without OBX-3) is written with a "
        "data-absent-reason extension on code.",
    ),
)
