"""ADT^A60 update allergy information → one ``allergy.updated`` (or ``allergy.removed``) per
IAM or AL1 segment (HL7 v2.5.1 chapter 3; the V2-to-FHIR guide's IAM/AL1 →
AllergyIntolerance maps).

The allergy refers to the PID patient. IAM-7 (allergy unique identifier) identifies it;
without one (AL1 has none) the identifier is made from the patient's first identifier and
the allergen code, so the same allergy sent again updates one record instead of adding
another. IAM-6 action D (delete) is a removal; A (add), U (update), X (no change) and an
empty action are updates. The PID's ``patient.updated`` comes first (as in an ORU, VXU or
MDM): it gives the allergies their subject, so an A60 whose PID names another person on a
known MRN is held for review — no allergy added to or removed from the wrong patient.
"""

from __future__ import annotations

from datetime import datetime

from adapters.hl7v2 import Repetition
from hub.canonical import Allergy, AllergyReaction, Coded, Event, EventKind, Identifier, Ref

from .datatypes import coded, ei_identifier
from .segments import patient, patient_ref, stamp
from .source import Hl7v2Source, Seg, rep_text

__all__ = ["allergy_from_al1", "allergy_from_iam", "map_allergies"]

_DELETE = "D"


def map_allergies(src: Hl7v2Source, when: datetime) -> list[Event]:
    """The PID's ``patient.updated``, then every IAM (with the NTE and IAR segments after
    it) and AL1 of the message → Allergy, in message order, each event at ``when``. A
    message with none maps to no event (it is stored and acknowledged)."""
    pat = stamp(src, patient(src, src.require("PID")))
    pat_ref = patient_ref(pat)
    subjects = list(pat.identifiers)
    events = []
    for seg, after in _groups(src):
        if seg.id == "IAM":
            allergy, removed = allergy_from_iam(src, seg, after, pat_ref)
        else:
            allergy, removed = allergy_from_al1(src, seg, pat_ref), False
        kind = EventKind.ALLERGY_REMOVED if removed else EventKind.ALLERGY_UPDATED
        events.append(src.event(kind, stamp(src, allergy), when, subjects))
    if not events:
        return []
    return [src.event(EventKind.PATIENT_UPDATED, pat, when, subjects), *events]


def _groups(src: Hl7v2Source) -> list[tuple[Seg, list[Seg]]]:
    """Each IAM/AL1 with the segments after it up to the next IAM/AL1."""
    groups: list[tuple[Seg, list[Seg]]] = []
    for seg in src.segs:
        if seg.id in ("IAM", "AL1"):
            groups.append((seg, []))
        elif groups:
            groups[-1][1].append(seg)
    return groups


def allergy_from_iam(
    src: Hl7v2Source, iam: Seg, after: list[Seg], pat: Ref
) -> tuple[Allergy, bool]:
    """IAM → (Allergy, removed?): IAM-2 category, IAM-3 code, IAM-4 severity and IAM-5
    reactions (plus one reaction per IAR: IAR-1 manifestation, IAR-2 severity), IAM-6 action
    (D: removed), IAM-7 identifier, IAM-9 kind, IAM-11 onset, IAM-13 reported (recorded),
    IAM-17 clinical/verification status; NTE-3 after it → note."""
    code = coded(src, iam.first(3))
    reactions = []
    listed = [c for r in iam.reps(5) if (c := _reaction(src, r))]
    severity = _lookup(src, "hl7_allergy_severity", iam.text(4))
    if listed or severity:
        reactions.append(AllergyReaction(manifestations=listed, severity=severity))
    for iar in (s for s in after if s.id == "IAR"):
        shown = coded(src, iar.first(1))
        reactions.append(
            AllergyReaction(
                manifestations=[shown] if shown else [],
                severity=_lookup(src, "hl7_allergy_severity", iar.text(2)),
            )
        )
    status = iam.text(17)
    notes = [text for s in after if s.id == "NTE" for r in s.reps(3) if (text := rep_text(r))]
    own = ei_identifier(src, iam.first(7), "allergy")
    allergy = Allergy(
        identifiers=[own] if own else _derived(src, pat, code),
        patient=pat,
        code=code,
        category=_category(src, iam.text(2)),
        kind=_lookup(src, "hl7_allergy_kind", iam.text(9)),
        clinical_status=_lookup(src, "hl7_allergy_clinical_status", status),
        verification_status=_lookup(src, "hl7_allergy_verification", status),
        onset=src.when_of(iam, 11),
        recorded_at=src.when_of(iam, 13),
        reactions=reactions,
        note="\n".join(notes) or None,
    )
    return allergy, (iam.text(6) or "").upper() == _DELETE


def allergy_from_al1(src: Hl7v2Source, al1: Seg, pat: Ref) -> Allergy:
    """AL1 → Allergy: AL1-2 category, AL1-3 code, AL1-4 severity and AL1-5 reactions,
    AL1-6 identification date → onset."""
    code = coded(src, al1.first(3))
    listed = [c for r in al1.reps(5) if (c := _reaction(src, r))]
    severity = _lookup(src, "hl7_allergy_severity", al1.text(4))
    reactions = [AllergyReaction(manifestations=listed, severity=severity)]
    return Allergy(
        identifiers=_derived(src, pat, code),
        patient=pat,
        code=code,
        category=_category(src, al1.text(2)),
        onset=src.when_of(al1, 6),
        reactions=reactions if listed or severity else [],
    )


def _reaction(src: Hl7v2Source, rep: Repetition) -> Coded | None:
    """IAM-5/AL1-5: ST text up to v2.5.1 (``Hives``), CWE from v2.6: a value with a coding
    system or text component is coded, a bare one is the reaction's text."""
    if rep_text(rep, 2) or rep_text(rep, 3):
        return coded(src, rep)
    text = rep_text(rep)
    return Coded(display=text) if text else None


def _derived(src: Hl7v2Source, pat: Ref, code: Coded | None) -> list[Identifier]:
    """An allergy without an identifier of its own: the patient's first identifier and the
    allergen (code, else its text) name it, in the sender's allergy namespace."""
    allergen = (code.code or code.display) if code else None
    if not pat.identifiers or not allergen:
        return []
    who = pat.identifiers[0]
    value = f"{who.system or ''}|{who.value}|{(code.system if code else None) or ''}|{allergen}"
    return [src.identifier(value, src.namespace("allergy"))]


def _category(src: Hl7v2Source, code: str | None) -> list[str]:
    found = _lookup(src, "hl7_allergy_category", code)
    return [found] if found else []


def _lookup(src: Hl7v2Source, table: str, code: str | None) -> str | None:
    """A coded value through its table; a code with no row is left out, never guessed."""
    return src.lookup(table, code)
