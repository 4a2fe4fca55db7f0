"""Segment maps shared by the triggers, after the V2-to-FHIR segment maps.

PID (+PD1, NK1) → Patient; PV1 (+PV2, DG1) → Encounter; DG1 → Diagnosis; IN1 → Coverage;
MRG → the retired patient's Ref. What a segment carries that the canonical model has no
place for is dropped here and listed in docs/hl7v2-mappings.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from hub.canonical import (
    AdministrativeSex,
    Coded,
    Contact,
    ContactPoint,
    Coverage,
    Diagnosis,
    Encounter,
    EncounterStatus,
    EntityType,
    Identifier,
    Patient,
    Period,
    RecordMeta,
    Ref,
)
from hub.canonical.base import CanonicalModel

from .datatypes import (
    MARITAL_STATUS,
    PATIENT_CLASS,
    address,
    coded,
    contact_point,
    cx_identifier,
    human_name,
    local_system,
    org_ref,
    person_display,
    pl_ref,
    xcn_ref,
)
from .race import race_coded
from .source import Hl7v2Source, Seg, rep_text
from .values import parse_int, parse_yes_no

__all__ = [
    "coverage",
    "diagnosis",
    "encounter",
    "PID_CLEARS",
    "PV1_CLEARS",
    "cleared_fields",
    "has_visit",
    "merged_ref",
    "nk1_contact",
    "patient",
    "patient_ref",
    "stamp",
]

_US_SSN = "http://hl7.org/fhir/sid/us-ssn"
_META_SKIP = frozenset({"entity_type", "id", "identifiers", "meta"})


M = TypeVar("M", bound=CanonicalModel)


def stamp(src: Hl7v2Source, record: M) -> M:
    """Set ``meta`` on a record: the source system, MSH-7 as the update time, and that
    source for every top-level field the message set; the fields the message cleared with
    ``""`` (``meta.cleared``, set by the segment map) are kept."""
    fields = {
        name: src.ctx.source_system
        for name in record.model_fields_set
        if name not in _META_SKIP and getattr(record, name) not in (None, [], "")
    }
    old = getattr(record, "meta", None)
    cleared = old.cleared if isinstance(old, RecordMeta) else None
    meta = RecordMeta(
        source=src.ctx.source_system, updated_at=src.sent_at, field_sources=fields, cleared=cleared
    )
    setattr(record, "meta", meta)  # noqa: B010 - every entity has meta; the base does not
    return record


def cleared_fields(seg: Seg, fields: Mapping[str, tuple[int, ...]]) -> list[str] | None:
    """The canonical fields ``seg`` deletes: those whose HL7 fields carry no value and at
    least one of them is the explicit null ``""`` (an empty or absent field leaves the
    value as it is). None when there are none, so ``meta`` stays as it was."""
    out = [
        name
        for name, numbers in fields.items()
        if any(seg.cleared(n) for n in numbers) and not any(seg.reps(n) for n in numbers)
    ]
    return out or None


def _clear(record: CanonicalModel, cleared: list[str] | None) -> None:
    if cleared:
        setattr(record, "meta", RecordMeta(cleared=cleared))  # noqa: B010 - see stamp


# ----------------------------------------------------------------------------- PID

#: Patient fields and the PID fields they come from, for the explicit null ``""``. The
#: identifiers (PID-2/3/4/19/20) are never cleared: an identifier leaves a record by a
#: merge or an unlink, not by an update. Nor are the identity facts the identity rules
#: compare — name (PID-5), birth date (PID-7), sex (PID-8): a ``""`` there is ignored with
#: a warning (``conformance.hl7v2.nulls``; an error on a strict port). A PID field that
#: carries only part of a canonical field clears only that part (``field:part``,
#: ``hub.sync.state.PARTIAL_CLEARS``): PID-13 the home and personal numbers, PID-14 the work
#: ones, PID-25 the birth order (the PID-24 flag stays).
PID_CLEARS: dict[str, tuple[int, ...]] = {
    "race": (10,),
    "addresses": (11,),
    "telecom:home": (13,),
    "telecom:work": (14,),
    "language": (15,),
    "marital_status": (16,),
    "ethnicity": (22,),
    "multiple_birth": (24,),
    "multiple_birth:order": (25,),
    "deceased_at": (29,),
    "deceased": (30,),
}


def patient_identifiers(src: Hl7v2Source, pid: Seg) -> list[Identifier]:
    """PID-3 (and the older PID-2, PID-4), PID-19 SSN and PID-20 driver's licence."""
    found: list[Identifier] = []
    for field in (3, 2, 4):
        for rep in pid.reps(field):
            _add(found, cx_identifier(src, rep, "patient", pid.loc(field)))
    ssn = pid.text(19)
    if ssn:
        _add(found, src.identifier(ssn, _US_SSN, "SS"))
    dln = pid.first(20)
    if dln is not None and rep_text(dln, 1):
        ident = src.identifier(
            rep_text(dln, 1) or "", rep_text(dln, 2) or src.namespace("dl"), "DL"
        )
        _add(found, ident)
    return found


def _add(found: list[Identifier], ident: Identifier | None) -> None:
    """Keep one identifier per (value, type): PID-19 often repeats a PID-3 SSN."""
    if ident is None:
        return
    if any(i.value == ident.value and (i.type or "") == (ident.type or "") for i in found):
        return
    found.append(ident)


def patient(src: Hl7v2Source, pid: Seg, scope: list[Seg] | None = None) -> Patient:
    """PID (+ PD1-3/PD1-4 primary care, NK1 contacts) → Patient. PD1 and NK1 are looked for
    in ``scope`` (the PID's segment group), by default the whole message."""
    scope = src.segs if scope is None else scope
    pat = Patient(
        identifiers=patient_identifiers(src, pid),
        names=[n for r in pid.reps(5) if (n := human_name(src, r))],
        birth_date=src.date_of(pid, 7),
        sex=_sex(src, pid.text(8)),
        race=[c for r in pid.reps(10) if (c := race_coded(src, r, 10))],
        addresses=[a for r in pid.reps(11) if (a := address(src, r))],
        telecom=_telecom(src, pid),
        language=coded(src, pid.first(15)),
        marital_status=coded(src, pid.first(16), MARITAL_STATUS),
        ethnicity=[c for r in pid.reps(22) if (c := race_coded(src, r, 22))],
        multiple_birth=_multiple_birth(pid),
        contacts=[k for s in scope if s.id == "NK1" and (k := nk1_contact(src, s))],
        primary_care=_primary_care(src, next((s for s in scope if s.id == "PD1"), None)),
    )
    _deceased(src, pid, pat)
    _clear(pat, cleared_fields(pid, PID_CLEARS))
    return pat


def _sex(src: Hl7v2Source, code: str | None) -> AdministrativeSex | None:
    """PID-8 through ``hl7_administrative_sex``; a code with no row is left out."""
    target = src.lookup("hl7_administrative_sex", code)
    return AdministrativeSex(target) if target in set(AdministrativeSex) else None


def _telecom(src: Hl7v2Source, pid: Seg) -> list[ContactPoint]:
    """PID-13 (home, by default) and PID-14 (work, by default)."""
    home = [c for r in pid.reps(13) if (c := contact_point(src, r, "home"))]
    work = [c for r in pid.reps(14) if (c := contact_point(src, r, "work"))]
    return home + work


def _multiple_birth(pid: Seg) -> bool | int | None:
    """PID-25 birth order when PID-24 is Y, else PID-24 itself."""
    flag = parse_yes_no(pid.text(24))
    order = parse_int(pid.text(25), pid.loc(25))
    return order if flag and order else flag


def _deceased(src: Hl7v2Source, pid: Seg, pat: Patient) -> None:
    """PID-29 death date/time and PID-30 death indicator."""
    pat.deceased_at = src.datetime_of(pid, 29)
    flag = parse_yes_no(pid.text(30))
    pat.deceased = True if pat.deceased_at else flag


def _primary_care(src: Hl7v2Source, pd1: Seg | None) -> list[Ref]:
    """PD1-4 primary care provider (XCN) and PD1-3 primary facility (XON)."""
    if pd1 is None:
        return []
    refs = [r for rep in pd1.reps(4) if (r := xcn_ref(src, rep))]
    refs += [r for rep in pd1.reps(3) if (r := org_ref(src, rep))]
    return refs


def patient_ref(pat: Patient) -> Ref:
    return Ref(
        type=EntityType.PATIENT,
        identifiers=list(pat.identifiers),
        display=person_display(pat.names[0] if pat.names else None),
    )


def nk1_contact(src: Hl7v2Source, nk1: Seg) -> Contact | None:
    """NK1 → Contact: NK1-2 name (else NK1-30 contact person), NK1-3 relationship (else
    NK1-7 contact role), NK1-4 address, NK1-5 home and NK1-6 work phones."""
    name_rep = nk1.first(2) or nk1.first(30)
    contact = Contact(
        name=human_name(src, name_rep),
        relationship=coded(src, nk1.first(3)) or coded(src, nk1.first(7)),
        telecom=[c for r in nk1.reps(5) if (c := contact_point(src, r, "home"))]
        + [c for r in nk1.reps(6) if (c := contact_point(src, r, "work"))],
        address=next((a for r in nk1.reps(4) if (a := address(src, r))), None),
    )
    return None if contact == Contact() else contact


def merged_ref(src: Hl7v2Source, mrg: Seg) -> Ref:
    """MRG → the retired patient: MRG-1 prior identifiers (and MRG-4 prior patient id),
    MRG-7 prior name as the display."""
    idents: list[Identifier] = []
    for field in (1, 4):
        for rep in mrg.reps(field):
            _add(idents, cx_identifier(src, rep, "patient", mrg.loc(field)))
    name = human_name(src, mrg.first(7))
    return Ref(type=EntityType.PATIENT, identifiers=idents, display=person_display(name))


# ----------------------------------------------------------------------------- PV1


def has_visit(pv1: Seg | None) -> bool:
    """A PV1 that describes a visit: one with a visit number, location or admit time, or
    a patient class other than N (not applicable), which A28/A31 senders fill in."""
    if pv1 is None:
        return False
    if any(pv1.text(n) for n in (3, 19, 44)):
        return True
    return (pv1.text(2) or "N").upper() != "N"


def encounter(src: Hl7v2Source, pv1: Seg, status: EncounterStatus, pat: Ref | None) -> Encounter:
    """PV1 (+PV2, DG1) → Encounter: PV1-19 visit number, PV1-2 class, PV1-3 location,
    PV1-6 prior location, PV1-7/8/9/17 doctors, PV1-10 service, PV1-4 admission type,
    PV1-14 admit source, PV1-36 discharge disposition, PV1-44/45 period; PV2-3 reason."""
    enc = Encounter(
        identifiers=[
            i for r in pv1.reps(19) if (i := cx_identifier(src, r, "encounter", pv1.loc(19)))
        ],
        status=status,
        patient_class=coded(src, pv1.first(2), PATIENT_CLASS),
        patient=pat,
        location=pl_ref(src, pv1.first(3)),
        prior_location=pl_ref(src, pv1.first(6)),
        attending=_doctors(src, pv1, 7),
        referring=_doctors(src, pv1, 8),
        consulting=_doctors(src, pv1, 9),
        admitting=_doctors(src, pv1, 17),
        hospital_service=coded(src, pv1.first(10)),
        admission_type=coded(src, pv1.first(4)),
        admit_source=coded(src, pv1.first(14)),
        discharge_disposition=coded(src, pv1.first(36)),
        diagnoses=[diagnosis(src, s) for s in src.all("DG1")],
    )
    start, end = src.when_of(pv1, 44), src.when_of(pv1, 45)
    if start or end:
        enc.period = Period(start=start, end=end)
    pv2 = src.one("PV2")
    if pv2 is not None:
        enc.reason = [c for r in pv2.reps(3) if (c := coded(src, r))]
    _clear(enc, cleared_fields(pv1, PV1_CLEARS))
    return enc


#: Encounter fields and the PV1 fields they come from, for the explicit null ``""``
PV1_CLEARS: dict[str, tuple[int, ...]] = {
    "location": (3,),
    "prior_location": (6,),
    "attending": (7,),
    "referring": (8,),
    "consulting": (9,),
    "hospital_service": (10,),
    "admission_type": (4,),
    "admit_source": (14,),
    "admitting": (17,),
    "discharge_disposition": (36,),
}


def _doctors(src: Hl7v2Source, seg: Seg, field: int) -> list[Ref]:
    return [r for rep in seg.reps(field) if (r := xcn_ref(src, rep))]


def diagnosis(src: Hl7v2Source, dg1: Seg) -> Diagnosis:
    """DG1 → Diagnosis: DG1-3 code (else DG1-4 description as text), DG1-1 sequence,
    DG1-6 type through ``hl7_diagnosis_type``, or ``principal`` when DG1-15 priority is 1."""
    code = coded(src, dg1.first(3)) or Coded(display=dg1.text(4))
    priority = dg1.text(15)
    kind = "principal" if priority == "1" else src.lookup("hl7_diagnosis_type", dg1.text(6))
    return Diagnosis(code=code, sequence=parse_int(dg1.text(1), dg1.loc(1)), kind=kind)


# ----------------------------------------------------------------------------- IN1


def coverage(src: Hl7v2Source, in1: Seg, position: int, beneficiary: Ref | None) -> Coverage:
    """IN1 → Coverage: IN1-2 plan id, IN1-3/IN1-4 payer, IN1-8/9 group, IN1-12/13 period,
    IN1-15 plan type, IN1-16 insured, IN1-17 relationship, IN1-49 (else IN1-36 policy
    number) member id, IN1-22 (else the IN1's position) order."""
    cov = Coverage(
        identifiers=_plan_ids(src, in1),
        beneficiary=beneficiary,
        payer=_payer(src, in1),
        plan_name=rep_text(in1.first(2), 2),
        group_number=in1.text(8),
        group_name=in1.text(9),
        type=coded(src, in1.first(15)),
        subscriber_id=in1.text(49) or in1.text(36),
        relationship=_relationship(src, in1),
        order=parse_int(in1.text(22), in1.loc(22)) or position,
    )
    start, end = src.date_of(in1, 12), src.date_of(in1, 13)
    if start or end:
        cov.period = Period(start=start, end=end)
    insured = human_name(src, in1.first(16))
    if insured is not None:
        cov.subscriber = Ref(type=EntityType.PATIENT, display=person_display(insured))
    return cov


def _plan_ids(src: Hl7v2Source, in1: Seg) -> list[Identifier]:
    plan = in1.first(2)
    value = rep_text(plan, 1)
    if value is None:
        return []
    system = local_system(src, rep_text(plan, 3), "coverage")
    return [src.identifier(value, system, "XV")]


def _payer(src: Hl7v2Source, in1: Seg) -> Ref | None:
    """IN1-3 insurance company ids, IN1-4 company name."""
    idents = [i for r in in1.reps(3) if (i := cx_identifier(src, r, "payer", in1.loc(3)))]
    name = rep_text(in1.first(4), 1)
    if not idents and name is None:
        return None
    return Ref(type=EntityType.ORGANIZATION, identifiers=idents, display=name)


def _relationship(src: Hl7v2Source, in1: Seg) -> Coded | None:
    """IN1-17 (table 0063) → subscriber-relationship through ``hl7_relationship``."""
    rel = in1.first(17)
    code = rep_text(rel, 1)
    if code is None:
        return None
    target = src.lookup("hl7_relationship", code)
    if target:
        system = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
        return Coded(code=target, system=system, display=rep_text(rel, 2))
    return coded(src, rel)
