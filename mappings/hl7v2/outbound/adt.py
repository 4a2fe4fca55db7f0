"""patient.registered → ADT^A04, patient.updated → ADT^A08 (ADT_A01 structure),
patient.merged → ADT^A40 (ADT_A39 structure), patient.identifier_changed → ADT^A47 (ADT_A30
structure)."""

from __future__ import annotations

from adapters.hl7v2 import Message
from hub.canonical import Contact, EntityType, Event, Patient, Ref
from hub.errors import MappingError

from .common import entity_of, new_message, patient_pid, write_evn
from .encode import Writer, add_segment
from .options import Hl7v2OutboundOptions

__all__ = ["render_a04", "render_a08", "render_a40", "render_a47"]


def render_a04(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """patient.registered → ADT^A04."""
    return _patient_message(event, options, "A04")


def render_a08(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """patient.updated → ADT^A08."""
    return _patient_message(event, options, "A08")


def _patient_message(event: Event, options: Hl7v2OutboundOptions, trigger: str) -> Message:
    """MSH, EVN, PID, [PD1], NK1*, and ``PV1|1|N``: a patient event has no visit, and
    ADT_A01 requires a PV1 (PV1-2 N, not applicable)."""
    pat = entity_of(event, Patient)
    msg, w = new_message(event, options, f"ADT^{trigger}", "ADT_A01")
    write_evn(msg, w, trigger, event)
    add_segment(msg, "PID", patient_pid(w, pat))
    _pd1(msg, w, pat)
    for n, contact in enumerate(pat.contacts, 1):
        add_segment(msg, "NK1", _nk1(w, contact, n))
    add_segment(msg, "PV1", {1: "1", 2: "N"})
    return msg


def _nk1(w: Writer, contact: Contact, n: int) -> dict[int, str]:
    """NK1-2 name, NK1-3 relationship, NK1-4 address, NK1-5 home and NK1-6 work phones."""
    return {
        1: str(n),
        2: w.xpn(contact.name) if contact.name else "",
        3: w.cwe(contact.relationship),
        4: w.xad(contact.address) if contact.address else "",
        5: w.reps(w.xtn(t) for t in contact.telecom if t.use != "work"),
        6: w.reps(w.xtn(t) for t in contact.telecom if t.use == "work"),
    }


def _pd1(msg: Message, w: Writer, pat: Patient) -> None:
    """PD1-3 primary facility (organisations), PD1-4 primary care provider (withdrawn in
    v2.7, where a ROL/PRT segment would carry it; not rendered there)."""
    orgs = [r for r in pat.primary_care if r.type is EntityType.ORGANIZATION]
    docs = [r for r in pat.primary_care if r.type is EntityType.PRACTITIONER]
    if w.options.version_at_least(2, 7):
        docs = []
    if orgs or docs:
        fields = {3: w.reps(w.xon(r) for r in orgs), 4: w.reps(w.xcn(r) for r in docs)}
        add_segment(msg, "PD1", fields)


def render_a40(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """patient.merged → ADT^A40: one PID, [PD1], MRG group per retired patient in
    ``replaces``; MRG-1 the retired identifiers, MRG-7 its name. ADT_A39 has no NK1, so the
    survivor's contacts are not sent."""
    pat = entity_of(event, Patient)
    if not event.replaces:
        raise MappingError("a merge names no retired patient", code="101", location="MRG-1")
    msg, w = new_message(event, options, "ADT^A40", "ADT_A39")
    write_evn(msg, w, "A40", event)
    pid = patient_pid(w, pat)
    for retired in event.replaces:
        add_segment(msg, "PID", pid)
        _pd1(msg, w, pat)
        add_segment(msg, "MRG", _mrg(w, retired))
    return msg


def render_a47(event: Event, options: Hl7v2OutboundOptions) -> Message:
    """patient.identifier_changed → ADT^A47: PID (the new identifiers), [PD1], MRG-1 the
    prior identifiers. ADT_A30 holds one MRG: an event replacing several is refused."""
    pat = entity_of(event, Patient)
    if len(event.replaces) != 1:
        raise MappingError(
            "an identifier change names one prior patient", code="101", location="MRG-1"
        )
    msg, w = new_message(event, options, "ADT^A47", "ADT_A30")
    write_evn(msg, w, "A47", event)
    add_segment(msg, "PID", patient_pid(w, pat))
    _pd1(msg, w, pat)
    add_segment(msg, "MRG", _mrg(w, event.replaces[0]))
    return msg


def _mrg(w: Writer, retired: Ref) -> dict[int, str]:
    ids = w.select(retired.identifiers, "patient")
    if not ids:
        raise MappingError("the retired patient has no identifier", code="101", location="MRG-1")
    name = w.xpn_display(retired.display) if retired.display else ""
    return {1: w.reps(w.cx(i) for i in ids), 7: name}
