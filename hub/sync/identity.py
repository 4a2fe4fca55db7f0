"""Identity: which record an event, a reference or a claim party is about — one service.

Each system's identifier is a ``(namespace, value)`` pair in the cross-reference
(``xrefs``); the namespace is the identifier's system, or ``SYSTEM:TYPE`` for one that came
without, so two systems' bare "123" never collide. For patients only the identifiers
``matching.identifying`` names link records by themselves, placeholder values never, and a
link whose identity facts disagree is held for review (``hub.sync.linking``); with no
shared identifying identifier the configured demographic rules (``matching.patient``)
decide. Nothing is merged silently.

``IdentityService(rules)`` is usable outside the engine (the FHIR API backend plans ids
with it). Every operation takes ``store``: anything with the ``IdentityStore`` operations —
the ``Store`` (each call its own transaction) or a ``Unit`` (the caller's transaction)::

    identity = IdentityService(config.matching.patient, config.matching.identifying)
    pairs = identity.pairs(entity.identifiers, source, "Patient")  # the identifying pairs
    ids = await identity.resolve(store, "Patient", pairs)     # canonical ids, sorted
    new = await identity.reserve(store, "Patient", pairs, source)  # racing inserts: one id
    found = await identity.match(store, record)               # PatientMatch: linked | candidates
    who = await identity.identify(store, "Patient", record, source)  # + review when ambiguous

``identify`` is the engine's whole decision (xref, then rules, then a new id; ambiguity
opens a review and flags the new record ``pending_review``; a contradiction is ``held``;
reservations of the identifiers fold into the record found); ``resolve_refs`` gives every
reference inside a record its canonical id and every identifier the hub knows for it;
``link_or_conflict`` links a new record's identifiers or raises ``VersionConflict`` when a
concurrent worker took one first; ``adopt_reservations`` folds a reservation another worker
made between the identification and the save.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.canonical import EntityType, Identifier
from hub.config import IdentifyingConfig, MatchRule
from hub.records import VersionConflict
from hub.sync.linking import IdentifierPolicy, disagreement, has_ended, is_placeholder
from hub.sync.state import refs_in, unite

__all__ = [
    "MAX_CANDIDATES",
    "Identified",
    "IdentityService",
    "IdentityStore",
    "Pair",
    "PatientMatch",
    "demographics",
    "identifier_pairs",
    "json_pairs",
    "match_key",
    "match_patient",
    "normalise",
    "targets",
]


#: a cross-reference entry: (namespace, value)
Pair = tuple[str, str]

#: more records than this sharing a rule's key is not a match to review but a common
#: name and birth date (or a test feed): the rule is passed over
MAX_CANDIDATES = 10

_PATIENT = EntityType.PATIENT.value
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class IdentityStore(Protocol):
    """The store operations identity needs; ``Store`` and ``Unit`` both have them."""

    async def resolve_identifiers(
        self, entity_type: str, identifiers: Iterable[Pair]
    ) -> dict[Pair, str]: ...

    async def link_identifiers(
        self,
        entity_type: str,
        canonical_id: str,
        identifiers: Iterable[Pair],
        *,
        source: str | None = None,
    ) -> int: ...

    async def identifiers_of(self, entity_type: str, canonical_id: str) -> list[dict[str, str]]: ...

    async def repoint_identifiers(self, entity_type: str, from_id: str, to_id: str) -> int: ...

    async def find_by_match_key(
        self, entity_type: str, key: str, limit: int | None = None
    ) -> list[str]: ...

    async def get_entity(self, entity_type: str, entity_id: str) -> object | None: ...

    async def open_review(
        self, entity_type: str, record_id: str, candidates: Sequence[str], rule: str
    ) -> None: ...


# --------------------------------------------------------------------------- pairs


def identifier_pairs(identifiers: Sequence[Identifier], source: str) -> list[Pair]:
    """(namespace, value) pairs for the cross-reference. An identifier without a namespace
    is qualified by the system that sent it, so two systems' bare "123" never collide."""
    return [(_namespace(i.system, i.type, i.source, source), i.value) for i in identifiers]


def json_pairs(identifiers: list[dict[str, Any]], source: str) -> list[Pair]:
    """``identifier_pairs`` for identifiers in canonical JSON (empty values skipped)."""
    return [
        (_namespace(i.get("system"), i.get("type"), i.get("source"), source), i["value"])
        for i in identifiers
        if i.get("value")
    ]


def _namespace(system: str | None, type_: str | None, owner: str | None, source: str) -> str:
    return system or f"{owner or source}:{type_ or 'id'}"


def targets(record: dict[str, Any], source: str) -> list[Pair]:
    """What a record points at: (type, canonical id), or (type, ``~namespace|value``) for a
    target the hub has no record of yet (a practitioner known only by NPI still clashes)."""
    out = []
    for _, ref in refs_in(record):
        if ref.get("id"):
            out.append((ref["type"], ref["id"]))
        else:
            out.extend(
                (ref["type"], f"~{ns}|{value}")
                for ns, value in json_pairs(ref.get("identifiers", []), source)[:1]
            )
    return out


# --------------------------------------------------------------------------- demographics


def normalise(text: str | None) -> str:
    """Case, accents, punctuation and spacing folded away: ``Renée-O'Neil`` → ``reneeoneil``."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _NOT_ALNUM.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def demographics(record: dict[str, Any]) -> dict[str, str]:
    """The matchable facts of a Patient (``names``, ``addresses``, ``telecom``) or of a claim
    party (``name``, ``address``)."""
    names = record.get("names") or ([record["name"]] if record.get("name") else [])
    name = names[0] if names else {}
    given = name.get("given") or []
    addresses = record.get("addresses") or ([record["address"]] if record.get("address") else [])
    phones = [
        t.get("value", "")
        for t in record.get("telecom") or []
        if t.get("system") in (None, "phone")
    ]
    return {
        "family": normalise(name.get("family")),
        "given": normalise(given[0] if given else None),
        "birth_date": str(record.get("birth_date") or ""),
        "sex": str(record.get("sex") or ""),
        "postal_code": normalise((addresses[0] or {}).get("postal_code")) if addresses else "",
        "phone": re.sub(r"\D", "", phones[0])[-10:] if phones else "",
    }


def match_key(rule_index: int, rule: MatchRule, facts: dict[str, str]) -> str | None:
    """The key a record has under ``rule``, or None when a field the rule needs is empty."""
    values = [facts.get(f, "") for f in rule.fields]
    if not all(values):
        return None
    return f"r{rule_index}:" + "|".join(values)


def _data(record: object | None) -> dict[str, Any]:
    """A stored record's state (an ``EntityRecord``), or nothing."""
    data = getattr(record, "data", None)
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class PatientMatch:
    """What the demographic rules found: a record to link to, or candidates to review."""

    linked: str | None = None
    candidates: tuple[str, ...] = ()
    rule: str | None = None


async def match_patient(
    store: IdentityStore, record: dict[str, Any], rules: Sequence[MatchRule]
) -> PatientMatch:
    """Apply the matching rules in order to a Patient (or a claim's patient party) in
    canonical JSON. The first rule with hits decides: one hit under a ``link`` rule links;
    anything else is for review."""
    facts = demographics(record)
    for i, rule in enumerate(rules):
        key = match_key(i, rule, facts)
        found = await _candidates(store, key)
        name = f"matching rule {i + 1}: {'+'.join(rule.fields)}"
        if len(found) == 1 and rule.action == "link":
            return PatientMatch(linked=found[0], rule=name)
        if len(found) > MAX_CANDIDATES:
            continue  # a key this common tells nothing: the next rule decides
        if found:
            return PatientMatch(candidates=tuple(found), rule=name)
    return PatientMatch()


async def _candidates(store: IdentityStore, key: str | None) -> list[str]:
    if not key:
        return []
    return await store.find_by_match_key(_PATIENT, key, limit=MAX_CANDIDATES + 1)


# --------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class Identified:
    """The record an event is about, and whether it waits for review (``pending_review``).

    ``held``: why the event is for review, not to be applied (no values): an identifying
    identifier names the record but the identity facts contradict it, or its identifying
    identifiers name several records (the others in ``candidates``).
    ``folded``: reservations that joined the record as (reserved id, record id): what
    pointed at them is the caller's to re-point."""

    canonical_id: str
    review: bool = False
    held: str | None = None
    candidates: tuple[str, ...] = ()
    folded: tuple[Pair, ...] = ()


class IdentityService:
    """Cross-reference lookups, reservations, demographic matching, reviews, links."""

    def __init__(
        self, rules: Sequence[MatchRule] = (), identifying: IdentifyingConfig | None = None
    ):
        """``rules``: ``matching.patient``; ``identifying``: ``matching.identifying``."""
        self.rules: tuple[MatchRule, ...] = tuple(rules)
        self.policy = IdentifierPolicy(identifying)

    def pairs(
        self, identifiers: Sequence[Identifier], source: str, etype: str | None = None
    ) -> list[Pair]:
        """Every identifier's pair; with ``etype``, only those that may link by themselves
        (``split``)."""
        if etype is None:
            return identifier_pairs(identifiers, source)
        dumped = [i.model_dump(mode="json", exclude_none=True) for i in identifiers]
        return self.split(dumped, source, etype)[0]

    def split(
        self, identifiers: list[dict[str, Any]], source: str, etype: str
    ) -> tuple[list[Pair], list[Pair]]:
        """A record's identifiers (canonical JSON) as (identifying, corroborating) pairs.
        For a patient: placeholder values and ended identifiers (``has_ended``: an A47's
        retired prior identifier) are in neither (never a link key), and only what
        ``matching.identifying`` names is identifying. Other types: every one identifies."""
        if etype != _PATIENT:
            return json_pairs(identifiers, source), []
        linking: list[Pair] = []
        other: list[Pair] = []
        for i in identifiers:
            value = i.get("value")
            ns = _namespace(i.get("system"), i.get("type"), i.get("source"), source)
            if not value or is_placeholder(value, ns) or has_ended(i):
                continue
            (linking if self.policy.identifying(ns, i.get("type")) else other).append((ns, value))
        return linking, other

    def link_keys(self, identifiers: list[dict[str, Any]], source: str, etype: str) -> list[Pair]:
        """What the cross-reference keeps of a record's identifiers: all but placeholders."""
        linking, other = self.split(identifiers, source, etype)
        return linking + other

    async def resolve(self, store: IdentityStore, etype: str, pairs: list[Pair]) -> list[str]:
        """The canonical ids ``pairs`` point to, sorted (several: they name several records)."""
        return sorted(set((await store.resolve_identifiers(etype, pairs)).values()))

    async def reserve(
        self, store: IdentityStore, etype: str, pairs: list[Pair], source: str
    ) -> str:
        """A canonical id for a record known so far only by ``pairs``: linked now, first
        writer wins (a concurrent reservation of the same identifiers yields the same id).
        Without identifiers there is nothing to reserve by: a new id, linked to nothing."""
        if not pairs:
            return str(uuid.uuid4())
        await store.link_identifiers(etype, str(uuid.uuid4()), pairs, source=source)
        found = await store.resolve_identifiers(etype, pairs)
        return found.get(pairs[0]) or sorted(set(found.values()))[0]

    async def match(self, store: IdentityStore, record: dict[str, Any]) -> PatientMatch:
        """The configured demographic rules applied to a patient record (canonical JSON)."""
        return await match_patient(store, record, self.rules)

    def match_keys(self, state: dict[str, Any]) -> list[str]:
        """The keys a patient's state is found by under each rule (``set_match_keys``)."""
        facts = demographics(state)
        return [k for i, rule in enumerate(self.rules) if (k := match_key(i, rule, facts))]

    async def existing(self, store: IdentityStore, etype: str, ids: list[str]) -> list[str]:
        """Those of ``ids`` that have a record (the others are reservations)."""
        return [i for i in ids if await store.get_entity(etype, i) is not None]

    async def identify(
        self,
        store: IdentityStore,
        etype: str,
        record: dict[str, Any],
        source: str,
        *,
        match: bool = True,
    ) -> Identified:
        """The record ``record`` is about: its own id, else its identifying identifiers,
        else (patients, ``match``) the rules; else a new canonical id. A patient named by an
        identifier whose identity facts disagree is ``held``; reservations of its
        identifiers fold into the record the rules link (``folded``). ``match=False`` (a
        merge: the source's explicit instruction) skips the rules and the disagreement."""
        if record.get("id"):
            return Identified(str(record["id"]))
        linking, corroborating = self.split(record.get("identifiers", []), source, etype)
        ids = await self.resolve(store, etype, linking)
        if etype != _PATIENT:
            if len(ids) > 1:  # the identifiers name two records: they likely want merging
                await store.open_review(etype, ids[0], ids[1:], "identifiers name several records")
            return Identified(ids[0] if ids else str(uuid.uuid4()))
        real = await self.existing(store, etype, ids)
        if real:
            return await self._named(store, record, real, ids, match)
        if ids and not match:
            return Identified(ids[0])
        if not match:
            return Identified(str(uuid.uuid4()))
        return await self._matched(store, record, ids, corroborating)

    async def _named(
        self,
        store: IdentityStore,
        record: dict[str, Any],
        real: list[str],
        ids: list[str],
        match: bool,
    ) -> Identified:
        """A patient its identifying identifiers name: reservations among them join it."""
        target = real[0]
        if len(real) > 1 and match:  # which one it is about is for a person to say
            several = "its identifying identifiers name several records"
            return Identified(target, held=several, candidates=tuple(real[1:]))
        if len(real) > 1:  # a merge: the survivor is the first; the others for review
            await store.open_review(_PATIENT, target, real[1:], "identifiers name several records")
        if match:
            current = await store.get_entity(_PATIENT, target)
            differs = disagreement(demographics(record), demographics(_data(current)))
            if differs:
                return Identified(target, held=f"an identifying identifier links, {differs} differ")
        folded = await self._fold(store, sorted(set(ids) - set(real)), target)
        return Identified(target, folded=folded)

    async def _matched(
        self,
        store: IdentityStore,
        record: dict[str, Any],
        reserved: list[str],
        corroborating: list[Pair],
    ) -> Identified:
        """A patient no existing record's identifying identifier names: the rules decide.
        A reservation of its identifiers (a reference seen first) joins the record the
        rules link, else becomes this record. A record sharing only a non-identifying
        identifier is a candidate for review, never linked by it."""
        found = await self.match(store, record)
        if found.linked:
            return Identified(found.linked, folded=await self._fold(store, reserved, found.linked))
        shared = await self.existing(
            store, _PATIENT, await self.resolve(store, _PATIENT, corroborating)
        )
        candidates = list(dict.fromkeys([*found.candidates, *shared]))
        new_id = reserved[0] if reserved else str(uuid.uuid4())
        folded = await self._fold(store, reserved[1:], new_id)
        if not candidates:
            return Identified(new_id, folded=folded)
        rule = found.rule or "shares a non-identifying identifier"
        await store.open_review(_PATIENT, new_id, candidates, rule)
        return Identified(new_id, review=True, folded=folded)

    async def _fold(
        self, store: IdentityStore, reserved: list[str], target: str, etype: str = _PATIENT
    ) -> tuple[Pair, ...]:
        """Reservations join ``target``: their identifiers now name it."""
        for rid in reserved:
            await store.repoint_identifiers(etype, rid, target)
        return tuple((rid, target) for rid in reserved)

    async def adopt_reservations(
        self, store: IdentityStore, etype: str, canonical_id: str, pairs: list[Pair]
    ) -> list[Pair]:
        """After linking ``pairs`` to ``canonical_id``: those a reservation holds (a
        reference resolved in another worker between this record's identification and its
        save) join it — in the caller's transaction. Returns (reserved id, record id)."""
        owners = set((await store.resolve_identifiers(etype, pairs)).values()) - {canonical_id}
        reserved = [o for o in sorted(owners) if await store.get_entity(etype, o) is None]
        return list(await self._fold(store, reserved, canonical_id, etype))

    async def link_or_conflict(
        self,
        store: IdentityStore,
        etype: str,
        canonical_id: str,
        pairs: list[Pair],
        source: str,
        corroborating: Sequence[Pair] = (),
    ) -> None:
        """Link ``pairs`` (and ``corroborating``) to ``canonical_id``; VersionConflict when
        one of ``pairs`` already belongs to another record (a concurrent worker linked it
        first): the caller decides again. A corroborating pair another record holds stays
        with it: it never named one person."""
        if not pairs and not corroborating:
            return
        await store.link_identifiers(etype, canonical_id, [*pairs, *corroborating], source=source)
        owners = set((await store.resolve_identifiers(etype, pairs)).values()) if pairs else set()
        if owners - {canonical_id}:
            raise VersionConflict(etype, canonical_id, 0, 1)

    # ----------------------------------------------------------------------- references

    async def resolve_refs(
        self, store: IdentityStore, record: dict[str, Any], source: str
    ) -> list[Pair]:
        """Give every reference its canonical id (by identifiers) and every identifier the
        hub knows for the target; link a claim's parties to their patient. Returns the
        reservations that joined a patient as (reserved id, patient id): what pointed at
        them is the caller's to re-point."""
        for _, ref in list(refs_in(record)):
            await self.resolve_ref(store, ref, source)
        joined: list[Pair] = []
        if record.get("entity_type") != EntityType.CLAIM.value:
            return joined
        for key in ("patient", "subscriber"):
            party = record.get(key)
            if isinstance(party, dict) and "ref" not in party:
                joined += await self.link_party(store, party, source)
        return list(dict.fromkeys(joined))

    async def resolve_ref(self, store: IdentityStore, ref: dict[str, Any], source: str) -> None:
        """A reference's canonical id by its identifying identifiers; only when it has none
        at all (a coverage naming its member id: pointing is not merging), by its
        non-identifying ones — a shared SSN never turns a reference to a patient not seen
        yet into one to the SSN's holder. Several records found: none is picked (a record
        that exists is preferred to reservations). Placeholders never count."""
        linking, other = self.split(ref.get("identifiers", []), source, ref["type"])
        if not ref.get("id") and (linking or other):
            pairs = linking or other
            found = await self.resolve(store, ref["type"], pairs)
            if len(found) > 1:  # prefer a record that exists to a reservation
                found = (await self.existing(store, ref["type"], found)) or found[:1]
            if len(found) == 1:
                ref["id"] = found[0]
            elif not found and ref["type"] == _PATIENT:
                # a patient not seen yet (its own message is in another lane, or never
                # comes): its canonical id is reserved now by what the reference has, so the
                # record that arrives later by these identifiers becomes the one it points at
                ref["id"] = await self.reserve(store, ref["type"], pairs, source)
            # several records: which one is for a person to say; the reference stays
            # unresolved (its identifiers kept)
        if ref.get("id"):
            known = await store.identifiers_of(ref["type"], ref["id"])
            ref["identifiers"] = unite(
                ref.get("identifiers", []),
                [
                    {"system": k["namespace"], "value": k["value"], "source": k["source"] or None}
                    for k in known
                ],
            )

    async def link_party(
        self, store: IdentityStore, party: dict[str, Any], source: str
    ) -> list[Pair]:
        """A claim's patient or subscriber (X12 2010BA/2010CA): find the patient by an
        identifying identifier (held back, for review, when the party's identity facts
        disagree), else by the demographic rules — a member id alone never links it — and
        remember its identifiers for next time. A reservation of its identifying
        identifiers (a reference seen first) joins the patient found: returned as
        (reserved id, patient id). One found by a member id or SSN joins only when the party
        has no identifying identifier at all and it is the one record they name (a payer's
        837: its coverage reserved the member id a moment before)."""
        linking, other = self.split(party.get("identifiers", []), source, _PATIENT)
        # only what identifying identifiers name may join the patient: a member id or SSN a
        # reservation holds is someone's, not necessarily this party's
        found = await self.resolve(store, _PATIENT, linking)
        real = await self.existing(store, _PATIENT, found)
        if len(real) > 1:  # the party's identifiers name two patients: for review, unlinked
            await store.open_review(_PATIENT, real[0], real[1:], "a claim party names several")
            return []
        if real:
            held = disagreement(
                demographics(party), demographics(_data(await store.get_entity(_PATIENT, real[0])))
            )
            if held:  # not this patient, whatever the identifier says: unlinked, for review
                await store.open_review(_PATIENT, real[0], [], f"a claim party differs: {held}")
                return []
        else:
            match = await self.match(store, party)
            # unknown or ambiguous: not linked to a patient; nothing is merged silently
            real = [match.linked] if match.linked else []
        reserved = sorted(set(found) - set(real))
        if not linking:  # a payer knows the member id only: the one reservation it names
            # alone (the coverage of the same 837, seen first) is this party — the same rule
            # as a reference's; a party with identifying identifiers never takes one by its
            # member id or SSN
            named = await self.resolve(store, _PATIENT, other)
            alone = len(named) == 1 and not await self.existing(store, _PATIENT, named)
            reserved = named if alone else []
        joined: list[Pair] = []
        if real:  # reservations of these identifiers join the patient, with what they had
            for rid in reserved:
                await store.repoint_identifiers(_PATIENT, rid, real[0])
                joined.append((rid, real[0]))
        else:
            real = reserved
        if real:
            party["ref"] = {"type": _PATIENT, "id": real[0], "identifiers": []}
            # a concurrent reservation may win the link: then decide again
            await self.link_or_conflict(store, _PATIENT, real[0], linking, source, other)
        return joined
