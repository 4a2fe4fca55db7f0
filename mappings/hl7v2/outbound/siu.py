"""appointment.booked → SIU^S12, .rescheduled → S13 (or S14, see ``Hl7v2OutboundOptions``),
.modified → S14, .cancelled → S15, .discontinued → S16; all in the SIU_S12 structure."""

from __future__ import annotations

from collections.abc import Callable

from adapters.hl7v2 import Message
from hub.canonical import Appointment, AppointmentParticipant, Coded, EntityType, Event, EventKind

from .common import entity_of, new_message, ref_pid
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions

__all__ = ["render_siu"]

_EVENT_REASON = {
    "S12": Coded(code="BOOKED", display="Booked"),
    "S13": Coded(code="RESCHEDULED", display="Rescheduled"),
    "S14": Coded(code="MODIFIED", display="Modified"),
    "S15": Coded(code="CANCELLED", display="Cancelled"),
    "S16": Coded(code="DISCONTINUED", display="Discontinued"),
}
_TRIGGER = {
    EventKind.APPOINTMENT_BOOKED: "S12",
    EventKind.APPOINTMENT_MODIFIED: "S14",
    EventKind.APPOINTMENT_CANCELLED: "S15",
    EventKind.APPOINTMENT_DISCONTINUED: "S16",
}
_MINUTES = "min"


def render_siu(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """MSH, SCH, [TQ1], NTE*, [PID], RGS, AIS, AIG*, AIL*, AIP* (SIU_S12 order)."""
    appt = entity_of(event, Appointment)
    trigger = _TRIGGER.get(event.kind, options.reschedule_trigger)
    msg, w = new_message(event, options, f"SIU^{trigger}", "SIU_S12")
    add_segment(msg, "SCH", _sch(w, appt, trigger, options))
    if options.version_at_least(2, 5) and (appt.start or appt.end):
        add_segment(msg, "TQ1", {1: "1", 7: w.dtm(appt.start), 8: w.dtm(appt.end)})
    for n, line in enumerate((appt.comment or "").splitlines(), 1):
        add_segment(msg, "NTE", {1: str(n), 3: w.e(line)})
    if appt.patient is not None:
        add_segment(msg, "PID", ref_pid(w, appt.patient))
    add_segment(msg, "RGS", {1: "1"})
    _resources(msg, w, appt)
    return msg


def _sch(
    w: Writer, appt: Appointment, trigger: str, options: Hl7v2OutboundOptions
) -> dict[int, str]:
    """SCH-1/2 placer/filler ids, SCH-6 event reason (required: the cancellation reason,
    else the trigger's meaning), SCH-7 reason, SCH-8 type, SCH-9/10 duration (withdrawn in
    v2.7), SCH-11 timing (up to v2.5.1), SCH-16/SCH-20 contact and enterer (required: the
    first practitioner, else the hub), SCH-25 filler status."""
    contact = _contact(w, appt, options)
    reason = appt.cancellation_reason if trigger in ("S15", "S16") else None
    duration = appt.duration_minutes if not options.version_at_least(2, 7) else None
    fields = {
        1: _ei(w, appt, "PLAC", appt.placer_id),
        2: _ei(w, appt, "FILL", appt.filler_id),
        6: w.cwe(reason or _EVENT_REASON[trigger]),
        7: w.cwe(appt.reason),
        8: w.cwe(appt.appointment_type),
        9: w.number(duration),
        10: _MINUTES if duration is not None else "",
        16: contact,
        20: contact,
        25: w.code("hl7_appointment_status", appt.status.value),
    }
    if not options.version_at_least(2, 6) and (appt.start or appt.end):
        fields[11] = w.comps("", "", "", w.dtm(appt.start), w.dtm(appt.end))
    return fields


def _ei(w: Writer, appt: Appointment, type_: str, value: str | None) -> str:
    ident = next((i for i in appt.identifiers if i.type == type_), None)
    if ident is not None:
        return w.ei(ident.value, ident.system)
    return w.ei(value, None)


def _contact(w: Writer, appt: Appointment, options: Hl7v2OutboundOptions) -> str:
    doc = next((p.ref for p in appt.participants if p.kind is EntityType.PRACTITIONER), None)
    if doc is not None:
        return w.xcn(doc)
    return w.comps(w.e(options.sending_application))


def _resources(msg: Message, w: Writer, appt: Appointment) -> None:
    """AIS from the service type, then AIG (organisations: group resources), AIL
    (locations), AIP (practitioners), each group numbered from 1."""
    if appt.service_type is not None:
        fields = {
            1: "1",
            3: w.cwe(appt.service_type),
            4: w.dtm(appt.start),
            7: w.number(appt.duration_minutes),
            8: _MINUTES if appt.duration_minutes is not None else "",
            10: w.code("hl7_appointment_status", appt.status.value),
        }
        add_segment(msg, "AIS", fields)
    for seg_id, kind, build in _RESOURCE_SEGMENTS:
        lines = [p for p in appt.participants if p.kind is kind]
        for n, part in enumerate(lines, 1):
            add_segment(msg, seg_id, build(w, part, n))


def _timing(
    w: Writer, part: AppointmentParticipant, at: tuple[int, int, int, int]
) -> dict[int, str]:
    """Start, duration, duration units and filler status at the given field numbers."""
    start, duration, units, status = at
    return {
        start: w.dtm(part.start),
        duration: w.number(part.duration_minutes),
        units: _MINUTES if part.duration_minutes is not None else "",
        status: w.code("hl7_participant_status", part.status),
    }


def _aig(w: Writer, part: AppointmentParticipant, n: int) -> dict[int, str]:
    """AIG-3 resource (the reference's identifier as the code, its namespace as the coding
    system, the display as the text), AIG-4 resource type (required: the role, else
    ``RESOURCE``)."""
    idents = w.select(part.ref.identifiers, "resource")
    ident = idents[0] if idents else None
    resource = Coded(
        code=ident.value if ident else None,
        display=part.ref.display,
        system=ident.system if ident else None,
    )
    role = part.role or Coded(code="RESOURCE", display="Resource")
    return {1: str(n), 3: w.cwe(resource), 4: w.cwe(role), **_timing(w, part, (8, 11, 12, 14))}


def _ail(w: Writer, part: AppointmentParticipant, n: int) -> dict[int, str]:
    fields = {1: str(n), 3: w.pl(part.ref), 4: w.cwe(part.role)}
    return {**fields, **_timing(w, part, (6, 9, 10, 12))}


def _aip(w: Writer, part: AppointmentParticipant, n: int) -> dict[int, str]:
    fields = {1: str(n), 3: w.xcn(part.ref), 4: w.cwe(part.role)}
    return {**fields, **_timing(w, part, (6, 9, 10, 12))}


_Build = Callable[[Writer, AppointmentParticipant, int], dict[int, str]]
_RESOURCE_SEGMENTS: tuple[tuple[str, EntityType, _Build], ...] = (
    ("AIG", EntityType.ORGANIZATION, _aig),
    ("AIL", EntityType.LOCATION, _ail),
    ("AIP", EntityType.PRACTITIONER, _aip),
)
