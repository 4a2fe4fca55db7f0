"""The judgements: what the sync engine decides about an event before it applies it.

A judgement is a rule object with a ``name`` and one method::

    async def judge(self, case: Case) -> Decision | None

``None`` lets the event through to the next rule. A ``Decision`` is logged to ``sync_log``;
a *final* one stops the event there (nothing is written but the log and, unless the
decision says otherwise, the event's identifiers), a non-final one (an ownership conflict)
is logged and the event goes on — the rule may have narrowed ``case.incoming``.

The engine runs the rules of ``default_judgements`` in order; adding a judgement is adding an
entry. Order matters: a redelivery is recognised before anything else, a stale or echoed
event is refused before ownership strips fields, and "unchanged" compares the state the
event would make after every other rule had its say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.envelope import Envelope
from hub.ports import Unit
from hub.records import EntityRecord
from hub.sync.decisions import Decision, SyncDecision, republished
from hub.sync.state import (
    BOOKKEEPING,
    cleared_field,
    cleared_in,
    clears_something,
    content,
    is_set,
    proposed_state,
)

__all__ = [
    "Case",
    "Echo",
    "NotOwned",
    "Redelivered",
    "Rule",
    "Stale",
    "Unchanged",
    "default_judgements",
    "is_echo",
]


@dataclass
class Case:
    """One event against the record it is about, as a rule sees it."""

    unit: Unit
    env: Envelope
    etype: str
    canonical_id: str
    #: the event's record in canonical JSON; a rule may drop fields it refuses
    incoming: dict[str, Any]
    current: EntityRecord | None
    #: the record is new and waits for review (an ambiguous demographic match)
    review: bool = False
    #: the event may have been applied before (a redelivery, or back from a retry tier)
    again: bool = False

    @property
    def source(self) -> str:
        return self.env.source_system

    def proposed(self) -> dict[str, Any]:
        """The state the event would give the record, as ``incoming`` stands now."""
        return proposed_state(
            self.current.data if self.current else None,
            self.incoming,
            self.source,
            self.env.payload,
            self.canonical_id,
            review=self.review,
        )


class Rule(Protocol):
    """One judgement (see the module docstring)."""

    name: str

    async def judge(self, case: Case) -> Decision | None: ...


class Redelivered:
    """An event seen before that was applied to this record and not marked (the hub
    stopped in between, perhaps before publishing): published again as the record stands
    now, never applied again over what came after it."""

    name = "redelivered"

    async def judge(self, case: Case) -> Decision | None:
        if not case.again or case.current is None:
            return None
        if not await case.unit.was_applied(case.env.id, case.etype, case.canonical_id):
            return None
        return republished(case.env.payload, case.current)


class Stale:
    """A change stamped (MSH-7/EVN-2, ``meta.lastUpdated``) before the change the record
    holds: not applied, whatever order the broker delivered in."""

    name = "stale"

    async def judge(self, case: Case) -> Decision | None:
        stamp = case.env.payload.provenance.recorded_at
        held = (case.current.data.get("meta") or {}).get("recorded_at") if case.current else None
        if stamp is None or not held or not _before(stamp, held):
            return None
        return Decision(
            SyncDecision.STALE,
            f"stamped {stamp.isoformat()}, the record holds a change stamped {held}",
        )


class Echo:
    """A system telling the hub back what it was last sent (the ``sent`` table): not
    propagated again."""

    name = "echo"

    async def judge(self, case: Case) -> Decision | None:
        if case.current is None:
            return None
        held = case.current.data
        if any(clears_something(held, name) for name in cleared_in(case.incoming)):
            return None  # it deletes a value the record holds: a change, whatever it repeats
        sent = await case.unit.last_sent(case.source, case.etype, case.canonical_id)
        if not is_echo(case.incoming, sent):
            return None
        return Decision(SyncDecision.ECHO, "what the hub last sent this system")


class NotOwned:
    """``ownership:``: a change from another system to an owned field that already has a
    value is a conflict — logged, those fields dropped, the rest of the change goes on.
    A first value for an empty field is taken from anyone."""

    name = "ownership"

    def __init__(self, ownership: Mapping[str, Mapping[str, str]]):
        self.ownership = ownership

    async def judge(self, case: Case) -> Decision | None:
        refused = self.refused(case)
        if not refused:
            return None
        cleared = (case.incoming.get("meta") or {}).get("cleared") or []
        for key in refused:
            case.incoming.pop(key, None)
            # a delete of an owned field (or of part of it) is refused like a change
            cleared[:] = [name for name in cleared if cleared_field(name) != key]
        detail = "not the owner of: " + ", ".join(sorted(refused))
        return Decision(SyncDecision.CONFLICT, detail, final=False)

    def refused(self, case: Case) -> list[str]:
        """Fields the source changes but another system owns."""
        owners = self.ownership.get(case.etype, {})
        if not owners or case.current is None:
            return []
        held = case.current.data
        out = []
        for key, value in case.incoming.items():
            owner = owners.get(key, owners.get("*"))
            if key in BOOKKEEPING or owner is None or owner == case.source:
                continue
            if is_set(held.get(key)) and held.get(key) != value:
                out.append(key)
        for name in cleared_in(case.incoming):
            key = cleared_field(name)
            owner = owners.get(key, owners.get("*"))
            if owner is not None and owner != case.source and clears_something(held, name):
                out.append(key)
        return list(dict.fromkeys(out))


class Unchanged:
    """The same change again under a new control id: the state after applying equals the
    state before — nothing written, nothing sent."""

    name = "unchanged"

    async def judge(self, case: Case) -> Decision | None:
        if case.current is None:
            return None
        state, held = case.proposed(), case.current.data
        if content(state) != content(held) or state.get("identifiers") != held.get("identifiers"):
            return None
        decision = Decision(SyncDecision.UNCHANGED, "the state is already so")
        decision.learn_identifiers = False  # the state holds every one of them already
        return decision


def default_judgements(ownership: Mapping[str, Mapping[str, str]]) -> Sequence[Rule]:
    """The engine's judgements, in the order they run."""
    return (Redelivered(), Stale(), Echo(), NotOwned(ownership), Unchanged())


def is_echo(
    incoming: dict[str, Any], sent: dict[str, Any] | None, ignore: Sequence[str] = ()
) -> bool:
    """True when every value ``incoming`` carries is the value we last sent that system:
    it is telling us back what we told it."""
    if sent is None:
        return False
    said = {k: v for k, v in content(incoming).items() if k not in ignore}
    return bool(said) and all(sent.get(k) == v for k, v in said.items())


def _before(stamp: datetime, held: str) -> bool:
    try:
        other = datetime.fromisoformat(held)
    except ValueError:
        return False
    a = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    b = other if other.tzinfo else other.replace(tzinfo=UTC)
    return a < b
