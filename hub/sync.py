"""The sync engine: between ``carehub.ingress`` and ``carehub.events``.

For each canonical event it decides which record the event is about, applies it to that
record's versioned state, and publishes what changed — only what changed:

- **identity**: shared identifiers first (the cross-reference); for patients then the
  configured demographic rules (``matching:``). An ambiguous match is never merged silently:
  the event goes to a new record flagged ``pending_review`` and the candidates to the
  review list. References inside a record (an appointment's patient, a claim's parties) are
  resolved the same way and carry every identifier the hub knows for their target, so each
  destination finds its own.
- **merges** (``patient.merged``): the retired record's identifiers, and every record that
  pointed at it, move to the survivor; subscribers get ``patient.merged``.
- **duplicates**: an event id seen before (a resend), or a change that leaves the state as
  it was, changes nothing and sends nothing.
- **order**: a change stamped earlier than the state it would overwrite is *stale*: logged,
  not applied. Writes are optimistic (versioned): two workers racing on one record cannot
  both win; the loser re-reads and re-decides. No global lock.
- **echoes**: a system telling us back what we last sent it is recognised and not
  propagated again; a change never goes back to its origin (``hub.outbound``).
- **ownership** (``ownership:``): a change from a non-owner to an owned field is a conflict,
  logged and not applied.
- **double bookings**: an active appointment overlapping another of the same practitioner,
  location or patient produces ``appointment.conflict`` with both.

Every decision is written to ``sync_log``: ``carehub show`` reads it back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.canonical import (
    AppointmentStatus,
    EntityType,
    Event,
    EventKind,
    Identifier,
    Ref,
)
from hub.config import HubConfig, MatchRule
from hub.envelope import Envelope
from hub.errors import TransientError
from hub.faults import fault_point
from hub.identity import BOOKKEEPING, content, demographics, is_echo, match_key, refs_in
from hub.ids import outgoing_envelope_id
from hub.ports import Delivery, Transport
from hub.store import EntityRecord, Store, Unit, VersionConflict

__all__ = ["PatientMatch", "SyncEngine", "identifier_pairs", "match_patient", "merge_state"]

log = logging.getLogger("carehub.sync")

CONSUMER = "sync"
_ATTEMPTS = 4
_ACTIVE = {
    AppointmentStatus.BOOKED.value,
    AppointmentStatus.ARRIVED.value,
    AppointmentStatus.CHECKED_IN.value,
    AppointmentStatus.PENDING.value,
}


def identifier_pairs(identifiers: list[Identifier], source: str) -> list[tuple[str, str]]:
    """(namespace, value) pairs for the cross-reference. An identifier without a namespace
    is qualified by the system that sent it, so two systems' bare "123" never collide."""
    return [(_namespace(i.system, i.type, i.source, source), i.value) for i in identifiers]


def _namespace(system: str | None, type_: str | None, owner: str | None, source: str) -> str:
    return system or f"{owner or source}:{type_ or 'id'}"


def _pairs_of(identifiers: list[dict[str, Any]], source: str) -> list[tuple[str, str]]:
    return [
        (_namespace(i.get("system"), i.get("type"), i.get("source"), source), i["value"])
        for i in identifiers
        if i.get("value")
    ]


def merge_state(
    current: dict[str, Any] | None, incoming: dict[str, Any], source: str
) -> dict[str, Any]:
    """New state: values present in ``incoming`` win, absent or empty ones keep the current
    value; identifiers are united; ``meta.field_sources`` records who set each field."""
    if current is None:
        merged = dict(incoming)
        sources = {k: source for k, v in incoming.items() if k not in BOOKKEEPING and _set(v)}
    else:
        merged = dict(current)
        sources = dict(current.get("meta", {}).get("field_sources", {}))
        for key, value in incoming.items():
            if key in BOOKKEEPING or not _set(value):
                continue
            merged[key] = value
            sources[key] = source
        merged["identifiers"] = _unite(
            current.get("identifiers", []), incoming.get("identifiers", [])
        )
    meta = dict((current or {}).get("meta") or {})
    meta.update(source=source, updated_at=datetime.now(UTC).isoformat(), field_sources=sources)
    merged["meta"] = meta
    return merged


def _set(value: Any) -> bool:
    return value is not None and value not in ([], {}, "")


def _unite(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(i.get("system"), i.get("value")) for i in a}
    return a + [i for i in b if (i.get("system"), i.get("value")) not in seen]


async def _existing(unit: Unit, etype: str, ids: list[str]) -> list[str]:
    """Those of ``ids`` that have a record (the others are reservations)."""
    return [i for i in ids if await unit.get_entity(etype, i) is not None]


async def _link_or_conflict(
    unit: Unit, etype: str, canonical_id: str, pairs: list[tuple[str, str]], source: str
) -> None:
    """Link ``pairs`` to ``canonical_id``; VersionConflict when one of them already belongs
    to another record (a concurrent worker linked it first): the caller decides again."""
    if not pairs:
        return
    await unit.link_identifiers(etype, canonical_id, pairs, source=source)
    owners = set((await unit.resolve_identifiers(etype, pairs)).values())
    if owners - {canonical_id}:
        raise VersionConflict(etype, canonical_id, 0, 1)


def _republished(event: Event, current: EntityRecord) -> _Decision:
    """An event applied before a restart, published again as the record stands now."""
    entity = type(event.entity).model_validate(current.data)
    decision = _Decision(outcome="republished", detail="applied before a restart")
    decision.out.append(event.model_copy(update={"entity": entity}))
    return decision


async def _reserve(unit: Unit, etype: str, pairs: list[tuple[str, str]], source: str) -> str:
    """A canonical id for a record known so far only by ``pairs``: linked now, first
    writer wins (a concurrent reservation of the same identifiers yields the same id)."""
    await unit.link_identifiers(etype, str(uuid.uuid4()), pairs, source=source)
    found = await unit.resolve_identifiers(etype, pairs)
    return found.get(pairs[0]) or sorted(set(found.values()))[0]


@dataclass(frozen=True)
class PatientMatch:
    """What the demographic rules found: a record to link to, or candidates to review."""

    linked: str | None = None
    candidates: tuple[str, ...] = ()
    rule: str | None = None


async def match_patient(store: Any, record: dict[str, Any], rules: list[MatchRule]) -> PatientMatch:
    """Apply the matching rules in order to a Patient (or a claim's patient party) in
    canonical JSON. ``store`` is a Store or a Unit. The first rule with hits decides: one hit
    under a ``link`` rule links; anything else is for review."""
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


#: more records than this sharing a rule's key is not a match to review but a common
#: name and birth date (or a test feed): the rule is passed over
MAX_CANDIDATES = 10


async def _candidates(store: Any, key: str | None) -> list[str]:
    if not key:
        return []
    found: list[str] = await store.find_by_match_key(
        EntityType.PATIENT.value, key, limit=MAX_CANDIDATES + 1
    )
    return found


@dataclass
class _Decision:
    """What applying one event came to: events to publish, and what to log."""

    out: list[Event] = field(default_factory=list)
    outcome: str = "applied"
    detail: str | None = None


class SyncEngine:
    """Consumes the ingress queue; one call of ``handle`` per delivery (settled by the
    caller's single settle point: returning acks, raising retries or parks)."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        *,
        events_exchange: str,
        config: HubConfig | None = None,
    ):
        self.store = store
        self.transport = transport
        self.events = events_exchange
        cfg = config or HubConfig()
        self.rules: list[MatchRule] = list(cfg.matching.patient)
        self.ownership = cfg.ownership

    async def handle(self, delivery: Delivery) -> None:
        env = delivery.envelope
        if await self.store.was_processed(CONSUMER, env.id):
            log.info("event %s already applied; not published again", env.id)
            return
        # only an event seen before (redelivered, or back from a retry tier) can have been
        # applied without being marked: the check is skipped for every first delivery
        again = delivery.redelivered or delivery.attempt > 0
        for event in await self._apply_with_retries(env, again):
            out = env.model_copy(update={"payload": event, "id": _out_id(env.id, event)})
            await self.transport.publish(self.events, out.routing_key, out)
        fault_point("sync_after_publish")
        # marked only after the confirms: a crash in between republishes the record under the
        # same envelope ids ("republished"), which every destination recognises
        await self.store.mark_processed(CONSUMER, env.id)

    async def _apply_with_retries(self, env: Envelope, again: bool) -> list[Event]:
        for _ in range(_ATTEMPTS):
            try:
                return await self.apply(env, again=again)
            except VersionConflict:
                continue  # another worker wrote the record: read it again and re-decide
        raise TransientError(f"record changed concurrently {_ATTEMPTS} times", code="409")

    async def apply(self, env: Envelope, *, again: bool = True) -> list[Event]:
        """Apply one event in one transaction; return the events to publish. ``again``:
        the event may have been applied before (then it is only republished)."""
        async with self.store.unit() as unit:
            if env.payload.kind is EventKind.PATIENT_MERGED:
                decision = await self._merge(unit, env)
            else:
                decision = await self._upsert(unit, env, again)
        return decision.out

    # ------------------------------------------------------------------ upsert

    async def _upsert(self, unit: Unit, env: Envelope, again: bool) -> _Decision:
        event, source = env.payload, env.source_system
        etype = event.entity.entity_type.value
        incoming = event.entity.model_dump(mode="json", exclude_none=True)
        await self._resolve_refs(unit, incoming, env)
        canonical_id, review = await self._identify(unit, etype, incoming, source)
        current = await unit.get_entity(etype, canonical_id)
        if again and current is not None and await unit.was_applied(env.id, etype, canonical_id):
            # this event was applied and the hub stopped before marking it (perhaps before
            # publishing): publish the record as it is now; never apply it again over what
            # came after it
            decision = _republished(event, current)
            await self._log(unit, env, etype, canonical_id, decision)
            return decision
        decision = await self._judge(unit, env, etype, canonical_id, incoming, current)
        if decision.outcome != "applied":
            await self._log(unit, env, etype, canonical_id, decision)
            await unit.link_identifiers(
                etype,
                canonical_id,
                _pairs_of(incoming.get("identifiers", []), source),
                source=source,
            )
            return decision
        state = self._new_state(current, incoming, source, event, canonical_id, review)
        if (
            current is not None
            and content(state) == content(current.data)
            and state.get("identifiers") == current.data.get("identifiers")
        ):
            decision.outcome, decision.detail = "unchanged", "the state is already so"
            await self._log(unit, env, etype, canonical_id, decision)
            return decision
        entity = await self._save(unit, env, etype, canonical_id, state, current)
        decision.out.append(event.model_copy(update={"entity": entity}))
        decision.out.extend(await self._double_bookings(unit, event, entity))
        await self._log(unit, env, etype, canonical_id, decision)
        return decision

    async def _judge(
        self,
        unit: Unit,
        env: Envelope,
        etype: str,
        canonical_id: str,
        incoming: dict[str, Any],
        current: EntityRecord | None,
    ) -> _Decision:
        """Stale? An echo? Fields the source does not own? (``incoming`` loses those.)"""
        stamp = env.payload.provenance.recorded_at
        held = (current.data.get("meta") or {}).get("recorded_at") if current else None
        if stamp is not None and held and _before(stamp, held):
            return _Decision(
                outcome="stale",
                detail=f"stamped {stamp.isoformat()}, the record holds a change stamped {held}",
            )
        sent = await unit.last_sent(env.source_system, etype, canonical_id)
        if current is not None and is_echo(incoming, sent):
            return _Decision(outcome="echo", detail="what the hub last sent this system")
        refused = self._not_owned(etype, incoming, current, env.source_system)
        if refused:
            for key in refused:
                incoming.pop(key)
            await self._log(
                unit,
                env,
                etype,
                canonical_id,
                _Decision(
                    outcome="conflict", detail="not the owner of: " + ", ".join(sorted(refused))
                ),
            )
        return _Decision()

    def _not_owned(
        self, etype: str, incoming: dict[str, Any], current: EntityRecord | None, source: str
    ) -> list[str]:
        """Fields ``source`` changes but another system owns (a first value is taken)."""
        owners = self.ownership.get(etype, {})
        if not owners or current is None:
            return []
        out = []
        for key, value in incoming.items():
            owner = owners.get(key, owners.get("*"))
            if key in BOOKKEEPING or owner is None or owner == source:
                continue
            if _set(current.data.get(key)) and current.data.get(key) != value:
                out.append(key)
        return out

    def _new_state(
        self,
        current: EntityRecord | None,
        incoming: dict[str, Any],
        source: str,
        event: Event,
        canonical_id: str,
        review: bool,
    ) -> dict[str, Any]:
        state = merge_state(current.data if current else None, incoming, source)
        state["id"] = canonical_id
        stamp = event.provenance.recorded_at
        if stamp is not None:
            state["meta"]["recorded_at"] = stamp.isoformat()
        if review:
            state["meta"]["pending_review"] = True
        return state

    async def _save(
        self,
        unit: Unit,
        env: Envelope,
        etype: str,
        canonical_id: str,
        state: dict[str, Any],
        current: EntityRecord | None,
    ) -> Any:
        state.setdefault("meta", {})["version"] = (current.version if current else 0) + 1
        entity = type(env.payload.entity).model_validate(state)
        source = env.source_system
        await unit.save_entity(
            etype,
            canonical_id,
            state,
            source=source,
            event_id=env.id,
            event_kind=env.payload.kind.value,
            expected_version=current.version if current else 0,
        )
        pairs = _pairs_of(state.get("identifiers", []), source)
        if current is None:
            # a new record: a concurrent worker may have linked one of its identifiers to a
            # record of its own in the meantime; then this one re-decides (and joins that one)
            await _link_or_conflict(unit, etype, canonical_id, pairs, source)
        else:
            await unit.link_identifiers(etype, canonical_id, pairs, source=source)
        await unit.set_refs(etype, canonical_id, _targets(state, source))
        if etype == EntityType.PATIENT.value:
            await unit.set_match_keys(etype, canonical_id, self._keys(state))
        return entity

    # ------------------------------------------------------------------ identity

    async def _identify(
        self, unit: Unit, etype: str, record: dict[str, Any], source: str, *, match: bool = True
    ) -> tuple[str, bool]:
        """(canonical id, whether it waits for review)."""
        if record.get("id"):
            return str(record["id"]), False
        known = await unit.resolve_identifiers(
            etype, _pairs_of(record.get("identifiers", []), source)
        )
        ids = sorted(set(known.values()))
        if len(ids) > 1:  # the identifiers name two records: they likely want merging
            await unit.open_review(etype, ids[0], ids[1:], "identifiers name several records")
            return ids[0], False
        if ids:
            return ids[0], False
        if etype != EntityType.PATIENT.value or not match:
            return str(uuid.uuid4()), False
        return await self._match_patient(unit, record)

    async def _match_patient(self, unit: Unit, record: dict[str, Any]) -> tuple[str, bool]:
        match = await match_patient(unit, record, self.rules)
        if match.linked:
            return match.linked, False
        if match.candidates:
            new_id = str(uuid.uuid4())
            await unit.open_review(
                EntityType.PATIENT.value, new_id, match.candidates, match.rule or "matching"
            )
            return new_id, True
        return str(uuid.uuid4()), False

    def _keys(self, state: dict[str, Any]) -> list[str]:
        facts = demographics(state)
        return [k for i, rule in enumerate(self.rules) if (k := match_key(i, rule, facts))]

    async def _resolve_refs(self, unit: Unit, record: dict[str, Any], env: Envelope) -> None:
        """Give every reference its canonical id (by identifiers), every identifier the hub
        knows for the target, and link a claim party to its patient."""
        source = env.source_system
        for _, ref in list(refs_in(record)):
            await self._resolve_ref(unit, ref, source)
        for key in ("patient", "subscriber"):
            party = record.get(key)
            if (
                isinstance(party, dict)
                and "ref" not in party
                and record.get("entity_type") == EntityType.CLAIM.value
            ):
                await self._link_party(unit, party, env)

    async def _resolve_ref(self, unit: Unit, ref: dict[str, Any], source: str) -> None:
        pairs = _pairs_of(ref.get("identifiers", []), source)
        if not ref.get("id") and pairs:
            found = sorted(set((await unit.resolve_identifiers(ref["type"], pairs)).values()))
            # a patient not seen yet (its own message is in another lane, or never comes):
            # its canonical id is reserved now, so the record that arrives later by these
            # identifiers becomes the one this reference already points at
            if len(found) > 1:  # prefer a record that exists to a reservation
                found = (await _existing(unit, ref["type"], found)) or found
            if found:
                ref["id"] = found[0]
            elif ref["type"] == EntityType.PATIENT.value:
                ref["id"] = await _reserve(unit, ref["type"], pairs, source)
        if ref.get("id"):
            known = await unit.identifiers_of(ref["type"], ref["id"])
            ref["identifiers"] = _unite(
                ref.get("identifiers", []),
                [
                    {"system": k["namespace"], "value": k["value"], "source": k["source"] or None}
                    for k in known
                ],
            )

    async def _link_party(self, unit: Unit, party: dict[str, Any], env: Envelope) -> None:
        """A claim's patient or subscriber (X12 2010BA/2010CA): find the patient by its
        member id, else by the demographic rules, and remember the member id for next time.
        A member id known so far only as a reservation (a coverage named it first) joins the
        patient the demographics find: its references move there."""
        etype, source = EntityType.PATIENT.value, env.source_system
        pairs = _pairs_of(party.get("identifiers", []), source)
        found = sorted(set((await unit.resolve_identifiers(etype, pairs)).values()))
        real = await _existing(unit, etype, found)
        if len(real) > 1:  # the party's identifiers name two patients: for review, unlinked
            await unit.open_review(etype, real[0], real[1:], "a claim party names several")
            return
        if not real:
            match = await match_patient(unit, party, self.rules)
            # unknown or ambiguous: not linked to a patient; nothing is merged silently
            real = [match.linked] if match.linked else []
        if real:  # reservations of these identifiers join the patient, with what they had
            for reserved in sorted(set(found) - set(real)):
                await unit.repoint_identifiers(etype, reserved, real[0])
                await self._repoint_references(unit, env, reserved, real[0])
        else:
            real = found
        if real:
            party["ref"] = {"type": etype, "id": real[0], "identifiers": []}
            # a concurrent reservation may win the link: then decide again
            await _link_or_conflict(unit, etype, real[0], pairs, source)

    # ------------------------------------------------------------------ merge

    async def _merge(self, unit: Unit, env: Envelope) -> _Decision:
        """``patient.merged``: identifiers and every reference move to the survivor."""
        event, source = env.payload, env.source_system
        etype = EntityType.PATIENT.value
        incoming = event.entity.model_dump(mode="json", exclude_none=True)
        # the survivor by its identifiers only: demographics could name the retired record
        survivor_id, _ = await self._identify(unit, etype, incoming, source, match=False)
        retired_refs: list[Ref] = []
        for ref in event.replaces:
            retired = await self._retire(unit, env, ref, survivor_id)
            if retired is not None:
                retired_refs.append(retired)
        current = await unit.get_entity(etype, survivor_id)
        if not retired_refs and current is not None:
            # every record it names is the survivor already: this merge was done (a resend,
            # or a redelivery after a crash — then publish it again, same envelope id)
            decision = _Decision(outcome="unchanged", detail="already merged")
            if await unit.was_applied(env.id, etype, survivor_id):
                decision = _republished(event, current)
            await self._log(unit, env, etype, survivor_id, decision)
            return decision
        state = merge_state(current.data if current else None, incoming, source)
        state["id"] = survivor_id
        for ref in retired_refs:
            state["identifiers"] = _unite(
                state.get("identifiers", []),
                [i.model_dump(mode="json", exclude_none=True) for i in ref.identifiers],
            )
        entity = await self._save(unit, env, etype, survivor_id, state, current)
        decision = _Decision(detail=f"retired {len(retired_refs)} record(s)")
        decision.out.append(event.model_copy(update={"entity": entity, "replaces": retired_refs}))
        await self._log(unit, env, etype, survivor_id, decision)
        return decision

    async def _retire(self, unit: Unit, env: Envelope, ref: Ref, survivor_id: str) -> Ref | None:
        """Retire the record ``ref`` names into the survivor; None when it is the survivor
        (merged before): a record never replaces itself."""
        etype = EntityType.PATIENT.value
        pairs = identifier_pairs(ref.identifiers, env.source_system)
        known = await unit.resolve_identifiers(etype, pairs)
        retired_id = ref.id or next(iter(sorted(set(known.values()))), None)
        if retired_id == survivor_id:
            return None
        idents = list(ref.identifiers)
        if retired_id and retired_id != survivor_id:
            idents += [
                Identifier(value=k["value"], system=k["namespace"], source=k["source"] or None)
                for k in await unit.identifiers_of(etype, retired_id)
            ]
            await unit.repoint_identifiers(etype, retired_id, survivor_id)
            await self._repoint_references(unit, env, retired_id, survivor_id)
            await self._close_retired(unit, env, retired_id, survivor_id)
        await unit.link_identifiers(etype, survivor_id, pairs, source=env.source_system)
        unique = {(i.system, i.value): i for i in idents}
        return Ref(type=EntityType.PATIENT, id=retired_id, identifiers=list(unique.values()))

    async def _close_retired(
        self, unit: Unit, env: Envelope, retired_id: str, survivor_id: str
    ) -> None:
        etype = EntityType.PATIENT.value
        old = await unit.get_entity(etype, retired_id)
        if old is None:
            return
        data = dict(old.data, active=False, merged_into=survivor_id)
        await unit.save_entity(
            etype,
            retired_id,
            data,
            source=env.source_system,
            event_id=env.id,
            event_kind="patient.merged",
            expected_version=old.version,
            merged_into=survivor_id,
        )
        await unit.set_match_keys(etype, retired_id, [])

    async def _repoint_references(
        self, unit: Unit, env: Envelope, retired_id: str, survivor_id: str
    ) -> None:
        """Appointments, encounters, claims, coverage … that pointed at the retired record
        now point at the survivor (a new version of each, logged)."""
        for from_type, from_id in await unit.referring(EntityType.PATIENT.value, retired_id):
            record = await unit.get_entity(from_type, from_id)
            if record is None:
                continue
            data = record.data
            for _, ref in refs_in(data):
                if ref.get("type") == EntityType.PATIENT.value and ref.get("id") == retired_id:
                    ref["id"] = survivor_id
            await unit.save_entity(
                from_type,
                from_id,
                data,
                source="carehub",
                event_id=env.id,
                event_kind="patient.merged",
                expected_version=record.version,
            )
            await unit.set_refs(from_type, from_id, _targets(data, env.source_system))
            await unit.log_sync(
                entity_type=from_type,
                entity_id=from_id,
                outcome="repointed",
                event_id=env.id,
                event_kind="patient.merged",
                source=env.source_system,
                detail=f"Patient/{retired_id} → Patient/{survivor_id}",
            )

    # ------------------------------------------------------------------ double bookings

    async def _double_bookings(self, unit: Unit, event: Event, entity: Any) -> list[Event]:
        """``appointment.conflict`` for each active appointment overlapping this one for the
        same practitioner, location or patient."""
        if (
            entity.entity_type is not EntityType.APPOINTMENT
            or entity.status.value not in _ACTIVE
            or not entity.start
        ):
            return []
        end = entity.end or _end_of(entity.start, entity.duration_minutes, entity.participants)
        state = entity.model_dump(mode="json", exclude_none=True)
        targets = set(_targets(state, event.provenance.source_system))
        clashes: dict[str, str] = {}
        for to_type, to_id in sorted(targets):
            for _, other_id in await unit.referring(to_type, to_id, EntityType.APPOINTMENT.value):
                if other_id == entity.id or other_id in clashes:
                    continue
                other = await unit.get_entity(EntityType.APPOINTMENT.value, other_id)
                if other is not None and _overlaps(entity.start, end, other.data):
                    clashes[other_id] = f"{to_type}/{to_id}"
        return [
            event.model_copy(
                update={
                    "kind": EventKind.APPOINTMENT_CONFLICT,
                    "entity": entity,
                    "related": [Ref(type=EntityType.APPOINTMENT, id=other_id)],
                    "note": f"double booking: {shared} is booked in both",
                }
            )
            for other_id, shared in clashes.items()
        ]

    # ------------------------------------------------------------------ log

    async def _log(
        self, unit: Unit, env: Envelope, etype: str, entity_id: str, decision: _Decision
    ) -> None:
        await unit.log_sync(
            entity_type=etype,
            entity_id=entity_id,
            outcome=decision.outcome,
            event_id=env.id,
            event_kind=env.payload.kind.value,
            source=env.source_system,
            detail=decision.detail,
        )


def _targets(record: dict[str, Any], source: str) -> list[tuple[str, str]]:
    """What a record points at: (type, canonical id), or (type, ``~namespace|value``) for a
    target the hub has no record of yet (a practitioner known only by NPI still clashes)."""
    out = []
    for _, ref in refs_in(record):
        if ref.get("id"):
            out.append((ref["type"], ref["id"]))
        else:
            out.extend(
                (ref["type"], f"~{ns}|{value}")
                for ns, value in _pairs_of(ref.get("identifiers", []), source)[:1]
            )
    return out


def _end_of(start: datetime, minutes: int | None, participants: list[Any]) -> datetime:
    """SCH-11/AIx duration when no end is given; an instant otherwise."""
    spans = [minutes] + [p.duration_minutes for p in participants]
    longest = max((m for m in spans if m), default=0)
    return start + timedelta(minutes=longest)


def _before(stamp: datetime, held: str) -> bool:
    try:
        other = datetime.fromisoformat(held)
    except ValueError:
        return False
    a = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    b = other if other.tzinfo else other.replace(tzinfo=UTC)
    return a < b


def _overlaps(start: datetime, end: datetime, other: dict[str, Any]) -> bool:
    if other.get("status") not in _ACTIVE or not other.get("start"):
        return False
    o_start = datetime.fromisoformat(other["start"])
    if other.get("end"):
        o_end = datetime.fromisoformat(other["end"])
    else:
        durations = [p.get("duration_minutes") for p in other.get("participants", [])]
        longest = max((m for m in [other.get("duration_minutes"), *durations] if m), default=0)
        o_end = o_start + timedelta(minutes=longest)
    a0, a1, b0, b1 = (_aware(x) for x in (start, end, o_start, o_end))
    if a0 == a1 or b0 == b1:  # an instant: clashes when it falls inside the other
        return a0 <= b1 and b0 <= a1
    return a0 < b1 and b0 < a1


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _out_id(envelope_id: str, event: Event) -> str:
    """The outgoing envelope id (derived in ``hub.ids``)."""
    return outgoing_envelope_id(envelope_id, event)
