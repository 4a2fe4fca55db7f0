"""``control_numbers``: ISA13, GS06, ST02, MSH-10 per partner; persisted, never reused."""

from __future__ import annotations

from sqlalchemy import and_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import schema as t
from hub.store.base import Operations

__all__ = ["ControlNumberOps"]


class ControlNumberOps(Operations):
    """The control numbers' operations (``hub.ports.ControlNumbers``)."""

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
