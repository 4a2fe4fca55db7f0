"""``xrefs`` (identifiers → canonical ids), ``match_keys`` (demographic keys the matching
rules look up) and ``refs`` (which record points at which)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import schema as t
from hub.store.base import Operations, all_rows, utcnow

__all__ = ["CrossReferenceOps"]


class CrossReferenceOps(Operations):
    """The cross-reference's operations (``hub.ports.CrossReference``)."""

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
        now = utcnow()
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
        rows = await self._tx(lambda c: all_rows(c, stmt))
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
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [r[0] for r in rows]

    async def identifiers_of(self, entity_type: str, canonical_id: str) -> list[dict[str, str]]:
        x = t.xrefs
        stmt = (
            select(x.c.namespace, x.c.value, x.c.source)
            .where(and_(x.c.entity_type == entity_type, x.c.canonical_id == canonical_id))
            .order_by(x.c.namespace)
        )
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [{"namespace": r[0], "value": r[1], "source": r[2] or ""} for r in rows]

    async def unlink_identifiers(
        self, entity_type: str, canonical_id: str, identifiers: Iterable[tuple[str, str]]
    ) -> int:
        """Unlink (namespace, value) pairs from ``canonical_id`` (an identifier retired: they
        no longer name it; the record's history keeps them). Returns how many were unlinked."""
        pairs = list(dict.fromkeys(identifiers))
        if not pairs:
            return 0
        x = t.xrefs
        cond = or_(*[and_(x.c.namespace == ns, x.c.value == v) for ns, v in pairs])
        stmt = x.delete().where(
            and_(x.c.entity_type == entity_type, x.c.canonical_id == canonical_id, cond)
        )
        res = await self._tx(lambda c: c.execute(stmt))
        return int(res.rowcount)

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
        return [r[0] for r in await self._tx(lambda c: all_rows(c, stmt))]

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
        return [(a, b) for a, b in await self._tx(lambda c: all_rows(c, stmt))]
