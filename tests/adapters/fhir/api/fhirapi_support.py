"""The FHIR API under test: a real SQLite (or PostgreSQL) store, a transport (embedded or
RabbitMQ), the pipeline, a sync-engine consumer, and the aiohttp app behind a test server.
(A unique module name: tests have no packages.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.fhir.api import mount_fhir
from carehub.app.fhir import make_fhir_app
from hub.config import HubConfig, parse_config
from hub.pipeline import Pipeline
from hub.store import SqlStore
from hub.sync import SyncEngine
from queues import (
    MemoryTransport,
    build_topology,
    events_exchange,
    ingress_exchange,
    settle,
    sync_queue,
)

FHIR_JSON = "application/fhir+json"

#: client id → (token, scopes)
CLIENTS = {
    "ehr-app": ("tok-ehr-" + uuid.uuid4().hex, ["system/*.cruds"]),
    "reader": ("tok-read-" + uuid.uuid4().hex, ["system/Patient.rs", "system/Appointment.read"]),
    "creator": ("tok-create-" + uuid.uuid4().hex, ["system/Patient.c"]),
}


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes().decode("utf-8-sig"))


def config_text(max_body: int, max_entries: int) -> str:
    lines = [
        "hub:",
        "  name: testhub",
        "  http:",
        f"    max_body_bytes: {max_body}",
        f"    max_bundle_entries: {max_entries}",
        "systems:",
        "  ehr:",
        "    inbound:",
        "      - type: fhir",
        "        client: ehr-app",
        "clients:",
    ]
    for cid, (_, scopes) in CLIENTS.items():
        env = "CAREHUB_TEST_TOKEN_" + cid.upper().replace("-", "_")
        lines += [f"  {cid}:", f"    token_env: {env}", f"    scopes: {json.dumps(scopes)}"]
    return "\n".join(lines) + "\n"


def set_tokens() -> None:
    for cid, (token, _) in CLIENTS.items():
        os.environ["CAREHUB_TEST_TOKEN_" + cid.upper().replace("-", "_")] = token


def auth(client: str = "ehr-app", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {CLIENTS[client][0]}", **extra}


def write_headers(client: str = "ehr-app", **extra: str) -> dict[str, str]:
    return auth(client, **{"Content-Type": FHIR_JSON, **extra})


@dataclass
class Api:
    """A running API: the HTTP client, the store, the config."""

    http: TestClient
    store: SqlStore
    config: HubConfig
    transport: Any
    namespace: str

    @property
    def http_auth(self) -> str:
        return auth()["Authorization"]

    async def publish_ingress(self, env: Any, wait: float = 5.0) -> None:
        """Publish a canonical event as another inbound port would; wait until applied."""
        await self.transport.publish(ingress_exchange(self.namespace), env.routing_key, env)
        for _ in range(int(wait / 0.01)):
            if await self.store.was_processed("sync", env.id):
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the sync engine did not apply the event")

    async def post(self, path: str, body: Any, client: str = "ehr-app", **headers: str) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(
            f"/fhir/{path}", data=data, headers=write_headers(client, **headers)
        )

    async def put(self, path: str, body: Any, client: str = "ehr-app", **headers: str) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.put(
            f"/fhir/{path}", data=data, headers=write_headers(client, **headers)
        )

    async def get(self, path: str, client: str = "ehr-app", **headers: str) -> Any:
        return await self.http.get(f"/fhir/{path}", headers=auth(client, **headers))

    async def delete(self, path: str, client: str = "ehr-app", **headers: str) -> Any:
        return await self.http.delete(f"/fhir/{path}", headers=auth(client, **headers))


async def _sync_loop(transport: Any, queue: str, engine: SyncEngine) -> None:
    async for delivery in transport.consume(queue, prefetch=50):
        await settle(delivery, lambda _env, d=delivery: engine.handle(d))


@asynccontextmanager
async def running_api(
    db_url: str,
    transport: Any | None = None,
    *,
    max_body: int = 512 * 1024,
    max_entries: int = 400,
    sync_wait: float = 5.0,
    namespace: str | None = None,
    sync: bool = True,
) -> AsyncIterator[Api]:
    """Store + transport + pipeline + sync consumer + the FHIR app on a test server."""
    set_tokens()
    config = parse_config(config_text(max_body, max_entries))
    ns = namespace or f"t{uuid.uuid4().hex[:10]}"
    transport = transport or MemoryTransport()
    store = await SqlStore.open(db_url)
    await transport.start(build_topology(ns, {}, retry_delays=[0.2]))
    pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange(ns), confirm_timeout=5)
    engine = SyncEngine(store, transport, events_exchange=events_exchange(ns))
    loop = _sync_loop(transport, sync_queue(ns), engine) if sync else asyncio.sleep(3600)
    consumer = asyncio.create_task(loop)
    root = web.Application()
    mount_fhir(root, make_fhir_app(pipeline, store, config, sync_wait=sync_wait))
    http = TestClient(TestServer(root))
    await http.start_server()
    try:
        yield Api(http, store, config, transport, ns)
    finally:
        await http.close()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await consumer
        await transport.close()
        await store.close()
