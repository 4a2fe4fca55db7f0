"""FHIR Patient ↔ canonical Patient (V2-to-FHIR PID/PD1/NK1 → Patient meanings).

Merges: a ``patient.merged`` event renders as two resources (``merge_to_fhir``): the
surviving Patient with ``link: [{type: replaces, other: <retired>}]`` and the retired one,
``active: false`` with ``link: [{type: replaced-by, other: <surviving>}]``. Read back, a
``replaced-by`` link sets ``Patient.merged_into``; ``replaces`` links are returned by
``replaced_patients`` for the pipeline to put in ``Event.replaces``.
"""

from __future__ import annotations

import re

from hub.canonical import (
    AdministrativeSex,
    Coded,
    Contact,
    EntityType,
    Event,
    EventKind,
    Patient,
    Ref,
)
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import (
    Carried,
    address,
    coded,
    coding,
    identifier,
    leaf,
    name,
    reference,
    telecom,
)
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    address_from,
    address_to,
    coded_from,
    coded_to,
    coding_from,
    compact,
    date_from,
    date_to,
    datetime_to,
    get_bool,
    get_int,
    get_list,
    get_obj,
    get_str,
    many,
    name_from,
    name_to,
    telecom_from,
    telecom_to,
    when_from,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    refs_from,
    resource_id_from,
    resource_id_to,
)

__all__ = ["MAPPING", "merge_to_fhir", "patient_from_fhir", "patient_to_fhir", "replaced_patients"]

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
#: the CDC Race & Ethnicity code system US Core binds both extensions to (HL7 v2 CDCREC)
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
#: OMB minimum categories (CDC codes) and the null flavors US Core admits there; other CDC
#: codes go in ``detailed``
_OMB = {"1002-5", "2028-9", "2054-5", "2076-8", "2106-3", "2135-2", "2186-5", "UNK", "ASKU"}
#: a CDC Race & Ethnicity code (HL7 tables 0005/0189 have used them since v2.4)
_CDC_CODE = re.compile(r"[0-9]{4}-[0-9]")
_PRACTITIONER_OR_ORG = (EntityType.PRACTITIONER, EntityType.ORGANIZATION)
_CONTACT_KEPT = "Patient.contact.where(name.exists() or telecom.exists() or address.exists())"


# --------------------------------------------------------------------------- reading


def _omb_codes(resource: Json, url: str, path: str) -> list[Coded]:
    """US Core race/ethnicity extension (PID-10 / PID-22 meaning) → codes, OMB then detailed;
    the ``text`` part is kept as the display of a single code without one, or as a text-only
    value when the extension has no code."""
    found: list[Coded] = []
    for i, ext in enumerate(get_list(resource, "extension", f"{path}.extension")):
        if ext.get("url") != url:
            continue
        text = None
        for j, part in enumerate(get_list(ext, "extension", f"{path}.extension[{i}].extension")):
            if part.get("url") in ("ombCategory", "detailed"):
                at = f"{path}.extension[{i}].extension[{j}].valueCoding"
                coded = coding_from(get_obj(part, "valueCoding", at), at)
                found += [coded] if coded else []
            elif part.get("url") == "text":
                text = get_str(part, "valueString", f"{path}.extension[{i}].extension[{j}]")
        if text and not found:
            found.append(Coded(display=text))
        elif text and len(found) == 1 and not found[0].display:
            found[0] = found[0].model_copy(update={"display": text})
    return found


def _contact_from(obj: Json, path: str) -> Contact | None:
    """Patient.contact (NK1); a contact with no name, telecom or address is not kept."""
    names = obj.get("name")
    contact = Contact(
        name=name_from(names, f"{path}.name") if isinstance(names, dict) else None,
        relationship=coded_from(
            next(iter(get_list(obj, "relationship", path)), None), f"{path}.relationship[0]"
        ),
        telecom=many(get_list(obj, "telecom", f"{path}.telecom"), f"{path}.telecom", telecom_from),
        address=address_from(get_obj(obj, "address", f"{path}.address"), f"{path}.address"),
    )
    return contact if contact.name or contact.telecom or contact.address else None


def _deceased(resource: Json) -> tuple[bool | None, object]:
    when = when_from(resource.get("deceasedDateTime"), "Patient.deceasedDateTime")
    if when is not None:
        return True, when
    return get_bool(resource, "deceasedBoolean", "Patient.deceasedBoolean"), None


def _multiple_birth(resource: Json) -> bool | int | None:
    count = get_int(resource, "multipleBirthInteger", "Patient.multipleBirthInteger")
    if count is not None:
        return count
    return get_bool(resource, "multipleBirthBoolean", "Patient.multipleBirthBoolean")


def _links(resource: Json, kind: str, ctx: FhirMapContext) -> list[Ref]:
    refs: list[Ref] = []
    for i, link in enumerate(get_list(resource, "link", "Patient.link")):
        if link.get("type") == kind:
            other = ref_from(
                get_obj(link, "other", f"Patient.link[{i}].other"),
                f"Patient.link[{i}].other",
                ctx,
                (EntityType.PATIENT,),
            )
            refs += [other] if other else []
    return refs


def replaced_patients(resource: Json, ctx: FhirMapContext) -> list[Ref]:
    """``Patient.link`` of type ``replaces``: the records a merge retired (→ Event.replaces)."""
    return _links(expect_resource(resource, "Patient"), "replaces", ctx)


def _sex(resource: Json) -> AdministrativeSex | None:
    gender = get_str(resource, "gender", "Patient.gender")
    try:
        return AdministrativeSex(gender) if gender else None
    except ValueError as exc:
        raise MappingError(
            f"unknown administrative gender {gender!r}", location="Patient.gender"
        ) from exc


def patient_from_fhir(resource: Json, ctx: FhirMapContext) -> Patient:
    """FHIR Patient → canonical Patient."""
    resource = expect_resource(resource, "Patient")
    entity_id, kept = resource_id_from(resource, EntityType.PATIENT, ctx)
    deceased, deceased_at = _deceased(resource)
    replaced_by = [r.id for r in _links(resource, "replaced-by", ctx) if r.id]
    communication = next(iter(get_list(resource, "communication", "Patient.communication")), {})
    return build(
        Patient,
        ctx,
        "Patient",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Patient.identifier"), "Patient.identifier", ctx
            ),
            *kept,
        ],
        active=get_bool(resource, "active", "Patient.active"),
        names=many(get_list(resource, "name", "Patient.name"), "Patient.name", name_from),
        telecom=many(
            get_list(resource, "telecom", "Patient.telecom"), "Patient.telecom", telecom_from
        ),
        sex=_sex(resource),
        birth_date=date_from(resource.get("birthDate"), "Patient.birthDate"),
        deceased=deceased,
        deceased_at=deceased_at,
        addresses=many(
            get_list(resource, "address", "Patient.address"), "Patient.address", address_from
        ),
        marital_status=coded_from(
            get_obj(resource, "maritalStatus", "Patient.maritalStatus"), "Patient.maritalStatus"
        ),
        language=coded_from(
            get_obj(communication, "language", "Patient.communication[0]"),
            "Patient.communication[0].language",
        ),
        race=_omb_codes(resource, US_CORE_RACE, "Patient"),
        ethnicity=_omb_codes(resource, US_CORE_ETHNICITY, "Patient"),
        multiple_birth=_multiple_birth(resource),
        contacts=many(
            get_list(resource, "contact", "Patient.contact"), "Patient.contact", _contact_from
        ),
        primary_care=refs_from(
            get_list(resource, "generalPractitioner", "Patient.generalPractitioner"),
            "Patient.generalPractitioner",
            ctx,
            _PRACTITIONER_OR_ORG,
        ),
        merged_into=replaced_by[0] if replaced_by else None,
    )


# --------------------------------------------------------------------------- writing


def _cdc_coding(coded: Coded) -> Json | None:
    """A code as US Core wants it: CDC Race & Ethnicity (a CDC-shaped code from HL7 table
    0005/0189 included), or UNK/ASKU of v3-NullFlavor; any other code: None (text only)."""
    code = coded.code or ""
    if coded.system == _NULL_FLAVOR or (code in ("UNK", "ASKU") and not coded.system):
        system = _NULL_FLAVOR
    elif coded.system == CDC_RACE_ETHNICITY or _CDC_CODE.fullmatch(code):
        system = CDC_RACE_ETHNICITY
    else:
        return None
    return compact({"system": system, "code": code, "display": coded.display})


def _omb_extension(url: str, codes: list[Coded]) -> Json | None:
    """US Core race/ethnicity: ombCategory (OMB categories, at most 5 races / 1 ethnicity),
    detailed (other CDC codes), and the required ``text`` (the codes' original text)."""
    if not codes:
        return None
    limit = 5 if url == US_CORE_RACE else 1
    omb: list[Json] = []
    detailed: list[Json] = []
    for found in (_cdc_coding(c) for c in codes if c.code):
        if found is None:
            continue
        if found["code"] in _OMB and len(omb) < limit:
            omb.append({"url": "ombCategory", "valueCoding": found})
        elif found["code"] not in _OMB:
            detailed.append({"url": "detailed", "valueCoding": found})
    text = ", ".join(dict.fromkeys(c.display or c.code or "" for c in codes)).strip(", ")
    return {"url": url, "extension": [*omb, *detailed, {"url": "text", "valueString": text}]}


def _contact_to(contact: Contact) -> Json:
    return compact(
        {
            "relationship": [coded_to(contact.relationship)] if contact.relationship else None,
            "name": name_to(contact.name) if contact.name else None,
            "telecom": [telecom_to(t) for t in contact.telecom],
            "address": address_to(contact.address),
        }
    )


def _deceased_to(patient: Patient, ctx: FhirMapContext) -> Json:
    if patient.deceased_at is not None:
        return {"deceasedDateTime": datetime_to(patient.deceased_at, ctx)}
    return {} if patient.deceased is None else {"deceasedBoolean": patient.deceased}


def _multiple_birth_to(value: bool | int | None) -> Json:
    if value is None:
        return {}
    key = "multipleBirthBoolean" if isinstance(value, bool) else "multipleBirthInteger"
    return {key: value}


def _merge_link(patient: Patient, ctx: FhirMapContext) -> list[Json] | None:
    if patient.merged_into is None:
        return None
    other = ref_to(Ref(type=EntityType.PATIENT, id=patient.merged_into), ctx)
    return [{"other": other, "type": "replaced-by"}] if other else None


def patient_to_fhir(patient: Patient, ctx: FhirMapContext) -> Json:
    """Canonical Patient → FHIR Patient."""
    extensions = [
        _omb_extension(US_CORE_RACE, patient.race),
        _omb_extension(US_CORE_ETHNICITY, patient.ethnicity),
    ]
    language = coded_to(patient.language)
    return compact(
        {
            "resourceType": "Patient",
            "id": resource_id_to(patient.id, patient.identifiers, EntityType.PATIENT, ctx),
            "extension": [e for e in extensions if e],
            "identifier": identifiers_to(patient.identifiers, ctx),
            "active": patient.active,
            "name": [name_to(n) for n in patient.names],
            "telecom": [telecom_to(t) for t in patient.telecom],
            "gender": patient.sex.value if patient.sex else None,
            "birthDate": date_to(patient.birth_date),
            **_deceased_to(patient, ctx),
            "address": [address_to(a) for a in patient.addresses],
            "maritalStatus": coded_to(patient.marital_status),
            **_multiple_birth_to(patient.multiple_birth),
            "contact": [_contact_to(c) for c in patient.contacts],
            "communication": [{"language": language}] if language else None,
            "generalPractitioner": [r for r in (ref_to(p, ctx) for p in patient.primary_care) if r],
            "link": _merge_link(patient, ctx),
        }
    )


def merge_to_fhir(event: Event, ctx: FhirMapContext) -> list[Json]:
    """A ``patient.merged`` event → [surviving Patient (``replaces``), retired Patients
    (``active: false``, ``replaced-by``)]. The retired ones carry only id, identifiers, active
    and link: apply them as an update of those elements, not as a full replacement."""
    if event.kind is not EventKind.PATIENT_MERGED or not isinstance(event.entity, Patient):
        raise MappingError("expected a patient.merged event about a Patient", location="Patient")
    survivor = patient_to_fhir(event.entity, ctx)
    me = ref_to(
        Ref(type=EntityType.PATIENT, id=event.entity.id, identifiers=event.entity.identifiers), ctx
    )
    retired = [r for r in event.replaces if r.type is EntityType.PATIENT]
    links = [{"other": ref_to(r, ctx), "type": "replaces"} for r in retired]
    survivor["link"] = [*survivor.get("link", []), *(x for x in links if x["other"])]
    out = [survivor]
    for ref in retired:
        out.append(
            compact(
                {
                    "resourceType": "Patient",
                    "id": resource_id_to(ref.id, ref.identifiers, EntityType.PATIENT, ctx),
                    "identifier": identifiers_to(ref.identifiers, ctx),
                    "active": False,
                    "link": [{"other": me, "type": "replaced-by"}] if me else None,
                }
            )
        )
    return out


# --------------------------------------------------------------------------- registry entry


def _event(patient: Patient, previous: Patient | None) -> EventKind:
    return EventKind.PATIENT_REGISTERED if previous is None else EventKind.PATIENT_UPDATED


def _omb_carried(url: str) -> tuple[Carried, ...]:
    parts = f"Patient.extension.where(url='{url}').extension"
    return coding(f"{parts}.where(url='ombCategory' or url='detailed').valueCoding")


CARRIED = (
    *leaf("Patient.id"),
    *identifier("Patient.identifier"),
    Carried("Patient.active", "boolean", compare=False),  # absent is read as true
    *name("Patient.name"),
    *telecom("Patient.telecom"),
    *leaf("Patient.gender"),
    *leaf("Patient.birthDate", "date"),
    *leaf("Patient.deceasedBoolean", "boolean"),
    *leaf("Patient.deceasedDateTime", "datetime"),
    *address("Patient.address"),
    *coded("Patient.maritalStatus"),
    *leaf("Patient.multipleBirthBoolean", "boolean"),
    *leaf("Patient.multipleBirthInteger", "integer"),
    *coded(f"{_CONTACT_KEPT}.select(relationship.first())"),
    *name(f"{_CONTACT_KEPT}.name"),
    *telecom(f"{_CONTACT_KEPT}.telecom"),
    *address(f"{_CONTACT_KEPT}.address"),
    *coded("Patient.communication.first().language"),
    *reference("Patient.generalPractitioner", ("Practitioner", "Organization")),
    *reference("Patient.link.where(type='replaced-by').other", ("Patient",)),
    *_omb_carried(US_CORE_RACE),
    *_omb_carried(US_CORE_ETHNICITY),
)

MAPPING = ResourceMapping(
    resource_type="Patient",
    entity_types=(EntityType.PATIENT,),
    to_fhir=patient_to_fhir,
    from_fhir=patient_from_fhir,
    event_kind=_event,
    carried=CARRIED,
    notes=(
        "Patient.active absent is read as true and always written.",
        "Only the first HumanName prefix/suffix, the first communication language and the "
        "first contact relationship are kept.",
        "Race/ethnicity: US Core extensions with CDC Race & Ethnicity codings "
        "(urn:oid:2.16.840.1.113883.6.238; UNK/ASKU of v3-NullFlavor): OMB categories as "
        "ombCategory (race at most 5, ethnicity 1), other CDC codes as detailed, a code of "
        "another system in text only; text (1..1) is rebuilt from the displays. Read: a "
        "text-only extension is kept as text.",
        "link replaced-by → merged_into; link replaces → replaced_patients() for Event.replaces; "
        "link seealso/refer are dropped.",
        "generalPractitioner pointing at a PractitionerRole is dropped (no canonical entity).",
    ),
)
