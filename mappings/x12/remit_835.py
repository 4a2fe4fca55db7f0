"""835 (005010X221A1) → ``claim.paid`` / ``claim.denied``, one per claim payment (2100 CLP).

Header: BPR02 payment amount, BPR04 method, BPR16 date; TRN02 check/EFT trace; DTM*405
production date (when the events occurred); 1000A N1*PR payer, 1000B N1*PE payee. Per
claim: CLP01/02/03/04/05/07, CAS, NM1*QC patient; per service (2110): SVC, DTM*472 (else
*150), CAS, REF*6R, LQ*HE remark codes.

Denied rule: CLP02 = 4 (denied), or nothing was paid (CLP04 = 0) and nothing is the
patient's to pay (CLP05 empty or 0, no PR adjustment at claim or line level) on a claim
that charged something — a zero payment explained only by CO/OA/PI adjustments is a
denial whatever CLP02 says. A deductible (PR-1) claim paid 0 is paid, not denied.
Reversals (CLP02 = 22) are ``claim.paid`` with their negative amounts.
"""

from __future__ import annotations

from datetime import date, datetime

from adapters.x12 import Loop, Segment
from hub.canonical import (
    Adjustment,
    ClaimParty,
    EntityType,
    Event,
    EventKind,
    Money,
    Ref,
    Remittance,
    ServiceLinePayment,
)
from hub.errors import MappingError

from .claim_837 import CLAIM_ID_SYSTEM, procedure_coded
from .parties import n1_party, nm1_party
from .source import X12Source
from .values import parse_amount, parse_date, parse_decimal

__all__ = ["adjustments_of", "is_denied", "map_835"]


def map_835(src: X12Source) -> list[Event]:
    """One event per 2100 claim payment, in document order."""
    header = _Header(src)
    events = []
    for clp_loop in src.tree.find_all("2100"):
        remit = src.stamp(_remittance(src, clp_loop, header), _as_datetime(header.produced))
        kind = EventKind.CLAIM_DENIED if remit.denied else EventKind.CLAIM_PAID
        subjects = list(remit.patient.identifiers) if remit.patient else []
        events.append(src.event(kind, remit, _as_datetime(header.produced), subjects))
    return events


def _as_datetime(day: date | None) -> datetime | None:
    return datetime.combine(day, datetime.min.time()) if day else None


class _Header:
    """BPR, TRN, DTM*405 and the 1000A/1000B parties, read once per set."""

    def __init__(self, src: X12Source) -> None:
        bpr = src.header("BPR")
        if bpr is None:
            raise MappingError("835 has no BPR segment", code="required", location="BPR")
        trn = src.header("TRN")
        self.payment_amount = parse_amount(bpr.element(2), "BPR02")
        self.payment_method = bpr.element(4).strip() or None
        self.payment_date = parse_date(bpr.element(16), "BPR16")
        self.trace = (trn.element(2).strip() or None) if trn else None
        dtm = src.root.segment("DTM", "405")
        self.produced = (parse_date(dtm.element(2), "DTM02") if dtm else None) or self.payment_date
        payer_loop, payee_loop = src.tree.find("1000A"), src.tree.find("1000B")
        self.payer = n1_party(src, payer_loop.segments, "1000A") if payer_loop else None
        self.payee = n1_party(src, payee_loop.segments, "1000B") if payee_loop else None
        self.payer_id = _payer_id(payer_loop)


def _payer_id(loop: Loop | None) -> str | None:
    """The payer's id: N104 (N103 XV or PI), else REF*2U (payer identification number)."""
    if loop is None:
        return None
    n1 = loop.segments[0]
    if n1.element(3) in ("XV", "PI") and n1.element(4).strip():
        return n1.element(4).strip()
    ref = loop.segment("REF", "2U")
    return (ref.element(2).strip() or None) if ref is not None else None


def _remittance(src: X12Source, loop: Loop, header: _Header) -> Remittance:
    """2100: CLP01 patient control number, CLP02 status, CLP03 charge, CLP04 paid, CLP05
    patient responsibility, CLP07 payer claim control number; CAS; NM1*QC patient."""
    clp = loop.segments[0]
    pcn, icn = clp.element(1).strip() or None, clp.element(7).strip() or None
    lines = [_service(src, svc) for svc in loop.loops("2110")]
    adjustments = adjustments_of(loop.segments, "2100")
    remit = Remittance(
        identifiers=[src.identifier(icn, src.payer_claim_namespace(header.payer_id))]
        if icn
        else [],
        claim=_claim_ref(src, pcn),
        patient_control_number=pcn,
        status_code=clp.element(2).strip() or None,
        total_charge=parse_amount(clp.element(3), "2100/CLP03"),
        paid=parse_amount(clp.element(4), "2100/CLP04"),
        patient_responsibility=parse_amount(clp.element(5), "2100/CLP05"),
        payer_claim_control_number=icn,
        payer=header.payer,
        payee=header.payee,
        patient=_patient(src, loop, header),
        adjustments=adjustments,
        service_lines=lines,
        payment_method=header.payment_method,
        payment_amount=header.payment_amount,
        payment_date=header.payment_date,
        trace_number=header.trace,
    )
    remit.denied = is_denied(remit)
    return remit


def _claim_ref(src: X12Source, pcn: str | None) -> Ref | None:
    """The claim this pays, by its patient control number (CLP01 echoes CLM01)."""
    if pcn is None:
        return None
    return Ref(type=EntityType.CLAIM, identifiers=[src.identifier(pcn, CLAIM_ID_SYSTEM)])


def _patient(src: X12Source, loop: Loop, header: _Header) -> ClaimParty | None:
    """NM1*QC (its member id NM108 MI/HN in the payer's namespace)."""
    for item in loop.segments:
        if item.id == "NM1" and item.element(1) == "QC":
            single = Loop("2100", None, [item])
            return nm1_party(src, single, src.member_namespace(header.payer_id))
    return None


def adjustments_of(segments: list[Segment], loop_id: str) -> list[Adjustment]:
    """CAS: CAS01 group (CO, CR, OA, PI, PR) then up to six (reason, amount, quantity)
    triplets (CAS02–CAS19)."""
    out = []
    for seg in segments:
        if seg.id != "CAS":
            continue
        group = seg.element(1).strip()
        for first in range(2, 20, 3):
            reason = seg.element(first).strip()
            if not reason:
                continue
            amount = parse_decimal(seg.element(first + 1), f"{loop_id}/CAS{first + 1:02d}")
            if amount is None:
                raise MappingError(
                    "adjustment reason without an amount",
                    code="required",
                    location=f"{loop_id}/CAS{first + 1:02d}",
                )
            quantity = parse_decimal(seg.element(first + 2), f"{loop_id}/CAS{first + 2:02d}")
            out.append(
                Adjustment(
                    group=group, reason=reason, amount=Money(amount=amount), quantity=quantity
                )
            )
    return out


def _service(src: X12Source, loop: Loop) -> ServiceLinePayment:
    """2110: SVC01 procedure composite, SVC02 charge, SVC03 paid, SVC05 units; DTM*472
    (else DTM*150, the period start) service date; CAS; REF*6R; LQ*HE remark codes."""
    svc = loop.segments[0]
    when = loop.segment("DTM", "472") or loop.segment("DTM", "150")
    ref = loop.segment("REF", "6R")
    return ServiceLinePayment(
        procedure=procedure_coded(src, svc.component(1, 1), svc.component(1, 2)),
        modifiers=[m for m in (svc.component(1, i).strip() for i in range(3, 7)) if m],
        charge=parse_amount(svc.element(2), "2110/SVC02"),
        paid=parse_amount(svc.element(3), "2110/SVC03"),
        units=parse_decimal(svc.element(5), "2110/SVC05"),
        service_date=parse_date(when.element(2), "2110/DTM02") if when else None,
        adjustments=adjustments_of(loop.segments, "2110"),
        line_control_number=(ref.element(2).strip() or None) if ref else None,
        remark_codes=[
            s.element(2).strip()
            for s in loop.segments
            if s.id == "LQ" and s.element(1) == "HE" and s.element(2).strip()
        ],
    )


def is_denied(remit: Remittance) -> bool:
    """The denied rule of this module's docstring."""
    if remit.status_code == "4":
        return True
    if remit.status_code == "22" or remit.paid is None or remit.paid.amount != 0:
        return False
    if remit.patient_responsibility is not None and remit.patient_responsibility.amount != 0:
        return False
    every = remit.adjustments + [a for line in remit.service_lines for a in line.adjustments]
    if any(a.group == "PR" for a in every):
        return False
    return remit.total_charge is not None and remit.total_charge.amount > 0
