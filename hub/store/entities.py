"""``entities`` and ``entity_versions``: canonical records, every version kept; writes are
optimistic (versioned)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.records import EntityRecord, VersionConflict
from hub.store import schema as t
from hub.store.base import Operations, all_rows, aware, first, utcnow

__all__ = ["EntityOps"]

# Hot-path statements, built once with bind parameters (see ``hub.store.messages``).
_B = bindparam
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


class EntityOps(Operations):
    """The entity state's operations (``hub.ports.EntityState``)."""

    async def get_entity(self, entity_type: str, entity_id: str) -> EntityRecord | None:
        params = {"b_type": entity_type, "b_id": entity_id}
        row = await self._tx(lambda c: first(c, _ENTITY_GET, params))
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
        now = utcnow()

        key = {"b_type": entity_type, "b_id": entity_id}

        async def work(conn: AsyncConnection) -> int:
            if known_version is not None:
                current = known_version
            else:
                cur = await first(conn, _ENTITY_VERSION_GET, key)
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
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [
            EntityRecord(
                r.entity_type,
                r.id,
                r.version,
                json.loads(r.data),
                r.source,
                aware(r.changed_at),
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
        r = await self._tx(lambda c: first(c, stmt))
        if r is None:
            return None
        return EntityRecord(
            r.entity_type, r.id, r.version, json.loads(r.data), r.source, aware(r.changed_at), None
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
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [_entity(r) for r in rows]

    async def event_kind_counts(self) -> dict[str, int]:
        """How many applied events of each kind the entity history holds."""
        v = t.entity_versions
        stmt = select(v.c.event_kind, func.count()).group_by(v.c.event_kind)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return {r[0]: int(r[1]) for r in rows if r[0]}

    async def count_entities(self, entity_type: str | None = None) -> dict[str, int]:
        e = t.entities
        stmt = select(e.c.entity_type, func.count()).group_by(e.c.entity_type)
        if entity_type is not None:
            stmt = stmt.where(e.c.entity_type == entity_type)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return {r[0]: int(r[1]) for r in rows}


def _entity(r: Any) -> EntityRecord:
    return EntityRecord(
        r.entity_type,
        r.id,
        r.version,
        json.loads(r.data),
        r.source,
        aware(r.updated_at),
        r.merged_into,
    )
