"""FHIR Appointment ↔ canonical Appointment (SIU SCH/AIS/AIG/AIL/AIP meanings), and the
Schedule/Slot decision.

Appointment: ``status`` ↔ ``status`` (same value set), ``start``/``end``/``minutesDuration``
(SCH-11 timing), ``serviceType[0]`` (AIS-3), ``appointmentType`` (SCH-8), ``reasonCode[0]``
(SCH-7), ``priority``, ``comment``, ``cancelationReason`` (SCH-6 on cancel),
``participant`` ↔ ``participants`` (AIP/AIL/AIG lines; the Patient participant is also
``patient``). ``identifier`` holds SCH-1 placer and SCH-2 filler ids as identifiers of type
PLAC / FILL (v2-0203), which is where ``placer_id`` / ``filler_id`` are read from.

Schedule and Slot (availability) have no canonical entity, and the hub keeps no
availability: ``from_fhir`` returns ``[]`` (nothing kept, no event), and the COVERAGE table
says every element is dropped. Written, a **Slot** is the time an Appointment occupies
(``busy``; ``busy-tentative`` while proposed/pending; ``free`` once cancelled), on the
Schedule of its first practitioner or location participant; a **Schedule** is that of a
Practitioner (``actor`` = the practitioner, ``specialty`` = its specialties) or of a Location.
Schedule ids are derived: ``<type>-<FHIR id of the actor>``.
"""

from __future__ import annotations

from hub.canonical import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    EntityType,
    EventKind,
    Identifier,
    Location,
    Practitioner,
    Ref,
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
    get_int,
    get_list,
    get_obj,
    get_str,
    instant_to,
)
from mappings.fhir.references import (
    identifiers_from,
    identifiers_to,
    ref_from,
    ref_to,
    resource_id_from,
    resource_id_to,
)

__all__ = [
    "MAPPINGS",
    "appointment_from_fhir",
    "appointment_to_fhir",
    "schedule_to_fhir",
    "slot_to_fhir",
]

_ACTORS = (
    EntityType.PATIENT,
    EntityType.PRACTITIONER,
    EntityType.LOCATION,
    EntityType.ORGANIZATION,
)
_ACTOR_NAMES = tuple(t.value for t in _ACTORS)
_REQUIRED = {"required": True, "optional": False}
PLACER, FILLER = "PLAC", "FILL"


# --------------------------------------------------------------------------- Appointment


def _participant_from(obj: Json, path: str, ctx: FhirMapContext) -> AppointmentParticipant | None:
    """One participant; actors without a canonical entity (Device, RelatedPerson, …) and
    participants without an actor are dropped."""
    actor = ref_from(get_obj(obj, "actor", f"{path}.actor"), f"{path}.actor", ctx, _ACTORS)
    if actor is None:
        return None
    roles = get_list(obj, "type", f"{path}.type")
    return AppointmentParticipant(
        kind=actor.type,
        ref=actor,
        role=coded_from(roles[0], f"{path}.type[0]") if roles else None,
        required=_REQUIRED.get(get_str(obj, "required", f"{path}.required") or ""),
        status=get_str(obj, "status", f"{path}.status"),
    )


def _status(resource: Json) -> AppointmentStatus:
    value = get_str(resource, "status", "Appointment.status")
    try:
        return AppointmentStatus(value) if value else AppointmentStatus.BOOKED
    except ValueError as exc:
        raise MappingError(
            f"unknown appointment status {value!r}", location="Appointment.status"
        ) from exc


def _typed(identifiers: list[Identifier], code: str) -> str | None:
    return next((i.value for i in identifiers if i.type == code), None)


def _first_coded(resource: Json, key: str) -> object:
    items = get_list(resource, key, f"Appointment.{key}")
    return coded_from(items[0], f"Appointment.{key}[0]") if items else None


def appointment_from_fhir(resource: Json, ctx: FhirMapContext) -> Appointment:
    """FHIR Appointment → canonical Appointment."""
    resource = expect_resource(resource, "Appointment")
    entity_id, kept = resource_id_from(resource, EntityType.APPOINTMENT, ctx)
    identifiers = identifiers_from(
        get_list(resource, "identifier", "Appointment.identifier"), "Appointment.identifier", ctx
    )
    participants = [
        p
        for i, obj in enumerate(get_list(resource, "participant", "Appointment.participant"))
        if (p := _participant_from(obj, f"Appointment.participant[{i}]", ctx))
    ]
    patient = next((p.ref for p in participants if p.kind is EntityType.PATIENT), None)
    return build(
        Appointment,
        ctx,
        "Appointment",
        id=entity_id,
        identifiers=[*identifiers, *kept],
        status=_status(resource),
        start=datetime_from(resource.get("start"), "Appointment.start"),
        end=datetime_from(resource.get("end"), "Appointment.end"),
        duration_minutes=get_int(resource, "minutesDuration", "Appointment.minutesDuration"),
        patient=patient,
        participants=participants,
        service_type=_first_coded(resource, "serviceType"),
        appointment_type=coded_from(
            get_obj(resource, "appointmentType", "Appointment.appointmentType"),
            "Appointment.appointmentType",
        ),
        reason=_first_coded(resource, "reasonCode"),
        priority=get_int(resource, "priority", "Appointment.priority"),
        comment=get_str(resource, "comment", "Appointment.comment"),
        cancellation_reason=coded_from(
            get_obj(resource, "cancelationReason", "Appointment.cancelationReason"),
            "Appointment.cancelationReason",
        ),
        placer_id=_typed(identifiers, PLACER),
        filler_id=_typed(identifiers, FILLER),
    )


def _participant_to(participant: AppointmentParticipant, ctx: FhirMapContext) -> Json:
    required = {True: "required", False: "optional"}.get(participant.required)  # type: ignore[arg-type]
    return compact(
        {
            "type": [coded_to(participant.role)] if participant.role else None,
            "actor": ref_to(participant.ref, ctx),
            "required": required,
            # participant.status is 1..1; a line that did not say is waiting for an answer
            "status": participant.status or "needs-action",
        }
    )


def _appointment_identifiers(appointment: Appointment, ctx: FhirMapContext) -> list[Json]:
    """Identifiers, plus SCH-1/SCH-2 as PLAC/FILL identifiers when none holds them yet."""
    extra = [
        Identifier(value=v, type=t)
        for v, t in ((appointment.placer_id, PLACER), (appointment.filler_id, FILLER))
        if v and _typed(appointment.identifiers, t) != v
    ]
    return identifiers_to([*appointment.identifiers, *extra], ctx)


def _participants_to(appointment: Appointment, ctx: FhirMapContext) -> list[Json]:
    lines = list(appointment.participants)
    if appointment.patient and all(p.ref != appointment.patient for p in lines):
        lines.insert(0, AppointmentParticipant(kind=EntityType.PATIENT, ref=appointment.patient))
    out = [_participant_to(p, ctx) for p in lines]
    if not out:  # participant is 1..*
        raise MappingError(
            "an appointment needs at least one participant", location="Appointment.participant"
        )
    return out


def appointment_to_fhir(appointment: Appointment, ctx: FhirMapContext) -> Json:
    """Canonical Appointment → FHIR Appointment."""
    return compact(
        {
            "resourceType": "Appointment",
            "id": resource_id_to(
                appointment.id, appointment.identifiers, EntityType.APPOINTMENT, ctx
            ),
            "identifier": _appointment_identifiers(appointment, ctx),
            "status": appointment.status.value,
            "cancelationReason": coded_to(appointment.cancellation_reason),
            "serviceType": [coded_to(appointment.service_type)]
            if appointment.service_type
            else None,
            "appointmentType": coded_to(appointment.appointment_type),
            "reasonCode": [coded_to(appointment.reason)] if appointment.reason else None,
            "priority": appointment.priority,
            "start": instant_to(appointment.start, ctx),
            "end": instant_to(appointment.end, ctx),
            "minutesDuration": appointment.duration_minutes,
            "comment": appointment.comment,
            "participant": _participants_to(appointment, ctx),
        }
    )


# --------------------------------------------------------------------------- Schedule / Slot


def _schedule_id(ref: Ref, ctx: FhirMapContext) -> str | None:
    literal = ref_to(Ref(type=ref.type, id=ref.id, identifiers=ref.identifiers), ctx) or {}
    target = literal.get("reference", "")
    if "/" not in target or ":" in target:
        return None
    return f"{ref.type.value.lower()}-{target.split('/', 1)[1]}"[:64]


_SLOT_STATUS = {
    AppointmentStatus.PROPOSED: "busy-tentative",
    AppointmentStatus.PENDING: "busy-tentative",
    AppointmentStatus.WAITLIST: "busy-tentative",
    AppointmentStatus.CANCELLED: "free",
    AppointmentStatus.ENTERED_IN_ERROR: "entered-in-error",
}


def slot_to_fhir(appointment: Appointment, ctx: FhirMapContext) -> Json:
    """Canonical Appointment → the FHIR Slot it occupies (see the module docstring)."""
    owner = next(
        (
            p.ref
            for p in appointment.participants
            if p.kind in (EntityType.PRACTITIONER, EntityType.LOCATION)
        ),
        None,
    )
    schedule_id = _schedule_id(owner, ctx) if owner else None
    if schedule_id is None or appointment.start is None or appointment.end is None:
        raise MappingError(
            "a slot needs a start, an end and a practitioner or location whose FHIR id is known",
            location="Slot.schedule",
        )
    return compact(
        {
            "resourceType": "Slot",
            "id": resource_id_to(
                appointment.id, appointment.identifiers, EntityType.APPOINTMENT, ctx
            ),
            "serviceType": [coded_to(appointment.service_type)]
            if appointment.service_type
            else None,
            "appointmentType": coded_to(appointment.appointment_type),
            "schedule": {"reference": f"Schedule/{schedule_id}"},
            "status": _SLOT_STATUS.get(appointment.status, "busy"),
            "start": instant_to(appointment.start, ctx),
            "end": instant_to(appointment.end, ctx),
        }
    )


def schedule_to_fhir(owner: Practitioner | Location, ctx: FhirMapContext) -> Json:
    """Canonical Practitioner or Location → its FHIR Schedule (the actor whose slots they are)."""
    ref = Ref(type=owner.entity_type, id=owner.id, identifiers=owner.identifiers)
    schedule_id = _schedule_id(ref, ctx)
    if schedule_id is None:
        raise MappingError("the schedule's actor has no FHIR id", location="Schedule.actor")
    specialties = owner.specialties if isinstance(owner, Practitioner) else []
    return compact(
        {
            "resourceType": "Schedule",
            "id": schedule_id,
            "active": owner.active
            if isinstance(owner, Practitioner)
            else owner.status != "inactive",
            "specialty": [c for c in (coded_to(s) for s in specialties) if c],
            "actor": [ref_to(ref, ctx)],
        }
    )


def _nothing_kept(resource_type: str) -> object:
    def read(resource: Json, ctx: FhirMapContext) -> list[object]:
        """Availability is not kept by the hub: nothing to map, no event."""
        expect_resource(resource, resource_type)
        return []

    return read


# --------------------------------------------------------------------------- registry entries


def _event(appointment: Appointment, previous: Appointment | None) -> EventKind:
    by_status = {
        AppointmentStatus.CANCELLED: EventKind.APPOINTMENT_CANCELLED,
        AppointmentStatus.NOSHOW: EventKind.APPOINTMENT_NOSHOW,
        AppointmentStatus.ENTERED_IN_ERROR: EventKind.APPOINTMENT_DELETED,
    }
    if appointment.status in by_status:
        return by_status[appointment.status]
    if previous is None:
        return EventKind.APPOINTMENT_BOOKED
    if (appointment.start, appointment.end) != (previous.start, previous.end):
        return EventKind.APPOINTMENT_RESCHEDULED
    return EventKind.APPOINTMENT_MODIFIED


def _no_event(entity: object, previous: object) -> None:
    return None


_ACTOR = "Appointment.participant.where(actor.exists())"

APPOINTMENT_CARRIED = (
    *leaf("Appointment.id"),
    *identifier("Appointment.identifier"),
    *leaf("Appointment.status"),
    *coded("Appointment.cancelationReason"),
    *coded("Appointment.serviceType.first()"),
    *coded("Appointment.appointmentType"),
    *coded("Appointment.reasonCode.first()"),
    *leaf("Appointment.priority", "integer"),
    *leaf("Appointment.start", "datetime"),
    *leaf("Appointment.end", "datetime"),
    *leaf("Appointment.minutesDuration", "integer"),
    *leaf("Appointment.comment"),
    *reference(f"{_ACTOR}.actor", _ACTOR_NAMES),
    *coded(f"{_ACTOR}.select(type.first())"),
    *leaf(f"{_ACTOR}.where(required != 'information-only').required"),
    Carried(f"{_ACTOR}.status", compare=False),  # 1..1: written needs-action when unknown
)

MAPPINGS = (
    ResourceMapping(
        resource_type="Appointment",
        entity_types=(EntityType.APPOINTMENT,),
        to_fhir=appointment_to_fhir,
        from_fhir=appointment_from_fhir,
        event_kind=_event,
        carried=APPOINTMENT_CARRIED,
        notes=(
            "Only the first serviceType and reasonCode, and the first type of a participant, "
            "are kept; participant.required information-only is dropped.",
            "A participant whose actor is a PractitionerRole, RelatedPerson, Device or "
            "HealthcareService, or who has no actor, is dropped.",
            "SCH-1/SCH-2 (placer_id/filler_id) travel as identifiers typed PLAC/FILL.",
            "Event: cancelled/noshow/entered-in-error by status; else booked when new, "
            "rescheduled when start/end moved, modified otherwise.",
            "description, slot, basedOn, specialty, serviceCategory, requestedPeriod, "
            "supportingInformation, created and patientInstruction are dropped.",
        ),
    ),
    ResourceMapping(
        resource_type="Slot",
        entity_types=(EntityType.APPOINTMENT,),
        to_fhir=slot_to_fhir,
        from_fhir=_nothing_kept("Slot"),  # type: ignore[arg-type]
        event_kind=_no_event,
        carried=(),
        notes=(
            "Availability is not kept: from_fhir returns [] and emits no event. Written "
            "from an Appointment: the slot it occupies (busy / busy-tentative / free).",
        ),
    ),
    ResourceMapping(
        resource_type="Schedule",
        entity_types=(EntityType.PRACTITIONER, EntityType.LOCATION),
        to_fhir=schedule_to_fhir,
        from_fhir=_nothing_kept("Schedule"),  # type: ignore[arg-type]
        event_kind=_no_event,
        carried=(),
        notes=(
            "Availability is not kept: from_fhir returns [] and emits no event. Written "
            "from a Practitioner or Location: the schedule whose actor it is.",
        ),
    ),
)
