"""ADT triggers → canonical events (HL7 v2.5.1 chapter 3).

Every ADT trigger of table 0003 from A01 to A62 is accepted (``ADT_EVENTS`` names each and
its v2.5.1 structure; A19 is a query, QRY^A19, not an ADT message). What each emits:

- ``ADT_TRIGGERS``: the patient event and/or the encounter event with the encounter status
  the trigger implies. Every such message also emits one ``coverage.updated`` per IN1.
  Event order: patient first, then the encounter, then coverages, so a consumer meets the
  patient before what refers to it;
- ``ADT_MERGES``: one ``patient.merged`` per PID/MRG group (A40 and its older forms);
- ``ADT_IDENTIFIER_CHANGES``: ``patient.identifier_changed`` (the sync engine re-identifies
  the record the MRG names, holding for review whatever could re-point it at another person);
- ``ADT_REMOVALS``: a removal (A23 the visit, A29 the person);
- A60: one ``allergy.updated`` (IAM-6 D: ``allergy.removed``) per IAM/AL1
  (``mappings.hl7v2.allergies``);
- ``ADT_STORED``: nothing canonical — the message is stored, acknowledged AA and routable
  as raw HL7 v2 (docs/hl7v2-mappings.md says why for each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.hl7v2 import Message
from hub.canonical import EncounterStatus, Event, EventKind, Identifier, Ref
from hub.context import MapContext
from hub.errors import MappingError

from .allergies import map_allergies
from .segments import coverage, encounter, has_visit, merged_ref, patient, patient_ref, stamp
from .source import Hl7v2Source, Mapper, Seg, declare_emits

__all__ = [
    "ADT_EVENTS",
    "ADT_IDENTIFIER_CHANGES",
    "ADT_MERGES",
    "ADT_REMOVALS",
    "ADT_STORED",
    "ADT_TRIGGERS",
    "AdtTrigger",
    "adt_mapper",
    "coverage_events",
    "event_time",
    "map_adt",
    "map_identifier_change",
    "map_merge",
    "map_removal",
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
    # issue 12: the rest of the triggers that change a visit (ADT table in the docs)
    "A06": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_CLASS_CHANGED, S.IN_PROGRESS),
    "A07": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_CLASS_CHANGED, S.IN_PROGRESS),
    # A12: PV1-3 is the location the patient stays in (before the cancelled transfer)
    "A12": AdtTrigger(None, K.ENCOUNTER_TRANSFER_CANCELLED, S.IN_PROGRESS),
    "A14": AdtTrigger(K.PATIENT_UPDATED, K.ENCOUNTER_PLANNED, S.PLANNED),
    "A15": AdtTrigger(None, K.ENCOUNTER_TRANSFER_PENDING, S.IN_PROGRESS),
    "A16": AdtTrigger(None, K.ENCOUNTER_DISCHARGE_PENDING, S.IN_PROGRESS),
    "A21": AdtTrigger(None, K.ENCOUNTER_LEAVE_STARTED, S.ON_LEAVE),
    "A22": AdtTrigger(None, K.ENCOUNTER_LEAVE_ENDED, S.IN_PROGRESS),
    "A25": AdtTrigger(None, K.ENCOUNTER_PENDING_CANCELLED, S.IN_PROGRESS),
    "A26": AdtTrigger(None, K.ENCOUNTER_PENDING_CANCELLED, S.IN_PROGRESS),
    "A27": AdtTrigger(None, K.ENCOUNTER_CANCELLED, S.CANCELLED),
    "A38": AdtTrigger(None, K.ENCOUNTER_CANCELLED, S.CANCELLED),
    "A52": AdtTrigger(None, K.ENCOUNTER_LEAVE_CANCELLED, S.IN_PROGRESS),
    "A53": AdtTrigger(None, K.ENCOUNTER_LEAVE_RETURN_CANCELLED, S.ON_LEAVE),
    # doctor changes do not say where the visit stands either: unknown, as A08
    "A54": AdtTrigger(None, K.ENCOUNTER_UPDATED, S.UNKNOWN),
    "A55": AdtTrigger(None, K.ENCOUNTER_UPDATED, S.UNKNOWN),
    "A61": AdtTrigger(None, K.ENCOUNTER_UPDATED, S.UNKNOWN),
    "A62": AdtTrigger(None, K.ENCOUNTER_UPDATED, S.UNKNOWN),
}

#: merges of patient records (ADT_A39/ADT_A30/ADT_A18: PID + MRG): ``patient.merged``.
#: A34/A36/A18 are the pre-2.3.1 forms of A40 and are still sent; A30/A39 merge persons
ADT_MERGES: frozenset[str] = frozenset({"A18", "A30", "A34", "A36", "A39", "A40"})

#: a patient identifier replaced (MRG-1/MRG-4 → PID-3/PID-4, ADT_A30):
#: ``patient.identifier_changed``; A46/A48 are the older forms of A47
ADT_IDENTIFIER_CHANGES: frozenset[str] = frozenset({"A46", "A47", "A48"})

#: records deleted at the source: A23 a visit (PV1-19), A29 a person (PID)
ADT_REMOVALS: dict[str, EventKind] = {"A23": K.ENCOUNTER_REMOVED, "A29": K.PATIENT_REMOVED}

#: every ADT trigger A01–A62 of table 0003 (v2.5.1): its meaning and message structure
ADT_EVENTS: dict[str, tuple[str, str]] = {
    "A01": ("admit/visit notification", "ADT_A01"),
    "A02": ("transfer a patient", "ADT_A02"),
    "A03": ("discharge/end visit", "ADT_A03"),
    "A04": ("register a patient", "ADT_A01"),
    "A05": ("pre-admit a patient", "ADT_A05"),
    "A06": ("change an outpatient to an inpatient", "ADT_A06"),
    "A07": ("change an inpatient to an outpatient", "ADT_A06"),
    "A08": ("update patient information", "ADT_A01"),
    "A09": ("patient departing - tracking", "ADT_A09"),
    "A10": ("patient arriving - tracking", "ADT_A09"),
    "A11": ("cancel admit/visit notification", "ADT_A09"),
    "A12": ("cancel transfer", "ADT_A12"),
    "A13": ("cancel discharge/end visit", "ADT_A01"),
    "A14": ("pending admit", "ADT_A05"),
    "A15": ("pending transfer", "ADT_A15"),
    "A16": ("pending discharge", "ADT_A16"),
    "A17": ("swap patients", "ADT_A17"),
    "A18": ("merge patient information", "ADT_A18"),
    "A20": ("bed status update", "ADT_A20"),
    "A21": ("patient goes on a leave of absence", "ADT_A21"),
    "A22": ("patient returns from a leave of absence", "ADT_A21"),
    "A23": ("delete a patient record", "ADT_A21"),
    "A24": ("link patient information", "ADT_A24"),
    "A25": ("cancel pending discharge", "ADT_A21"),
    "A26": ("cancel pending transfer", "ADT_A21"),
    "A27": ("cancel pending admit", "ADT_A21"),
    "A28": ("add person information", "ADT_A05"),
    "A29": ("delete person information", "ADT_A21"),
    "A30": ("merge person information", "ADT_A30"),
    "A31": ("update person information", "ADT_A05"),
    "A32": ("cancel patient arriving - tracking", "ADT_A21"),
    "A33": ("cancel patient departing - tracking", "ADT_A21"),
    "A34": ("merge patient information - patient ID only", "ADT_A30"),
    "A35": ("merge patient information - account number only", "ADT_A30"),
    "A36": ("merge patient information - patient ID and account number", "ADT_A30"),
    "A37": ("unlink patient information", "ADT_A37"),
    "A38": ("cancel pre-admit", "ADT_A38"),
    "A39": ("merge person - patient ID", "ADT_A39"),
    "A40": ("merge patient - patient identifier list", "ADT_A39"),
    "A41": ("merge account - patient account number", "ADT_A39"),
    "A42": ("merge visit - visit number", "ADT_A39"),
    "A43": ("move patient information - patient identifier list", "ADT_A43"),
    "A44": ("move account information - patient account number", "ADT_A43"),
    "A45": ("move visit information - visit number", "ADT_A45"),
    "A46": ("change patient ID", "ADT_A30"),
    "A47": ("change patient identifier list", "ADT_A30"),
    "A48": ("change alternate patient ID", "ADT_A30"),
    "A49": ("change patient account number", "ADT_A30"),
    "A50": ("change visit number", "ADT_A50"),
    "A51": ("change alternate visit ID", "ADT_A50"),
    "A52": ("cancel leave of absence for a patient", "ADT_A52"),
    "A53": ("cancel patient returns from a leave of absence", "ADT_A52"),
    "A54": ("change attending doctor", "ADT_A54"),
    "A55": ("cancel change attending doctor", "ADT_A54"),
    "A60": ("update allergy information", "ADT_A60"),
    "A61": ("change consulting doctor", "ADT_A61"),
    "A62": ("cancel change consulting doctor", "ADT_A61"),
}

#: accepted (AA), stored and routable as raw HL7 v2, with no canonical event
ADT_STORED: frozenset[str] = frozenset(
    set(ADT_EVENTS)
    - set(ADT_TRIGGERS)
    - ADT_MERGES
    - ADT_IDENTIFIER_CHANGES
    - set(ADT_REMOVALS)
    - {"A60"}
)


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
    """The triggers of ``ADT_TRIGGERS``: PID → Patient, PV1 → Encounter, IN1 → Coverage."""
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


def map_identifier_change(src: Hl7v2Source) -> list[Event]:
    """A47 change patient identifier list (A46/A48 older forms; ADT_A30 structure): one
    ``patient.identifier_changed`` per PID/MRG group; the entity is the patient with its
    new identifiers (PID-3), ``replaces`` the MRG-1 (+MRG-4) identifiers it had. Applying
    it is the sync engine's (``hub.sync.reidentify``): the record the prior identifiers
    name takes the new ones, unless they name another patient (held for review)."""
    events = map_merge(src)
    return [e.model_copy(update={"kind": K.PATIENT_IDENTIFIER_CHANGED}) for e in events]


def map_removal(trigger: str, src: Hl7v2Source) -> list[Event]:
    """A23 delete a patient record (the visit PV1-19 names: ``encounter.removed``) and A29
    delete person information (the PID patient: ``patient.removed``); an A23's removal
    comes after the PID's ``patient.updated``. Only a record the hub knows by these
    identifiers, of the PID's person, is removed (``hub.sync.removal``)."""
    pat = stamp(src, patient(src, src.require("PID")))
    subjects = list(pat.identifiers)
    when = event_time(src)
    if ADT_REMOVALS[trigger] is K.PATIENT_REMOVED:
        return [src.event(K.PATIENT_REMOVED, pat, when, subjects)]
    pv1 = src.require("PV1")
    enc = stamp(src, encounter(src, pv1, S.ENTERED_IN_ERROR, patient_ref(pat)))
    if not enc.identifiers:
        raise MappingError(
            "a visit to delete needs its visit number", code="101", location=pv1.loc(19)
        )
    # the PID's patient first: the visit's removal gets it as its subject, so a visit is
    # removed only for the person it belongs to (``hub.sync.removal``)
    return [
        src.event(K.PATIENT_UPDATED, pat, when, subjects),
        src.event(K.ENCOUNTER_REMOVED, enc, when, subjects),
    ]


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
        if trigger in ADT_MERGES:
            return map_merge(src)
        if trigger in ADT_IDENTIFIER_CHANGES:
            return map_identifier_change(src)
        if trigger in ADT_REMOVALS:
            return map_removal(trigger, src)
        if trigger == "A60":
            return map_allergies(src, event_time(src))
        if trigger in ADT_STORED:
            return []  # stored, acknowledged, routable: no canonical event
        return map_adt(trigger, src)

    mapper.__name__ = f"map_adt_{trigger.lower()}"
    mapper.__doc__ = f"ADT^{trigger} → canonical events."
    if trigger in ADT_MERGES:
        return declare_emits(mapper, K.PATIENT_MERGED)
    if trigger in ADT_IDENTIFIER_CHANGES:
        return declare_emits(mapper, K.PATIENT_IDENTIFIER_CHANGED)
    if trigger in ADT_REMOVALS and ADT_REMOVALS[trigger] is K.PATIENT_REMOVED:
        return declare_emits(mapper, K.PATIENT_REMOVED)
    if trigger in ADT_REMOVALS:
        return declare_emits(mapper, K.PATIENT_UPDATED, ADT_REMOVALS[trigger])
    if trigger == "A60":
        return declare_emits(mapper, K.PATIENT_UPDATED, K.ALLERGY_UPDATED, K.ALLERGY_REMOVED)
    if trigger in ADT_STORED:
        return declare_emits(mapper)
    spec = ADT_TRIGGERS[trigger]
    kinds = (k for k in (spec.patient_kind, spec.encounter_kind, K.COVERAGE_UPDATED) if k)
    return declare_emits(mapper, *kinds)
