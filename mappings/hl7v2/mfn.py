"""MFN^M02 staff/practitioner master file → practitioner events (HL7 v2.5.1 chapter 8.6).

One MF_STAFF group (MFE, STF, PRA*, ORG*) → one Practitioner: ``practitioner.updated``, or
``practitioner.deactivated`` when MFE-1 is MDL (delete) or MDC (deactivate). Then one
``practitioner.credential_expiring`` per licence, registration, certification or privilege
of an active practitioner whose expiry date is on or before the message day plus
``EXPIRY_WINDOW_DAYS`` — already expired ones included, they are the most urgent.
"""

from __future__ import annotations

from datetime import date, timedelta

from adapters.hl7v2 import Message, Repetition
from hub.canonical import (
    AdministrativeSex,
    Coded,
    ContactPoint,
    Credential,
    CredentialKind,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Practitioner,
    Ref,
)
from hub.context import MapContext
from hub.errors import MappingError

from .datatypes import (
    NPI_SYSTEM,
    V2_TABLE_URI,
    address,
    coded,
    coding_system,
    contact_point,
    cx_identifier,
    human_name,
    local_system,
)
from .segments import stamp
from .source import Hl7v2Source, Seg, declare_emits, rep_text
from .values import parse_date

__all__ = ["EXPIRY_WINDOW_DAYS", "NPI_SYSTEM", "expiring", "map_mfn_m02", "mfn_m02_mapper"]

EXPIRY_WINDOW_DAYS = 90
_RETIRING = frozenset({"MDL", "MDC"})  # table 0180: delete, deactivate


def map_mfn_m02(src: Hl7v2Source) -> list[Event]:
    """Every MF_STAFF group of an MFN^M02."""
    events: list[Event] = []
    for group in _staff_groups(src):
        events += _staff_events(src, group)
    if not events:
        src.require("MFE")
    return events


def _staff_groups(src: Hl7v2Source) -> list[list[Seg]]:
    """The MF_STAFF groups: each MFE with the segments up to the next MFE."""
    groups: list[list[Seg]] = []
    for seg in src.segs:
        if seg.id == "MFE":
            groups.append([seg])
        elif groups:
            groups[-1].append(seg)
    return groups


def _staff_events(src: Hl7v2Source, group: list[Seg]) -> list[Event]:
    """One MF_STAFF group's events; MFE-3 effective date/time as their time."""
    mfe = group[0]
    stf = next((s for s in group if s.id == "STF"), None)
    if stf is None:
        raise MappingError(
            "a staff record has no STF segment", code="100", location=f"{mfe.label} group"
        )
    pras = [s for s in group if s.id == "PRA"]
    org = next((s for s in group if s.id == "ORG"), None)
    doc = stamp(src, practitioner(src, mfe, stf, pras, org))
    when = src.datetime_of(mfe, 3) or src.message_time
    subjects = list(doc.identifiers)
    if (mfe.text(1) or "").upper() in _RETIRING:
        return [src.event(EventKind.PRACTITIONER_DEACTIVATED, doc, when, subjects)]
    events = [src.event(EventKind.PRACTITIONER_UPDATED, doc, when, subjects)]
    if doc.active:
        today = src.message_time.date()
        for note in expiring(doc.credentials, today):
            kind = EventKind.PRACTITIONER_CREDENTIAL_EXPIRING
            events.append(src.event(kind, doc, when, subjects, note=note))
    return events


def practitioner(
    src: Hl7v2Source, mfe: Seg, stf: Seg, pras: list[Seg], org: Seg | None
) -> Practitioner:
    """STF (+PRA, ORG) → Practitioner: STF-1/STF-2 ids, STF-3 names, STF-4 staff type,
    STF-5 sex, STF-6 birth date, STF-7 active, STF-10/STF-15 telecom, STF-11 addresses;
    PRA-3 category, PRA-5 specialties, PRA-6 ids, PRA-7 privileges; ORG-2 (else STF-8)
    organisation unit."""
    retiring = (mfe.text(1) or "").upper() in _RETIRING
    doc = Practitioner(
        identifiers=_identifiers(src, mfe, stf, pras),
        active=not retiring and (stf.text(7) or "A").upper() != "I",
        names=[n for r in stf.reps(3) if (n := human_name(src, r))],
        sex=_sex(src, stf.text(5)),
        birth_date=src.date_of(stf, 6),
        telecom=[c for r in stf.reps(10) if (c := contact_point(src, r, "work"))] + _emails(stf),
        addresses=[a for r in stf.reps(11) if (a := address(src, r))],
        roles=_codes(stf, 4, "0182") + [c for p in pras for c in _codes(p, 3, "0186")],
        specialties=[Coded(code=s) for p in pras for r in p.reps(5) if (s := rep_text(r, 1))],
        credentials=[c for p in pras for c in _credentials(src, p)],
        organization=_organization(src, org, stf),
    )
    return doc


def _identifiers(src: Hl7v2Source, mfe: Seg, stf: Seg, pras: list[Seg]) -> list[Identifier]:
    """STF-2 staff ids (CX), the STF-1 / MFE-4 / PRA-1 primary key (CWE: code in its coding
    system), and PRA-6 NPIs."""
    found: list[Identifier] = []
    for rep in stf.reps(2):
        _add(found, cx_identifier(src, rep, "practitioner", stf.loc(2)))
    for seg, field in ((stf, 1), (mfe, 4), *((p, 1) for p in pras)):
        key = seg.first(field)
        if value := rep_text(key, 1):
            system = local_system(src, rep_text(key, 3), "practitioner")
            _add(found, src.identifier(value, system))
    for pra in pras:
        for rep in pra.reps(6):
            if (rep_text(rep, 2) or "").upper() == "NPI" and (npi := rep_text(rep, 1)):
                _add(found, src.identifier(npi, NPI_SYSTEM, "NPI"))
    return found


def _add(found: list[Identifier], ident: Identifier | None) -> None:
    if ident is not None and not any(i.key() == ident.key() for i in found):
        found.append(ident)


def _sex(src: Hl7v2Source, code: str | None) -> AdministrativeSex | None:
    target = src.lookup("hl7_administrative_sex", code)
    return AdministrativeSex(target) if target in set(AdministrativeSex) else None


def _emails(stf: Seg) -> list[ContactPoint]:
    """STF-15 e-mail addresses."""
    return [
        ContactPoint(system="email", value=v, use="work")
        for r in stf.reps(15)
        if (v := rep_text(r))
    ]


def _codes(seg: Seg, field: int, table: str) -> list[Coded]:
    """An IS field's codes, in their HL7 table."""
    return [
        Coded(code=c, system=V2_TABLE_URI + table) for r in seg.reps(field) if (c := rep_text(r))
    ]


def _organization(src: Hl7v2Source, org: Seg | None, stf: Seg) -> Ref | None:
    rep = org.first(2) if org is not None else stf.first(8)
    unit = coded(src, rep)
    if unit is None:
        return None
    idents = []
    if unit.code:
        system = local_system(src, rep_text(rep, 3), "organization")
        idents.append(src.identifier(unit.code, system))
    return Ref(type=EntityType.ORGANIZATION, identifiers=idents, display=unit.display)


def _credentials(src: Hl7v2Source, pra: Seg) -> list[Credential]:
    return _licences(src, pra) + _certifications(pra) + _privileges(src, pra)


def _licences(src: Hl7v2Source, pra: Seg) -> list[Credential]:
    """PRA-6 practitioner ID numbers (PLN): .1 number, .2 type (table 0338, whose kind
    comes from ``hl7_practitioner_id_type``), .3 state, .4 expiration date."""
    out = []
    for rep in pra.reps(6):
        type_ = rep_text(rep, 2)
        kind = src.lookup("hl7_practitioner_id_type", type_) or CredentialKind.REGISTRATION
        out.append(
            Credential(
                kind=CredentialKind(kind),
                code=Coded(code=type_, system=V2_TABLE_URI + "0338") if type_ else None,
                number=rep_text(rep, 1),
                jurisdiction=rep_text(rep, 3),
                expires=parse_date(rep_text(rep, 4), pra.loc(6)),
            )
        )
    return out


def _certifications(pra: Seg) -> list[Credential]:
    """PRA-5 specialty (SPD) with a board, a certified/eligible flag or a date: a board
    certification. .1 specialty, .2 governing board, .3 C/E (table 0337), .4 date."""
    out = []
    for rep in pra.reps(5):
        board, flag, when = rep_text(rep, 2), rep_text(rep, 3), rep_text(rep, 4)
        if not (board or flag or when):
            continue
        status = {"C": "certified", "E": "eligible"}.get((flag or "").upper())
        out.append(
            Credential(
                kind=CredentialKind.CERTIFICATION,
                code=Coded(code=rep_text(rep, 1)),
                issuer=board,
                issued=parse_date(when, pra.loc(5)),
                status=status,
            )
        )
    return out


def _privileges(src: Hl7v2Source, pra: Seg) -> list[Credential]:
    """PRA-7 privileges (PIP): .1 privilege, .2 class, .3 expiration, .4 activation,
    .5 facility."""
    out = []
    for rep in pra.reps(7):
        out.append(
            Credential(
                kind=CredentialKind.PRIVILEGE,
                code=_component_coded(src, rep, 1),
                status=rep_text(rep, 2, 1) or rep_text(rep, 2, 2),
                expires=parse_date(rep_text(rep, 3), pra.loc(7)),
                issued=parse_date(rep_text(rep, 4), pra.loc(7)),
                issuer=rep_text(rep, 5, 1),
            )
        )
    return out


def _component_coded(src: Hl7v2Source, rep: Repetition, component: int) -> Coded | None:
    """A CE held in one component (PIP.1): its subcomponents are code, text, system."""
    code, text = rep_text(rep, component, 1), rep_text(rep, component, 2)
    if code is None and text is None:
        return None
    return Coded(code=code, display=text, system=coding_system(src, rep_text(rep, component, 3)))


def expiring(credentials: list[Credential], today: date) -> list[str]:
    """A note for each credential that expires on or before ``today`` +
    ``EXPIRY_WINDOW_DAYS`` (already expired ones included), saying which one and when."""
    limit = today + timedelta(days=EXPIRY_WINDOW_DAYS)
    return [
        _note(cred, today)
        for cred in credentials
        if cred.expires is not None and cred.expires <= limit
    ]


def _note(cred: Credential, today: date) -> str:
    assert cred.expires is not None
    what = " ".join(
        p for p in (cred.kind.value, cred.code.code if cred.code else None, cred.jurisdiction) if p
    )
    if cred.number:
        what += f" #{cred.number}"
    days = (cred.expires - today).days
    if days < 0:
        return f"{what} expired on {cred.expires.isoformat()} ({-days} days before the message)"
    return f"{what} expires on {cred.expires.isoformat()} ({days} days after the message)"


def mfn_m02_mapper(msg: Message, ctx: MapContext) -> list[Event]:
    """MFN^M02 → canonical events."""
    return map_mfn_m02(Hl7v2Source(msg, ctx, "MFN^M02"))


declare_emits(
    mfn_m02_mapper,
    EventKind.PRACTITIONER_UPDATED,
    EventKind.PRACTITIONER_DEACTIVATED,
    EventKind.PRACTITIONER_CREDENTIAL_EXPIRING,
)
