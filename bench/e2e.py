"""The hub's own end-to-end rate on the ADT path.

ADT^A04 over MLLP from several concurrent connections → stored → parsed → mapped → published
and confirmed → AA → sync engine → FHIR Patient and Encounter delivered by conditional update
to a local FHIR sink (aiohttp). Measured: the acknowledged rate (what senders see) and the
delivered rate (until the sink has everything), per transport/store combination.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from carehub.demo.traffic import adt_message, demo_patients
from hub.config import parse_config

__all__ = ["adt_end_to_end"]


def _config(sink_url: str, ns: str, db_url: str, amqp_url: str | None) -> Any:
    text = f"""
hub:
  namespace: {ns}
  retry_delays: [1, 5]
systems:
  ehr:
    inbound: [{{type: mllp, name: adt, port: 0}}]
    identifiers: {{patient: DEMO-CLINIC}}
  billing:
    outbound: {{type: fhir, url: "{sink_url}"}}
    subscribes: ["patient.*", "encounter.*"]
"""
    return parse_config(text, "<bench>").with_overrides(db_url=db_url, amqp_url=amqp_url)


async def adt_end_to_end(
    *, n: int, connections: int, db_url: str | None, amqp_url: str | None
) -> dict[str, Any]:
    """Send ``n`` ADT^A04 over ``connections`` MLLP connections; return the rates."""
    workdir = Path(tempfile.mkdtemp(prefix="carehub-bench-"))
    db = db_url or f"sqlite:///{workdir / 'bench.db'}"
    ns = f"bench{uuid.uuid4().hex[:8]}"
    messages = [adt_message(p, f"B{i:07d}") for i, p in enumerate(demo_patients(n, seed=11))]
    try:
        async with FhirSink() as sink, Hub(_config(sink.base_url, ns, db, amqp_url)) as hub:
            assert hub.inbound is not None
            port = hub.inbound.find("ehr").server.port
            started = time.perf_counter()
            acked = await _send(port, messages, connections)
            ack_s = time.perf_counter() - started
            await _drain(sink, n)
            all_s = time.perf_counter() - started
            delivered = sink.applied["Patient"] + sink.applied["Encounter"]
        if amqp_url:
            await _delete_namespace(amqp_url, ns)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "n": n,
        "connections": connections,
        "accepted": acked,
        "ack_per_s": round(n / ack_s, 1),
        "end_to_end_msg_per_s": round(n / all_s, 1),
        "deliveries": delivered,
        "deliveries_per_s": round(delivered / all_s, 1),
    }


async def _send(port: int, messages: list[bytes], connections: int) -> int:
    chunks = [messages[i::connections] for i in range(connections)]
    counts = await asyncio.gather(*(_send_chunk(port, c) for c in chunks))
    return sum(counts)


async def _send_chunk(port: int, chunk: list[bytes]) -> int:
    client = MllpClient("127.0.0.1", port, timeout=60)
    ok = 0
    try:
        for msg in chunk:
            ok += b"MSA|AA|" in await client.send(msg)
    finally:
        await client.close()
    return ok


async def _drain(sink: FhirSink, n: int, limit: float = 600.0) -> None:
    deadline = time.perf_counter() + limit
    while sink.applied["Patient"] < n or sink.applied["Encounter"] < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {dict(sink.applied)} of {n} each delivered")
        await asyncio.sleep(0.02)


async def _delete_namespace(amqp_url: str, ns: str) -> None:
    """Remove the bench's queues and exchanges from the broker."""
    from bench.broker import delete_topology
    from queues import build_topology

    topology = build_topology(ns, {"billing": ["patient.*", "encounter.*"]}, retry_delays=(1, 5))
    await delete_topology(amqp_url, topology)
