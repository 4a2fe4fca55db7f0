"""277 (005010X212) and 277CA (005010X214) → ``claim.status_reported``, one per claim
status (the 2200D/2200E claim status tracking loops).

The HL levels are read in document order by their entity (NM101): PR/AY the payer (the
information source), 1P/85 the provider, IL the subscriber, QC the patient. Per claim: STC01
category (code source 507) / status (508) / entity, STC02 effective date, STC04 charge,
STC05 paid, STC12 message; REF*1K payer claim control number; REF*EJ patient control
number (the 277CA's TRN02 is the claim's CLM01 too). The claim's patient is the 2100E
dependent (NM1*QC) when the claim sits under one, else the 2100D subscriber (NM1*IL: name,
member id in the payer's namespace, DMG birth date and sex where given), with a patient
reference by those ids that the sync engine resolves as any other.

``accepted`` comes from the category through ``x12_claim_status_category``: A0/A1/A2/A5
(acknowledged, received, accepted into adjudication, split) and the pending (P*) and
finalized (F*) categories are accepted; A3/A4/A6/A7/A8 (returned unprocessable, not
found, rejected for missing / invalid / relational data) are rejected; requests (R*),
errors (E*) and D0 leave it unknown (None). Provider- and receiver-level statuses (2200B,
2200C) and service-line statuses (2220D/E) are not claim statuses and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.x12 import Loop, Segment
from hub.canonical import (
    ClaimParty,
    ClaimStatus,
    Coded,
    EntityType,
    Event,
    EventKind,
    Ref,
)
from mappings.vocab import builtin_tables

from .claim_837 import CLAIM_ID_SYSTEM
from .parties import nm1_party, party_ref
from .source import X12Source, walk_loops
from .values import parse_amount, parse_date, parse_datetime

__all__ = ["CATEGORY_SYSTEM", "STATUS_SYSTEM", "map_277"]

CATEGORY_SYSTEM = "https://x12.org/codes/claim-status-category-codes"
STATUS_SYSTEM = "https://x12.org/codes/claim-status-codes"
_PAYER, _PROVIDER = frozenset({"PR", "AY"}), frozenset({"1P", "85"})


@dataclass(slots=True)
class _Levels:
    """The parties named so far, as the HL levels open in document order."""

    payer: ClaimParty | None = None
    payer_id: str | None = None
    subscriber: ClaimParty | None = None
    patient: ClaimParty | None = None
    seen: list[str] = field(default_factory=list)


def map_277(src: X12Source, acknowledgment: bool) -> list[Event]:
    """One event per claim status tracking loop (2200D, 2200E), in document order."""
    bht = src.header("BHT")
    when = parse_datetime(bht.element(4), bht.element(5), "BHT04") if bht else None
    levels = _Levels()
    events = []
    for loop, _ in walk_loops(src.root):
        if loop.id.startswith("2100"):
            _name(src, loop, levels)
        elif loop.id in ("2200D", "2200E"):
            status = src.stamp(_status(src, loop, levels, acknowledgment), when)
            patient = levels.patient or levels.subscriber
            subjects = list(patient.identifiers) if patient else []
            events.append(src.event(EventKind.CLAIM_STATUS_REPORTED, status, when, subjects))
    return events


def _name(src: X12Source, loop: Loop, levels: _Levels) -> None:
    nm1 = loop.segments[0]
    entity = nm1.element(1)
    if entity in _PAYER:
        levels.payer_id = nm1.element(9).strip() or None
        levels.payer = nm1_party(src, loop)
    elif entity == "IL":
        levels.subscriber = nm1_party(src, loop, src.member_namespace(levels.payer_id))
        levels.patient = None
    elif entity == "QC":
        levels.patient = nm1_party(src, loop, src.member_namespace(levels.payer_id))


def _status(src: X12Source, loop: Loop, levels: _Levels, acknowledgment: bool) -> ClaimStatus:
    trn = loop.segments[0]
    stc = src.require(loop, "STC", loop.id)
    pcn = _ref(loop, "EJ") or (trn.element(2).strip() or None if acknowledgment else None)
    person = (levels.patient if loop.id == "2200E" else None) or levels.subscriber
    icn = _ref(loop, "1K")
    category = stc.component(1, 1).strip() or None
    verdict = src.lookup("x12_claim_status_category", category)
    return ClaimStatus(
        identifiers=[src.identifier(pcn, CLAIM_ID_SYSTEM)] if pcn else [],
        claim=Ref(type=EntityType.CLAIM, identifiers=[src.identifier(pcn, CLAIM_ID_SYSTEM)])
        if pcn
        else None,
        patient_control_number=pcn,
        payer_claim_control_number=icn,
        category=_category(category),
        status=_coded(stc.component(1, 2).strip() or None, STATUS_SYSTEM),
        entity=stc.component(1, 3).strip() or None,
        effective_date=parse_date(stc.element(2), f"{loop.id}/STC02"),
        total_charge=parse_amount(stc.element(4), f"{loop.id}/STC04"),
        paid_amount=parse_amount(stc.element(5), f"{loop.id}/STC05"),
        payer=levels.payer,
        message=stc.element(12).strip() or None,
        accepted={"accepted": True, "rejected": False}.get(verdict or ""),
        patient=person.model_copy(update={"ref": party_ref(person, EntityType.PATIENT)})
        if person
        else None,
    )


def _coded(code: str | None, system: str, display: str | None = None) -> Coded | None:
    return Coded(code=code, system=system, display=display) if code else None


def _category(code: str | None) -> Coded | None:
    """STC01-1 with its name from the built-in ``x12_claim_status_category`` table."""
    table = builtin_tables().get("x12_claim_status_category")
    display = table.displays.get(code) if table is not None and code else None
    return _coded(code, CATEGORY_SYSTEM, display)


def _ref(loop: Loop, qualifier: str) -> str | None:
    seg: Segment | None = loop.segment("REF", qualifier)
    return (seg.element(2).strip() or None) if seg is not None else None
