"""``deliveries``: one row per (envelope, destination), updated as the delivery goes."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.records import DeliveryRecord, DeliveryStatus
from hub.store import schema as t
from hub.store.base import Operations, all_rows, aware, first, utcnow

__all__ = ["DeliveryOps"]

_DELIVERY_FIELDS = ("status", "attempts", "detail", "updated_at", "outbound_message_id")


@cache
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (envelope_id, destination) DO UPDATE, in the dialect's syntax."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    delivery = ins(t.deliveries)
    return delivery.on_conflict_do_update(
        index_elements=["envelope_id", "destination"],
        set_={f: delivery.excluded[f] for f in _DELIVERY_FIELDS},
    )


class DeliveryOps(Operations):
    """The delivery log's operations (``hub.ports.DeliveryLog``)."""

    async def record_delivery(
        self,
        *,
        envelope_id: str,
        destination: str,
        status: DeliveryStatus,
        attempts: int,
        event_kind: str | None = None,
        message_id: str | None = None,
        outbound_message_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Insert or update the delivery row for (envelope, destination)."""
        row = dict(
            envelope_id=envelope_id,
            destination=destination,
            event_kind=event_kind,
            message_id=message_id,
            status=status,
            attempts=attempts,
            detail=detail,
            updated_at=utcnow(),
            outbound_message_id=outbound_message_id,
        )
        stmt = _upsert(self.dialect)
        await self._tx(lambda c: c.execute(stmt, row))

    async def get_delivery(self, envelope_id: str, destination: str) -> DeliveryRecord | None:
        stmt = select(t.deliveries).where(
            and_(
                t.deliveries.c.envelope_id == envelope_id, t.deliveries.c.destination == destination
            )
        )
        row = await self._tx(lambda c: first(c, stmt))
        return _delivery(row) if row is not None else None

    async def list_deliveries(
        self,
        *,
        destination: str | None = None,
        status: DeliveryStatus | None = None,
        message_id: str | None = None,
        limit: int = 1000,
    ) -> list[DeliveryRecord]:
        stmt = select(t.deliveries)
        if destination is not None:
            stmt = stmt.where(t.deliveries.c.destination == destination)
        if status is not None:
            stmt = stmt.where(t.deliveries.c.status == status)
        if message_id is not None:
            stmt = stmt.where(t.deliveries.c.message_id == message_id)
        stmt = stmt.order_by(t.deliveries.c.id).limit(limit)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [_delivery(r) for r in rows]

    async def delivery_counts(self) -> dict[str, int]:
        """Deliveries per ``destination:status``."""
        stmt = select(t.deliveries.c.destination, t.deliveries.c.status, func.count()).group_by(
            t.deliveries.c.destination, t.deliveries.c.status
        )
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return {f"{r[0]}:{r[1]}": int(r[2]) for r in rows}


def _delivery(r: Any) -> DeliveryRecord:
    return DeliveryRecord(
        r.envelope_id,
        r.destination,
        r.event_kind,
        r.message_id,
        r.outbound_message_id,
        DeliveryStatus(r.status),
        r.attempts,
        r.detail,
        aware(r.updated_at),
    )
