"""Removals (``hub.canonical.REMOVALS``: ``patient.removed``, ``appointment.removed``, …; a
FHIR DELETE): the record is gone at its source, so the hub writes a *tombstone* version and
tells every subscriber, each of which removes its own copy.

The tombstone keeps the record's id and history (a FHIR read answers 410, history shows the
delete, an update re-creates the record as a new version); its identifiers stay in the
cross-reference, so the removal published to ``<ns>.events`` carries every identifier the hub
knows for the record and each destination finds its own. A removal of a record that is
unknown or already removed changes nothing and publishes nothing; one that names the
version it removes (``meta.version``: a FHIR DELETE names the version it checked) is not
applied to a record that changed since (``stale``: the FHIR API answers 409).

A removal is checked like an update (issue 12, patient safety): a patient removal whose
identity facts (birth date, sex, both names) disagree with the record its identifier names,
and a removal of another record (a visit, an allergy) whose message's patient
(``Envelope.subject``, else the record's own patient reference) is not the patient that
record belongs to, or whose facts disagree with that patient's, is ``held`` — nothing
removed, nothing published, a review opened on the patient record.
"""

from __future__ import annotations

from typing import Any

from hub.canonical import EntityType
from hub.envelope import Envelope
from hub.ports import Unit
from hub.records import EntityRecord
from hub.sync.decisions import Decision, SyncDecision, log_decision
from hub.sync.identity import IdentityService, demographics, json_pairs
from hub.sync.linking import disagreement
from hub.sync.state import refs_in, unite

__all__ = ["DELETED_SOURCE", "Remover", "is_tombstone", "tombstone"]

_PATIENT = EntityType.PATIENT.value

#: the store ``source`` of a tombstone version: the record was removed (a FHIR delete)
DELETED_SOURCE = "carehub:deleted"


def tombstone(etype: str, canonical_id: str) -> dict[str, Any]:
    """The state of a removed record: its id and type, no fields (the FHIR read side knows
    it by ``DELETED_SOURCE``)."""
    return {
        "id": canonical_id,
        "entity_type": etype,
        "identifiers": [],
        "meta": {"source": DELETED_SOURCE, "field_sources": {}},
    }


def is_tombstone(record: EntityRecord | None) -> bool:
    """The record's current version is a removal."""
    return record is not None and record.source == DELETED_SOURCE


class Remover:
    """Applies a removal event in the engine's transaction."""

    def __init__(self, identity: IdentityService):
        self.identity = identity

    async def remove(self, unit: Unit, env: Envelope, again: bool) -> Decision:
        """Write the tombstone, log ``removed``, publish the removal with every identifier
        the hub knows; or nothing, for a record unknown or removed before."""
        etype = env.payload.entity.entity_type.value
        incoming = env.payload.entity.model_dump(mode="json", exclude_none=True)
        canonical_id = await self._target(unit, etype, incoming, env.source_system)
        current = await unit.get_entity(etype, canonical_id) if canonical_id else None
        if canonical_id is None or current is None:
            return _nothing("not known: nothing to remove")
        asked = env.payload.entity.meta.version
        if is_tombstone(current):
            decision = await self._removed_before(unit, env, etype, canonical_id, again)
        elif asked is not None and asked != current.version:
            decision = _nothing(
                f"asked to remove version {asked}; the record is at {current.version}"
            )
            decision.decision = SyncDecision.STALE
        elif held := await self._whose(unit, env, incoming, current):
            patient_id, others, why = held
            rule = f"event {env.id} held: {why}"
            await unit.open_review(_PATIENT, patient_id, others, rule[:128])
            decision = _nothing(f"held for review: {why}")
            decision.decision = SyncDecision.HELD
        else:
            decision = await self._apply(unit, env, etype, canonical_id, current)
        await log_decision(unit, env, etype, canonical_id, decision)
        return decision

    async def _whose(
        self, unit: Unit, env: Envelope, incoming: dict[str, Any], current: EntityRecord
    ) -> tuple[str, tuple[str, ...], str] | None:
        """Why the removal is not the record's own patient's, as (patient record, other
        patients, reason); None when nothing says so. A patient: the removal's identity
        facts against the record's. Another record: the patient the message is about (its
        subject, else the removal's own patient references) must be a patient the record
        refers to, with identity facts that agree."""
        if current.entity_type == _PATIENT:
            differs = disagreement(demographics(incoming), demographics(current.data))
            if differs:
                return current.id, (), f"an identifying identifier links, {differs} differ"
            return None
        owners = sorted(
            {
                str(ref["id"])
                for _, ref in refs_in(current.data)
                if ref.get("type") == _PATIENT and ref.get("id")
            }
        )
        if not owners:
            return None
        subject = env.subject
        if subject and subject.get("unmatched"):
            return owners[0], (), str(subject["unmatched"])
        if subject:
            facts: dict[str, Any] = subject
            identifiers = list(subject.get("identifiers", []))
        else:
            facts = {}
            identifiers = [
                i
                for _, ref in refs_in(incoming)
                if ref.get("type") == _PATIENT
                for i in ref.get("identifiers", [])
            ]
        if not identifiers:
            return None
        linking, other = self.identity.split(identifiers, env.source_system, _PATIENT)
        named = await self.identity.resolve(unit, _PATIENT, linking or other)
        mine = [o for o in owners if o in named]
        if not mine:
            return owners[0], tuple(named), "the record belongs to another patient"
        for owner in mine:
            record = await unit.get_entity(_PATIENT, owner)
            if record is None:
                continue
            differs = disagreement(demographics(facts), demographics(record.data))
            if differs:
                return owner, (), f"its patient reference links, {differs} differ"
        return None

    async def _target(
        self, unit: Unit, etype: str, incoming: dict[str, Any], source: str
    ) -> str | None:
        """The record's canonical id: the event's, else the one its identifiers name. Never
        a new id or a demographic match: only a known record can be removed."""
        if incoming.get("id"):
            return str(incoming["id"])
        pairs = json_pairs(incoming.get("identifiers", []), source)
        known = await self.identity.resolve(unit, etype, pairs)
        return known[0] if len(known) == 1 else None

    async def _apply(
        self, unit: Unit, env: Envelope, etype: str, canonical_id: str, current: EntityRecord
    ) -> Decision:
        await unit.save_entity(
            etype,
            canonical_id,
            tombstone(etype, canonical_id),
            source=DELETED_SOURCE,
            event_id=env.id,
            event_kind=env.payload.kind.value,
            expected_version=current.version,
        )
        decision = Decision(SyncDecision.REMOVED, "removed at its source")
        decision.out.append(await self._published(unit, env, canonical_id, current.version + 1))
        return decision

    async def _removed_before(
        self, unit: Unit, env: Envelope, etype: str, canonical_id: str, again: bool
    ) -> Decision:
        """Removed already: by this very event when it is redelivered after a crash between
        the commit and the publish (then published again, same envelope id), else by
        another removal — nothing to do."""
        if again and await _removed_by(unit, env.id, etype, canonical_id):
            current = await unit.get_entity(etype, canonical_id)
            version = current.version if current is not None else None
            decision = Decision(SyncDecision.REPUBLISHED, "removed before a restart")
            decision.out.append(await self._published(unit, env, canonical_id, version))
            return decision
        return _nothing("already removed")

    async def _published(
        self, unit: Unit, env: Envelope, canonical_id: str, version: int | None
    ) -> Any:
        """The removal as subscribers get it: the record as it was removed, under its
        canonical id, with every identifier the hub knows for it."""
        event = env.payload
        state = event.entity.model_dump(mode="json", exclude_none=True)
        known = await unit.identifiers_of(state["entity_type"], canonical_id)
        state["id"] = canonical_id
        state["identifiers"] = unite(
            state.get("identifiers", []),
            [
                {"system": k["namespace"], "value": k["value"], "source": k["source"] or None}
                for k in known
            ],
        )
        state["meta"] = {**(state.get("meta") or {}), "version": version}
        entity = type(event.entity).model_validate(state)
        return event.model_copy(update={"entity": entity})


def _nothing(detail: str) -> Decision:
    decision = Decision(SyncDecision.UNCHANGED, detail)
    decision.learn_identifiers = False
    return decision


async def _removed_by(unit: Unit, event_id: str, etype: str, canonical_id: str) -> bool:
    history = await unit.sync_history(etype, canonical_id)
    return any(
        row["event_id"] == event_id and row["outcome"] == SyncDecision.REMOVED.value
        for row in history
    )
