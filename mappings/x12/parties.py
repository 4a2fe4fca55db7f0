"""Name loops → ``ClaimParty``: NM1 (health care) and N1 (835 payer/payee, supply chain),
each with its N3/N4 address, DMG demographics, REF secondary ids and PER contacts.

Identifiers follow one rule everywhere (see ``X12Source.id_namespace``): NM108/NM109 and
REF01/REF02 pairs become ``Identifier(value, system=namespace of the qualifier, type=HL7
0203 type)``; member ids (MI) go to the payer's namespace.
"""

from __future__ import annotations

from adapters.x12 import Loop, Segment
from hub.canonical import (
    Address,
    AdministrativeSex,
    ClaimParty,
    Coded,
    ContactPoint,
    EntityType,
    HumanName,
    Identifier,
    Ref,
)

from .source import X12Source
from .values import parse_date

__all__ = [
    "RELATIONSHIP_SYSTEM",
    "ref_ids",
    "address_of",
    "n1_party",
    "name_of",
    "nm1_party",
    "party_display",
    "party_ref",
    "relationship",
    "sex_of",
    "telecom_of",
]

RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
#: PER communication number qualifiers → ContactPoint.system
_PER_SYSTEMS = {"TE": "phone", "FX": "fax", "EM": "email", "UR": "url", "BN": "phone"}
#: REF qualifiers in name loops that are not ids of the party itself (claim numbers …)
_NOT_PARTY_IDS = frozenset({"F8", "1K", "EJ", "D9", "G1", "9F", "Y4", "6R", "BLT", "XZ"})


def name_of(nm1: Segment) -> HumanName | None:
    """NM1 for a person (NM102 = 1): NM103 family, NM104 and NM105 given, NM106 prefix,
    NM107 suffix."""
    family = nm1.element(3).strip() or None
    given = [g for g in (nm1.element(4).strip(), nm1.element(5).strip()) if g]
    prefix, suffix = nm1.element(6).strip() or None, nm1.element(7).strip() or None
    if not (family or given):
        return None
    return HumanName(family=family, given=given, prefix=prefix, suffix=suffix)


def address_of(loop: Loop) -> Address | None:
    """N3 (N301, N302 street lines) and N4 (N401 city, N402 state, N403 postal code, N404
    country)."""
    n3, n4 = loop.segment("N3"), loop.segment("N4")
    lines = [v for v in (n3.element(1).strip(), n3.element(2).strip()) if v] if n3 else []
    if n4 is None and not lines:
        return None
    return Address(
        lines=lines,
        city=(n4.element(1).strip() or None) if n4 else None,
        state=(n4.element(2).strip() or None) if n4 else None,
        postal_code=(n4.element(3).strip() or None) if n4 else None,
        country=(n4.element(4).strip() or None) if n4 else None,
    )


def telecom_of(loop: Loop) -> list[ContactPoint]:
    """PER03–PER08: (qualifier, number) pairs; an extension (EX) is dropped."""
    out: list[ContactPoint] = []
    for seg in loop.segments:
        if seg.id != "PER":
            continue
        for pos in (3, 5, 7):
            system = _PER_SYSTEMS.get(seg.element(pos))
            value = seg.element(pos + 1).strip()
            if system and value:
                out.append(ContactPoint(system=system, value=value, use="work"))
    return out


def sex_of(src: X12Source, dmg: Segment | None) -> AdministrativeSex | None:
    """DMG03 through ``x12_sex``."""
    target = src.lookup("x12_sex", dmg.element(3)) if dmg is not None else None
    return AdministrativeSex(target) if target else None


def relationship(src: X12Source, code: str) -> Coded | None:
    """An individual relationship code (SBR02, PAT01, INS02; element 1069) → FHIR
    subscriber-relationship through ``x12_relationship``; the X12 code when unknown."""
    code = code.strip()
    if not code:
        return None
    target = src.lookup("x12_relationship", code)
    if target:
        return Coded(code=target, system=RELATIONSHIP_SYSTEM)
    return Coded(code=code, system="https://codesystem.x12.org/005010/1069")


def _ref_ids(
    src: X12Source, loop: Loop, member_ns: str | None, skip: frozenset[str] = frozenset()
) -> list[Identifier]:
    out = []
    for seg in loop.segments:
        if seg.id == "REF" and seg.element(1) not in _NOT_PARTY_IDS | skip:
            ident = src.qualified(seg.element(1), seg.element(2), member_ns)
            if ident is not None:
                out.append(ident)
    return out


def ref_ids(src: X12Source, loop: Loop, qualifiers: frozenset[str]) -> list[Identifier]:
    """The loop's REF ids with one of ``qualifiers`` (REF01)."""
    found = (
        src.qualified(s.element(1), s.element(2))
        for s in loop.segments
        if s.id == "REF" and s.element(1) in qualifiers
    )
    return [i for i in found if i is not None]


def nm1_party(
    src: X12Source,
    loop: Loop,
    member_ns: str | None = None,
    skip_refs: frozenset[str] = frozenset(),
) -> ClaimParty:
    """A loop that starts with NM1 → ClaimParty: NM1 name (person or organization) and
    NM108/NM109 id, N3/N4 address, DMG02 birth date and DMG03 sex, REF ids (but
    ``skip_refs``), PER numbers."""
    nm1 = loop.segments[0]
    ids = [i for i in [src.qualified(nm1.element(8), nm1.element(9), member_ns)] if i]
    ids += _ref_ids(src, loop, member_ns, skip_refs)
    person = nm1.element(2) == "1"
    dmg = loop.segment("DMG")
    return ClaimParty(
        name=name_of(nm1) if person else None,
        organization_name=None if person else (nm1.element(3).strip() or None),
        identifiers=_unique(ids),
        address=address_of(loop),
        birth_date=parse_date(dmg.element(2), f"{loop.id}/DMG02") if dmg else None,
        sex=sex_of(src, dmg),
        telecom=telecom_of(loop),
    )


def n1_party(src: X12Source, items: list[Segment], where: str) -> ClaimParty:
    """N1 (N102 name, N103/N104 id), N2 (more name), N3/N4, REF, PER → ClaimParty (an
    organization: 835 payer and payee, supply-chain parties)."""
    loop = Loop(where, None, list(items))
    n1 = items[0]
    name = " ".join(
        v for v in [n1.element(2).strip()] + [s.element(1).strip() for s in _all(items, "N2")] if v
    )
    ids = [i for i in [src.qualified(n1.element(3), n1.element(4))] if i]
    ids += _ref_ids(src, loop, None)
    return ClaimParty(
        organization_name=name or None,
        identifiers=_unique(ids),
        address=address_of(loop),
        telecom=telecom_of(loop),
    )


def party_display(party: ClaimParty | None) -> str | None:
    """How a reference shows a party: the organization name, else ``Family, Given``."""
    if party is None:
        return None
    if party.organization_name:
        return party.organization_name
    name = party.name
    if name is None:
        return None
    given = " ".join(name.given)
    return f"{name.family}, {given}" if name.family and given else (name.family or given or None)


def party_ref(party: ClaimParty | None, kind: EntityType) -> Ref | None:
    """A reference to the record a party names, by its identifiers and display."""
    if party is None:
        return None
    return Ref(type=kind, identifiers=list(party.identifiers), display=party_display(party))


def _all(items: list[Segment], seg_id: str) -> list[Segment]:
    return [s for s in items if s.id == seg_id]


def _unique(ids: list[Identifier]) -> list[Identifier]:
    seen: set[tuple[str | None, str]] = set()
    out = []
    for ident in ids:
        if (ident.system, ident.value) not in seen:
            seen.add((ident.system, ident.value))
            out.append(ident)
    return out
