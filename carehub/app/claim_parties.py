"""A claim's providers, resolved through the store before an X12 837 is written.

A Claim that came in over FHIR names its billing provider (``Claim.provider``) and its
rendering provider (``Claim.careTeam[0].provider``) the FHIR way: an identifier (used as it
is), a reference to an Organization, Practitioner or PractitionerRole the hub holds
(``Organization/123``; a role is its practitioner), a conditional reference
(``Organization?identifier=…``, kept as a reference by that identifier) or a contained
resource (read by the mapping). The 837 needs the party itself — its NPI (NM1*85 …*XX), tax
id, name and address — so a party that is only a reference is filled from the record the
reference names: its identifiers, name, address and telecom, the reference kept.

The other parties the 837 needs are filled the same way when the claim names them only by
reference: the patient (``Claim.patient``: name, birth date, sex, address from the Patient
record), the payer (``Claim.insurer``: the Organization's name, payer id, address) and the
subscriber with the member id, from the Coverage ``Claim.insurance.coverage`` names (its
subscriber, else its beneficiary; its ``subscriberId``, relationship, group number and
payer). What cannot be filled stays as it is (the 837 writer then names what is missing).

A billing provider that still has no NPI is a permanent delivery failure whose reason names
``Claim.provider`` and what it points at (never the record's values): the record is not
known, or it has no NPI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from hub.canonical import (
    Claim,
    ClaimParty,
    Coverage,
    Entity,
    Identifier,
    Location,
    Organization,
    Patient,
    Practitioner,
    Ref,
)
from hub.errors import MappingError
from hub.ports import Store
from hub.sync import is_tombstone
from mappings.fhir.context import FHIR_ID_PREFIX, URI_SYSTEM

__all__ = ["NPI_SYSTEM", "has_npi", "resolve_claim_parties", "resolve_party"]

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
_ENTITY: TypeAdapter[Entity] = TypeAdapter(Entity)
#: how far a chain of merged records is followed to its survivor
_MAX_MERGES = 8
#: the claim's provider parties and the FHIR element each comes from
_PROVIDERS = (
    ("billing_provider", "Claim.provider"),
    ("rendering_provider", "Claim.careTeam[0].provider"),
)


def has_npi(party: ClaimParty | None) -> bool:
    """The party carries an NPI (by namespace, or by its HL7 0203 type)."""
    return party is not None and any(_is_npi(i) for i in party.identifiers)


def _is_npi(ident: Identifier) -> bool:
    return bool(ident.value) and (ident.system == NPI_SYSTEM or (ident.type or "") == "NPI")


def _bookkeeping(ident: Identifier) -> bool:
    """A reference's own lookup key (a partner's FHIR id, a URI), not an id of the party."""
    system = ident.system or ""
    return system.startswith(FHIR_ID_PREFIX) or system == URI_SYSTEM


def _unique(idents: Sequence[Identifier]) -> list[Identifier]:
    seen: set[tuple[str | None, str]] = set()
    out = []
    for ident in idents:
        if (ident.system, ident.value) not in seen:
            seen.add((ident.system, ident.value))
            out.append(ident)
    return out


def _named(ref: Ref) -> str:
    """How a reason names a reference: ``Organization/123``, or by identifier kind only."""
    if ref.id:
        return f"{ref.type.value}/{ref.id}"
    if ref.identifiers:
        return f"a {ref.type.value} by identifier"
    return f"a {ref.type.value} by name only"


async def _record(store: Store, ref: Ref) -> tuple[Entity | None, str]:
    """The live record ``ref`` names (following merges), or None and why not."""
    etype = ref.type.value
    ids = [ref.id] if ref.id else []
    if not ids:
        for ident in ref.identifiers:
            if ident.system:  # a value without its namespace names nobody for sure
                ids += await store.find_by_identifier(etype, ident.value, ident.system)
        ids = list(dict.fromkeys(ids))
    if len(ids) > 1:
        return None, f"its identifiers name {len(ids)} {etype} records"
    if not ids:
        return None, "the hub holds no such record"
    found = await store.get_entity(etype, ids[0])
    for _ in range(_MAX_MERGES):
        if found is None or not found.merged_into:
            break
        found = await store.get_entity(etype, found.merged_into)
    if found is None or is_tombstone(found):
        return None, "the hub holds no such record"
    entity: Entity = _ENTITY.validate_python(found.data)
    return entity, ""


def _first(items: Sequence[Any]) -> Any:
    return items[0] if items else None


def _from_record(party: ClaimParty, entity: Entity) -> ClaimParty:
    """The party filled from its record: what the claim said first, then the record's."""
    update: dict[str, Any] = {
        "identifiers": _unique([*party.identifiers, *entity.identifiers]),
    }
    if isinstance(entity, Organization):
        update["organization_name"] = party.organization_name or entity.name
    if isinstance(entity, Practitioner | Patient):
        update["name"] = party.name or _first(entity.names)
        update["birth_date"] = party.birth_date or entity.birth_date
        update["sex"] = party.sex or entity.sex
    if isinstance(entity, Location):
        update["organization_name"] = party.organization_name or entity.name
        update["address"] = party.address or entity.address
    if isinstance(entity, Organization | Practitioner | Patient):
        update["address"] = party.address or _first(entity.addresses)
        update["telecom"] = party.telecom or entity.telecom
    return party.model_copy(update=update)


async def _filled(store: Store, party: ClaimParty | None) -> ClaimParty | None:
    """A party named by reference, filled from its record when the hub holds one."""
    if party is None or party.ref is None:
        return party
    entity, _ = await _record(store, party.ref)
    return _from_record(party, entity) if entity is not None else party


async def resolve_party(store: Store, party: ClaimParty) -> tuple[ClaimParty, str | None]:
    """The party with what its reference names (identifiers, name, address, telecom), and
    why it has no NPI (``None`` when it has one). An identifier the reference carries is the
    party's own (a logical or conditional reference: ``{identifier: NPI}``)."""
    ref = party.ref
    if ref is not None:
        own = [i for i in ref.identifiers if not _bookkeeping(i)]
        party = party.model_copy(update={"identifiers": _unique([*party.identifiers, *own])})
    if ref is None:
        return party, None if has_npi(party) else "it names no record and carries no NPI"
    entity, why = await _record(store, ref)
    if entity is not None:
        party = _from_record(party, entity)
        if has_npi(party):
            return party, None
        return party, f"{_named(ref)} has no NPI identifier ({NPI_SYSTEM})"
    if has_npi(party):
        return party, None
    return party, f"{_named(ref)}: {why}"


async def _coverage_parts(store: Store, claim: Claim) -> dict[str, Any]:
    """The subscriber, member id, group number, payer and patient relationship the claim's
    Coverage gives, for what the claim itself does not name."""
    if claim.coverage is None or (claim.subscriber is not None and claim.member_id):
        return {}
    entity, _ = await _record(store, claim.coverage)
    if not isinstance(entity, Coverage):
        return {}
    member = claim.member_id or entity.subscriber_id
    found: dict[str, Any] = {"member_id": member, "group_number": claim.group_number}
    found["group_number"] = claim.group_number or entity.group_number
    who = entity.subscriber or entity.beneficiary
    if claim.subscriber is None and who is not None:
        ids = [Identifier(value=member, type="MB")] if member else []
        found["subscriber"] = await _filled(store, ClaimParty(ref=who, identifiers=ids))
    if claim.payer is None and entity.payer is not None:
        found["payer"] = ClaimParty(ref=entity.payer)
    if claim.patient is not None and claim.patient.relationship is None and entity.relationship:
        found["patient"] = claim.patient.model_copy(update={"relationship": entity.relationship})
    return found


async def resolve_claim_parties(store: Store, claim: Claim) -> Claim:
    """The claim with its parties resolved through the store; ``MappingError`` naming
    ``Claim.provider`` when the billing provider's NPI cannot be found (the 837's 2010AA
    NM109 needs it). Any other party that cannot be resolved stays as it is."""
    claim = claim.model_copy(update=await _coverage_parts(store, claim))
    update: dict[str, ClaimParty | None] = {}
    for field, path in _PROVIDERS:
        party = getattr(claim, field)
        if party is None:
            continue
        resolved, missing = await resolve_party(store, party)
        update[field] = resolved
        if missing is not None and field == "billing_provider":
            raise MappingError(
                f"the billing provider's NPI is required for an 837: {path} — {missing}",
                code="required",
                location=path,
            )
    for field in ("patient", "payer", "subscriber", "referring_provider", "service_facility"):
        update[field] = await _filled(store, getattr(claim, field))
    return claim.model_copy(update=update)
