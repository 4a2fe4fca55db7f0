"""SIU triggers → canonical appointment events (HL7 v2.5.1 chapter 10).

SCH → Appointment (after the V2-to-FHIR SCH map), TQ1 (else SCH-11) → start/end, AIS →
service type, AIG/AIL/AIP → participants, the first PID → the patient, the NTEs right after
SCH → the comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from adapters.hl7v2 import Message
from hub.canonical import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Coded,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Ref,
)
from hub.context import MapContext

from .datatypes import coded, ei_identifier, local_system, pl_ref, xcn_ref
from .segments import patient, patient_ref, stamp
from .source import Hl7v2Source, Mapper, Seg, declare_emits, rep_text
from .values import parse_decimal

__all__ = ["SIU_TRIGGERS", "SiuTrigger", "map_siu", "siu_mapper", "to_minutes"]

K = EventKind
St = AppointmentStatus


@dataclass(frozen=True, slots=True)
class SiuTrigger:
    """The event kind of a trigger, and the status it fixes (None: SCH-25 decides)."""

    kind: EventKind
    status: AppointmentStatus | None = None


SIU_TRIGGERS: dict[str, SiuTrigger] = {
    "S12": SiuTrigger(K.APPOINTMENT_BOOKED),
    "S13": SiuTrigger(K.APPOINTMENT_RESCHEDULED),
    "S14": SiuTrigger(K.APPOINTMENT_MODIFIED),
    "S15": SiuTrigger(K.APPOINTMENT_CANCELLED, St.CANCELLED),
    "S17": SiuTrigger(K.APPOINTMENT_DELETED, St.ENTERED_IN_ERROR),
    "S26": SiuTrigger(K.APPOINTMENT_NOSHOW, St.NOSHOW),
    # discontinue: the remaining occurrences of a repeating appointment will not take place
    "S16": SiuTrigger(K.APPOINTMENT_DISCONTINUED, St.CANCELLED),
}

# duration units (SCH-10, AIx duration units: ISO+/ANSI+ and UCUM spellings) in minutes
_UNIT_MINUTES = {
    "S": Decimal(1) / 60, "SEC": Decimal(1) / 60, "SECOND": Decimal(1) / 60,
    "M": Decimal(1), "MIN": Decimal(1), "MINUTE": Decimal(1), "MINUTES": Decimal(1),
    "H": Decimal(60), "HR": Decimal(60), "HOUR": Decimal(60), "HOURS": Decimal(60),
    "D": Decimal(1440), "DAY": Decimal(1440), "DAYS": Decimal(1440),
}  # fmt: skip
_RESOURCES = ("AIS", "AIG", "AIL", "AIP")


def to_minutes(amount: str | None, unit: str | None, loc: str) -> int | None:
    """A duration and its unit code → whole minutes (rounded); None when the unit is not
    one we know, rather than guess. No unit means minutes (the v2 default)."""
    value = parse_decimal(amount, loc)
    if value is None:
        return None
    factor = _UNIT_MINUTES.get((unit or "MIN").upper())
    if factor is None:
        return None
    return int((value * factor).to_integral_value())


def map_siu(trigger: str, src: Hl7v2Source) -> list[Event]:
    """SIU S12–S26 → one appointment event."""
    spec = SIU_TRIGGERS[trigger]
    sch = src.require("SCH")
    appt = _appointment(src, sch, spec)
    pid = src.one("PID")
    subjects: list[Identifier] = []
    if pid is not None:
        pat = patient(src, pid)
        appt.patient = patient_ref(pat)
        subjects = list(pat.identifiers)
    return [src.event(spec.kind, stamp(src, appt), src.message_time, subjects)]


def _appointment(src: Hl7v2Source, sch: Seg, spec: SiuTrigger) -> Appointment:
    """SCH-1/2 ids, SCH-7 reason, SCH-8 type, SCH-9/10 duration, SCH-25 status, SCH-6
    event reason as the cancellation reason of S15/S16/S17."""
    placer = ei_identifier(src, sch.first(1), "appointment", "PLAC")
    filler = ei_identifier(src, sch.first(2), "appointment", "FILL")
    appt = Appointment(
        identifiers=[i for i in (placer, filler) if i],
        placer_id=placer.value if placer else None,
        filler_id=filler.value if filler else None,
        status=spec.status or _status(src, sch),
        reason=coded(src, sch.first(7)),
        appointment_type=coded(src, sch.first(8)),
        duration_minutes=to_minutes(sch.text(9), sch.text(10), sch.loc(9)),
        participants=_participants(src),
        service_type=_service_type(src),
        comment=_comment(src),
    )
    if spec.status in (St.CANCELLED, St.ENTERED_IN_ERROR):
        appt.cancellation_reason = coded(src, sch.first(6))
    _timing(src, sch, appt)
    return appt


def _status(src: Hl7v2Source, sch: Seg) -> AppointmentStatus:
    """SCH-25 filler status (table 0278) through ``hl7_appointment_status``; booked when
    it is empty or has no row."""
    target = src.lookup("hl7_appointment_status", sch.text(25))
    return St(target) if target in set(St) else St.BOOKED


def _timing(src: Hl7v2Source, sch: Seg, appt: Appointment) -> None:
    """TQ1-7/TQ1-8 start and end (v2.5+), else SCH-11.4/SCH-11.5 (TQ), else the earliest
    resource start; the duration falls back to end - start."""
    tq1 = src.one("TQ1")
    start = end = None
    if tq1 is not None:
        start, end = src.datetime_of(tq1, 7), src.datetime_of(tq1, 8)
    if start is None:
        start, end = src.datetime_of(sch, 11, 4), end or src.datetime_of(sch, 11, 5)
    if start is None:
        starts = [p.start for p in appt.participants if p.start]
        start = min(starts) if starts else _service_start(src)
    appt.start, appt.end = start, end
    if appt.duration_minutes is None and start and end:
        appt.duration_minutes = int((end - start).total_seconds() // 60)


def _service_start(src: Hl7v2Source) -> datetime | None:
    ais = src.one("AIS")
    return src.datetime_of(ais, 4) if ais is not None else None


def _service_type(src: Hl7v2Source) -> Coded | None:
    """AIS-3 universal service identifier of the first AIS."""
    ais = src.one("AIS")
    return coded(src, ais.first(3)) if ais is not None else None


def _comment(src: Hl7v2Source) -> str | None:
    """NTE-3 of the NTEs between SCH and the first PID/RGS (the appointment's notes)."""
    notes: list[str] = []
    for seg in src.segs[1:]:
        if seg.id in ("PID", "RGS", *_RESOURCES):
            break
        if seg.id == "NTE":
            notes += [t for r in seg.reps(3) if (t := rep_text(r))]
    return "\n".join(notes) or None


def _participants(src: Hl7v2Source) -> list[AppointmentParticipant]:
    out: list[AppointmentParticipant] = []
    for seg in src.segs:
        part = _PARTICIPANT.get(seg.id)
        if part is not None and (p := part(src, seg)) is not None:
            out.append(p)
    return out


def _participant(
    src: Hl7v2Source, seg: Seg, ref: Ref | None, fields: tuple[int, int, int, int, int]
) -> AppointmentParticipant | None:
    """An AIx line: ``fields`` = (role, start, duration, duration units, filler status)."""
    if ref is None:
        return None
    role, start, duration, units, status = fields
    return AppointmentParticipant(
        kind=ref.type,
        ref=ref,
        role=coded(src, seg.first(role)),
        start=src.datetime_of(seg, start),
        duration_minutes=to_minutes(seg.text(duration), seg.text(units), seg.loc(duration)),
        status=src.lookup("hl7_participant_status", seg.text(status)),
    )


def _aip(src: Hl7v2Source, seg: Seg) -> AppointmentParticipant | None:
    """AIP-3 personnel, AIP-4 role, AIP-6 start, AIP-9/10 duration, AIP-12 status."""
    return _participant(src, seg, xcn_ref(src, seg.first(3)), (4, 6, 9, 10, 12))


def _ail(src: Hl7v2Source, seg: Seg) -> AppointmentParticipant | None:
    """AIL-3 location, AIL-4 location type, AIL-6 start, AIL-9/10 duration, AIL-12."""
    return _participant(src, seg, pl_ref(src, seg.first(3)), (4, 6, 9, 10, 12))


def _aig(src: Hl7v2Source, seg: Seg) -> AppointmentParticipant | None:
    """AIG-3 resource (a group resource, carried as an Organization reference), AIG-4
    resource type, AIG-8 start, AIG-11/12 duration, AIG-14 status."""
    rep = seg.first(3)
    code = coded(src, rep)
    if code is None:
        return None
    idents = []
    if code.code:
        system = local_system(src, rep_text(rep, 3), "resource")
        idents.append(src.identifier(code.code, system))
    ref = Ref(type=EntityType.ORGANIZATION, identifiers=idents, display=code.display)
    return _participant(src, seg, ref, (4, 8, 11, 12, 14))


_PARTICIPANT = {"AIP": _aip, "AIL": _ail, "AIG": _aig}


def siu_mapper(trigger: str) -> Mapper:
    """The INBOUND entry for ``SIU^<trigger>``."""

    def mapper(msg: Message, ctx: MapContext) -> list[Event]:
        return map_siu(trigger, Hl7v2Source(msg, ctx, f"SIU^{trigger}"))

    mapper.__name__ = f"map_siu_{trigger.lower()}"
    mapper.__doc__ = f"SIU^{trigger} → canonical events."
    return declare_emits(mapper, SIU_TRIGGERS[trigger].kind)
