"""FHIR AllergyIntolerance ↔ canonical Allergy (HL7 v2 IAM/AL1, ADT^A60).

``clinicalStatus``/``verificationStatus`` are their code systems' codes (the canonical
record keeps the code); ``type`` ↔ ``kind``; each ``reaction`` keeps its manifestations and
severity. A record without a clinical status is written *active* unless it was entered in
error (as the V2-to-FHIR guide assigns it; FHIR's ait-1/ait-2 rules); a reaction severity
without a manifestation cannot be written (``reaction.manifestation`` is required) and is
dropped.
"""

from __future__ import annotations

from hub.canonical import Allergy, AllergyReaction, EntityType, EventKind
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import coded, identifier, leaf, reference
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
    get_strs,
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

__all__ = ["CLINICAL", "MAPPING", "VERIFICATION", "allergy_from_fhir", "allergy_to_fhir"]

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_ENTERED_IN_ERROR = "entered-in-error"


def _status_code(resource: Json, key: str, system: str) -> str | None:
    """The code of the status CodeableConcept's coding in ``system`` (else its first)."""
    path = f"AllergyIntolerance.{key}"
    concept = get_obj(resource, key, path)
    if concept is None:
        return None
    codings = get_list(concept, "coding", f"{path}.coding")
    chosen = next((c for c in codings if c.get("system") == system), None)
    if chosen is None and codings:
        chosen = codings[0]
    return get_str(chosen, "code", f"{path}.coding.code") if chosen else None


def _reaction(obj: Json, n: int) -> AllergyReaction | None:
    path = f"AllergyIntolerance.reaction[{n}]"
    found = [
        c
        for i, m in enumerate(get_list(obj, "manifestation", f"{path}.manifestation"))
        if (c := coded_from(m, f"{path}.manifestation[{i}]")) is not None
    ]
    reaction = AllergyReaction(
        manifestations=found, severity=get_str(obj, "severity", f"{path}.severity")
    )
    return None if reaction == AllergyReaction() else reaction


def allergy_from_fhir(resource: Json, ctx: FhirMapContext) -> Allergy:
    """FHIR AllergyIntolerance → canonical Allergy."""
    resource = expect_resource(resource, "AllergyIntolerance")
    entity_id, kept = resource_id_from(resource, EntityType.ALLERGY, ctx)
    reactions = [
        r
        for n, obj in enumerate(get_list(resource, "reaction", "AllergyIntolerance.reaction"))
        if (r := _reaction(obj, n)) is not None
    ]
    notes = [
        text
        for n, obj in enumerate(get_list(resource, "note", "AllergyIntolerance.note"))
        if (text := get_str(obj, "text", f"AllergyIntolerance.note[{n}].text"))
    ]
    return build(
        Allergy,
        ctx,
        "AllergyIntolerance",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "AllergyIntolerance.identifier"),
                "AllergyIntolerance.identifier",
                ctx,
            ),
            *kept,
        ],
        patient=ref_from(
            get_obj(resource, "patient", "AllergyIntolerance.patient"),
            "AllergyIntolerance.patient",
            ctx,
            (EntityType.PATIENT,),
        ),
        code=coded_from(
            get_obj(resource, "code", "AllergyIntolerance.code"), "AllergyIntolerance.code"
        ),
        category=get_strs(resource, "category", "AllergyIntolerance.category"),
        kind=get_str(resource, "type", "AllergyIntolerance.type"),
        clinical_status=_status_code(resource, "clinicalStatus", CLINICAL),
        verification_status=_status_code(resource, "verificationStatus", VERIFICATION),
        criticality=get_str(resource, "criticality", "AllergyIntolerance.criticality"),
        onset=when_from(resource.get("onsetDateTime"), "AllergyIntolerance.onsetDateTime"),
        recorded_at=when_from(resource.get("recordedDate"), "AllergyIntolerance.recordedDate"),
        reactions=reactions,
        note="\n".join(notes) or None,
    )


def _status_to(system: str, code: str | None) -> Json | None:
    return {"coding": [{"system": system, "code": code}]} if code else None


def _clinical(allergy: Allergy) -> str | None:
    if allergy.verification_status == _ENTERED_IN_ERROR:
        return None  # ait-2: no clinical status for a record entered in error
    return allergy.clinical_status or "active"


def allergy_to_fhir(allergy: Allergy, ctx: FhirMapContext) -> Json:
    """Canonical Allergy → FHIR AllergyIntolerance (``patient`` is required: a record without
    one is written with the reference the context gives, as every other resource)."""
    return compact(
        {
            "resourceType": "AllergyIntolerance",
            "id": resource_id_to(allergy.id, allergy.identifiers, EntityType.ALLERGY, ctx),
            "identifier": identifiers_to(allergy.identifiers, ctx),
            "clinicalStatus": _status_to(CLINICAL, _clinical(allergy)),
            "verificationStatus": _status_to(VERIFICATION, allergy.verification_status),
            "type": allergy.kind,
            "category": list(allergy.category),
            "criticality": allergy.criticality,
            "code": coded_to(allergy.code),
            "patient": ref_to(allergy.patient, ctx),
            "onsetDateTime": datetime_to(allergy.onset, ctx),
            "recordedDate": datetime_to(allergy.recorded_at, ctx),
            "reaction": [
                compact(
                    {
                        "manifestation": [coded_to(m) for m in r.manifestations],
                        "severity": r.severity,
                    }
                )
                for r in allergy.reactions
                if r.manifestations
            ],
            "note": [{"text": allergy.note}] if allergy.note else [],
        }
    )


def _event(allergy: Allergy, previous: Allergy | None) -> EventKind:
    return EventKind.ALLERGY_UPDATED


MAPPING = ResourceMapping(
    resource_type="AllergyIntolerance",
    entity_types=(EntityType.ALLERGY,),
    to_fhir=allergy_to_fhir,
    from_fhir=allergy_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("AllergyIntolerance.id"),
        *identifier("AllergyIntolerance.identifier"),
        *leaf(f"AllergyIntolerance.clinicalStatus.coding.where(system = '{CLINICAL}').code"),
        *leaf(
            f"AllergyIntolerance.verificationStatus.coding.where(system = '{VERIFICATION}').code"
        ),
        *leaf("AllergyIntolerance.type"),
        *leaf("AllergyIntolerance.category"),
        *leaf("AllergyIntolerance.criticality"),
        *coded("AllergyIntolerance.code"),
        *reference("AllergyIntolerance.patient", ("Patient",)),
        *leaf("AllergyIntolerance.onsetDateTime", "datetime"),
        *leaf("AllergyIntolerance.recordedDate", "datetime"),
        *coded("AllergyIntolerance.reaction.manifestation"),
        *leaf("AllergyIntolerance.reaction.where(manifestation.exists()).severity"),
        *leaf("AllergyIntolerance.note.text"),
    ),
    notes=(
        "clinicalStatus and verificationStatus keep their code; a record without a clinical "
        "status is written active unless entered in error.",
        "onset other than onsetDateTime, encounter, recorder, asserter, lastOccurrence and a "
        "reaction's substance, description, onset, exposure route and notes are dropped.",
        "a reaction severity without a manifestation is dropped (manifestation is required).",
    ),
)
