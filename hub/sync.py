"""The sync engine: between ``carehub.ingress`` and ``carehub.events``.

It applies each canonical event to the entity state in the store (versioned, with the source
of every change), links every identifier to one canonical id, and publishes the resulting
change to ``carehub.events``. It is idempotent per event id: a redelivered or resent event
changes nothing and is not published twice after it was once marked done.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from hub.canonical import Event, Identifier
from hub.envelope import Envelope
from hub.ports import Delivery, Transport
from hub.store import Store, Unit

__all__ = ["SyncEngine", "identifier_pairs", "merge_state"]

log = logging.getLogger("carehub.sync")

CONSUMER = "sync"

#: fields that never merge from an event (identity and bookkeeping)
_BOOKKEEPING = {"id", "identifiers", "meta", "entity_type"}


def identifier_pairs(identifiers: list[Identifier], source: str) -> list[tuple[str, str]]:
    """(namespace, value) pairs for the cross-reference. An identifier without a namespace
    is qualified by the system that sent it, so two systems' bare "123" never collide."""
    out = []
    for ident in identifiers:
        ns = ident.system or f"{ident.source or source}:{ident.type or 'id'}"
        out.append((ns, ident.value))
    return out


def merge_state(
    current: dict[str, Any] | None, incoming: dict[str, Any], source: str
) -> dict[str, Any]:
    """New state: values present in ``incoming`` win, absent or empty ones keep the current
    value; identifiers are united; ``meta.field_sources`` records who set each field."""
    if current is None:
        merged = dict(incoming)
        sources = {k: source for k, v in incoming.items() if k not in _BOOKKEEPING and _set(v)}
    else:
        merged = dict(current)
        sources = dict(current.get("meta", {}).get("field_sources", {}))
        for key, value in incoming.items():
            if key in _BOOKKEEPING or not _set(value):
                continue
            merged[key] = value
            sources[key] = source
        merged["identifiers"] = _unite(
            current.get("identifiers", []), incoming.get("identifiers", [])
        )
    meta = dict(merged.get("meta") or {})
    meta.update(source=source, updated_at=datetime.now(UTC).isoformat(), field_sources=sources)
    merged["meta"] = meta
    return merged


def _set(value: Any) -> bool:
    return value is not None and value not in ([], {}, "")


def _unite(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(i.get("system"), i.get("value")) for i in a}
    return a + [i for i in b if (i.get("system"), i.get("value")) not in seen]


class SyncEngine:
    """Consumes the ingress queue; one call of ``handle`` per delivery (settled by the
    caller's single settle point: returning acks, raising retries or parks)."""

    def __init__(self, store: Store, transport: Transport, *, events_exchange: str):
        self.store = store
        self.transport = transport
        self.events = events_exchange

    async def handle(self, delivery: Delivery) -> None:
        env = delivery.envelope
        async with self.store.unit() as unit:
            if await unit.was_processed(CONSUMER, env.id):
                log.info("event %s already applied; not published again", env.id)
                return
            event = await self.apply(unit, env)
        out = env.model_copy(update={"payload": event})
        await self.transport.publish(self.events, out.routing_key, out)
        # marked only after the confirm: a crash in between re-applies and republishes the
        # same envelope id, which every destination recognises
        await self.store.mark_processed(CONSUMER, env.id)

    async def apply(self, unit: Unit, env: Envelope) -> Event:
        """Resolve the entity's canonical id, write its new state, return the event as it
        goes out (with the canonical id set). Runs inside the caller's transaction."""
        event = env.payload
        entity = event.entity
        etype = entity.entity_type.value
        pairs = identifier_pairs(entity.identifiers, env.source_system)
        known = await unit.resolve_identifiers(etype, pairs)
        canonical_id = (
            entity.id or (sorted(set(known.values()))[0] if known else None) or str(uuid.uuid4())
        )
        current = await unit.get_entity(etype, canonical_id)
        incoming = entity.model_dump(mode="json", exclude_none=True)
        state = merge_state(current.data if current else None, incoming, env.source_system)
        state["id"] = canonical_id
        await unit.save_entity(
            etype,
            canonical_id,
            state,
            source=env.source_system,
            event_id=env.id,
            event_kind=event.kind.value,
            known_version=current.version if current else 0,
        )
        fresh = [p for p in pairs if p not in known]
        await unit.link_identifiers(etype, canonical_id, fresh, source=env.source_system)
        new_entity = type(entity).model_validate(state)
        return event.model_copy(update={"entity": new_entity})
