"""The store's engine: connecting (SQLite inline, PostgreSQL through asyncpg), the schema
and its migration, transactions, and the one place database errors are translated.

``SqlStore`` runs every operation in a short transaction of its own; ``SqlUnit`` runs several
in one (``async with store.unit() as unit``). The operations themselves live one table
family per module (``hub.store.messages`` …). Database errors become ``StoreUnavailable``
(transient): a caller that cannot write durably must not acknowledge. A write the database
refuses becomes ``DuplicateKey`` or ``ConstraintViolation`` (``hub.records``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from sqlalchemy import create_engine, event, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from hub.errors import ConfigError, StoreUnavailable
from hub.store import schema as t
from hub.store.audit import AuditOps
from hub.store.base import constraint_error, utcnow
from hub.store.control import ControlNumberOps
from hub.store.deliveries import DeliveryOps
from hub.store.entities import EntityOps
from hub.store.messages import MessageOps
from hub.store.synclog import SyncLogOps
from hub.store.urls import normalise_url
from hub.store.xrefs import CrossReferenceOps

if TYPE_CHECKING:
    from hub import ports

__all__ = ["SqlStore", "SqlUnit"]

T = TypeVar("T")


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


class _Operations(
    MessageOps,
    DeliveryOps,
    EntityOps,
    CrossReferenceOps,
    SyncLogOps,
    ControlNumberOps,
    AuditOps,
):
    """Every store operation, written once per table family."""


class _InlineConnection:
    """The async-connection surface the operations use, over a synchronous SQLite connection.

    SQLite runs in this process: a statement takes microseconds and a commit one fsync
    (measured here ~0.3 ms). Going through aiosqlite costs about seven thread hand-offs per
    statement, which made the store the hub's bottleneck (3.0 ms per two-statement unit
    against 0.3 ms inline, bench/README). So SQLite statements run inline, one transaction
    at a time (``SqlStore._serial``); PostgreSQL keeps asyncpg.
    """

    def __init__(self, conn: Connection):
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    async def run_sync(self, fn: Callable[..., T]) -> T:
        return fn(self._conn)


class SqlStore(_Operations):
    """Open with ``await SqlStore.open(url)`` or ``async with SqlStore.connect(url) as store``."""

    def __init__(self, engine: AsyncEngine | Engine, url: str):
        self._engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        #: SQLite: one transaction at a time, run inline (see ``_InlineConnection``)
        self._serial = asyncio.Lock()

    @classmethod
    async def open(cls, url: str | None = None, *, create: bool = True) -> Self:
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
    async def connect(cls, url: str | None = None) -> AsyncIterator[Self]:
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
                    insert(t.schema_info).values(
                        id=1, version=t.SCHEMA_VERSION, migrated_at=utcnow()
                    )
                )
            elif row[0] < t.SCHEMA_VERSION:
                # versions 2 added tables, which create_all just made; 3 added a column
                if row[0] < 3:
                    await _add_digest_column(conn)
                await conn.execute(
                    update(t.schema_info).values(version=t.SCHEMA_VERSION, migrated_at=utcnow())
                )

        await self._tx(work)

    async def ping(self) -> bool:
        try:
            await self._tx(lambda c: c.execute(text("SELECT 1")))
        except StoreUnavailable:
            return False
        return True

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; translate database errors once, here."""
        async with self.unit() as unit:
            return await unit._tx(work)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnit]:
        """Several operations in one transaction: committed together, or not at all."""
        try:
            async with self._connection() as conn:
                yield SqlUnit(conn, self.dialect)
        except IntegrityError as exc:  # refused at commit
            raise constraint_error(exc) from exc
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


class SqlUnit(_Operations):
    """Operations bound to one open transaction (see ``SqlStore.unit``)."""

    def __init__(self, conn: AsyncConnection, dialect: str):
        self.conn = conn
        self.dialect = dialect

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in this transaction; a write the database refuses is translated
        here, where it happens, so a caller inside the unit sees the core's error."""
        try:
            return await work(self.conn)
        except IntegrityError as exc:
            raise constraint_error(exc) from exc


async def _add_digest_column(conn: AsyncConnection) -> None:
    """Schema 2 → 3: ``messages.digest``, unless a half-finished upgrade added it already.
    Old rows keep it empty; the pipeline computes their digest from ``raw`` when needed."""

    def columns(sync_conn: Connection) -> set[str]:
        return {c["name"] for c in inspect(sync_conn).get_columns("messages")}

    if "digest" not in await conn.run_sync(columns):
        await conn.execute(text("ALTER TABLE messages ADD COLUMN digest VARCHAR(64)"))


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


if TYPE_CHECKING:  # mypy proves the classes honour the core's protocols

    def _honours(store: SqlStore, unit: SqlUnit) -> tuple[ports.Store, ports.Unit]:
        return store, unit
