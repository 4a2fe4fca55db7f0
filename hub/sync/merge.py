"""``patient.merged`` (HL7 v2 ADT^A40; a FHIR Patient with ``link.type = replaces``): the
retired record's identifiers, and every record that pointed at it (appointments,
encounters, claims, coverage — found through the ``refs`` table), move to the survivor,
each as a new logged version (``repointed``); the retired record is closed
(``active: false``, ``merged_into``). The survivor is found by its identifiers only, never
by demographics: they could name the retired record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hub.canonical import EntityType, Identifier, Ref
from hub.envelope import Envelope
from hub.ports import Unit
from hub.records import EntityRecord
from hub.sync.decisions import Decision, SyncDecision, log_decision, republished
from hub.sync.identity import IdentityService, Pair, targets
from hub.sync.state import merge_state, refs_in, unite

__all__ = ["Merger", "Save", "repoint_references"]

#: the engine's save: (unit, envelope, type, canonical id, state, current) → the entity
Save = Callable[[Unit, Envelope, str, str, dict[str, Any], EntityRecord | None], Awaitable[Any]]

_PATIENT = EntityType.PATIENT.value
_MERGED = "patient.merged"


class Merger:
    """Applies ``patient.merged`` in the engine's transaction, saving through ``save``."""

    def __init__(self, identity: IdentityService, save: Save):
        self.identity = identity
        self.save = save

    async def merge(self, unit: Unit, env: Envelope) -> Decision:
        """Identifiers and every reference move to the survivor. The retired record is found
        by the prior identifiers that identify (``matching.identifying``, no placeholder):
        when they name several live records, which one to retire is for a person to say —
        the merge is held for review, nothing retired."""
        event, source = env.payload, env.source_system
        incoming = event.entity.model_dump(mode="json", exclude_none=True)
        found = await self.identity.identify(unit, _PATIENT, incoming, source, match=False)
        survivor_id = found.canonical_id
        plans: list[tuple[Ref, _Plan]] = []
        for ref in event.replaces:
            plan = await self._plan(unit, env, ref, survivor_id)
            if len(plan.live) > 1:
                return await self._hold(unit, env, survivor_id, plan.live)
            plans.append((ref, plan))
        retired_refs: list[Ref] = []
        for ref, plan in plans:
            retired = await self._retire(unit, env, ref, plan, survivor_id)
            if retired is not None:
                retired_refs.append(retired)
        current = await unit.get_entity(_PATIENT, survivor_id)
        if not retired_refs and current is not None:
            decision = await self._done_before(unit, env, survivor_id, current)
        else:
            decision = await self._apply(unit, env, survivor_id, current, incoming, retired_refs)
        await log_decision(unit, env, _PATIENT, survivor_id, decision)
        return decision

    async def _hold(
        self, unit: Unit, env: Envelope, survivor_id: str, several: list[str]
    ) -> Decision:
        """The prior identifiers name several records: nothing retired, moved or published;
        a review names the survivor and them (the raw message stays in the log)."""
        why = "a merge's prior identifiers name several records"
        await unit.open_review(_PATIENT, survivor_id, several, f"event {env.id} held: {why}"[:128])
        decision = Decision(SyncDecision.HELD, f"held for review: {why}")
        decision.learn_identifiers = False
        await log_decision(unit, env, _PATIENT, survivor_id, decision)
        return decision

    async def _done_before(
        self, unit: Unit, env: Envelope, survivor_id: str, current: EntityRecord
    ) -> Decision:
        """Every record the merge names is the survivor already: a resend (``unchanged``),
        or a redelivery after a crash — then published again, same envelope id."""
        if await unit.was_applied(env.id, _PATIENT, survivor_id):
            return republished(env.payload, current)
        return Decision(SyncDecision.UNCHANGED, "already merged")

    async def _apply(
        self,
        unit: Unit,
        env: Envelope,
        survivor_id: str,
        current: EntityRecord | None,
        incoming: dict[str, Any],
        retired_refs: list[Ref],
    ) -> Decision:
        state = merge_state(current.data if current else None, incoming, env.source_system)
        state["id"] = survivor_id
        for ref in retired_refs:
            state["identifiers"] = unite(
                state.get("identifiers", []),
                [i.model_dump(mode="json", exclude_none=True) for i in ref.identifiers],
            )
        entity = await self.save(unit, env, _PATIENT, survivor_id, state, current)
        decision = Decision(detail=f"retired {len(retired_refs)} record(s)")
        update = {"entity": entity, "replaces": retired_refs}
        decision.out.append(env.payload.model_copy(update=update))
        return decision

    async def _plan(self, unit: Unit, env: Envelope, ref: Ref, survivor_id: str) -> _Plan:
        """What ``ref`` (an MRG) names, by its identifying, non-placeholder identifiers only
        (the split identity uses): an SSN the retired patient shares with another never
        chooses which one is retired, ``999-99-9999`` never becomes a link."""
        dumped = [i.model_dump(mode="json", exclude_none=True) for i in ref.identifiers]
        pairs = self.identity.split(dumped, env.source_system, _PATIENT)[0]
        known = [ref.id] if ref.id else await self.identity.resolve(unit, _PATIENT, pairs)
        live = await self.identity.existing(unit, _PATIENT, known)
        return _Plan(
            pairs,
            live=[k for k in live if k != survivor_id],
            reserved=[k for k in known if k not in live],
            survivor=survivor_id in known,
        )

    async def _retire(
        self, unit: Unit, env: Envelope, ref: Ref, plan: _Plan, survivor_id: str
    ) -> Ref | None:
        """Retire the record ``plan`` names into the survivor (reservations of its
        identifiers join it too); None when it names the survivor only (merged before): a
        record never replaces itself. An MRG the hub never saw: its identifiers join."""
        named = [*plan.live, *plan.reserved]
        if not named and plan.survivor:
            return None
        idents = list(ref.identifiers)
        for rid in named:
            idents += [
                Identifier(value=k["value"], system=k["namespace"], source=k["source"] or None)
                for k in await unit.identifiers_of(_PATIENT, rid)
            ]
            await unit.repoint_identifiers(_PATIENT, rid, survivor_id)
            await repoint_references(unit, env, rid, survivor_id)
            await _close_retired(unit, env, rid, survivor_id)
        await unit.link_identifiers(_PATIENT, survivor_id, plan.pairs, source=env.source_system)
        unique = {(i.system, i.value): i for i in idents}
        retired_id = next(iter(named), None)
        return Ref(type=EntityType.PATIENT, id=retired_id, identifiers=list(unique.values()))


@dataclass(frozen=True)
class _Plan:
    """What a merge's prior identifiers name: its identifying pairs, the live records
    other than the survivor, the reservations, and whether the survivor is among them."""

    pairs: list[Pair]
    live: list[str]
    reserved: list[str]
    survivor: bool


async def _close_retired(unit: Unit, env: Envelope, retired_id: str, survivor_id: str) -> None:
    old = await unit.get_entity(_PATIENT, retired_id)
    if old is None:
        return
    data = dict(old.data, active=False, merged_into=survivor_id)
    await unit.save_entity(
        _PATIENT,
        retired_id,
        data,
        source=env.source_system,
        event_id=env.id,
        event_kind=_MERGED,
        expected_version=old.version,
        merged_into=survivor_id,
    )
    await unit.set_match_keys(_PATIENT, retired_id, [])


async def repoint_references(unit: Unit, env: Envelope, retired_id: str, survivor_id: str) -> None:
    """Appointments, encounters, claims, coverage … that pointed at ``retired_id`` now point
    at the survivor (a new version of each, logged ``repointed``)."""
    for from_type, from_id in await unit.referring(_PATIENT, retired_id):
        record = await unit.get_entity(from_type, from_id)
        if record is None:
            continue
        data = record.data
        for _, ref in refs_in(data):
            if ref.get("type") == _PATIENT and ref.get("id") == retired_id:
                ref["id"] = survivor_id
        await unit.save_entity(
            from_type,
            from_id,
            data,
            source="carehub",
            event_id=env.id,
            event_kind=_MERGED,
            expected_version=record.version,
        )
        await unit.set_refs(from_type, from_id, targets(data, env.source_system))
        await unit.log_sync(
            entity_type=from_type,
            entity_id=from_id,
            outcome=SyncDecision.REPOINTED.value,
            event_id=env.id,
            event_kind=_MERGED,
            source=env.source_system,
            detail=f"Patient/{retired_id} → Patient/{survivor_id}",
        )
