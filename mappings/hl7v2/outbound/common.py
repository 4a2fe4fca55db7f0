"""What every outbound message shares: the MSH, the EVN, and PID from a Patient or a Ref."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from adapters.hl7v2 import Message
from hub.canonical import Event, Patient, Ref
from hub.errors import MappingError

from ..datatypes import MARITAL_STATUS
from ..segments import PID_CLEARS
from ..source import EXPLICIT_NULL
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions, control_id_for

__all__ = ["entity_of", "new_message", "patient_pid", "ref_pid", "write_cleared", "write_evn"]

E = TypeVar("E")


def entity_of(event: Event, cls: type[E]) -> E:
    """The event's entity, which must be a ``cls``."""
    if not isinstance(event.entity, cls):
        raise MappingError(
            f"{event.kind.value} carries a {event.entity.entity_type.value}, not a {cls.__name__}",
            code="207",
        )
    return event.entity


def new_message(
    event: Event, options: Hl7v2OutboundOptions, message_type: str, structure: str
) -> tuple[Message, Writer]:
    """A message with its MSH: MSH-3..6 from ``options``, MSH-7 the event time (so a
    re-render is byte-identical), MSH-9 with its structure from v2.3.1, MSH-10 the control
    id, MSH-11 processing id, MSH-12 version."""
    msh9 = f"{message_type}^{structure}" if options.version_at_least(2, 3, 1) else message_type
    msg = Message.create(
        msh9,
        control_id=control_id_for(event, options),
        sending=(options.sending_application, options.sending_facility),
        receiving=(options.receiving_application, options.receiving_facility),
        version=options.version,
        processing_id=options.processing_id,
        timestamp=event.occurred_at,
    )
    writer = Writer(msg.encoding, options)
    msg.set_raw("MSH-7", writer.dtm(event.occurred_at))
    return msg, writer


def write_evn(msg: Message, w: Writer, trigger: str, event: Event) -> None:
    """EVN-1 the trigger (withdrawn in v2.7), EVN-2 the event time."""
    code = w.e(trigger) if not w.options.version_at_least(2, 7) else ""
    add_segment(msg, "EVN", {1: code, 2: w.dtm(event.occurred_at)})


def patient_pid(w: Writer, pat: Patient) -> dict[int, str]:
    """PID from a Patient: the inverse of ``segments.patient``."""
    ids = w.select(pat.identifiers, "patient")
    if not ids:
        raise MappingError("the patient has no identifier", code="101", location="PID-3")
    if not pat.names:
        raise MappingError("the patient has no name", code="101", location="PID-5")
    fields = {
        1: "1",
        3: w.reps(w.cx(i) for i in ids),
        5: w.reps(w.xpn(n) for n in pat.names),
        7: w.dtm(pat.birth_date),
        8: w.code("hl7_administrative_sex", pat.sex.value if pat.sex else None),
        10: w.reps(w.cwe(c) for c in pat.race),
        11: w.reps(w.xad(a) for a in pat.addresses),
        13: w.reps(w.xtn(t) for t in pat.telecom if t.use != "work"),
        14: w.reps(w.xtn(t) for t in pat.telecom if t.use == "work"),
        15: w.cwe(pat.language),
        16: w.cwe(pat.marital_status, MARITAL_STATUS),
        22: w.reps(w.cwe(c) for c in pat.ethnicity),
        29: w.dtm(pat.deceased_at),
        30: _yes_no(pat.deceased),
    }
    fields.update(_multiple_birth(pat.multiple_birth))
    write_cleared(fields, pat.meta.cleared, PID_CLEARS)
    return fields


def write_cleared(
    fields: dict[int, str], cleared: list[str] | None, sources: Mapping[str, tuple[int, ...]]
) -> None:
    """The explicit null ``""`` in the fields of each canonical field the record's version
    cleared (``meta.cleared``) and that are still empty: "delete the value you hold", as an
    empty field would mean "no change". A part cleared (``telecom:home``) is written into
    its own field only (PID-13); a whole field whose parts have fields of their own
    (``telecom``) into all of them."""
    for name in cleared or ():
        numbers = sources.get(name) or tuple(
            n for key, nums in sources.items() if key.startswith(name + ":") for n in nums
        )
        for number in numbers:
            if not fields.get(number):
                fields[number] = EXPLICIT_NULL


def _yes_no(flag: bool | None) -> str:
    return "" if flag is None else "Y" if flag else "N"


def _multiple_birth(value: bool | int | None) -> dict[int, str]:
    """PID-24 indicator, PID-25 birth order."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {24: _yes_no(value)}
    return {24: "Y", 25: str(value)}


def ref_pid(w: Writer, ref: Ref) -> dict[int, str]:
    """PID from a patient reference (SIU, DFT): PID-3 its identifiers, PID-5 its display
    (name type U, unknown, when it has none)."""
    ids = w.select(ref.identifiers, "patient")
    if not ids:
        raise MappingError("the patient reference has no identifier", code="101", location="PID-3")
    return {1: "1", 3: w.reps(w.cx(i) for i in ids), 5: w.xpn_display(ref.display)}
