"""Double bookings: an active appointment overlapping another active appointment of the
same practitioner, location or patient produces ``appointment.conflict`` carrying the new
appointment and, in ``related``, the other one (HL7 v2 SCH-11/AIx durations count)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.canonical import AppointmentStatus, EntityType, Event, EventKind, Ref
from hub.canonical.entities import Appointment
from hub.ports import Unit
from hub.sync.identity import targets

__all__ = ["ACTIVE", "double_bookings"]

#: the statuses that hold a slot
ACTIVE = frozenset(
    {
        AppointmentStatus.BOOKED.value,
        AppointmentStatus.ARRIVED.value,
        AppointmentStatus.CHECKED_IN.value,
        AppointmentStatus.PENDING.value,
    }
)
_APPOINTMENT = EntityType.APPOINTMENT.value


async def double_bookings(unit: Unit, event: Event, entity: Any) -> list[Event]:
    """``appointment.conflict`` for each active appointment overlapping this one for the
    same practitioner, location or patient."""
    if not isinstance(entity, Appointment) or entity.status.value not in ACTIVE:
        return []
    if not entity.start:
        return []
    end = entity.end or _end_of(entity.start, entity.duration_minutes, entity.participants)
    state = entity.model_dump(mode="json", exclude_none=True)
    clashes: dict[str, str] = {}
    for to_type, to_id in sorted(set(targets(state, event.provenance.source_system))):
        for _, other_id in await unit.referring(to_type, to_id, _APPOINTMENT):
            if other_id == entity.id or other_id in clashes:
                continue
            other = await unit.get_entity(_APPOINTMENT, other_id)
            if other is not None and _overlaps(entity.start, end, other.data):
                clashes[other_id] = f"{to_type}/{to_id}"
    return [
        event.model_copy(
            update={
                "kind": EventKind.APPOINTMENT_CONFLICT,
                "entity": entity,
                "related": [Ref(type=EntityType.APPOINTMENT, id=other_id)],
                "note": f"double booking: {shared} is booked in both",
            }
        )
        for other_id, shared in clashes.items()
    ]


def _end_of(start: datetime, minutes: int | None, participants: list[Any]) -> datetime:
    """SCH-11/AIx duration when no end is given; an instant otherwise."""
    spans = [minutes] + [p.duration_minutes for p in participants]
    longest = max((m for m in spans if m), default=0)
    return start + timedelta(minutes=longest)


def _overlaps(start: datetime, end: datetime, other: dict[str, Any]) -> bool:
    if other.get("status") not in ACTIVE or not other.get("start"):
        return False
    o_start = datetime.fromisoformat(other["start"])
    if other.get("end"):
        o_end = datetime.fromisoformat(other["end"])
    else:
        durations = [p.get("duration_minutes") for p in other.get("participants", [])]
        longest = max((m for m in [other.get("duration_minutes"), *durations] if m), default=0)
        o_end = o_start + timedelta(minutes=longest)
    a0, a1, b0, b1 = (_aware(x) for x in (start, end, o_start, o_end))
    if a0 == a1 or b0 == b1:  # an instant: clashes when it falls inside the other
        return a0 <= b1 and b0 <= a1
    return a0 < b1 and b0 < a1


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
