"""VXU^V04 unsolicited vaccination record update → ``patient.updated`` for the PID, one
``immunization.recorded`` (or ``immunization.entered_in_error``) per RXA, then
``coverage.updated`` per IN1 (HL7 v2.5.1 chapter 4A; meanings from the CDC HL7 2.5.1
Implementation Guide for Immunization Messaging, release 1.5).

The ORDER group of VXU_V04 is ORC [TQ1] RXA [RXR] [OBX {NTE}]: an RXA takes the ORC that
opened its group (v2.3.1 senders that send no ORC are read too) and the RXR and OBX
segments after it, up to the next ORC or RXA.

* identity: ORC-3 filler order number (the IG's unique id of the immunization record),
  and ORC-2 placer order number when sent;
* status: RXA-21 ``D`` → entered-in-error; RXA-20 ``RE`` (refused) or ``NA`` (not
  administered) → not-done with RXA-18 as the reason; ``PA`` (partially administered) →
  completed and subpotent (the V2-to-FHIR RXA map); else completed;
* RXA-9 ``00`` (new immunization record) → primary source; ``01``–``08`` (historical, from
  the source named) → not primary, the code as the report origin;
* RXA-6 ``999`` is the IG's "amount unknown" and reads as no amount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.hl7v2 import Message
from hub.canonical import (
    Coded,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Immunization,
    ImmunizationEducation,
    ImmunizationStatus,
    Ref,
)
from hub.context import MapContext

from .adt import coverage_events
from .datatypes import CodedTable, coded, coding_system, ei_identifier, pl_ref, xcn_ref
from .segments import patient, patient_ref, stamp
from .source import Hl7v2Source, Seg, declare_emits, rep_text
from .values import parse_decimal

__all__ = [
    "FUNDING_SOURCE",
    "IMMUNIZATION_ORIGIN",
    "NEW_RECORD",
    "PROGRAM_ELIGIBILITY",
    "VIS_DOCUMENT",
    "VIS_PRESENTED",
    "VIS_PUBLISHED",
    "immunization",
    "map_vxu",
    "vxu_mapper",
]

#: the LOINC codes of the IG's immunization OBX observations
PROGRAM_ELIGIBILITY = "64994-7"  # vaccine funding program eligibility category (VFC)
FUNDING_SOURCE = "30963-3"  # vaccine funding source
VIS_DOCUMENT = "69764-9"  # VIS document type (its GS1 bar code)
VIS_PUBLISHED = "29768-9"  # date the VIS was published
VIS_PRESENTED = "29769-7"  # date the VIS was presented

#: RXA-9 NIP001 code for an immunization given by the sender (all others are historical)
NEW_RECORD = "00"
#: RXA-9 historical sources (CDC table NIP001) → FHIR immunization-origin where it has a
#: code (02 other provider, 03 written record, 04 recall, 07 school); others stay NIP001
IMMUNIZATION_ORIGIN = CodedTable(
    "hl7_immunization_origin",
    "http://terminology.hl7.org/CodeSystem/immunization-origin",
    "NIP001",
)
_NOT_DONE = frozenset({"RE", "NA"})
_UNKNOWN_AMOUNT = "999"


@dataclass
class _Group:
    """One RXA with the ORC before it and the RXR/OBX after it."""

    rxa: Seg
    orc: Seg | None = None
    rxr: Seg | None = None
    obx: list[Seg] = field(default_factory=list)


def _groups(src: Hl7v2Source) -> list[_Group]:
    groups: list[_Group] = []
    orc: Seg | None = None
    current: _Group | None = None
    for seg in src.segs:
        if seg.id == "ORC":
            orc, current = seg, None
        elif seg.id == "RXA":
            current = _Group(seg, orc)
            orc = None  # an ORC opens one group only
            groups.append(current)
        elif current is not None and seg.id == "RXR" and current.rxr is None:
            current.rxr = seg
        elif current is not None and seg.id == "OBX":
            current.obx.append(seg)
    return groups


def map_vxu(src: Hl7v2Source) -> list[Event]:
    """VXU^V04: PID → Patient (updated), each RXA group → Immunization, IN1 → Coverage."""
    pat = stamp(src, patient(src, src.require("PID")))
    pat_ref = patient_ref(pat)
    subjects = list(pat.identifiers)
    when = src.message_time
    events = [src.event(EventKind.PATIENT_UPDATED, pat, when, subjects)]
    groups = _groups(src)
    if not groups:
        src.require("RXA")
    for group in groups:
        item = stamp(src, immunization(src, group.rxa, group.orc, group.rxr, group.obx))
        item.patient = pat_ref
        kind = (
            EventKind.IMMUNIZATION_ENTERED_IN_ERROR
            if item.status is ImmunizationStatus.ENTERED_IN_ERROR
            else EventKind.IMMUNIZATION_RECORDED
        )
        events.append(src.event(kind, item, when, subjects))
    return events + coverage_events(src, pat_ref, subjects)


def immunization(
    src: Hl7v2Source, rxa: Seg, orc: Seg | None, rxr: Seg | None, obx: list[Seg]
) -> Immunization:
    """RXA (+ORC, RXR, OBX) → Immunization: ORC-2/3 ids, ORC-12 ordering provider; RXA-3
    administered at, RXA-5 vaccine (both CWE triplets), RXA-6/7 amount and units, RXA-9
    source, RXA-10 administering provider, RXA-11 place, RXA-15 lot, RXA-16 expiry, RXA-17
    manufacturer, RXA-18 refusal reason, RXA-20 completion status, RXA-21 action, RXA-22
    entered at; RXR-1 route, RXR-2 site; OBX funding, eligibility and VIS."""
    completion = (rxa.text(20) or "").upper() or None
    status, subpotent = _status(completion, rxa.text(21))
    primary, origin = _source(src, rxa)
    amount = rxa.text(6)
    item = Immunization(
        identifiers=_identifiers(src, orc),
        status=status,
        status_reason=coded(src, rxa.first(18)),
        completion_status=completion,
        vaccine_codes=_vaccine(src, rxa),
        occurred_at=src.when_of(rxa, 3),
        recorded=src.when_of(rxa, 22),
        primary_source=primary,
        report_origin=origin,
        location=pl_ref(src, rxa.first(11)),
        manufacturer=_manufacturer(src, rxa),
        lot_number=rxa.text(15),
        expiration_date=src.date_of(rxa, 16),
        route=coded(src, rxr.first(1)) if rxr else None,
        site=coded(src, rxr.first(2)) if rxr else None,
        dose_quantity=None if amount == _UNKNOWN_AMOUNT else parse_decimal(amount, rxa.loc(6)),
        dose_unit=coded(src, rxa.first(7)),
        administered_by=[r for rep in rxa.reps(10) if (r := xcn_ref(src, rep))],
        ordered_by=[r for rep in orc.reps(12) if (r := xcn_ref(src, rep))] if orc else [],
        subpotent=subpotent,
    )
    _observations(src, item, obx)
    return item


def _status(completion: str | None, action: str | None) -> tuple[ImmunizationStatus, bool | None]:
    """RXA-21 (table 0206) D → entered-in-error; RXA-20 (table 0322) RE/NA → not-done, PA →
    completed but subpotent."""
    if (action or "").upper() == "D":
        return ImmunizationStatus.ENTERED_IN_ERROR, None
    if completion in _NOT_DONE:
        return ImmunizationStatus.NOT_DONE, None
    return ImmunizationStatus.COMPLETED, True if completion == "PA" else None


def _source(src: Hl7v2Source, rxa: Seg) -> tuple[bool | None, Coded | None]:
    """RXA-9 administration notes: the first NIP001 information-source code decides."""
    for rep in rxa.reps(9):
        code = rep_text(rep, 1)
        system = (rep_text(rep, 3) or "").upper()
        if code is None or (system and system != "NIP001"):
            continue
        if code == NEW_RECORD:
            return True, None
        return False, coded(src, rep, IMMUNIZATION_ORIGIN)
    return None, None


def _identifiers(src: Hl7v2Source, orc: Seg | None) -> list[Identifier]:
    """ORC-3 filler order number (FILL), then ORC-2 placer order number (PLAC)."""
    if orc is None:
        return []
    found = [
        ei_identifier(src, orc.first(3), "immunization", "FILL"),
        ei_identifier(src, orc.first(2), "immunization", "PLAC"),
    ]
    return [i for i in found if i is not None]


def _vaccine(src: Hl7v2Source, rxa: Seg) -> list[Coded]:
    """RXA-5: the CWE.1-3 triplet and the alternate CWE.4-6 (a CVX and an NDC, often)."""
    rep = rxa.first(5)
    if rep is None:
        return []
    codes = [coded(src, rep)]
    if rep_text(rep, 1) and rep_text(rep, 4):
        system = coding_system(src, rep_text(rep, 6))
        codes.append(Coded(code=rep_text(rep, 4), system=system, display=rep_text(rep, 5)))
    return [c for c in codes if c is not None]


def _manufacturer(src: Hl7v2Source, rxa: Seg) -> Ref | None:
    """RXA-17 (MVX code^name^MVX) → Ref(Organization) by its MVX code, the name as display."""
    made = coded(src, rxa.first(17))
    if made is None:
        return None
    idents = []
    if made.code:
        idents.append(src.identifier(made.code, made.system or src.namespace("manufacturer")))
    return Ref(type=EntityType.ORGANIZATION, identifiers=idents, display=made.display)


def _observations(src: Hl7v2Source, item: Immunization, obx: list[Seg]) -> None:
    """The IG's OBX observations: funding source, program eligibility, and the VIS
    statements grouped by OBX-4 sub-id. Other observations are dropped."""
    vis: dict[str, ImmunizationEducation] = {}
    for seg in obx:
        loinc = seg.text(3)
        if loinc == FUNDING_SOURCE:
            item.funding_source = coded(src, seg.first(5))
        elif loinc == PROGRAM_ELIGIBILITY:
            found = coded(src, seg.first(5))
            if found is not None:
                item.program_eligibility.append(found)
        elif loinc in (VIS_DOCUMENT, VIS_PUBLISHED, VIS_PRESENTED):
            entry = vis.setdefault(seg.text(4) or seg.label, ImmunizationEducation())
            if loinc == VIS_DOCUMENT:
                entry.document_type = seg.text(5) or seg.text(5, 2)
            elif loinc == VIS_PUBLISHED:
                entry.published = src.date_of(seg, 5)
            else:
                entry.presented = src.date_of(seg, 5)
    item.education = [e for e in vis.values() if e != ImmunizationEducation()]


def vxu_mapper(msg: Message, ctx: MapContext) -> list[Event]:
    """VXU^V04 → canonical events."""
    return map_vxu(Hl7v2Source(msg, ctx, "VXU^V04"))


declare_emits(
    vxu_mapper,
    EventKind.PATIENT_UPDATED,
    EventKind.IMMUNIZATION_RECORDED,
    EventKind.IMMUNIZATION_ENTERED_IN_ERROR,
    EventKind.COVERAGE_UPDATED,
)
