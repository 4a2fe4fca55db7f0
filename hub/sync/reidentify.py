"""``patient.identifier_changed`` (HL7 v2 ADT^A47, and the older A46/A48): the patient the
prior identifiers (``replaces``, from MRG) name takes the new ones (the event's patient,
from PID).

Identity is patient safety: an identifier change must never re-point a record at another
person. So the change is *held for review* — nothing written, linked or published — when

- the prior identifiers name several records (which one changes is for a person to say);
- a new identifying identifier already names another live patient record (that is a merge,
  A40, not a change: the sender must say so);
- the record the prior identifiers name has identity facts (name, birth date, sex) that
  disagree with the message's PID.

Otherwise the new identifiers are linked to that record and the event is applied as a
change of state (the engine's upsert: its judgements, save and publish). The prior
identifiers are *retired*: unlinked from the cross-reference and kept on the record with
their period ended (``linking.has_ended``), so they never link again — a late message under
the old number is decided like any unknown number (the demographic rules, a review when in
doubt), never silently filed on the record by it. The record's history keeps the versions
that had them live. Prior identifiers the hub does not know: the event is applied as a
plain update under the new identifiers (which then decide, as for any event): there is
nothing to change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hub.canonical import EntityType, Period
from hub.envelope import Envelope
from hub.ports import Unit
from hub.sync.decisions import Decision, SyncDecision, log_decision
from hub.sync.identity import IdentityService, demographics
from hub.sync.linking import disagreement

__all__ = ["Reidentifier"]

_PATIENT = EntityType.PATIENT.value

#: the engine's upsert: (unit, envelope, seen before?) → decision
Upsert = Callable[[Unit, Envelope, bool], Awaitable[Decision]]


class Reidentifier:
    """Applies ``patient.identifier_changed`` in the engine's transaction."""

    def __init__(self, identity: IdentityService, upsert: Upsert):
        self.identity = identity
        self.upsert = upsert

    async def change(self, unit: Unit, env: Envelope, again: bool) -> Decision:
        event, source = env.payload, env.source_system
        incoming = event.entity.model_dump(mode="json", exclude_none=True)
        prior: set[str] = set()
        for ref in event.replaces:
            dumped = [i.model_dump(mode="json", exclude_none=True) for i in ref.identifiers]
            pairs = self.identity.split(dumped, source, _PATIENT)[0]
            prior.update(await self.identity.resolve(unit, _PATIENT, pairs))
        named = sorted(await self.identity.existing(unit, _PATIENT, sorted(prior)))
        if not named:
            return await self.upsert(unit, env, again)
        target = named[0]
        if len(named) > 1:
            why = "the prior identifiers name several records"
            return await self._hold(unit, env, target, named[1:], why)
        new_pairs = self.identity.split(incoming.get("identifiers", []), source, _PATIENT)[0]
        taken = await self.identity.resolve(unit, _PATIENT, new_pairs)
        others = [i for i in await self.identity.existing(unit, _PATIENT, taken) if i != target]
        if others:
            why = "a new identifier already names another patient (a merge, not a change)"
            return await self._hold(unit, env, target, others, why)
        current = await unit.get_entity(_PATIENT, target)
        differs = disagreement(demographics(incoming), demographics(_data(current)))
        if differs:
            why = f"the record the prior identifiers name disagrees: {differs} differ"
            return await self._hold(unit, env, target, [], why)
        pairs = self.identity.link_keys(incoming.get("identifiers", []), source, _PATIENT)
        await unit.link_identifiers(_PATIENT, target, pairs, source=source)
        return await self.upsert(unit, await self._retire(unit, env, target), again)

    async def _retire(self, unit: Unit, env: Envelope, target: str) -> Envelope:
        """The prior identifiers stop naming the record: unlinked from the cross-reference,
        and kept on the record with their period ended (``linking.has_ended``: never a link
        key again; the record's history shows them). The envelope returned carries them so
        the record's next version has them retired. One the new identifiers still list
        stays as it is."""
        event, source = env.payload, env.source_system
        keep = {i.key() for i in event.entity.identifiers}
        ended = datetime.now(UTC).date()  # a date: HL7 v2 writes it as CX-8 (DT)
        retired = []
        for ref in event.replaces:
            for ident in ref.identifiers:
                if ident.key() in keep:
                    continue
                period = Period(start=ident.period.start if ident.period else None, end=ended)
                retired.append(ident.model_copy(update={"period": period}))
        dumped = [i.model_dump(mode="json", exclude_none=True) for i in retired]
        pairs = self.identity.link_keys(
            [{k: v for k, v in i.items() if k != "period"} for i in dumped], source, _PATIENT
        )
        named = await unit.resolve_identifiers(_PATIENT, pairs)
        mine = [p for p in pairs if named.get(p) == target]
        await unit.unlink_identifiers(_PATIENT, target, mine)
        if not retired:
            return env
        entity = event.entity.model_copy(
            update={"identifiers": [*event.entity.identifiers, *retired]}
        )
        return env.model_copy(update={"payload": event.model_copy(update={"entity": entity})})

    async def _hold(
        self, unit: Unit, env: Envelope, target: str, others: list[str], why: str
    ) -> Decision:
        """Nothing written, linked or published; a review names the records and the event
        (its raw message stays in the log)."""
        await unit.open_review(_PATIENT, target, others, f"event {env.id} held: {why}"[:128])
        decision = Decision(SyncDecision.HELD, f"held for review: {why}")
        decision.learn_identifiers = False
        await log_decision(unit, env, _PATIENT, target, decision)
        return decision


def _data(record: object | None) -> dict[str, Any]:
    data = getattr(record, "data", None)
    return data if isinstance(data, dict) else {}
