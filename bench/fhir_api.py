"""FHIR API latency through the real HTTP stack: aiohttp server on loopback, the pipeline,
the embedded transport, a SQLite store and the sync engine (read-your-writes included).

    python -m bench.fhir_api [--quick]

Measures, one request at a time: a single Patient create (``POST /fhir/Patient``, answered
after the broker's confirm and the sync engine's apply) and a 50-entry transaction Bundle
(``POST /fhir``). Reports p50/p99 in milliseconds and the resulting rates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.fhir.api import mount_fhir
from carehub.app.fhir import make_fhir_app
from hub.config import parse_config
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

__all__ = ["fhir_latency"]

_ENV = "CAREHUB_BENCH_FHIR_TOKEN"
_CONFIG = f"""
hub: {{name: bench}}
clients:
  bench: {{token_env: {_ENV}, scopes: ["system/*.cruds"], system: bench}}
"""


def _patient(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:bench:mrn", "value": f"{uuid.uuid4().hex}-{i}"}],
        "name": [{"family": "Bench", "given": [f"P{i}"]}],
        "birthDate": "1970-01-01",
        "gender": "other",
    }


def _transaction(size: int) -> dict[str, Any]:
    entries = [
        {"resource": _patient(i), "request": {"method": "POST", "url": "Patient"}}
        for i in range(size)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


async def _timed(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> float:
    data = json.dumps(body).encode()
    start = time.perf_counter()
    async with session.post(url, data=data) as resp:
        await resp.read()
        if resp.status not in (200, 201):
            raise RuntimeError(f"unexpected status {resp.status}")
    return time.perf_counter() - start


async def _sync_loop(transport: MemoryTransport, queue: str, engine: SyncEngine) -> None:
    async for delivery in transport.consume(queue, prefetch=200):
        await settle(delivery, lambda _env, d=delivery: engine.handle(d))


async def fhir_latency(quick: bool) -> dict[str, Any]:
    """p50/p99 of single creates and of 50-entry transactions (embedded transport, SQLite)."""
    creates, transactions = (30, 4) if quick else (300, 20)
    token = uuid.uuid4().hex
    os.environ[_ENV] = token
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqlStore.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        transport = MemoryTransport()
        await transport.start(build_topology("bench", {}))
        pipeline = Pipeline(store, transport, ingress_exchange=ingress_exchange("bench"))
        engine = SyncEngine(store, transport, events_exchange=events_exchange("bench"))
        consumer = asyncio.create_task(_sync_loop(transport, sync_queue("bench"), engine))
        root = web.Application()
        mount_fhir(root, make_fhir_app(pipeline, store, parse_config(_CONFIG)))
        server = TestServer(root)
        await server.start_server()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        try:
            async with aiohttp.ClientSession(headers=headers) as session:
                base = str(server.make_url("/fhir"))
                single = [
                    await _timed(session, f"{base}/Patient", _patient(i)) for i in range(creates)
                ]
                bundles = [
                    await _timed(session, base, _transaction(50)) for _ in range(transactions)
                ]
        finally:
            await server.close()
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            await transport.close()
            await store.close()
    return {
        "create": _percentiles(single),
        "transaction_50": _percentiles(bundles),
        "creates_per_s": round(len(single) / sum(single), 1),
        "transaction_entries_per_s": round(50 * len(bundles) / sum(bundles), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(fhir_latency(args.quick)), indent=2))


if __name__ == "__main__":
    main()
