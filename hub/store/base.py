"""What every table family's operations stand on: the transaction seam ``_tx``, the
dialect's INSERT … ON CONFLICT, row helpers, and the one translation of the database's
integrity errors into ``hub.records`` errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.records import ConstraintViolation, DuplicateKey

__all__ = ["Operations", "all_rows", "aware", "constraint_error", "first", "utcnow"]

T = TypeVar("T")

#: SQLSTATE unique_violation (PostgreSQL), and SQLite's extended codes for the same
_PG_UNIQUE = "23505"
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


class Operations:
    """The base of the table families' operations (``hub.store.messages`` …). ``SqlStore``
    runs each operation in a transaction of its own; ``SqlUnit`` runs several in one."""

    dialect: str

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        raise NotImplementedError

    def _insert_ignore(self, table: Any) -> Any:
        """INSERT … ON CONFLICT DO NOTHING, in this database's dialect."""
        return (pg_insert if self.dialect == "postgresql" else sqlite_insert)(
            table
        ).on_conflict_do_nothing()


def constraint_error(exc: IntegrityError) -> ConstraintViolation:
    """The core's error for a write the database refused. The text names no values: the
    database's own message quotes the key, which may be an identifier (PHI); it stays on
    ``__cause__``."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE or (
        getattr(orig, "sqlite_errorname", None) in _SQLITE_UNIQUE
    ):
        return DuplicateKey("the store refused a write: the key is taken")
    return ConstraintViolation("the store refused a write: a constraint or trigger failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def first(conn: AsyncConnection, stmt: Any, params: Any = None) -> Any:
    return (await conn.execute(stmt, params)).first()


async def all_rows(conn: AsyncConnection, stmt: Any) -> list[Any]:
    return list((await conn.execute(stmt)).all())


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we write is UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
