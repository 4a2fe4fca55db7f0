"""The sync engine's books: ``processed`` event ids, ``sync_log`` decisions, match
``reviews``, and what each destination was last ``sent`` (echo detection, superseded
deliveries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.store import schema as t
from hub.store.base import Operations, all_rows, aware, first, utcnow

__all__ = ["SyncLogOps"]

_B = bindparam
_PROCESSED_GET = select(t.processed.c.event_id).where(
    t.processed.c.consumer == _B("b_consumer"), t.processed.c.event_id == _B("b_event")
)


class SyncLogOps(Operations):
    """The sync engine's books' operations (``hub.ports.SyncLog``)."""

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` applied ``event_id``; False if it already had."""
        row = {"consumer": consumer, "event_id": event_id, "processed_at": utcnow()}
        res = await self._tx(lambda c: c.execute(self._insert_ignore(t.processed), row))
        return bool(res.rowcount == 1)

    async def was_processed(self, consumer: str, event_id: str) -> bool:
        params = {"b_consumer": consumer, "b_event": event_id}
        return await self._tx(lambda c: first(c, _PROCESSED_GET, params)) is not None

    async def log_sync(
        self,
        *,
        entity_type: str,
        entity_id: str,
        outcome: str,
        event_id: str | None = None,
        event_kind: str | None = None,
        source: str | None = None,
        detail: str | None = None,
    ) -> None:
        """What the sync engine did with an event (never PHI in ``detail``)."""
        row = dict(
            at=utcnow(),
            entity_type=entity_type,
            entity_id=entity_id,
            event_id=event_id,
            event_kind=event_kind,
            source=source,
            outcome=outcome,
            detail=detail,
        )
        await self._tx(lambda c: c.execute(t.sync_log.insert(), row))

    async def was_applied(self, event_id: str, entity_type: str, entity_id: str) -> bool:
        """Did the sync engine already apply ``event_id`` to this record (a redelivery after
        a crash between the state's commit and the publish of the change)?"""
        g = t.sync_log
        stmt = (
            select(g.c.id)
            .where(
                and_(
                    g.c.event_id == event_id,
                    g.c.entity_type == entity_type,
                    g.c.entity_id == entity_id,
                    g.c.outcome == "applied",
                )
            )
            .limit(1)
        )
        return await self._tx(lambda c: first(c, stmt)) is not None

    async def sync_history(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
        g = t.sync_log
        stmt = (
            select(g)
            .where(and_(g.c.entity_type == entity_type, g.c.entity_id == entity_id))
            .order_by(g.c.id)
        )
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [
            {
                "at": aware(r.at).isoformat(),
                "outcome": r.outcome,
                "event": r.event_kind,
                "event_id": r.event_id,
                "source": r.source,
                "detail": r.detail,
            }
            for r in rows
        ]

    async def sync_outcomes(self) -> dict[str, int]:
        g = t.sync_log
        stmt = select(g.c.outcome, func.count()).group_by(g.c.outcome)
        return {r[0]: int(r[1]) for r in await self._tx(lambda c: all_rows(c, stmt))}

    async def open_review(
        self, entity_type: str, record_id: str, candidates: Sequence[str], rule: str
    ) -> None:
        row = dict(
            at=utcnow(),
            entity_type=entity_type,
            record_id=record_id,
            candidates=json.dumps(list(candidates)),
            rule=rule,
            status="open",
        )
        await self._tx(lambda c: c.execute(t.reviews.insert(), row))

    async def close_review(self, review_id: int, status: str) -> bool:
        """Close an open review (``distinct``: not the same record; ``merged``)."""
        v = t.reviews
        stmt = (
            v.update().where(and_(v.c.id == review_id, v.c.status == "open")).values(status=status)
        )
        rows = await self._tx(lambda c: c.execute(stmt))
        return bool(rows.rowcount)

    async def reviews(self, status: str | None = "open") -> list[dict[str, Any]]:
        v = t.reviews
        stmt = select(v).order_by(v.c.id)
        if status is not None:
            stmt = stmt.where(v.c.status == status)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [
            {
                "id": r.id,
                "at": aware(r.at).isoformat(),
                "entity_type": r.entity_type,
                "record_id": r.record_id,
                "candidates": json.loads(r.candidates),
                "rule": r.rule,
                "status": r.status,
            }
            for r in rows
        ]

    async def record_sent(
        self,
        destination: str,
        entity_type: str,
        entity_id: str,
        content: dict[str, Any],
        version: int | None = None,
    ) -> None:
        """Remember what ``destination`` was last sent for a record (echo detection) and
        which version it was (a delivery of an older version is superseded)."""
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        ins = pg_insert if self.dialect == "postgresql" else sqlite_insert
        stmt = ins(t.sent).values(
            destination=destination,
            entity_type=entity_type,
            entity_id=entity_id,
            content=body,
            version=version,
            at=utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["destination", "entity_type", "entity_id"],
            set_={
                "content": stmt.excluded.content,
                "version": stmt.excluded.version,
                "at": stmt.excluded.at,
            },
        )
        await self._tx(lambda c: c.execute(stmt))

    async def sent_version(self, destination: str, entity_type: str, entity_id: str) -> int | None:
        """The record version ``destination`` was last sent (None: never, or unversioned)."""
        s = t.sent
        stmt = select(s.c.version).where(
            and_(
                s.c.destination == destination,
                s.c.entity_type == entity_type,
                s.c.entity_id == entity_id,
            )
        )
        row = await self._tx(lambda c: first(c, stmt))
        return int(row[0]) if row is not None and row[0] is not None else None

    async def last_sent(
        self, destination: str, entity_type: str, entity_id: str
    ) -> dict[str, Any] | None:
        s = t.sent
        stmt = select(s.c.content).where(
            and_(
                s.c.destination == destination,
                s.c.entity_type == entity_type,
                s.c.entity_id == entity_id,
            )
        )
        row = await self._tx(lambda c: first(c, stmt))
        return json.loads(row[0]) if row is not None else None
