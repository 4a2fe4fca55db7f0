"""``messages``: the raw log, inbound and outbound, kept byte for byte."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from hub.records import MessageRecord, MessageStatus
from hub.store import schema as t
from hub.store.base import Operations, all_rows, aware, first, utcnow

__all__ = ["MessageOps"]

# Hot-path statements, built once with bind parameters: building a statement per call
# (coercing every value) cost ~240 µs against ~50 µs for a prebuilt one (measured here).
_B = bindparam
_MESSAGE_INSERT = t.messages.insert()
_MESSAGE_UPDATE = update(t.messages).where(t.messages.c.id == _B("b_id"))
_MESSAGE_GET = select(t.messages).where(t.messages.c.id == _B("b_id"))
_DUPLICATE = (
    select(t.messages)
    .where(
        t.messages.c.system == _B("b_system"),
        t.messages.c.dedup_key == _B("b_key"),
        t.messages.c.status.in_(_B("b_statuses", expanding=True)),
        t.messages.c.ack.is_not(None),
        t.messages.c.duplicate_of.is_(None),
    )
    .order_by(t.messages.c.received_at)
    .limit(1)
)
# the same content first, else the earliest under the key: one query tells a resend from
# another message under a reused control id
_SAME_CONTENT_FIRST = _DUPLICATE.order_by(None).order_by(
    case((t.messages.c.digest == _B("b_digest"), 0), else_=1), t.messages.c.received_at
)


class MessageOps(Operations):
    """The message log's operations (``hub.ports.MessageLog``)."""

    async def record_message(
        self,
        *,
        direction: str,
        system: str,
        format: str,
        raw: bytes,
        port: str | None = None,
        status: MessageStatus = MessageStatus.RECEIVED,
        message_key: str | None = None,
        control_id: str | None = None,
        dedup_key: str | None = None,
        peer: str | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
        digest: str | None = None,
    ) -> str:
        """Store raw bytes durably and return the message id. Nothing is acknowledged before."""
        mid = message_id or str(uuid.uuid4())
        now = utcnow()
        row = dict(
            id=mid,
            direction=direction,
            system=system,
            port=port,
            format=format,
            message_key=message_key,
            control_id=control_id,
            dedup_key=dedup_key,
            digest=digest,
            status=status,
            received_at=now,
            updated_at=now,
            size=len(raw),
            raw=raw,
            peer=peer,
            correlation_id=correlation_id,
        )
        await self._tx(lambda c: c.execute(_MESSAGE_INSERT, row))
        return mid

    async def update_message(self, message_id: str, **fields: Any) -> None:
        """Set status, message_key, control_id, dedup_key, findings, ack, duplicate_of, …"""
        if "findings" in fields and fields["findings"] is not None:
            fields["findings"] = json.dumps(fields["findings"])
        fields["updated_at"] = utcnow()
        fields["b_id"] = message_id
        await self._tx(lambda c: c.execute(_MESSAGE_UPDATE, fields))

    async def get_message(self, message_id: str) -> MessageRecord | None:
        row = await self._tx(lambda c: first(c, _MESSAGE_GET, {"b_id": message_id}))
        return _message(row) if row is not None else None

    async def find_accepted_duplicate(
        self,
        system: str,
        dedup_key: str,
        statuses: Sequence[MessageStatus] = (MessageStatus.ACCEPTED,),
        *,
        digest: str | None = None,
    ) -> MessageRecord | None:
        """The earliest message from ``system`` with ``dedup_key`` whose answer was final
        (its status is one of ``statuses``); with ``digest``, the earliest whose content has
        that digest if there is one (a resend), else the earliest under the key (another
        message under a reused control id, or one stored without a digest)."""
        params = {"b_system": system, "b_key": dedup_key, "b_statuses": list(statuses)}
        stmt = _DUPLICATE
        if digest is not None:
            params["b_digest"] = digest
            stmt = _SAME_CONTENT_FIRST
        row = await self._tx(lambda c: first(c, stmt, params))
        return _message(row) if row is not None else None

    async def list_messages(
        self,
        *,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        system: str | None = None,
        direction: str | None = None,
        limit: int = 100,
        oldest_first: bool = False,
    ) -> list[MessageRecord]:
        stmt = select(t.messages)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            stmt = stmt.where(t.messages.c.status.in_(wanted))
        if system is not None:
            stmt = stmt.where(t.messages.c.system == system)
        if direction is not None:
            stmt = stmt.where(t.messages.c.direction == direction)
        order = t.messages.c.received_at
        stmt = stmt.order_by(order if oldest_first else order.desc()).limit(limit)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [_message(r) for r in rows]

    async def message_counts(self) -> dict[str, int]:
        """Messages per ``direction:status``."""
        stmt = select(t.messages.c.direction, t.messages.c.status, func.count()).group_by(
            t.messages.c.direction, t.messages.c.status
        )
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return {f"{r[0]}:{r[1]}": int(r[2]) for r in rows}


def _message(r: Any) -> MessageRecord:
    return MessageRecord(
        id=r.id,
        direction=r.direction,
        system=r.system,
        port=r.port,
        format=r.format,
        message_key=r.message_key,
        control_id=r.control_id,
        dedup_key=r.dedup_key,
        status=MessageStatus(r.status),
        received_at=aware(r.received_at),
        size=r.size,
        raw=bytes(r.raw),
        findings=json.loads(r.findings) if r.findings else [],
        ack=bytes(r.ack) if r.ack is not None else None,
        peer=r.peer,
        correlation_id=r.correlation_id,
        duplicate_of=r.duplicate_of,
        event_count=r.event_count,
        digest=r.digest,
    )
