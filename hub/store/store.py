"""The hub's store: SQLAlchemy 2 (async) over SQLite by default, PostgreSQL by URL.

Every public method is one short transaction. Database errors are translated once, here,
into ``StoreUnavailable`` (transient): a caller that cannot write durably must not
acknowledge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from hub.errors import ConfigError, StoreUnavailable
from hub.store import schema as t
from hub.store.urls import normalise_url

__all__ = [
    "AuditRecord",
    "Unit",
    "DeliveryRecord",
    "EntityRecord",
    "MessageRecord",
    "Store",
]

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    direction: str
    system: str
    port: str | None
    format: str
    message_key: str | None
    control_id: str | None
    dedup_key: str | None
    status: str
    received_at: datetime
    size: int
    raw: bytes
    findings: list[dict[str, str]]
    ack: bytes | None
    peer: str | None
    correlation_id: str | None
    duplicate_of: str | None
    event_count: int | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    envelope_id: str
    destination: str
    event_kind: str | None
    message_id: str | None
    outbound_message_id: str | None
    status: str
    attempts: int
    detail: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EntityRecord:
    entity_type: str
    id: str
    version: int
    data: dict[str, Any]
    source: str | None
    updated_at: datetime
    merged_into: str | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    outcome: str
    peer: str | None
    detail: str | None


class _NoContentLogs(logging.Filter):
    """SQLAlchemy logs statements' parameters (INFO) and result rows (DEBUG) on its engine
    logger when that logger is enabled: both are message content — PHI. Only its warnings
    and errors pass, whatever level a deployment turns on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoContentLogs())


_APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END",
)
_APPEND_ONLY_PG = (
    "CREATE OR REPLACE FUNCTION carehub_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION carehub_audit_append_only()",
    # TRUNCATE fires no row trigger: it needs a statement trigger of its own
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION carehub_audit_append_only()",
)


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
_DELIVERY_GET = select(t.deliveries).where(
    t.deliveries.c.envelope_id == _B("b_env"), t.deliveries.c.destination == _B("b_dest")
)
_PROCESSED_GET = select(t.processed.c.event_id).where(
    t.processed.c.consumer == _B("b_consumer"), t.processed.c.event_id == _B("b_event")
)
_ENTITY_GET = select(t.entities).where(
    t.entities.c.entity_type == _B("b_type"), t.entities.c.id == _B("b_id")
)
_ENTITY_VERSION_GET = select(t.entities.c.version).where(
    t.entities.c.entity_type == _B("b_type"), t.entities.c.id == _B("b_id")
)
_ENTITY_INSERT = t.entities.insert()
_ENTITY_UPDATE = update(t.entities).where(
    t.entities.c.entity_type == _B("b_type"),
    t.entities.c.id == _B("b_id"),
    t.entities.c.version == _B("b_version"),
)
_VERSION_INSERT = t.entity_versions.insert()
_AUDIT_INSERT = t.audit.insert()
_DELIVERY_FIELDS = ("status", "attempts", "detail", "updated_at", "outbound_message_id")


@cache
def _dialect_statements(dialect: str) -> dict[str, Any]:
    """INSERT … ON CONFLICT statements, in the dialect's own syntax."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    delivery = ins(t.deliveries)
    return {
        "processed": ins(t.processed).on_conflict_do_nothing(),
        "xrefs": ins(t.xrefs).on_conflict_do_nothing(),
        "control_numbers": ins(t.control_numbers).on_conflict_do_nothing(),
        "delivery": delivery.on_conflict_do_update(
            index_elements=["envelope_id", "destination"],
            set_={f: delivery.excluded[f] for f in _DELIVERY_FIELDS},
        ),
    }


class _Operations:
    """Every store operation, written once. ``Store`` runs each in a transaction of its own;
    ``Unit`` runs several in one transaction (``async with store.unit() as u``)."""

    dialect: str

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        raise NotImplementedError

    def _insert_ignore(self, table: Any) -> Any:
        """INSERT … ON CONFLICT DO NOTHING, in this database's dialect."""
        return (pg_insert if self.dialect == "postgresql" else sqlite_insert)(
            table
        ).on_conflict_do_nothing()

    # ------------------------------------------------------------------ message log

    async def record_message(
        self,
        *,
        direction: str,
        system: str,
        format: str,
        raw: bytes,
        port: str | None = None,
        status: str = "received",
        message_key: str | None = None,
        control_id: str | None = None,
        dedup_key: str | None = None,
        peer: str | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Store raw bytes durably and return the message id. Nothing is acknowledged before."""
        mid = message_id or str(uuid.uuid4())
        now = _now()
        row = dict(
            id=mid,
            direction=direction,
            system=system,
            port=port,
            format=format,
            message_key=message_key,
            control_id=control_id,
            dedup_key=dedup_key,
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
        fields["updated_at"] = _now()
        fields["b_id"] = message_id
        await self._tx(lambda c: c.execute(_MESSAGE_UPDATE, fields))

    async def get_message(self, message_id: str) -> MessageRecord | None:
        row = await self._tx(lambda c: _first(c, _MESSAGE_GET, {"b_id": message_id}))
        return _message(row) if row is not None else None

    async def find_accepted_duplicate(
        self,
        system: str,
        dedup_key: str,
        statuses: Sequence[str] = ("accepted",),
    ) -> MessageRecord | None:
        """The earliest message from ``system`` with ``dedup_key`` whose answer was final
        (its status is one of ``statuses``)."""
        params = {"b_system": system, "b_key": dedup_key, "b_statuses": list(statuses)}
        row = await self._tx(lambda c: _first(c, _DUPLICATE, params))
        return _message(row) if row is not None else None

    async def list_messages(
        self,
        *,
        status: str | Sequence[str] | None = None,
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
        rows = await self._tx(lambda c: _all(c, stmt))
        return [_message(r) for r in rows]

    async def message_counts(self) -> dict[str, int]:
        """Messages per ``direction:status``."""
        stmt = select(t.messages.c.direction, t.messages.c.status, func.count()).group_by(
            t.messages.c.direction, t.messages.c.status
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return {f"{r[0]}:{r[1]}": int(r[2]) for r in rows}

    # ------------------------------------------------------------------ deliveries

    async def record_delivery(
        self,
        *,
        envelope_id: str,
        destination: str,
        status: str,
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
            updated_at=_now(),
            outbound_message_id=outbound_message_id,
        )
        stmt = _dialect_statements(self.dialect)["delivery"]
        await self._tx(lambda c: c.execute(stmt, row))

    async def get_delivery(self, envelope_id: str, destination: str) -> DeliveryRecord | None:
        stmt = select(t.deliveries).where(
            and_(
                t.deliveries.c.envelope_id == envelope_id, t.deliveries.c.destination == destination
            )
        )
        row = await self._tx(lambda c: _first(c, stmt))
        return _delivery(row) if row is not None else None

    async def list_deliveries(
        self,
        *,
        destination: str | None = None,
        status: str | None = None,
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
        rows = await self._tx(lambda c: _all(c, stmt))
        return [_delivery(r) for r in rows]

    async def delivery_counts(self) -> dict[str, int]:
        """Deliveries per ``destination:status``."""
        stmt = select(t.deliveries.c.destination, t.deliveries.c.status, func.count()).group_by(
            t.deliveries.c.destination, t.deliveries.c.status
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return {f"{r[0]}:{r[1]}": int(r[2]) for r in rows}

    # ------------------------------------------------------------------ idempotency

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` applied ``event_id``; False if it already had."""
        row = {"consumer": consumer, "event_id": event_id, "processed_at": _now()}
        res = await self._tx(lambda c: c.execute(self._insert_ignore(t.processed), row))
        return bool(res.rowcount == 1)

    async def was_processed(self, consumer: str, event_id: str) -> bool:
        params = {"b_consumer": consumer, "b_event": event_id}
        return await self._tx(lambda c: _first(c, _PROCESSED_GET, params)) is not None

    # ------------------------------------------------------------------ entity state

    async def get_entity(self, entity_type: str, entity_id: str) -> EntityRecord | None:
        params = {"b_type": entity_type, "b_id": entity_id}
        row = await self._tx(lambda c: _first(c, _ENTITY_GET, params))
        return _entity(row) if row is not None else None

    async def save_entity(
        self,
        entity_type: str,
        entity_id: str,
        data: dict[str, Any],
        *,
        source: str | None,
        event_id: str | None = None,
        event_kind: str | None = None,
        expected_version: int | None = None,
        known_version: int | None = None,
        merged_into: str | None = None,
    ) -> int:
        """Write a new version of an entity and return its version number.

        With ``expected_version`` the write is optimistic: it fails with ``VersionConflict``
        when somebody else wrote in between. ``known_version`` (0 for a new entity) is the
        version the caller read in the same transaction, which saves a read.
        """
        body = json.dumps(data, separators=(",", ":"), default=str)
        now = _now()

        key = {"b_type": entity_type, "b_id": entity_id}

        async def work(conn: AsyncConnection) -> int:
            if known_version is not None:
                current = known_version
            else:
                cur = await _first(conn, _ENTITY_VERSION_GET, key)
                current = int(cur[0]) if cur is not None else 0
            if expected_version is not None and expected_version != current:
                raise VersionConflict(entity_type, entity_id, expected_version, current)
            version = current + 1
            values = dict(
                version=version, data=body, source=source, updated_at=now, merged_into=merged_into
            )
            if current == 0:
                try:
                    await conn.execute(
                        _ENTITY_INSERT, {"entity_type": entity_type, "id": entity_id, **values}
                    )
                except IntegrityError as exc:  # another writer created it first
                    raise VersionConflict(entity_type, entity_id, 0, -1) from exc
            else:
                res = await conn.execute(_ENTITY_UPDATE, {**key, "b_version": current, **values})
                if res.rowcount != 1:
                    raise VersionConflict(entity_type, entity_id, current, -1)
            await conn.execute(
                _VERSION_INSERT,
                dict(
                    entity_type=entity_type,
                    id=entity_id,
                    version=version,
                    data=body,
                    source=source,
                    event_id=event_id,
                    event_kind=event_kind,
                    changed_at=now,
                ),
            )
            return version

        return await self._tx(work)

    async def entity_history(self, entity_type: str, entity_id: str) -> list[EntityRecord]:
        v = t.entity_versions
        stmt = (
            select(v)
            .where(and_(v.c.entity_type == entity_type, v.c.id == entity_id))
            .order_by(v.c.version)
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return [
            EntityRecord(
                r.entity_type,
                r.id,
                r.version,
                json.loads(r.data),
                r.source,
                _aware(r.changed_at),
                None,
            )
            for r in rows
        ]

    async def entity_version(
        self, entity_type: str, entity_id: str, version: int
    ) -> EntityRecord | None:
        v = t.entity_versions
        stmt = select(v).where(
            and_(v.c.entity_type == entity_type, v.c.id == entity_id, v.c.version == version)
        )
        r = await self._tx(lambda c: _first(c, stmt))
        if r is None:
            return None
        return EntityRecord(
            r.entity_type, r.id, r.version, json.loads(r.data), r.source, _aware(r.changed_at), None
        )

    async def list_entities(
        self,
        entity_type: str,
        *,
        ids: Iterable[str] | None = None,
        updated_since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EntityRecord]:
        e = t.entities
        stmt = select(e).where(e.c.entity_type == entity_type)
        if ids is not None:
            stmt = stmt.where(e.c.id.in_(list(ids)))
        if updated_since is not None:
            stmt = stmt.where(e.c.updated_at >= updated_since)
        stmt = stmt.order_by(e.c.updated_at, e.c.id).limit(limit).offset(offset)
        rows = await self._tx(lambda c: _all(c, stmt))
        return [_entity(r) for r in rows]

    async def event_kind_counts(self) -> dict[str, int]:
        """How many applied events of each kind the entity history holds."""
        v = t.entity_versions
        stmt = select(v.c.event_kind, func.count()).group_by(v.c.event_kind)
        rows = await self._tx(lambda c: _all(c, stmt))
        return {r[0]: int(r[1]) for r in rows if r[0]}

    async def count_entities(self, entity_type: str | None = None) -> dict[str, int]:
        e = t.entities
        stmt = select(e.c.entity_type, func.count()).group_by(e.c.entity_type)
        if entity_type is not None:
            stmt = stmt.where(e.c.entity_type == entity_type)
        rows = await self._tx(lambda c: _all(c, stmt))
        return {r[0]: int(r[1]) for r in rows}

    # ------------------------------------------------------------------ cross-reference

    async def link_identifiers(
        self,
        entity_type: str,
        canonical_id: str,
        identifiers: Iterable[tuple[str, str]],
        *,
        source: str | None = None,
    ) -> int:
        """Link (namespace, value) pairs to ``canonical_id``; returns how many were new.

        A pair already linked to another canonical id is left alone (re-pointing is a merge,
        done with ``repoint_identifiers``).
        """
        pairs = list(dict.fromkeys(identifiers))

        if not pairs:
            return 0
        now = _now()
        rows = [
            dict(
                entity_type=entity_type,
                namespace=ns,
                value=value,
                canonical_id=canonical_id,
                source=source,
                created_at=now,
            )
            for ns, value in pairs
        ]
        # one multi-row INSERT (not executemany): its rowcount is the number of new links on
        # both databases
        stmt = self._insert_ignore(t.xrefs).values(rows)

        async def work(conn: AsyncConnection) -> int:
            return int((await conn.execute(stmt)).rowcount)

        return await self._tx(work)

    async def resolve_identifiers(
        self,
        entity_type: str,
        identifiers: Iterable[tuple[str, str]],
    ) -> dict[tuple[str, str], str]:
        """Which canonical id each known (namespace, value) pair points to."""
        pairs = list(dict.fromkeys(identifiers))
        if not pairs:
            return {}
        x = t.xrefs
        cond = or_(*[and_(x.c.namespace == ns, x.c.value == v) for ns, v in pairs])
        stmt = select(x.c.namespace, x.c.value, x.c.canonical_id).where(
            and_(x.c.entity_type == entity_type, cond)
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return {(r[0], r[1]): r[2] for r in rows}

    async def find_by_identifier(
        self, entity_type: str, value: str, namespace: str | None = None
    ) -> list[str]:
        """Canonical ids holding identifier ``value`` (in ``namespace``, or in any)."""
        x = t.xrefs
        cond = and_(x.c.entity_type == entity_type, x.c.value == value)
        if namespace is not None:
            cond = and_(cond, x.c.namespace == namespace)
        stmt = select(x.c.canonical_id).where(cond).distinct().order_by(x.c.canonical_id)
        rows = await self._tx(lambda c: _all(c, stmt))
        return [r[0] for r in rows]

    async def identifiers_of(self, entity_type: str, canonical_id: str) -> list[dict[str, str]]:
        x = t.xrefs
        stmt = (
            select(x.c.namespace, x.c.value, x.c.source)
            .where(and_(x.c.entity_type == entity_type, x.c.canonical_id == canonical_id))
            .order_by(x.c.namespace)
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return [{"namespace": r[0], "value": r[1], "source": r[2] or ""} for r in rows]

    async def repoint_identifiers(self, entity_type: str, from_id: str, to_id: str) -> int:
        """Move every identifier of ``from_id`` to ``to_id`` (a merge). Returns the count."""
        x = t.xrefs
        stmt = (
            update(x)
            .where(and_(x.c.entity_type == entity_type, x.c.canonical_id == from_id))
            .values(canonical_id=to_id)
        )
        res = await self._tx(lambda c: c.execute(stmt))
        return int(res.rowcount)

    # ------------------------------------------------------------------ sync engine

    async def set_match_keys(
        self, entity_type: str, canonical_id: str, keys: Iterable[str]
    ) -> None:
        """Replace the demographic keys of a record (matching rules look them up)."""
        m = t.match_keys
        rows = [
            {"entity_type": entity_type, "key": k, "canonical_id": canonical_id}
            for k in dict.fromkeys(keys)
        ]

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                m.delete().where(
                    and_(m.c.entity_type == entity_type, m.c.canonical_id == canonical_id)
                )
            )
            if rows:
                await conn.execute(m.insert(), rows)

        await self._tx(work)

    async def find_by_match_key(
        self, entity_type: str, key: str, limit: int | None = None
    ) -> list[str]:
        m = t.match_keys
        stmt = (
            select(m.c.canonical_id)
            .where(and_(m.c.entity_type == entity_type, m.c.key == key))
            .order_by(m.c.canonical_id)
            .limit(limit)
        )
        return [r[0] for r in await self._tx(lambda c: _all(c, stmt))]

    async def set_refs(
        self, from_type: str, from_id: str, targets: Iterable[tuple[str, str]]
    ) -> None:
        """Replace what a record points at (merges re-point these; double bookings use
        them)."""
        r = t.refs
        rows = [
            {"from_type": from_type, "from_id": from_id, "to_type": tt, "to_id": ti}
            for tt, ti in dict.fromkeys(targets)
        ]

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                r.delete().where(and_(r.c.from_type == from_type, r.c.from_id == from_id))
            )
            if rows:
                await conn.execute(r.insert(), rows)

        await self._tx(work)

    async def referring(
        self, to_type: str, to_id: str, from_type: str | None = None
    ) -> list[tuple[str, str]]:
        """The records that point at ``to_type``/``to_id``."""
        r = t.refs
        stmt = select(r.c.from_type, r.c.from_id).where(
            and_(r.c.to_type == to_type, r.c.to_id == to_id)
        )
        if from_type is not None:
            stmt = stmt.where(r.c.from_type == from_type)
        return [(a, b) for a, b in await self._tx(lambda c: _all(c, stmt))]

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
            at=_now(),
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
        return await self._tx(lambda c: _first(c, stmt)) is not None

    async def sync_history(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
        g = t.sync_log
        stmt = (
            select(g)
            .where(and_(g.c.entity_type == entity_type, g.c.entity_id == entity_id))
            .order_by(g.c.id)
        )
        rows = await self._tx(lambda c: _all(c, stmt))
        return [
            {
                "at": _aware(r.at).isoformat(),
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
        return {r[0]: int(r[1]) for r in await self._tx(lambda c: _all(c, stmt))}

    async def open_review(
        self, entity_type: str, record_id: str, candidates: Sequence[str], rule: str
    ) -> None:
        row = dict(
            at=_now(),
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
        rows = await self._tx(lambda c: _all(c, stmt))
        return [
            {
                "id": r.id,
                "at": _aware(r.at).isoformat(),
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
            at=_now(),
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
        row = await self._tx(lambda c: _first(c, stmt))
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
        row = await self._tx(lambda c: _first(c, stmt))
        return json.loads(row[0]) if row is not None else None

    # ------------------------------------------------------------------ control numbers

    async def next_control_number(
        self,
        partner: str,
        kind: str,
        *,
        start: int = 1,
        maximum: int = 999_999_999,
    ) -> int:
        """Allocate the next control number of ``kind`` (ISA13, GS06, ST02, MSH10) for
        ``partner``. Persisted, never reused, safe across processes (row lock on PostgreSQL,
        a write transaction on SQLite). Wraps to ``start`` after ``maximum``."""
        c = t.control_numbers

        async def work(conn: AsyncConnection) -> int:
            where = and_(c.c.partner == partner, c.c.kind == kind)
            stmt = (
                update(c)
                .where(where)
                .values(last_value=c.c.last_value + 1)
                .returning(c.c.last_value)
            )
            row = (await conn.execute(stmt)).first()
            if row is None:
                first = self._insert_ignore(c).values(partner=partner, kind=kind, last_value=start)
                if (await conn.execute(first)).rowcount == 1:
                    return start
                row = (await conn.execute(stmt)).first()  # another writer created it
                assert row is not None
            value = int(row[0])
            if value > maximum:
                await conn.execute(update(c).where(where).values(last_value=start))
                value = start
            return value

        return await self._tx(work)

    async def reserve_control_numbers(
        self, partner: str, kind: str, count: int, *, start: int = 1
    ) -> int:
        """Reserve ``count`` consecutive control numbers of ``kind`` for ``partner``; returns
        the first. Numbers reserved and not used are skipped, never handed out again."""
        c = t.control_numbers

        async def work(conn: AsyncConnection) -> int:
            where = and_(c.c.partner == partner, c.c.kind == kind)
            bump = (
                update(c)
                .where(where)
                .values(last_value=c.c.last_value + count)
                .returning(c.c.last_value)
            )
            row = (await conn.execute(bump)).first()
            if row is None:
                first = self._insert_ignore(c).values(
                    partner=partner, kind=kind, last_value=start + count - 1
                )
                if (await conn.execute(first)).rowcount == 1:
                    return start
                row = (await conn.execute(bump)).first()
                assert row is not None
            return int(row[0]) - count + 1

        return await self._tx(work)

    # ------------------------------------------------------------------ audit

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        subject: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one audit record. Never put PHI in ``subject`` or ``detail``."""
        row = dict(
            at=_now(),
            actor=actor,
            action=action,
            subject=subject,
            outcome=outcome,
            peer=peer,
            detail=detail,
        )
        await self._tx(lambda c: c.execute(_AUDIT_INSERT, row))

    async def audit_trail(
        self,
        *,
        action: str | None = None,
        subject: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        a = t.audit
        stmt = select(a)
        if action is not None:
            stmt = stmt.where(a.c.action == action)
        if subject is not None:
            stmt = stmt.where(a.c.subject == subject)
        stmt = stmt.order_by(a.c.id.desc()).limit(limit)
        rows = await self._tx(lambda c: _all(c, stmt))
        return [
            AuditRecord(
                r.id, _aware(r.at), r.actor, r.action, r.subject, r.outcome, r.peer, r.detail
            )
            for r in rows
        ]


class _InlineConnection:
    """The async-connection surface the operations use, over a synchronous SQLite connection.

    SQLite runs in this process: a statement takes microseconds and a commit one fsync
    (measured here ~0.3 ms). Going through aiosqlite costs about seven thread hand-offs per
    statement, which made the store the hub's bottleneck (3.0 ms per two-statement unit
    against 0.3 ms inline, bench/README). So SQLite statements run inline, one transaction
    at a time (``Store._serial``); PostgreSQL keeps asyncpg.
    """

    def __init__(self, conn: Connection):
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    async def run_sync(self, fn: Callable[..., T]) -> T:
        return fn(self._conn)


class Store(_Operations):
    """Open with ``await Store.open(url)`` or ``async with Store.connect(url) as store``."""

    def __init__(self, engine: AsyncEngine | Engine, url: str):
        self._engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        #: SQLite: one transaction at a time, run inline (see ``_InlineConnection``)
        self._serial = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, url: str | None = None, *, create: bool = True) -> Store:
        """Connect to ``url`` (default: a SQLite file ``carehub.db``) and migrate the schema."""
        real = normalise_url(url)
        engine: AsyncEngine | Engine
        if real.startswith("postgresql"):
            # no pre-ping: it costs three round trips per checkout; a dead connection fails its
            # statement instead (StoreUnavailable, transient) and the pool discards it
            engine = create_async_engine(
                real, pool_size=10, max_overflow=10, pool_recycle=1800, hide_parameters=True
            )
        else:
            engine = create_engine(
                real,
                # parameters are message content (PHI): never in SQL logs or error texts
                hide_parameters=True,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,
            )
            _sqlite_pragmas(engine)
        store = cls(engine, real)
        if create:
            await store.migrate()
        return store

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str | None = None) -> AsyncIterator[Store]:
        store = await cls.open(url)
        try:
            yield store
        finally:
            await store.close()

    async def close(self) -> None:
        if isinstance(self._engine, AsyncEngine):
            await self._engine.dispose()
        else:
            self._engine.dispose()

    async def migrate(self) -> None:
        """Create the schema, or bring an older one up to ``SCHEMA_VERSION``."""

        async def work(conn: AsyncConnection) -> None:
            await conn.run_sync(t.metadata.create_all)
            row = (await conn.execute(select(t.schema_info.c.version))).first()
            if row is not None and row[0] > t.SCHEMA_VERSION:
                raise ConfigError(
                    f"the database schema is version {row[0]}, newer than this carehub "
                    f"({t.SCHEMA_VERSION}); upgrade carehub"
                )
            for ddl in _APPEND_ONLY_PG if self.dialect == "postgresql" else _APPEND_ONLY_SQLITE:
                await conn.execute(text(ddl))
            if row is None:
                await conn.execute(
                    insert(t.schema_info).values(id=1, version=t.SCHEMA_VERSION, migrated_at=_now())
                )
            elif row[0] < t.SCHEMA_VERSION:
                # every step so far only added tables, which create_all just made
                await conn.execute(
                    update(t.schema_info).values(version=t.SCHEMA_VERSION, migrated_at=_now())
                )

        await self._tx(work)

    async def ping(self) -> bool:
        try:
            await self._tx(lambda c: c.execute(text("SELECT 1")))
        except StoreUnavailable:
            return False
        return True

    # ------------------------------------------------------------------ plumbing

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; translate database errors once, here."""
        async with self.unit() as unit:
            return await work(unit.conn)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """Several operations in one transaction: committed together, or not at all."""
        try:
            async with self._connection() as conn:
                yield Unit(conn, self.dialect)
        except IntegrityError:
            raise
        except (SQLAlchemyError, OSError, ConnectionError) as exc:
            raise StoreUnavailable(f"store unavailable: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        if isinstance(self._engine, AsyncEngine):
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._serial:
            with self._engine.begin() as sync_conn:
                yield cast(AsyncConnection, _InlineConnection(sync_conn))


class Unit(_Operations):
    """Operations bound to one open transaction (see ``Store.unit``)."""

    def __init__(self, conn: AsyncConnection, dialect: str):
        self.conn = conn
        self.dialect = dialect

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await work(self.conn)


class VersionConflict(Exception):
    """An optimistic write lost: the entity changed since it was read."""

    def __init__(self, entity_type: str, entity_id: str, expected: int, actual: int):
        super().__init__(f"{entity_type}/{entity_id}: expected version {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


async def _first(conn: AsyncConnection, stmt: Any, params: Any = None) -> Any:
    return (await conn.execute(stmt, params)).first()


async def _all(conn: AsyncConnection, stmt: Any) -> list[Any]:
    return list((await conn.execute(stmt)).all())


def _aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we write is UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


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
        status=r.status,
        received_at=_aware(r.received_at),
        size=r.size,
        raw=bytes(r.raw),
        findings=json.loads(r.findings) if r.findings else [],
        ack=bytes(r.ack) if r.ack is not None else None,
        peer=r.peer,
        correlation_id=r.correlation_id,
        duplicate_of=r.duplicate_of,
        event_count=r.event_count,
    )


def _delivery(r: Any) -> DeliveryRecord:
    return DeliveryRecord(
        r.envelope_id,
        r.destination,
        r.event_kind,
        r.message_id,
        r.outbound_message_id,
        r.status,
        r.attempts,
        r.detail,
        _aware(r.updated_at),
    )


def _entity(r: Any) -> EntityRecord:
    return EntityRecord(
        r.entity_type,
        r.id,
        r.version,
        json.loads(r.data),
        r.source,
        _aware(r.updated_at),
        r.merged_into,
    )


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for concurrent readers; synchronous=FULL so a committed write survives power loss.
    A short busy timeout: SQLite runs inline, so another process holding the write lock must
    not stall the hub — it gets StoreUnavailable (send again later) instead. One hub process
    per SQLite file; several workers want PostgreSQL."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=2000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
