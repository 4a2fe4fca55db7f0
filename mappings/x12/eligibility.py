"""270 → ``eligibility.requested``, 271 → ``eligibility.reported`` (005010X279A1).

One EligibilityCheck per person asked about: each dependent (2000D) of a subscriber, and
the subscriber (2000C) when it has no dependents or benefits (271 2110C) / inquiries (270
2110C) of its own. A 271 that answers with errors only (AAA at the source or receiver
level, no subscriber level) still gives one check, carrying the errors.

Read: BHT04/05 (requested/responded at), 2100A payer, 2100B provider (information
receiver), 2100C subscriber and 2100D dependent (NM1, N3/N4, DMG, REF, DTP*291/307/472
service date), TRN (TRN02 trace; the 271 echoes the request's as TRN01 = 2), EQ01 service
types (270), EB + MSG benefits (271), AAA03 reject reasons at every level.

``active`` (271): true when an EB01 says active coverage (1–5), false when one says
inactive (6–8) and none says active, else unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from adapters.x12 import Loop, Segment
from hub.canonical import (
    Benefit,
    ClaimParty,
    Coded,
    EligibilityCheck,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Money,
)

from .parties import nm1_party, party_ref
from .source import X12Source, walk_loops
from .values import parse_datetime, parse_decimal, parse_period

__all__ = ["REJECT_REASON_SYSTEM", "map_270", "map_271"]

REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
_ACTIVE, _INACTIVE = frozenset("12345"), frozenset("678")


@dataclass(slots=True)
class _Context:
    """The information source and receiver above the people asked about."""

    payer: ClaimParty | None = None
    payer_id: str | None = None
    provider: ClaimParty | None = None
    errors: list[Coded] = field(default_factory=list)


def map_270(src: X12Source) -> list[Event]:
    return _map(src, response=False)


def map_271(src: X12Source) -> list[Event]:
    return _map(src, response=True)


def _map(src: X12Source, response: bool) -> list[Event]:
    bht = src.header("BHT")
    when = parse_datetime(bht.element(4), bht.element(5), "BHT04") if bht else None
    ctx = _Context()
    checks: list[EligibilityCheck] = []
    for loop, _ in walk_loops(src.root):
        if loop.id in ("2000A", "2000B"):
            ctx.errors.extend(_errors(loop))
        elif loop.id == "2100A":
            ctx.payer, ctx.payer_id = (
                nm1_party(src, loop),
                loop.segments[0].element(9).strip() or None,
            )
            ctx.errors.extend(_errors(loop))
        elif loop.id == "2100B":
            ctx.provider = nm1_party(src, loop)
            ctx.errors.extend(_errors(loop))
        elif loop.id == "2000C":
            checks.extend(_subscriber_checks(src, loop, ctx, response))
    if not checks and ctx.errors:
        checks.append(EligibilityCheck(payer=ctx.payer, provider=ctx.provider, errors=ctx.errors))
    kind = EventKind.ELIGIBILITY_REPORTED if response else EventKind.ELIGIBILITY_REQUESTED
    events = []
    for check in checks:
        if response:
            check.responded_at = when
        else:
            check.requested_at = when
        src.stamp(check, when)
        person = check.dependent or check.subscriber
        events.append(src.event(kind, check, when, list(person.identifiers) if person else []))
    return events


@dataclass(frozen=True, slots=True)
class _Asked:
    """The person a check is about: their HL level, name loop and 2110 detail loops, and
    the dependent's party (None when the subscriber is the person)."""

    level: Loop
    name: Loop
    details: list[Loop]
    dependent: ClaimParty | None = None


def _subscriber_checks(
    src: X12Source, hl_c: Loop, ctx: _Context, response: bool
) -> list[EligibilityCheck]:
    member_ns = src.member_namespace(ctx.payer_id)
    name = hl_c.loops("2100C")
    if not name:
        return []
    subscriber = nm1_party(src, name[0], member_ns)
    # find_all: the tables nest 2110C (and the 270 table 2000D) inside 2100C
    own = hl_c.find_all("2110C")
    dependents = hl_c.find_all("2000D")
    asked = [_Asked(hl_c, name[0], own)] if own or not dependents else []
    for hl_d in dependents:
        dep_name = hl_d.loops("2100D")
        if dep_name:
            dependent = nm1_party(src, dep_name[0], member_ns)
            asked.append(_Asked(hl_d, dep_name[0], hl_d.find_all("2110D"), dependent))
    return [_check(src, ctx, subscriber, person, response) for person in asked]


def _check(
    src: X12Source, ctx: _Context, subscriber: ClaimParty, person: _Asked, response: bool
) -> EligibilityCheck:
    """One person's request or answer: the level's TRN, the name loop's dates and
    errors, and the 2110 detail loops (EQ for a 270, EB for a 271)."""
    trace, trace_id = _trace(src, person.level, response)
    details = person.details
    errors = [*ctx.errors, *_errors(person.name), *(e for d in details for e in _errors(d))]
    benefits = [_benefit(d) for d in details if d.segments[0].id == "EB"] if response else []
    return EligibilityCheck(
        identifiers=[trace_id] if trace_id else [],
        trace_number=trace,
        patient=party_ref(person.dependent or subscriber, EntityType.PATIENT),
        subscriber=subscriber,
        dependent=person.dependent,
        payer=ctx.payer,
        provider=ctx.provider,
        service_types=[] if response else _service_types(details),
        service_date=_service_date(person.name, details),
        active=_active(benefits) if response else None,
        benefits=benefits,
        errors=errors,
    )


def _trace(src: X12Source, level: Loop, response: bool) -> tuple[str | None, Identifier | None]:
    """TRN02 (TRN03 the originating company): a 271 echoes the 270's trace as TRN01 = 2.
    The check's identifier is the trace in its originator's namespace, so the request
    and its answer name the same check."""
    traces = [s for s in level.segments if s.id == "TRN" and s.element(2).strip()]
    wanted = "2" if response else "1"
    trn = next((s for s in traces if s.element(1) == wanted), traces[0] if traces else None)
    if trn is None:
        return None, None
    value, origin = trn.element(2).strip(), trn.element(3).strip()
    system = f"urn:carehub:x12:trn:{origin}" if origin else src.namespace("eligibility-trace")
    return value, src.identifier(value, system)


def _errors(loop: Loop) -> list[Coded]:
    """AAA03 reject reason codes (AAA01 = N: the request is not valid as sent)."""
    return [
        Coded(code=s.element(3).strip(), system=REJECT_REASON_SYSTEM)
        for s in loop.segments
        if s.id == "AAA" and s.element(3).strip()
    ]


def _service_types(details: list[Loop]) -> list[str]:
    """EQ01 service type codes (repeating) of every 2110 inquiry."""
    out: list[str] = []
    for loop in details:
        eq = loop.segment("EQ")
        if eq is not None:
            out.extend(c.strip() for c in eq.repetitions(1) if c.strip())
    return out


def _service_date(name: Loop, details: list[Loop]) -> date | None:
    """DTP*291 (plan / date of service), *307 (eligibility) or *472 (service): D8 or the
    start of RD8; the name loop's first, then the inquiries'."""
    for loop in [name, *details]:
        for seg in loop.segments:
            if seg.id == "DTP" and seg.element(1) in ("291", "307", "472"):
                start, _ = parse_period(seg.element(2), seg.element(3), f"{loop.id}/DTP03")
                if isinstance(start, date) and not isinstance(start, datetime):
                    return start
    return None


def _benefit(loop: Loop) -> Benefit:
    """EB01 information, EB02 coverage level, EB03 service types, EB04 insurance type, EB05
    plan description, EB06 time period, EB07 amount, EB08 percent, EB12 in plan network
    (Y/N; W not applicable and U unknown read as None); MSG01 messages of the loop."""
    eb: Segment = loop.segments[0]
    amount = parse_decimal(eb.element(7), f"{loop.id}/EB07")
    return Benefit(
        info=eb.element(1).strip(),
        coverage_level=eb.element(2).strip() or None,
        service_types=[c.strip() for c in eb.repetitions(3) if c.strip()],
        insurance_type=eb.element(4).strip() or None,
        plan=eb.element(5).strip() or None,
        time_period=eb.element(6).strip() or None,
        amount=Money(amount=amount) if amount is not None else None,
        percent=parse_decimal(eb.element(8), f"{loop.id}/EB08"),
        in_network={"Y": True, "N": False}.get(eb.element(12).strip()),
        messages=[
            s.element(1).strip() for s in loop.segments if s.id == "MSG" and s.element(1).strip()
        ],
    )


def _active(benefits: list[Benefit]) -> bool | None:
    infos = {b.info for b in benefits}
    if infos & _ACTIVE:
        return True
    if infos & _INACTIVE:
        return False
    return None
