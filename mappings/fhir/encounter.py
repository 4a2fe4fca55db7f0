"""FHIR Encounter ↔ canonical Encounter (V2-to-FHIR PV1/PV2 → Encounter meanings).

``class`` ↔ ``patient_class``: a canonical class coded in HL7 table 0004 (I, O, E, P, …) is
written through ``fhir_patient_class.csv`` (ConceptMap table-hl70004-to-v3-actcode: I→IMP,
O→AMB, E→EMER, P→PRENC), so a visit that arrived by ADT looks like one posted as FHIR.
``type[0]`` ↔ ``admission_type`` (PV1-4), ``serviceType`` ↔ ``hospital_service`` (PV1-10),
``hospitalization.admitSource`` (PV1-14), ``dischargeDisposition`` (PV1-36), participants
typed ATND/REF/CON/ADM ↔ attending (PV1-7; an untyped participant reads as attending) /
referring (PV1-8) / consulting (PV1-9) / admitting (PV1-17).

Locations: the current one (PV1-3) is the last ``location`` entry whose status is not
``completed``, written with status ``active`` (``planned`` while the encounter is planned);
the prior one (PV1-6) is the last ``completed`` entry. Earlier history is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.canonical import Coded, Encounter, EncounterStatus, EntityType, EventKind, Ref
from hub.errors import MappingError
from mappings.fhir.base import ResourceMapping, build, expect_resource
from mappings.fhir.carried import coded, coding, identifier, leaf, period, reference
from mappings.fhir.context import FhirMapContext
from mappings.fhir.datatypes import (
    Json,
    coded_from,
    coded_to,
    coding_from,
    coding_to,
    compact,
    get_list,
    get_obj,
    get_str,
    many,
    period_from,
    period_to,
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

__all__ = ["MAPPING", "V2_0004", "encounter_from_fhir", "encounter_to_fhir"]

V2_0004 = "http://terminology.hl7.org/CodeSystem/v2-0004"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_ROLES = {"ATND": "attending", "REF": "referring", "CON": "consulting", "ADM": "admitting"}
#: R4 statuses without a canonical value, and what they are read as
_STATUS_ALIASES = {"triaged": EncounterStatus.ARRIVED}
_PRACTITIONER = (EntityType.PRACTITIONER,)


# --------------------------------------------------------------------------- reading


def _status(resource: Json) -> EncounterStatus:
    value = get_str(resource, "status", "Encounter.status") or "unknown"
    if value in _STATUS_ALIASES:
        return _STATUS_ALIASES[value]
    try:
        return EncounterStatus(value)
    except ValueError as exc:
        raise MappingError(
            f"unknown encounter status {value!r}", location="Encounter.status"
        ) from exc


def _role_of(obj: Json, path: str) -> str | None:
    types = get_list(obj, "type", f"{path}.type")
    if not types:
        return "attending"
    codes = [c.get("code") for c in get_list(types[0], "coding", f"{path}.type[0].coding")]
    return next((_ROLES[c] for c in codes if c in _ROLES), None)


def _participants(resource: Json, ctx: FhirMapContext) -> dict[str, list[Ref]]:
    found: dict[str, list[Ref]] = {role: [] for role in _ROLES.values()}
    for i, obj in enumerate(get_list(resource, "participant", "Encounter.participant")):
        path = f"Encounter.participant[{i}]"
        role = _role_of(obj, path)
        who = ref_from(
            get_obj(obj, "individual", f"{path}.individual"),
            f"{path}.individual",
            ctx,
            _PRACTITIONER,
        )
        if role and who:
            found[role].append(who)
    return found


def _location(resource: Json, ctx: FhirMapContext, completed: bool) -> Ref | None:
    entries = list(enumerate(get_list(resource, "location", "Encounter.location")))
    chosen = [(i, e) for i, e in entries if (e.get("status") == "completed") == completed]
    if not chosen:
        return None
    i, entry = chosen[-1]
    return ref_from(
        get_obj(entry, "location", f"Encounter.location[{i}].location"),
        f"Encounter.location[{i}].location",
        ctx,
        (EntityType.LOCATION,),
    )


def _first(resource: Json, key: str, path: str) -> Coded | None:
    items = get_list(resource, key, path)
    return coded_from(items[0], f"{path}[0]") if items else None


def encounter_from_fhir(resource: Json, ctx: FhirMapContext) -> Encounter:
    """FHIR Encounter → canonical Encounter."""
    resource = expect_resource(resource, "Encounter")
    entity_id, kept = resource_id_from(resource, EntityType.ENCOUNTER, ctx)
    stay = get_obj(resource, "hospitalization", "Encounter.hospitalization") or {}
    at = "Encounter.hospitalization"
    appointments = refs_from(
        get_list(resource, "appointment", "Encounter.appointment"),
        "Encounter.appointment",
        ctx,
        (EntityType.APPOINTMENT,),
    )
    return build(
        Encounter,
        ctx,
        "Encounter",
        id=entity_id,
        identifiers=[
            *identifiers_from(
                get_list(resource, "identifier", "Encounter.identifier"),
                "Encounter.identifier",
                ctx,
            ),
            *kept,
        ],
        status=_status(resource),
        patient_class=coding_from(get_obj(resource, "class", "Encounter.class"), "Encounter.class"),
        patient=ref_from(
            get_obj(resource, "subject", "Encounter.subject"),
            "Encounter.subject",
            ctx,
            (EntityType.PATIENT,),
        ),
        location=_location(resource, ctx, completed=False),
        prior_location=_location(resource, ctx, completed=True),
        period=period_from(get_obj(resource, "period", "Encounter.period"), "Encounter.period"),
        **_participants(resource, ctx),
        admission_type=_first(resource, "type", "Encounter.type"),
        hospital_service=coded_from(
            get_obj(resource, "serviceType", "Encounter.serviceType"), "Encounter.serviceType"
        ),
        admit_source=coded_from(
            get_obj(stay, "admitSource", f"{at}.admitSource"), f"{at}.admitSource"
        ),
        discharge_disposition=coded_from(
            get_obj(stay, "dischargeDisposition", f"{at}.dischargeDisposition"),
            f"{at}.dischargeDisposition",
        ),
        reason=many(
            get_list(resource, "reasonCode", "Encounter.reasonCode"),
            "Encounter.reasonCode",
            coded_from,
        ),
        appointment=appointments[0] if appointments else None,
    )


# --------------------------------------------------------------------------- writing


def _class_to(encounter: Encounter, ctx: FhirMapContext) -> Json:
    """``class`` is 1..1; table 0004 codes are translated (V2-to-FHIR ConceptMap)."""
    given = encounter.patient_class
    if given is None or (given.code is None and given.display is None):
        raise MappingError("the patient class (PV1-2) is required", location="Encounter.class")
    if given.code and given.system in (None, V2_0004, "HL70004", "0004"):
        mapped = ctx.vocab.patient_class.get(given.code)
        if mapped is not None:
            return coding_to(mapped) or {}
    return coding_to(given) or {}


def _participants_to(encounter: Encounter, ctx: FhirMapContext) -> list[Json]:
    out: list[Json] = []
    for code, role in _ROLES.items():
        refs: Sequence[Ref] = getattr(encounter, role)
        kind = {"coding": [{"system": PARTICIPATION, "code": code}]}
        out += [{"type": [kind], "individual": r} for r in (ref_to(x, ctx) for x in refs) if r]
    return out


def _locations_to(encounter: Encounter, ctx: FhirMapContext) -> list[Json]:
    status = "planned" if encounter.status is EncounterStatus.PLANNED else "active"
    pairs = [(encounter.prior_location, "completed"), (encounter.location, status)]
    return [{"location": r, "status": s} for r, s in ((ref_to(x, ctx), s) for x, s in pairs) if r]


def encounter_to_fhir(encounter: Encounter, ctx: FhirMapContext) -> Json:
    """Canonical Encounter → FHIR Encounter."""
    stay = compact(
        {
            "admitSource": coded_to(encounter.admit_source),
            "dischargeDisposition": coded_to(encounter.discharge_disposition),
        }
    )
    appointment = ref_to(encounter.appointment, ctx)
    return compact(
        {
            "resourceType": "Encounter",
            "id": resource_id_to(encounter.id, encounter.identifiers, EntityType.ENCOUNTER, ctx),
            "identifier": identifiers_to(encounter.identifiers, ctx),
            "status": encounter.status.value,
            "class": _class_to(encounter, ctx),
            "type": [coded_to(encounter.admission_type)] if encounter.admission_type else None,
            "serviceType": coded_to(encounter.hospital_service),
            "subject": ref_to(encounter.patient, ctx),
            "participant": _participants_to(encounter, ctx),
            "appointment": [appointment] if appointment else None,
            "period": period_to(encounter.period, ctx),
            "reasonCode": [c for c in (coded_to(r) for r in encounter.reason) if c],
            "hospitalization": stay,
            "location": _locations_to(encounter, ctx),
        }
    )


# --------------------------------------------------------------------------- registry entry


_STARTED = {EncounterStatus.ARRIVED, EncounterStatus.IN_PROGRESS}


def _event(encounter: Encounter, previous: Encounter | None) -> EventKind:
    """A2: status moves first, then a location change is a transfer, else an update."""
    before = previous.status if previous else None
    if encounter.status is not before:
        by_status = {
            EncounterStatus.PLANNED: EventKind.ENCOUNTER_PLANNED,
            EncounterStatus.FINISHED: EventKind.ENCOUNTER_FINISHED,
            EncounterStatus.CANCELLED: EventKind.ENCOUNTER_CANCELLED,
            EncounterStatus.ENTERED_IN_ERROR: EventKind.ENCOUNTER_CANCELLED,
            EncounterStatus.ON_LEAVE: EventKind.ENCOUNTER_LEAVE_STARTED,
        }
        if encounter.status in _STARTED and before not in _STARTED:
            return EventKind.ENCOUNTER_STARTED
        if encounter.status in by_status:
            return by_status[encounter.status]
    if previous is not None and encounter.location != previous.location:
        return EventKind.ENCOUNTER_TRANSFERRED
    return EventKind.ENCOUNTER_UPDATED


def _participant(code: str) -> str:
    if code == "ATND":
        return "Encounter.participant.where(type.empty() or type.coding.code='ATND').individual"
    return f"Encounter.participant.where(type.coding.code='{code}').individual"


_CURRENT = "Encounter.location.where(status.empty() or status != 'completed').last().location"
_PRIOR = "Encounter.location.where(status = 'completed').last().location"

MAPPING = ResourceMapping(
    resource_type="Encounter",
    entity_types=(EntityType.ENCOUNTER,),
    to_fhir=encounter_to_fhir,
    from_fhir=encounter_from_fhir,
    event_kind=_event,
    carried=(
        *leaf("Encounter.id"),
        *identifier("Encounter.identifier"),
        *leaf("Encounter.where(status != 'triaged').status"),
        *coding("Encounter.class"),
        *coded("Encounter.type.first()"),
        *coded("Encounter.serviceType"),
        *reference("Encounter.subject", ("Patient",)),
        *(c for code in _ROLES for c in reference(_participant(code), ("Practitioner",))),
        *reference("Encounter.appointment.first()", ("Appointment",)),
        *period("Encounter.period"),
        *coded("Encounter.reasonCode"),
        *coded("Encounter.hospitalization.admitSource"),
        *coded("Encounter.hospitalization.dischargeDisposition"),
        *reference(_CURRENT, ("Location",)),
        *reference(_PRIOR, ("Location",)),
    ),
    notes=(
        "status triaged reads as arrived (no canonical value); onleave is kept (ADT A21).",
        "Only the current (last non-completed) and prior (last completed) locations are "
        "kept; statusHistory, classHistory and earlier locations are dropped.",
        "Participants other than ATND/REF/CON/ADM (or untyped = attending), and those that "
        "are not Practitioners, are dropped.",
        "diagnosis (a Condition reference) cannot be carried: canonical Diagnosis needs a "
        "code; priority, length, episodeOfCare, basedOn, account, serviceProvider, partOf and "
        "the rest of hospitalization are dropped.",
    ),
)
