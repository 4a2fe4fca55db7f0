"""The audit trail is append-only in the database itself: a client that goes around the
store (its own connection, plain SQL) cannot change or remove a record — on SQLite and on
PostgreSQL, including PostgreSQL's TRUNCATE, which row triggers do not see."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.store import SqlStore
from tests.conftest import fresh_pg_database

FORGERIES = (
    "UPDATE audit SET outcome = 'forged'",
    "DELETE FROM audit",
    "DELETE FROM audit WHERE id = 1",
)


async def _one_record(url: str) -> None:
    store = await SqlStore.open(url)
    try:
        await store.audit(
            actor="ehr", action="received", outcome="accepted", subject="message:1", peer="10.0.0.1"
        )
    finally:
        await store.close()


async def test_sqlite_audit_rows_cannot_be_changed_or_removed(tmp_path: Path):
    path = tmp_path / "audit.db"
    await _one_record(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        for sql in FORGERIES:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
            conn.rollback()
        rows = conn.execute("SELECT actor, action, outcome, peer FROM audit").fetchall()
    finally:
        conn.close()
    assert rows == [("ehr", "received", "accepted", "10.0.0.1")]


@pytest.mark.postgres
async def test_postgresql_audit_rows_cannot_be_changed_removed_or_truncated():
    import asyncpg

    async with fresh_pg_database() as url:
        await _one_record(url)
        conn = await asyncpg.connect(url)
        try:
            for sql in (*FORGERIES, "TRUNCATE audit"):
                with pytest.raises(asyncpg.PostgresError, match="append-only"):
                    await conn.execute(sql)
            rows = await conn.fetch("SELECT actor, action, outcome, peer FROM audit")
        finally:
            await conn.close()
    assert [tuple(r) for r in rows] == [("ehr", "received", "accepted", "10.0.0.1")]


@pytest.mark.postgres
async def test_postgresql_append_only_survives_a_restart_migration():
    """Opening the store again (the schema migration runs each start) keeps the triggers."""
    import asyncpg

    async with fresh_pg_database() as url:
        await _one_record(url)
        await _one_record(url)
        conn = await asyncpg.connect(url)
        try:
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await conn.execute("TRUNCATE audit")
            assert await conn.fetchval("SELECT count(*) FROM audit") == 2
        finally:
            await conn.close()
