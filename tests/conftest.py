"""Shared fixtures: the corpus, and the real services (RabbitMQ, PostgreSQL).

Tests that need a service skip when it is unreachable — unless CAREHUB_REQUIRE_SERVICES=1
(CI), in which case they fail: a missing service must never pass as green.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.corpus import corpus_dir

REPO = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("CAREHUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN_URL = os.environ.get("CAREHUB_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), 2):
            return True
    except OSError:
        return False


def need_service(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {urlparse(url).hostname}:{urlparse(url).port}"
    if os.environ.get("CAREHUB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and CAREHUB_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _broker_cleanup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every queue and exchange an AMQP transport declared during the test is deleted after
    it. The shared broker must not accumulate test queues: each quorum queue holds file
    handles, and a broker at its handle limit stops accepting connections (seen in CI: the
    system broker hung after ~300 leftover queues)."""
    from queues.amqp import AmqpTransport

    declared: list[tuple[str, Any]] = []
    original = AmqpTransport.start

    async def start(self: AmqpTransport, topology: Any) -> None:
        declared.append((self._params, topology))
        await original(self, topology)

    monkeypatch.setattr(AmqpTransport, "start", start)
    yield
    for params, topology in declared:
        delete_topology(params, topology)


def delete_topology(params: Any, topology: Any) -> None:
    """Delete the queues and exchanges of ``topology``; ``params`` is an AMQP URL or pika
    connection parameters. Best effort: a broker that is gone has nothing to clean."""
    import pika

    if isinstance(params, str):
        params = pika.URLParameters(params)
    try:
        conn = pika.BlockingConnection(params)
    except Exception:  # the broker is gone (a test stopped it): nothing to clean
        return
    try:
        chan = conn.channel()
        for queue in topology.queues:
            chan.queue_delete(queue.name)
        for exchange in topology.exchanges:
            chan.exchange_delete(exchange.name)
    except Exception:  # best effort; the next declaration in this namespace never comes
        pass
    finally:
        if conn.is_open:
            conn.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fault suite (marker ``fault``: private brokers, kill -9, minutes) runs only when
    the marker expression names it (``pytest -m fault tests/fault``); a plain ``pytest``
    deselects it."""
    if "fault" in (config.option.markexpr or ""):
        return
    fault = [item for item in items if item.get_closest_marker("fault") is not None]
    if fault:
        config.hook.pytest_deselected(items=fault)
        items[:] = [item for item in items if item.get_closest_marker("fault") is None]


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        pytest.fail(f"the shared corpus is not at {path}; set CAREHUB_CORPUS")
    return path


@pytest.fixture
def amqp_url() -> str:
    need_service("RabbitMQ", AMQP_URL, 5672)
    return AMQP_URL


@pytest.fixture
def namespace() -> str:
    """A namespace of exchanges and queues of this test's own on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new PostgreSQL database of its own, dropped afterwards."""
    need_service("PostgreSQL", PG_ADMIN_URL, 5432)
    name = f"carehub_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each store test runs against a SQLite file and a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'carehub.db'}"
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("CAREHUB_DB_URL", "CAREHUB_AMQP_URL"):
        monkeypatch.delenv(var, raising=False)
    yield
