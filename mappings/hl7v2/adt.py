"""ADT triggers → canonical events (HL7 v2.5.1 chapter 3).

Which events each trigger emits, and with which encounter status, is the table
``ADT_TRIGGERS`` (documented in docs/hl7v2-mappings.md). Every ADT message also emits one
``coverage.updated`` per IN1. Event order: patient first, then the encounter, then
coverages, so a consumer meets the patient before what refers to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.hl7v2 import Message
from hub.canonical import EncounterStatus, Event, EventKind, Identifier, Ref
from hub.context import MapContext
from hub.errors import MappingError

from .segments import coverage, encounter, has_visit, merged_ref, patient, patient_ref, stamp
from .source import Hl7v2Source, Mapper, Seg, declare_emits

__all__ = [
    "ADT_TRIGGERS",
    "AdtTrigger",
    "adt_mapper",
    "coverage_events",
    "event_time",
    "map_adt",
    "map_merge",
]

K = EventKind
S = EncounterStatus


@dataclass(frozen=True, slots=True)
class AdtTrigger:
    """What one ADT trigger means: the patient event (if any), the encounter event (if
    any) with the encounter status it implies, and whether the encounter is only emitted
    when PV1 actually describes a visit (A04, A08 may carry ``PV1|1|N``)."""

    patient_kind: EventKind | None
    encounter_kind: EventKind | None
    status: EncounterStatus = S.UNKNOWN
    visit_optional: bool = False


ADT_TRIGGERS: dict[str, AdtTrigger] = {
    "A01": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_STARTED, S.IN_PROGRESS),
    "A02": AdtTrigger(None, K.ENCOUNTER_TRANSFERRED, S.IN_PROGRESS),
    "A03": AdtTrigger(None, K.ENCOUNTER_FINISHED, S.FINISHED),
    # the guide says "planned" for A04; we say "arrived": an A04 registers a patient who is
    # here for an outpatient or emergency visit, and the event kind is encounter.started
    "A04": AdtTrigger(K.PATIENT_REGISTERED, K.ENCOUNTER_STARTED, S.ARRIVED, visit_optional=True),
    "A05": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_PLANNED, S.PLANNED),
    # A08 does not say where the visit stands: status unknown, as the guide says
    "A08": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_UPDATED, S.UNKNOWN, visit_optional=True),
    "A11": AdtTrigger(None, K.ENCOUNTER_CANCELLED, S.CANCELLED),
    "A13": AdtTrigger(None, K.ENCOUNTER_DISCHARGE_CANCELLED, S.IN_PROGRESS),
    "A28": AdtTrigger(K.PATIENT_REGISTERED, None),
    "A31": AdtTrigger(K.PATIENT_UPDATED, None),
}


def event_time(src: Hl7v2Source) -> datetime:
    """EVN-6 event occurred, else EVN-2 recorded date/time, else MSH-7."""
    evn = src.one("EVN")
    if evn is not None:
        when = src.datetime_of(evn, 6) or src.datetime_of(evn, 2)
        if when is not None:
            return when
    return src.message_time


def coverage_events(
    src: Hl7v2Source, beneficiary: Ref | None, subjects: list[Identifier]
) -> list[Event]:
    """One ``coverage.updated`` per IN1, the beneficiary being the message's patient."""
    when = event_time(src)
    return [
        src.event(
            K.COVERAGE_UPDATED, stamp(src, coverage(src, in1, n, beneficiary)), when, subjects
        )
        for n, in1 in enumerate(src.all("IN1"), 1)
    ]


def map_adt(trigger: str, src: Hl7v2Source) -> list[Event]:
    """ADT A01–A31 by ``ADT_TRIGGERS``: PID → Patient, PV1 → Encounter, IN1 → Coverage."""
    spec = ADT_TRIGGERS[trigger]
    pat = stamp(src, patient(src, src.require("PID")))
    subjects = list(pat.identifiers)
    when = event_time(src)
    events = []
    if spec.patient_kind is not None:
        events.append(src.event(spec.patient_kind, pat, when, subjects))
    if spec.encounter_kind is not None:
        pv1 = src.one("PV1") if spec.visit_optional else src.require("PV1")
        if pv1 is not None and (has_visit(pv1) or not spec.visit_optional):
            enc = stamp(src, encounter(src, pv1, spec.status, patient_ref(pat)))
            events.append(src.event(spec.encounter_kind, enc, when, subjects))
    return events + coverage_events(src, patient_ref(pat), subjects)


def map_merge(src: Hl7v2Source) -> list[Event]:
    """A40 merge patient (ADT_A39 structure): one ``patient.merged`` per PID/MRG group;
    the entity is the surviving patient from PID, ``replaces`` the MRG-1 prior patient."""
    events = []
    when = event_time(src)
    for group in _merge_groups(src):
        pid, mrg = group[0], next((s for s in group if s.id == "MRG"), None)
        if mrg is None:
            raise MappingError(
                "a merge group has no MRG segment", code="100", location=f"{pid.label} group"
            )
        survivor = stamp(src, patient(src, pid, group))
        retired = merged_ref(src, mrg)
        if not retired.identifiers:
            raise MappingError(
                "the retired patient has no identifier", code="101", location=mrg.loc(1)
            )
        subjects = [*survivor.identifiers, *retired.identifiers]
        events.append(src.event(K.PATIENT_MERGED, survivor, when, subjects, replaces=[retired]))
    if not events:
        src.require("PID")
    return events


def _merge_groups(src: Hl7v2Source) -> list[list[Seg]]:
    """The PATIENT groups of ADT_A39: each PID with the segments up to the next PID."""
    groups: list[list[Seg]] = []
    for seg in src.segs:
        if seg.id == "PID":
            groups.append([seg])
        elif groups:
            groups[-1].append(seg)
    return groups


def adt_mapper(trigger: str) -> Mapper:
    """The INBOUND entry for ``ADT^<trigger>``."""

    def mapper(msg: Message, ctx: MapContext) -> list[Event]:
        src = Hl7v2Source(msg, ctx, f"ADT^{trigger}")
        return map_merge(src) if trigger == "A40" else map_adt(trigger, src)

    mapper.__name__ = f"map_adt_{trigger.lower()}"
    mapper.__doc__ = f"ADT^{trigger} → canonical events."
    if trigger == "A40":
        return declare_emits(mapper, K.PATIENT_MERGED)
    spec = ADT_TRIGGERS[trigger]
    kinds = (k for k in (spec.patient_kind, spec.encounter_kind, K.COVERAGE_UPDATED) if k)
    return declare_emits(mapper, *kinds)
