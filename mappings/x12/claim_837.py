"""837P (005010X222A1) and 837I (005010X223A2) → ``coverage.updated`` + ``claim.submitted``.

One ``claim.submitted`` per claim (loop 2300), preceded — once per subscriber (2000B) and
patient (2000C) pair — by a ``coverage.updated`` carrying the member id, so the sync engine
can link the patient and the coverage with what HL7 v2 and FHIR say about them.

Loops read: 2000A/2010AA billing provider; 2000B SBR, 2010BA subscriber, 2010BB payer;
2000C PAT, 2010CA patient (else the subscriber is the patient, relationship self); 2300
CLM/DTP/REF/HI; 2310x providers and facility; 2400 LX/SV1|SV2/DTP*472/REF*6R; 2410 LIN;
2420A line rendering provider. What is dropped is listed in docs/x12-mappings.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from adapters.x12 import Loop, Segment
from hub.canonical import (
    Claim,
    ClaimKind,
    ClaimParty,
    Coded,
    Coverage,
    Diagnosis,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Period,
    Ref,
    ServiceLine,
)
from hub.errors import MappingError

from .parties import RELATIONSHIP_SYSTEM, nm1_party, party_ref, ref_ids, relationship
from .source import X12Source, walk_loops
from .values import (
    icd_from_x12,
    parse_amount,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_period,
)

__all__ = [
    "CLAIM_ID_SYSTEM",
    "CPT_SYSTEM",
    "FILING_INDICATOR_SYSTEM",
    "PAYER_ORDER",
    "map_837",
    "procedure_coded",
]

#: the namespace of CLM01 (patient control number) — the FHIR mappings' ``CLM01``
CLAIM_ID_SYSTEM = "CLM01"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
FILING_INDICATOR_SYSTEM = "https://codesystem.x12.org/005010/1032"
#: SBR01 payer responsibility sequence → Coverage.order
PAYER_ORDER = {c: i for i, c in enumerate("PSTABCDEFGH", start=1)}
#: CPT (HCPCS level I): five digits, or four digits and F/T/U (category II/III, PLA)
_CPT = re.compile(r"\d{5}|\d{4}[FTU]")

#: 2010BB REF qualifiers naming the billing provider (its secondary ids at this payer)
_BILLING_AT_PAYER = frozenset({"G2", "LU"})
#: per claim kind: the 2310 loops holding (rendering, referring, service facility)
_PROVIDER_LOOPS = {
    ClaimKind.PROFESSIONAL: ("2310B", "2310A", "2310C"),
    ClaimKind.INSTITUTIONAL: ("2310D", "2310F", "2310E"),
}


@dataclass(frozen=True, slots=True)
class _Subscriber:
    """What 2000B says: SBR, the subscriber (2010BA) and payer (2010BB)."""

    sbr: Segment
    party: ClaimParty
    payer: ClaimParty
    member_id: str | None
    member_ns: str
    #: 2010BB REF*G2/LU: the billing provider's ids at this payer
    billing_ids: list[Identifier]


@dataclass(frozen=True, slots=True)
class _Scope:
    """Everything a claim (2300) inherits from its enclosing HL levels."""

    billing: ClaimParty | None
    sub: _Subscriber
    patient: ClaimParty
    dependent: bool
    coverage_ids: list[Identifier]


def map_837(src: X12Source, kind: ClaimKind) -> list[Event]:
    """Every claim of the set, in document order, each after its coverage."""
    bht = src.header("BHT")
    created = parse_datetime(bht.element(4), bht.element(5), "BHT04") if bht else None
    events: list[Event] = []
    seen: set[tuple[int, int]] = set()
    for loop, ancestors in walk_loops(src.root):
        if loop.id != "2300":
            continue
        scope = _scope(src, loop, ancestors)
        key = (id(_nearest(ancestors, "2000B")), id(_nearest(ancestors, "2000C")))
        if key not in seen:
            seen.add(key)
            cov = src.stamp(_coverage(src, scope), created)
            events.append(src.event(EventKind.COVERAGE_UPDATED, cov, created, _subjects(scope)))
        claim = src.stamp(_claim(src, loop, kind, scope, created), created)
        events.append(src.event(EventKind.CLAIM_SUBMITTED, claim, created, _subjects(scope)))
    return events


def _subjects(scope: _Scope) -> list[Identifier]:
    return list(scope.patient.identifiers)


def _nearest(ancestors: tuple[Loop, ...], loop_id: str) -> Loop | None:
    return next((a for a in reversed(ancestors) if a.id == loop_id), None)


# --------------------------------------------------------------------------- HL levels


def _scope(src: X12Source, claim: Loop, ancestors: tuple[Loop, ...]) -> _Scope:
    hl_a, hl_b = _nearest(ancestors, "2000A"), _nearest(ancestors, "2000B")
    if hl_b is None:
        raise MappingError("claim outside a subscriber level", code="structure", location="2000B")
    billing_loop = hl_a.loops("2010AA") if hl_a is not None else []
    billing = nm1_party(src, billing_loop[0]) if billing_loop else None
    sub = _subscriber(src, hl_b)
    if billing is not None:
        billing.identifiers.extend(i for i in sub.billing_ids if i not in billing.identifiers)
    hl_c = _nearest(ancestors, "2000C")
    patient = _patient(src, hl_c, sub, claim)
    return _Scope(billing, sub, patient, hl_c is not None, _coverage_ids(src, sub, patient, hl_c))


def _subscriber(src: X12Source, hl_b: Loop) -> _Subscriber:
    """2000B SBR, 2010BB payer (its NM109 scopes member ids), 2010BA subscriber."""
    sbr = src.require(hl_b, "SBR", "2000B")
    payer_loops = hl_b.loops("2010BB")
    payer_nm1 = payer_loops[0].segments[0] if payer_loops else None
    payer_id = payer_nm1.element(9).strip() if payer_nm1 is not None else ""
    member_ns = src.member_namespace(payer_id or None)
    payer = (
        nm1_party(src, payer_loops[0], skip_refs=_BILLING_AT_PAYER) if payer_loops else ClaimParty()
    )
    billing_ids = ref_ids(src, payer_loops[0], _BILLING_AT_PAYER) if payer_loops else []
    sub_loops = hl_b.loops("2010BA")
    if not sub_loops:
        raise MappingError("2000B has no 2010BA subscriber", code="required", location="2010BA")
    party = nm1_party(src, sub_loops[0], member_ns)
    nm1 = sub_loops[0].segments[0]
    member_id = nm1.element(9).strip() if nm1.element(8) in ("MI", "II") else None
    if sbr.element(2) == "18":
        party.relationship = Coded(code="self", system=RELATIONSHIP_SYSTEM)
    return _Subscriber(sbr, party, payer, member_id or None, member_ns, billing_ids)


def _patient(src: X12Source, hl_c: Loop | None, sub: _Subscriber, claim: Loop) -> ClaimParty:
    """2010CA when 2000C exists (PAT01 relationship), else the subscriber as patient
    (relationship self). A medical record number (2300 REF*EA) joins its identifiers, in
    the sender's ``patient`` namespace, as HL7 v2 PID-3 without an authority would."""
    if hl_c is not None and hl_c.loops("2010CA"):
        patient = nm1_party(src, hl_c.loops("2010CA")[0], sub.member_ns)
        pat = hl_c.segment("PAT")
        patient.relationship = relationship(src, pat.element(1)) if pat else None
    else:
        patient = sub.party.model_copy(deep=True)
        patient.relationship = Coded(code="self", system=RELATIONSHIP_SYSTEM)
    mrn = claim.segment("REF", "EA")
    if mrn is not None and mrn.element(2).strip():
        patient.identifiers.append(
            src.identifier(mrn.element(2).strip(), src.namespace("patient"), "MR")
        )
    return patient


def _coverage_ids(
    src: X12Source, sub: _Subscriber, patient: ClaimParty, hl_c: Loop | None
) -> list[Identifier]:
    """The coverage's identity: the member id in the payer's namespace; for a dependent
    (2000C) — who shares the subscriber's member id — the member id with the dependent's
    birth date and first name, which is how X12 itself tells dependents apart."""
    if sub.member_id is None:
        return []
    if hl_c is None:
        return [src.identifier(sub.member_id, sub.member_ns, "MB")]
    born = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    first = (patient.name.given[0] if patient.name and patient.name.given else "").upper()
    value = f"{sub.member_id}/{born}/{first}"
    return [src.identifier(value, f"{sub.member_ns}#dependent", None)]


def _coverage(src: X12Source, scope: _Scope) -> Coverage:
    """2000B SBR + 2010BA/2010BB (+2000C) → Coverage: SBR01 order, SBR03 group number,
    SBR04 group name, SBR09 claim filing indicator (type), PAT01 relationship."""
    sbr = scope.sub.sbr
    filing = sbr.element(9).strip()
    return Coverage(
        identifiers=list(scope.coverage_ids),
        beneficiary=party_ref(scope.patient, EntityType.PATIENT),
        subscriber=party_ref(scope.sub.party, EntityType.PATIENT),
        subscriber_id=scope.sub.member_id,
        relationship=scope.patient.relationship,
        payer=party_ref(scope.sub.payer, EntityType.ORGANIZATION),
        group_number=sbr.element(3).strip() or None,
        group_name=sbr.element(4).strip() or None,
        type=Coded(code=filing, system=FILING_INDICATOR_SYSTEM) if filing else None,
        order=PAYER_ORDER.get(sbr.element(1)),
    )


# --------------------------------------------------------------------------- 2300


def _claim(
    src: X12Source, loop: Loop, kind: ClaimKind, scope: _Scope, created: datetime | None
) -> Claim:
    """2300 CLM: CLM01 patient control number, CLM02 total, CLM05-1 place of service
    (facility type for 837I), CLM05-3 frequency (8 = void → status cancelled)."""
    clm = loop.segments[0]
    pcn = clm.element(1).strip() or None
    freq = clm.component(5, 3).strip() or None
    lines = [_line(src, lx, kind) for lx in loop.loops("2400")]
    rendering, referring, facility = (_provider(src, loop, i) for i in _PROVIDER_LOOPS[kind])
    claim = Claim(
        identifiers=[src.identifier(pcn, CLAIM_ID_SYSTEM)] if pcn else [],
        kind=kind,
        status="cancelled" if freq == "8" else "active",
        patient_control_number=pcn,
        total_charge=parse_amount(clm.element(2), "2300/CLM02"),
        place_of_service=clm.component(5, 1).strip() or None,
        frequency_code=freq,
        billing_provider=scope.billing,
        rendering_provider=rendering or _line_rendering(src, loop, kind),
        referring_provider=referring,
        service_facility=facility,
        subscriber=scope.sub.party,
        patient=scope.patient,
        payer=scope.sub.payer,
        coverage=Ref(type=EntityType.COVERAGE, identifiers=list(scope.coverage_ids))
        if scope.coverage_ids
        else None,
        member_id=scope.sub.member_id,
        group_number=scope.sub.sbr.element(3).strip() or None,
        service_period=_service_period(loop, lines),
        admission_date=_admission(loop),
        prior_authorization=_ref(loop, "G1"),
        payer_claim_control_number=_ref(loop, "F8"),
        diagnoses=_diagnoses(src, loop),
        service_lines=lines,
        created=created,
    )
    return claim


def _ref(loop: Loop, qualifier: str) -> str | None:
    seg = loop.segment("REF", qualifier)
    return (seg.element(2).strip() or None) if seg is not None else None


def _provider(src: X12Source, claim: Loop, loop_id: str) -> ClaimParty | None:
    found = claim.loops(loop_id)
    return nm1_party(src, found[0]) if found else None


def _line_rendering(src: X12Source, claim: Loop, kind: ClaimKind) -> ClaimParty | None:
    """No claim-level rendering provider: the first line's (837P 2420A, 837I 2420C — the
    837I 2420A is the operating physician) stands for the claim."""
    loop_id = "2420A" if kind is ClaimKind.PROFESSIONAL else "2420C"
    for line in claim.loops("2400"):
        found = line.loops(loop_id)
        if found:
            return nm1_party(src, found[0])
    return None


def _dtp(loop: Loop, qualifier: str) -> tuple[date | datetime | None, Period | None]:
    seg = loop.segment("DTP", qualifier)
    if seg is None:
        return None, None
    return parse_period(seg.element(2), seg.element(3), f"{loop.id}/DTP03")


def _service_period(loop: Loop, lines: list[ServiceLine]) -> Period | None:
    """837I statement dates (DTP*434), a claim-level DTP*472 (4010), else the span of the
    lines' service dates (837P has no claim-level service dates)."""
    for qualifier in ("434", "472"):
        start, period = _dtp(loop, qualifier)
        if period is not None:
            return period
        if isinstance(start, date):
            return Period(start=start, end=start)
    starts = [d for ln in lines for d in _line_dates(ln)]
    return Period(start=min(starts), end=max(starts)) if starts else None


def _line_dates(line: ServiceLine) -> list[date]:
    if line.service_period is not None:
        return [
            d for d in (line.service_period.start, line.service_period.end) if isinstance(d, date)
        ]
    return [line.service_date] if line.service_date else []


def _admission(loop: Loop) -> datetime | None:
    """DTP*435 admission: DT (837I, date and hour) or D8 (837P; read as its midnight)."""
    when, _ = _dtp(loop, "435")
    if isinstance(when, datetime):
        return when
    return datetime.combine(when, datetime.min.time()) if isinstance(when, date) else None


def _diagnoses(src: X12Source, loop: Loop) -> list[Diagnosis]:
    """HI composites whose qualifier is a diagnosis (``x12_diagnosis_kind``: ABK/BK
    principal, ABF/BF other, ABJ/BJ admitting, APR/PR reason for visit, ABN/BN external
    cause), numbered in order — the numbers SV107 diagnosis pointers refer to. Codes get
    their ICD decimal point; HI0x-9 is the present-on-admission indicator."""
    out: list[Diagnosis] = []
    for seg in loop.segments:
        if seg.id != "HI":
            continue
        for pos in range(1, len(seg) + 1):
            qualifier, code = seg.component(pos, 1), seg.component(pos, 2).strip()
            kind = src.lookup("x12_diagnosis_kind", qualifier)
            if kind is None or not code:
                continue
            system = src.lookup("x12_diagnosis_system", qualifier)
            coded = Coded(code=icd_from_x12(code, qualifier.startswith("A")), system=system)
            poa = seg.component(pos, 9).strip() or None
            out.append(
                Diagnosis(code=coded, sequence=len(out) + 1, kind=kind, present_on_admission=poa)
            )
    return out


# --------------------------------------------------------------------------- 2400


def procedure_coded(src: X12Source, qualifier: str, code: str) -> Coded | None:
    """A product/service id (SV101, SV202, SVC01) by its qualifier: HC is HCPCS, read as
    CPT when the code has CPT's shape (HCPCS level I); others through
    ``x12_procedure_system``."""
    code = code.strip()
    if not code:
        return None
    if qualifier == "HC" and _CPT.fullmatch(code):
        return Coded(code=code, system=CPT_SYSTEM)
    system = (
        src.lookup("x12_procedure_system", qualifier) or f"urn:carehub:x12:procedure:{qualifier}"
    )
    return Coded(code=code, system=system)


def _line(src: X12Source, lx: Loop, kind: ClaimKind) -> ServiceLine:
    """2400: LX01 number, SV1 (837P) or SV2 (837I), DTP*472, REF*6R, 2410 LIN NDC."""
    number = parse_int(lx.segments[0].element(1), "2400/LX01") or 0
    if kind is ClaimKind.INSTITUTIONAL:
        line = _sv2(src, src.require(lx, "SV2", "2400"), number)
    else:
        line = _sv1(src, src.require(lx, "SV1", "2400"), number)
    start, period = _dtp(lx, "472")
    line.service_date = (
        start if isinstance(start, date) and not isinstance(start, datetime) else None
    )
    line.service_period = period
    line.line_control_number = _ref(lx, "6R")
    line.ndc = _ndc(lx)
    return line


def _sv1(src: X12Source, sv1: Segment, number: int) -> ServiceLine:
    """SV101 procedure composite (-1 qualifier, -2 code, -3..-6 modifiers), SV102 charge,
    SV103 unit type, SV104 units, SV105 place of service, SV107 diagnosis pointers."""
    pointers = [p for p in (parse_int(c, "2400/SV107") for c in sv1.components(7)) if p is not None]
    return ServiceLine(
        number=number,
        procedure=procedure_coded(src, sv1.component(1, 1), sv1.component(1, 2)),
        modifiers=[m for m in (sv1.component(1, i).strip() for i in range(3, 7)) if m],
        charge=parse_amount(sv1.element(2), "2400/SV102"),
        unit_type=sv1.element(3).strip() or None,
        units=parse_decimal(sv1.element(4), "2400/SV104"),
        place_of_service=sv1.element(5).strip() or None,
        diagnosis_pointers=pointers,
    )


def _sv2(src: X12Source, sv2: Segment, number: int) -> ServiceLine:
    """SV201 revenue code, SV202 procedure composite, SV203 charge, SV204 unit type, SV205
    units."""
    return ServiceLine(
        number=number,
        revenue_code=sv2.element(1).strip() or None,
        procedure=procedure_coded(src, sv2.component(2, 1), sv2.component(2, 2)),
        modifiers=[m for m in (sv2.component(2, i).strip() for i in range(3, 7)) if m],
        charge=parse_amount(sv2.element(3), "2400/SV203"),
        unit_type=sv2.element(4).strip() or None,
        units=parse_decimal(sv2.element(5), "2400/SV205"),
    )


def _ndc(lx: Loop) -> str | None:
    """2410 LIN02 = N4: LIN03 is the National Drug Code (CTP quantities are dropped)."""
    for drug in lx.loops("2410"):
        lin = drug.segment("LIN")
        if lin is not None and lin.element(2) == "N4" and lin.element(3).strip():
            return lin.element(3).strip()
    return None
