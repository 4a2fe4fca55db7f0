"""DFT^P03 and DFT^P11 post detail financial transaction → one ``charge.posted`` per FT1
(HL7 v2.5.1 chapter 6), plus ``coverage.updated`` per IN1.

A charge refers to the PID patient and, when PV1-19 names the visit, to that encounter.
Diagnoses are FT1-19 when the FT1 names its own, else the message's DG1 segments. P11
(``DFT_P11``) puts DG1 in each FT1's FINANCIAL group as well: there an FT1 without FT1-19
takes the DG1s of its own group, else those before the first FT1.
"""

from __future__ import annotations

from adapters.hl7v2 import Message
from hub.canonical import Charge, Diagnosis, EntityType, Event, EventKind, Ref
from hub.context import MapContext

from .adt import coverage_events, event_time
from .datatypes import coded, cx_identifier, money, xcn_ref
from .segments import diagnosis, patient, patient_ref, stamp
from .source import Hl7v2Source, Seg, declare_emits, rep_text
from .values import parse_decimal

__all__ = ["charge", "dft_mapper", "dft_p11_mapper", "map_dft"]


def map_dft(src: Hl7v2Source, *, grouped: bool = False) -> list[Event]:
    """DFT^P03/P11: PID → the patient of every charge, PV1-19 → its encounter, FT1 →
    Charge. ``grouped`` (P11): DG1s after an FT1 are that charge's own."""
    pat = patient(src, src.require("PID"))
    pat_ref = patient_ref(pat)
    subjects = list(pat.identifiers)
    enc_ref = _visit(src)
    groups: list[list[Seg]] | None = None
    if grouped:
        groups = _financial_groups(src)
        shared_dx = [diagnosis(src, s) for s in _before_first_ft1(src) if s.id == "DG1"]
    else:
        shared_dx = [diagnosis(src, s) for s in src.all("DG1")]
    when = event_time(src)
    events = []
    for n, ft1 in enumerate(src.all("FT1")):
        own = [diagnosis(src, s) for s in groups[n] if s.id == "DG1"] if groups else []
        item = charge(src, ft1, own or shared_dx)
        item.patient, item.encounter = pat_ref, enc_ref
        events.append(src.event(EventKind.CHARGE_POSTED, stamp(src, item), when, subjects))
    if not events:
        src.require("FT1")
    return events + coverage_events(src, pat_ref, subjects)


def _financial_groups(src: Hl7v2Source) -> list[list[Seg]]:
    """The segments after each FT1 up to the next FT1 (its FINANCIAL group)."""
    groups: list[list[Seg]] = []
    for seg in src.segs:
        if seg.id == "FT1":
            groups.append([])
        elif groups:
            groups[-1].append(seg)
    return groups


def _before_first_ft1(src: Hl7v2Source) -> list[Seg]:
    out: list[Seg] = []
    for seg in src.segs:
        if seg.id == "FT1":
            break
        out.append(seg)
    return out


def _visit(src: Hl7v2Source) -> Ref | None:
    pv1 = src.one("PV1")
    if pv1 is None:
        return None
    idents = [i for r in pv1.reps(19) if (i := cx_identifier(src, r, "encounter", pv1.loc(19)))]
    return Ref(type=EntityType.ENCOUNTER, identifiers=idents) if idents else None


def charge(src: Hl7v2Source, ft1: Seg, shared_dx: list[Diagnosis]) -> Charge:
    """FT1 → Charge: FT1-2 transaction id, FT1-4 transaction date (DR.1 from v2.5),
    FT1-5 posting date, FT1-6 type, FT1-25 procedure (else FT1-7 transaction code), FT1-8
    description, FT1-10 quantity, FT1-11 extended and FT1-12 unit amounts, FT1-13
    department, FT1-14 plan, FT1-19 diagnoses, FT1-20/21 performed/ordered by, FT1-26
    modifiers."""
    tx_id = ft1.text(2)
    code = coded(src, ft1.first(25)) or coded(src, ft1.first(7))
    return Charge(
        identifiers=[src.identifier(tx_id, src.namespace("charge"))] if tx_id else [],
        transaction_id=tx_id,
        transaction_type=_transaction_type(src, ft1.text(6)),
        service_date=src.when_of(ft1, 4),
        posted_date=src.when_of(ft1, 5),
        code=code,
        description=ft1.text(8) or (code.display if code else None),
        quantity=parse_decimal(ft1.text(10), ft1.loc(10)),
        amount=money(ft1.first(11), ft1.loc(11)),
        unit_price=money(ft1.first(12), ft1.loc(12)),
        department=coded(src, ft1.first(13)),
        insurance_plan=coded(src, ft1.first(14)),
        diagnoses=_diagnoses(src, ft1) or list(shared_dx),
        performed_by=[r for rep in ft1.reps(20) if (r := xcn_ref(src, rep))],
        ordered_by=[r for rep in ft1.reps(21) if (r := xcn_ref(src, rep))],
        modifiers=[m for rep in ft1.reps(26) if (m := rep_text(rep))],
    )


def _transaction_type(src: Hl7v2Source, code: str | None) -> str | None:
    """FT1-6 (table 0017) normalised through ``hl7_transaction_type``; kept as sent when
    the table has no row."""
    return src.lookup("hl7_transaction_type", code) or code


def _diagnoses(src: Hl7v2Source, ft1: Seg) -> list[Diagnosis]:
    return [
        Diagnosis(code=c, sequence=n)
        for n, rep in enumerate(ft1.reps(19), 1)
        if (c := coded(src, rep)) is not None
    ]


def dft_mapper(msg: Message, ctx: MapContext) -> list[Event]:
    """DFT^P03 → canonical events."""
    return map_dft(Hl7v2Source(msg, ctx, "DFT^P03"))


def dft_p11_mapper(msg: Message, ctx: MapContext) -> list[Event]:
    """DFT^P11 → canonical events (the same charges; DG1 per FINANCIAL group)."""
    return map_dft(Hl7v2Source(msg, ctx, "DFT^P11"), grouped=True)


declare_emits(dft_mapper, EventKind.CHARGE_POSTED, EventKind.COVERAGE_UPDATED)
declare_emits(dft_p11_mapper, EventKind.CHARGE_POSTED, EventKind.COVERAGE_UPDATED)
