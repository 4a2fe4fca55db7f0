"""The sync engine's own rate: canonical events in ``carehub.ingress`` → identity, versioned
state, sync log → changes published to ``carehub.events`` (confirmed).

Events are published straight to the ingress exchange (no MLLP, no parsing) before the hub
starts; the rate is events settled per second while the engine drains that backlog. The
mix per patient: a registration, then renames (each a change), one resend of an identical
change (unchanged) and one update stamped in the past (stale) — the decisions the engine
makes on a real feed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from carehub.app.hub import Hub
from hub.canonical import Event, EventKind, HumanName, Identifier, Patient, Provenance
from hub.config import parse_config
from hub.envelope import Envelope
from queues import build_topology, ingress_exchange
from queues.amqp import AmqpTransport

__all__ = ["sync_rate"]

_PER_PATIENT = 10  # events per patient: 1 registration, 7 renames, 1 resend, 1 stale


def _events(n: int) -> list[Envelope]:
    base = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    out: list[Envelope] = []
    for p in range(max(1, n // _PER_PATIENT)):
        mrn = f"S{p:07d}"
        for k in range(_PER_PATIENT):
            if k == 0:
                kind, family, at = EventKind.PATIENT_REGISTERED, "Start", base
            elif k < 8:
                kind, family, at = (
                    EventKind.PATIENT_UPDATED,
                    f"Name{k}",
                    base + timedelta(minutes=k),
                )
            elif k == 8:  # the last change again, identical
                kind, family, at = EventKind.PATIENT_UPDATED, "Name7", base + timedelta(minutes=7)
            else:  # stamped before what the record holds
                kind, family, at = EventKind.PATIENT_UPDATED, "Old", base + timedelta(seconds=30)
            patient = Patient(
                identifiers=[Identifier(value=mrn, system="BENCH-CLINIC", type="MR")],
                names=[HumanName(family=family, given=["Bench"])],
            )
            event = Event(
                kind=kind,
                entity=patient,
                provenance=Provenance(source_system="ehr", format="hl7v2", recorded_at=at),
            )
            out.append(Envelope(source_system="ehr", format="hl7v2", payload=event))
    return out


async def sync_rate(*, n: int, amqp_url: str, db_url: str) -> dict[str, Any]:
    """Publish ``n`` events to a fresh namespace's ingress; time the engine through them."""
    ns = f"bench{uuid.uuid4().hex[:8]}"
    cfg = parse_config(
        f"hub:\n  namespace: {ns}\nsystems:\n  ehr:\n    inbound: []\n", "<bench>"
    ).with_overrides(db_url=db_url, amqp_url=amqp_url)
    envelopes = _events(n)
    publisher = AmqpTransport(amqp_url)
    topology = build_topology(ns, {})
    try:
        # the queue is filled first, so the engine is timed alone, draining a backlog
        await publisher.start(topology)
        exchange = ingress_exchange(ns)
        started = time.perf_counter()
        for i in range(0, len(envelopes), 200):
            await asyncio.gather(
                *(publisher.publish(exchange, e.routing_key, e) for e in envelopes[i : i + 200])
            )
        published_s = time.perf_counter() - started
        await publisher.close()
        async with Hub(cfg) as hub:
            assert hub.store is not None
            sync = next(c for c in hub.consumers if c.name == "sync")
            started = time.perf_counter()
            deadline = started + 900
            while sync.handled < len(envelopes):
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"engine handled {sync.handled} of {len(envelopes)}")
                await asyncio.sleep(0.01)
            total_s = time.perf_counter() - started
            outcomes = await hub.store.sync_outcomes()
    finally:
        await publisher.close()
        from bench.broker import delete_topology

        await delete_topology(amqp_url, topology)
    return {
        "n": len(envelopes),
        "publish_per_s": round(len(envelopes) / published_s, 1),
        "events_per_s": round(len(envelopes) / total_s, 1),
        "outcomes": outcomes,
    }
