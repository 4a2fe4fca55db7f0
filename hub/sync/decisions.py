"""What the sync engine decided about one event: the ``SyncDecision`` written to
``sync_log`` (``carehub show`` reads it back), a reason, and the events to publish."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hub.canonical import Event
from hub.envelope import Envelope
from hub.ports import Unit
from hub.records import EntityRecord

__all__ = ["Decision", "SyncDecision", "log_decision", "republished"]


class SyncDecision(StrEnum):
    """The outcome of one event for one record, as logged in ``sync_log.outcome``."""

    #: the change was written as a new version and published
    APPLIED = "applied"
    #: the state after applying equals the state before (or a merge already done)
    UNCHANGED = "unchanged"
    #: stamped before the change the record holds: not applied
    STALE = "stale"
    #: a system telling the hub back what it was last sent: not propagated
    ECHO = "echo"
    #: a change from a non-owner to owned fields: those fields are not applied
    CONFLICT = "conflict"
    #: applied before a restart; published again as the record stands, never re-applied
    REPUBLISHED = "republished"
    #: a record that pointed at a retired patient now points at the survivor (a merge)
    REPOINTED = "repointed"
    #: the record was removed at its source: a tombstone version written and published
    REMOVED = "removed"
    #: an identifying identifier names the record, its identity facts another person: not
    #: applied, on the review list (``carehub reviews``)
    HELD = "held"


@dataclass
class Decision:
    """What one judgement or one application came to.

    ``final``: the event stops here (nothing is written but the log and, when
    ``learn_identifiers``, the event's identifiers). A decision that is not final (an
    ownership conflict) is logged and the event goes on.
    """

    decision: SyncDecision = SyncDecision.APPLIED
    detail: str | None = None
    out: list[Event] = field(default_factory=list)
    final: bool = True
    #: a refused event still tells the hub which identifiers the record has
    learn_identifiers: bool = True


def republished(event: Event, current: EntityRecord) -> Decision:
    """An event applied before a restart, published again as the record stands now."""
    entity = type(event.entity).model_validate(current.data)
    decision = Decision(SyncDecision.REPUBLISHED, "applied before a restart")
    decision.learn_identifiers = False
    decision.out.append(event.model_copy(update={"entity": entity}))
    return decision


async def log_decision(
    unit: Unit, env: Envelope, etype: str, entity_id: str, decision: Decision
) -> None:
    """One ``sync_log`` row (never PHI in the detail)."""
    await unit.log_sync(
        entity_type=etype,
        entity_id=entity_id,
        outcome=decision.decision.value,
        event_id=env.id,
        event_kind=env.payload.kind.value,
        source=env.source_system,
        detail=decision.detail,
    )
