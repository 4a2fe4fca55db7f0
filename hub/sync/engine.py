"""The sync engine's loop: between ``carehub.ingress`` and ``carehub.events``.

For each delivery: skip an event already applied (``processed``), apply it in one
transaction — identify the record (``hub.sync.identity``), run the judgements in order
(``hub.sync.rules``), save the new versioned state — retrying when another worker wrote the
record first, publish what changed (plus double bookings, ``hub.sync.bookings``), and mark
the event applied. Kinds that are not a change of state have their own handler (the table
``SyncEngine.handlers``): ``patient.merged`` is applied by ``hub.sync.merge``, a removal
(``hub.canonical.REMOVALS``) by ``hub.sync.removal``, ``patient.identifier_changed`` by
``hub.sync.reidentify``.

Writes are optimistic (versioned): two workers racing on one record cannot both win; the
loser re-reads and re-decides. No global lock. Every decision is written to ``sync_log``:
``carehub show`` reads it back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from hub.canonical import REMOVALS, EntityType, Event, EventKind
from hub.config import HubConfig
from hub.envelope import Envelope
from hub.errors import TransientError
from hub.faults import fault_point
from hub.ids import outgoing_envelope_id
from hub.ports import Delivery, Store, Transport, Unit
from hub.records import EntityRecord, VersionConflict
from hub.sync.bookings import double_bookings
from hub.sync.decisions import Decision, SyncDecision, log_decision
from hub.sync.identity import Identified, IdentityService, demographics, json_pairs, targets
from hub.sync.linking import disagreement
from hub.sync.merge import Merger, repoint_references
from hub.sync.reidentify import Reidentifier
from hub.sync.removal import Remover
from hub.sync.rules import Case, Rule, default_judgements
from hub.sync.state import refs_in

__all__ = ["CONSUMER", "Handler", "SyncEngine"]

log = logging.getLogger("carehub.sync")

#: the consumer name under which applied events are recorded (``processed``)
CONSUMER = "sync"
_ATTEMPTS = 4
_PATIENT = EntityType.PATIENT.value

#: how one kind of event is applied: (transaction unit, envelope, seen before?) → decision
Handler = Callable[[Unit, Envelope, bool], Awaitable[Decision]]


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
        judgements: Sequence[Rule] | None = None,
        identity: IdentityService | None = None,
    ):
        """``identity``: the hub's one identity service (shared with the FHIR API, which
        plans ids with it); by default one of the config's matching rules."""
        self.store = store
        self.transport = transport
        self.events = events_exchange
        cfg = config or HubConfig()
        self.identity = identity or IdentityService(cfg.matching.patient, cfg.matching.identifying)
        self.judgements: tuple[Rule, ...] = tuple(
            default_judgements(cfg.ownership) if judgements is None else judgements
        )
        self.merger = Merger(self.identity, self._save)
        self.remover = Remover(self.identity)
        self.reidentifier = Reidentifier(self.identity, self._upsert)
        #: event kinds applied by their own handler; every other kind is a change of state
        self.handlers: Mapping[EventKind, Handler] = {
            EventKind.PATIENT_MERGED: self._merge,
            **dict.fromkeys(REMOVALS, self.remover.remove),
            EventKind.PATIENT_IDENTIFIER_CHANGED: self.reidentifier.change,
        }

    async def handle(self, delivery: Delivery) -> None:
        env = delivery.envelope
        if await self._already_applied(env):
            log.info("event %s already applied; not published again", env.id)
            return
        # only an event seen before (redelivered, or back from a retry tier) can have been
        # applied without being marked: the check is skipped for every first delivery
        again = delivery.redelivered or delivery.attempt > 0
        for event in await self._apply_with_retries(env, again):
            out = env.model_copy(
                update={"payload": event, "id": outgoing_envelope_id(env.id, event)}
            )
            await self.transport.publish(self.events, out.routing_key, out)
        fault_point("sync_after_publish")
        # marked only after the confirms: a crash in between republishes the record under the
        # same envelope ids ("republished"), which every destination recognises
        await self.store.mark_processed(CONSUMER, env.id)

    async def _already_applied(self, env: Envelope) -> bool:
        """The same event again (a redelivery after it was marked): nothing to do."""
        return await self.store.was_processed(CONSUMER, env.id)

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
        handler = self.handlers.get(env.payload.kind, self._upsert)
        async with self.store.unit() as unit:
            decision = await handler(unit, env, again)
        return decision.out

    async def _merge(self, unit: Unit, env: Envelope, again: bool) -> Decision:
        return await self.merger.merge(unit, env)

    async def _upsert(self, unit: Unit, env: Envelope, again: bool) -> Decision:
        event, source = env.payload, env.source_system
        etype = event.entity.entity_type.value
        incoming = event.entity.model_dump(mode="json", exclude_none=True)
        for reserved, patient in await self.identity.resolve_refs(unit, incoming, source):
            # a reservation joined its patient: what pointed at it follows
            await repoint_references(unit, env, reserved, patient)
        if env.subject and etype != _PATIENT:
            held = await self._subject_differs(unit, env, incoming)
            if held is not None:
                return held
        found = await self.identity.identify(unit, etype, incoming, source)
        if found.held:
            return await self._hold(unit, env, etype, found)
        for reserved, patient in found.folded:
            await repoint_references(unit, env, reserved, patient)
        current = await unit.get_entity(etype, found.canonical_id)
        case = Case(unit, env, etype, found.canonical_id, incoming, current)
        case.review, case.again = found.review, again
        refused = await self._judge(case)
        if refused is not None:
            return refused
        entity = await self._save(unit, env, etype, case.canonical_id, case.proposed(), current)
        decision = Decision()
        decision.out.append(event.model_copy(update={"entity": entity}))
        decision.out.extend(await double_bookings(unit, event, entity))
        await log_decision(unit, env, etype, case.canonical_id, decision)
        return decision

    async def _hold(self, unit: Unit, env: Envelope, etype: str, found: Identified) -> Decision:
        """An identifying identifier names the record, but its identity facts say another
        person (or its identifiers name several records): nothing written to the record,
        nothing learnt, nothing published — a review names the record, the others and the
        event (its raw message stays in the log)."""
        rule = f"event {env.id} held: {found.held}"
        await unit.open_review(etype, found.canonical_id, found.candidates, rule[:128])
        decision = Decision(SyncDecision.HELD, f"held for review: {found.held}")
        decision.learn_identifiers = False
        await log_decision(unit, env, etype, found.canonical_id, decision)
        return decision

    async def _subject_differs(
        self, unit: Unit, env: Envelope, incoming: dict[str, Any]
    ) -> Decision | None:
        """A sibling of a patient event (``Envelope.subject``) whose reference to that
        patient resolved, by one of the patient's identifiers, to a record whose identity
        facts say another person: held as the patient event is — nothing written, learnt or
        published; a review names the patient record and the event. Independent of the
        order the message's events are applied in (they run in different lanes)."""
        subject = env.subject or {}
        if subject.get("unmatched"):
            # a message about several patients: which one this event is about is unclear
            return await self._held_unmatched(unit, env, incoming, str(subject["unmatched"]))
        mine = set(
            self.identity.link_keys(subject.get("identifiers", []), env.source_system, _PATIENT)
        )
        for _, ref in refs_in(incoming):
            if ref.get("type") != _PATIENT or not ref.get("id"):
                continue
            if not mine & set(json_pairs(ref.get("identifiers", []), env.source_system)):
                continue  # another person (a subscriber), not the message's patient
            current = await unit.get_entity(_PATIENT, ref["id"])
            if current is None:
                continue  # a reservation: the patient is new
            differs = disagreement(demographics(subject), demographics(current.data))
            if differs:
                why = f"its patient reference links, {differs} differ"
                await unit.open_review(_PATIENT, ref["id"], (), f"event {env.id} held: {why}"[:128])
                decision = Decision(SyncDecision.HELD, f"held for review: {why}")
                decision.learn_identifiers = False
                await log_decision(unit, env, _PATIENT, ref["id"], decision)
                return decision
        return None

    async def _held_unmatched(
        self, unit: Unit, env: Envelope, incoming: dict[str, Any], why: str
    ) -> Decision:
        """Held: nothing written, learnt or published; a review names the patient the
        event's reference resolved to (else the event's own record)."""
        ids = [
            str(ref["id"])
            for _, ref in refs_in(incoming)
            if ref.get("type") == _PATIENT and ref.get("id")
        ]
        etype, record = (_PATIENT, ids[0]) if ids else (incoming["entity_type"], env.id)
        await unit.open_review(etype, record, tuple(ids[1:]), f"event {env.id} held: {why}"[:128])
        decision = Decision(SyncDecision.HELD, f"held for review: {why}")
        decision.learn_identifiers = False
        await log_decision(unit, env, etype, record, decision)
        return decision

    async def _judge(self, case: Case) -> Decision | None:
        """Run the judgements in order; the final decision that stops the event, if any."""
        for rule in self.judgements:
            decision = await rule.judge(case)
            if decision is None:
                continue
            await log_decision(case.unit, case.env, case.etype, case.canonical_id, decision)
            if not decision.final:
                continue
            if decision.learn_identifiers:
                pairs = self.identity.link_keys(
                    case.incoming.get("identifiers", []), case.source, case.etype
                )
                await case.unit.link_identifiers(
                    case.etype, case.canonical_id, pairs, source=case.source
                )
            return decision
        return None

    async def _save(
        self,
        unit: Unit,
        env: Envelope,
        etype: str,
        canonical_id: str,
        state: dict[str, Any],
        current: EntityRecord | None,
    ) -> Any:
        """Write ``state`` as the record's next version (at the version read: a concurrent
        write raises ``VersionConflict``), and its identifiers, references and match keys."""
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
        linking, other = self.identity.split(state.get("identifiers", []), source, etype)
        if current is None:
            # a new record: a concurrent worker may have linked one of its identifiers to a
            # record of its own in the meantime; then this one re-decides (and joins that one)
            await self.identity.link_or_conflict(unit, etype, canonical_id, linking, source, other)
        else:
            await unit.link_identifiers(etype, canonical_id, linking + other, source=source)
        # a reference in another worker may have reserved one of them since this record was
        # identified (a duplicate registration linked by demographics while its encounter
        # reserved the new MRN): the reservation joins this record now, in this transaction
        # (only by identifying identifiers: an SSN or member id a reservation holds names
        # someone, not necessarily this record)
        for reserved, joined in await self.identity.adopt_reservations(
            unit, etype, canonical_id, linking
        ):
            await repoint_references(unit, env, reserved, joined)
        await unit.set_refs(etype, canonical_id, targets(state, source))
        if etype == EntityType.PATIENT.value:
            await unit.set_match_keys(etype, canonical_id, self.identity.match_keys(state))
        return entity
