"""ORU^R01 unsolicited observation result → ``result.reported`` per OBX and
``report.issued`` per OBR (HL7 v2.5.1 chapter 7.3.1; V2-to-FHIR ORU_R01 → Observation,
DiagnosticReport), plus ``patient.updated`` from the PID.

The message is read in order, the way its groups nest: each OBR opens an order group; the
OBX, NTE and SPM after it belong to it (an NTE to the OBX or OBR just before it), except
that OBX after an SPM are the specimen's own observations (SPECIMEN group): not results. Several
PATIENT_RESULT groups (several PIDs) each map to their own patient. An OBX before any OBR
(some senders) is a result without a report.

The patient event lets the sync engine hold every result of a message whose PID names a
known patient with other identity facts (``Envelope.subject``): a result filed on the wrong
patient is worse than one waiting for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.hl7v2 import Message
from hub.canonical import (
    Coded,
    DiagnosticReport,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Observation,
    Ref,
    ReportStatus,
    Specimen,
)
from hub.context import MapContext
from hub.findings import Report

from .datatypes import coded, cx_identifier, ei_identifier, org_ref, xcn_ref
from .obx import (
    absent_reason,
    interpretation,
    observation_identifier,
    observation_value,
    reference_range,
    result_status,
    unit,
)
from .segments import patient, patient_ref, stamp
from .source import Hl7v2Source, Seg, declare_emits, rep_text

__all__ = [
    "REPORT_STATUS",
    "map_oru",
    "note_text",
    "oru_mapper",
    "specimen_observation_findings",
    "visit_ref",
]

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"

#: HL7 table 0123 (OBR-25) → FHIR diagnostic-report-status (V2-to-FHIR table-hl70123)
REPORT_STATUS: dict[str, ReportStatus] = {
    "O": ReportStatus.REGISTERED,  # order received, specimen not yet received
    "I": ReportStatus.REGISTERED,  # no results available, specimen received
    "S": ReportStatus.REGISTERED,  # procedure scheduled
    "A": ReportStatus.PARTIAL,  # some results available
    "R": ReportStatus.PARTIAL,  # results stored, not yet verified
    "P": ReportStatus.PRELIMINARY,
    "F": ReportStatus.FINAL,
    "C": ReportStatus.CORRECTED,
    "X": ReportStatus.CANCELLED,
    "Y": ReportStatus.UNKNOWN,  # no order on record
    "Z": ReportStatus.UNKNOWN,  # no record of this patient
}


@dataclass
class _Group:
    """One OBR and what follows it until the next OBR or PID."""

    obr: Seg | None
    obx: list[tuple[Seg, list[Seg]]] = field(default_factory=list)  # OBX and its NTEs
    notes: list[Seg] = field(default_factory=list)  # NTE right after the OBR
    spm: Seg | None = None
    orc: Seg | None = None


@dataclass
class _Patient:
    pid: Seg
    pv1: Seg | None = None
    groups: list[_Group] = field(default_factory=list)


def _read(src: Hl7v2Source) -> list[_Patient]:
    """The message's PATIENT_RESULT groups, each with its order groups. An OBX (and its
    NTE) after an SPM belongs to the SPECIMEN group (SPM {OBX}) until the next OBR, ORC or
    PID: it describes the specimen (its condition, volume), not the patient, and is never
    a result (``specimen_observation_findings`` warns of it)."""
    found: list[_Patient] = []
    orc: Seg | None = None
    in_specimen = False
    for seg in src.segs:
        if seg.id in _SPECIMEN_ENDS:
            in_specimen = False
        if seg.id == "PID":
            found.append(_Patient(seg))
            orc = None
            continue
        if not found:
            continue
        current = found[-1]
        if seg.id == "PV1" and current.pv1 is None:
            current.pv1 = seg
        elif seg.id == "ORC":
            orc = seg
        elif seg.id == "OBR":
            current.groups.append(_Group(seg, orc=orc))
            orc = None
        elif seg.id in ("OBX", "NTE") and in_specimen:
            continue  # a specimen observation or its note
        elif seg.id in ("OBX", "NTE", "SPM"):
            if not current.groups:
                current.groups.append(_Group(None))
            _place(current.groups[-1], seg)
            in_specimen = in_specimen or seg.id == "SPM"
    return found


#: the segments that close a SPECIMEN group (SPM {OBX}) of ORU_R01
_SPECIMEN_ENDS = frozenset({"PID", "ORC", "OBR"})


def specimen_observation_findings(message: Message) -> Report:
    """A warning for each OBX of an ORU^R01 SPECIMEN group (after an SPM, before the next
    OBR/ORC/PID): a specimen observation is not mapped as a patient result. The raw
    message keeps it. No values in the text."""
    report = Report()
    if (message.message_code or "").upper() != "ORU":
        return report
    seen = 0
    in_specimen = False
    for seg in message.segments:
        if seg.id in _SPECIMEN_ENDS:
            in_specimen = False
        elif seg.id == "SPM":
            in_specimen = True
        elif seg.id == "OBX":
            seen += 1
            if in_specimen:
                report.warning(
                    "not-supported",
                    "OBX in a SPECIMEN group (after SPM) describes the specimen, not the "
                    "patient: not mapped as a result",
                    "OBX" if seen == 1 else f"OBX[{seen}]",
                    "100",
                )
    return report


def _place(group: _Group, seg: Seg) -> None:
    if seg.id == "OBX":
        group.obx.append((seg, []))
    elif seg.id == "SPM":
        group.spm = group.spm or seg
    elif group.obx:
        group.obx[-1][1].append(seg)
    else:
        group.notes.append(seg)


def note_text(ntes: list[Seg]) -> list[str]:
    """NTE-3 comments (FT, repetitions joined by line breaks)."""
    out = []
    for nte in ntes:
        lines = [r for rep in nte.reps(3) if (r := rep_text(rep)) is not None]
        if lines:
            out.append("\n".join(lines))
    return out


def visit_ref(src: Hl7v2Source, pv1: Seg | None) -> Ref | None:
    """PV1-19 visit number → Ref(Encounter)."""
    if pv1 is None:
        return None
    idents = [i for r in pv1.reps(19) if (i := cx_identifier(src, r, "encounter", pv1.loc(19)))]
    return Ref(type=EntityType.ENCOUNTER, identifiers=idents) if idents else None


def map_oru(src: Hl7v2Source) -> list[Event]:
    """ORU^R01: per PID, the patient; per OBR, a DiagnosticReport; per OBX, an Observation."""
    src.require("PID")
    if src.one("OBX") is None and src.one("OBR") is None:
        src.require("OBR")
    events: list[Event] = []
    for found in _read(src):
        pat = stamp(src, patient(src, found.pid))
        subjects = list(pat.identifiers)
        pat_ref, enc_ref = patient_ref(pat), visit_ref(src, found.pv1)
        events.append(src.event(EventKind.PATIENT_UPDATED, pat, src.message_time, subjects))
        for group in found.groups:
            events += _group_events(src, group, pat_ref, enc_ref, subjects)
    return events


def _group_events(
    src: Hl7v2Source, group: _Group, pat: Ref, enc: Ref | None, subjects: list[Identifier]
) -> list[Event]:
    report = _report(src, group) if group.obr is not None else None
    if report is not None:
        report.patient, report.encounter = pat, enc
    order = _order_key(report)
    seen: dict[str, int] = {}
    events = []
    for obx, ntes in group.obx:
        obs = _observation(src, obx, group, report)
        obs.identifiers = [observation_identifier(src, obx, order, seen)]
        obs.patient, obs.encounter = pat, enc
        obs.notes = note_text(ntes)
        events.append(src.event(EventKind.RESULT_REPORTED, stamp(src, obs), None, subjects))
        if report is not None:
            report.results.append(Ref(type=EntityType.OBSERVATION, identifiers=obs.identifiers))
    if report is not None:
        events.append(
            src.event(EventKind.REPORT_ISSUED, stamp(src, report), report.issued, subjects)
        )
    return events


def _order_key(report: DiagnosticReport | None) -> str | None:
    if report is None:
        return None
    number = report.filler_number or report.placer_number
    return number.value if number else None


def _report(src: Hl7v2Source, group: _Group) -> DiagnosticReport:
    """OBR → DiagnosticReport: OBR-2/OBR-3 placer/filler numbers (else ORC-2/ORC-3), OBR-4
    code, OBR-7/OBR-8 effective, OBR-16 ordering provider, OBR-22 issued, OBR-24 section,
    OBR-25 status, OBR-32 principal interpreter; NTE after the OBR → conclusion."""
    obr = group.obr
    assert obr is not None
    orc = group.orc
    placer = ei_identifier(src, obr.first(2) or (orc.first(2) if orc else None), "order", "PLAC")
    filler = ei_identifier(src, obr.first(3) or (orc.first(3) if orc else None), "order", "FILL")
    idents = [i for i in (filler, placer) if i is not None]
    if not idents:  # nothing names the order: this message's control id and the OBR's set id
        key = f"{src.msh.text(10) or ''}|{obr.text(1) or obr.label}"
        idents = [src.identifier(key, src.namespace("report"))]
    section = obr.text(24)
    notes = note_text(group.notes)
    return DiagnosticReport(
        identifiers=idents,
        placer_number=placer,
        filler_number=filler,
        status=REPORT_STATUS.get((obr.text(25) or "").upper(), ReportStatus.UNKNOWN),
        code=coded(src, obr.first(4)),
        category=Coded(code=section, system=V2_0074) if section else None,
        effective=src.when_of(obr, 7),
        effective_end=src.when_of(obr, 8),
        issued=src.datetime_of(obr, 22),
        ordered_by=[r for rep in obr.reps(16) if (r := xcn_ref(src, rep))],
        interpreters=_interpreter(src, obr),
        specimen=_specimen(src, group),
        conclusion="\n".join(notes) or None,
    )


def _interpreter(src: Hl7v2Source, obr: Seg) -> list[Ref]:
    """OBR-32 (NDL): NDL.1 is a CNN whose subcomponents are id, family and given name."""
    rep = obr.first(32)
    if rep is None:
        return []
    ident, family, given = (rep_text(rep, 1, n) for n in (1, 2, 3))
    display = ", ".join(p for p in (family, given) if p) or None
    if ident is None and display is None:
        return []
    idents = [src.identifier(ident, src.namespace("practitioner"))] if ident else []
    return [Ref(type=EntityType.PRACTITIONER, identifiers=idents, display=display)]


def _specimen(src: Hl7v2Source, group: _Group) -> Specimen | None:
    """SPM-2 id, SPM-4 type, SPM-8 site, SPM-17 collected, SPM-18 received; without an
    SPM, OBR-15.1 source, OBR-7 collected and OBR-14 received."""
    spm, obr = group.spm, group.obr
    if spm is not None:
        rep = spm.first(2)
        ident = ei_identifier(src, rep, "specimen") if rep else None
        return Specimen(
            identifier=ident,
            type=coded(src, spm.first(4)),
            body_site=coded(src, spm.first(8)),
            collected_at=src.when_of(spm, 17),
            received_at=src.datetime_of(spm, 18),
        )
    if obr is None:
        return None
    source = obr.first(15)
    kind = Coded(code=rep_text(source, 1, 1), display=rep_text(source, 1, 2)) if source else None
    if kind is not None and kind.code is None and kind.display is None:
        kind = None
    received = src.datetime_of(obr, 14)
    if kind is None and received is None:
        return None
    return Specimen(type=kind, collected_at=src.when_of(obr, 7), received_at=received)


def _observation(
    src: Hl7v2Source, obx: Seg, group: _Group, report: DiagnosticReport | None
) -> Observation:
    """OBX → Observation: OBX-3 code, OBX-4 sub-id, OBX-2/5/6 value, OBX-7 range, OBX-8
    flags, OBX-11 status (X/N without a value: the absent reason), OBX-14 time (else
    OBR-7), OBX-16 responsible observer and OBX-23 performing organisation, OBX-17 method,
    OBX-19 analysis time (else OBR-22)."""
    performers = [r for rep in obx.reps(16) if (r := xcn_ref(src, rep))]
    lab = org_ref(src, obx.first(23))
    if lab is not None:
        performers.append(lab)
    value = observation_value(src, obx)
    return Observation(
        status=result_status(obx.text(11)),
        code=coded(src, obx.first(3)),
        sub_id=obx.text(4),
        value=value,
        absent_reason=absent_reason(obx.text(11), value),
        reference_range=reference_range(obx, unit(src, obx)),
        interpretation=interpretation(src, obx),
        effective=src.when_of(obx, 14) or (report.effective if report else None),
        issued=src.datetime_of(obx, 19) or (report.issued if report else None),
        method=coded(src, obx.first(17)),
        performers=performers,
        specimen=report.specimen if report else None,
        placer_number=report.placer_number if report else None,
        filler_number=report.filler_number if report else None,
    )


def oru_mapper(msg: Message, ctx: MapContext) -> list[Event]:
    """ORU^R01 → canonical events."""
    return map_oru(Hl7v2Source(msg, ctx, "ORU^R01"))


declare_emits(
    oru_mapper, EventKind.PATIENT_UPDATED, EventKind.RESULT_REPORTED, EventKind.REPORT_ISSUED
)
