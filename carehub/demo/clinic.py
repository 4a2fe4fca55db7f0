"""The demo clinic: a real hub with simulated partners talking to it over real sockets.

- ``ehr``: an EHR that registers patients over MLLP (several connections at once);
- ``billing``: a billing system with a FHIR API (a local aiohttp server) that subscribes to
  patient and encounter events.

``run_demo(once=True)`` runs the scenario to completion and returns counts; without
``once`` it keeps a trickle of traffic going until interrupted (``stop`` set: Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.hl7v2.client import MllpClient
from adapters.hl7v2.server import MllpServer
from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink
from carehub.demo.traffic import adt_message, demo_patients
from hub import ids
from hub.config import HubConfig, parse_config
from hub.ports import Store
from hub.records import DeliveryStatus
from hub.sync import CONSUMER as SYNC_CONSUMER
from queues import topic_matches

__all__ = ["DemoSummary", "demo_config", "run_demo"]


@dataclass
class DemoSummary:
    """Counts for the summary line and ``--json``."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    events: int = 0
    expected_deliveries: int = 0
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    seconds: float = 0.0
    data_dir: str = ""
    db_url: str = ""
    transport: str = ""
    mllp_port: int = 0
    fhir_sink: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.sent > 0
            and self.accepted == self.sent
            and self.failed == 0
            and self.delivered == self.expected_deliveries
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def demo_config(
    sink_url: str,
    *,
    data_dir: Path,
    db_url: str | None,
    amqp_url: str | None,
    namespace: str = "carehub-demo",
) -> HubConfig:
    text = f"""
hub:
  name: demo-clinic
  namespace: {namespace}
  retry_delays: [0.5, 2, 10]
  delivery_limit: 10
systems:
  ehr:
    description: the clinic's EHR (simulated), registers patients over MLLP
    inbound:
      - type: mllp
        name: adt
        host: 127.0.0.1
        port: 0
    identifiers: {{patient: DEMO-CLINIC}}
  billing:
    description: the billing system (simulated), a FHIR R4 server
    outbound:
      type: fhir
      url: {sink_url}
    subscribes: ["patient.*", "encounter.*"]
"""
    cfg = parse_config(text, "<demo>")
    db = db_url or f"sqlite:///{(data_dir / 'carehub.db').resolve()}"
    return cfg.with_overrides(db_url=db, amqp_url=amqp_url)


Progress = Callable[[DemoSummary], None]


async def run_demo(
    *,
    once: bool,
    messages: int = 200,
    connections: int = 4,
    data_dir: Path = Path("carehub-demo"),
    db_url: str | None = None,
    amqp_url: str | None = None,
    namespace: str = "carehub-demo",
    time_limit: float = 120.0,
    progress: Progress | None = None,
    on_ready: Callable[[DemoSummary], None] | None = None,
    stop: asyncio.Event | None = None,
) -> DemoSummary:
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    async with FhirSink() as sink:
        cfg = demo_config(
            sink.base_url,
            data_dir=data_dir,
            db_url=db_url,
            amqp_url=amqp_url,
            namespace=namespace,
        )
        async with Hub(cfg) as hub:
            assert hub.inbound is not None and hub.store is not None
            server = hub.inbound.find("ehr").server
            assert isinstance(server, MllpServer)
            port = server.port
            summary = DemoSummary(
                data_dir=str(data_dir),
                db_url=str(cfg.hub.db_url),
                transport="rabbitmq" if amqp_url else "embedded",
                mllp_port=port,
                fhir_sink=sink.base_url,
            )
            if on_ready is not None:
                on_ready(summary)
            run_id = time.strftime("%H%M%S")
            subs = cfg.destinations()
            baseline = await _counts(hub.store, subs)
            fmt = hub.inbound.hl7v2
            books = _Books(hub.store, "ehr", lambda raw: fmt.identify(fmt.parse(raw)).dedup_key)
            sender = asyncio.create_task(
                _send_all(port, messages, connections, summary, books, run_id)
            )
            deadline = started + time_limit
            while True:
                await _refresh(hub.store, summary, subs, started, baseline)
                if progress is not None:
                    progress(summary)
                if stop is not None and stop.is_set():
                    break  # Ctrl-C: end with the summary of what was done so far
                if sender.done() and (
                    (once and await _settled(hub.store, summary, books, subs, started, baseline))
                    or time.monotonic() > deadline
                ):
                    break
                if sender.done() and not once:
                    sender = asyncio.create_task(
                        _trickle(port, summary, books, f"{run_id}T{summary.sent}")
                    )
                await asyncio.sleep(0.25)
            with contextlib.suppress(asyncio.CancelledError):
                sender.cancel()
                await sender
            await _refresh(hub.store, summary, subs, started, baseline)
            summary.details["sink"] = {
                "applied": dict(sink.applied),
                "repeated_idempotency_keys": sink.repeated_keys,
            }
            return summary


class _Books:
    """This run's accepted messages, followed in the store until the sync engine has applied
    every one of their events (its ``processed`` rows).

    The counts cannot tell this: the deliveries due are counted from the events applied so
    far, so "every delivery due is recorded" also holds while accepted events still wait in
    the broker or in the engine's hands."""

    def __init__(self, store: Store, system: str, dedup_key: Callable[[bytes], str | None]):
        self.store = store
        self.system = system
        self.dedup_key = dedup_key
        #: de-duplication keys of accepted messages whose stored record is not yet read
        self._messages: list[str] = []
        #: ids of their events the sync engine has not applied yet (as far as last seen)
        self._events: list[str] = []

    def accepted(self, raw: bytes) -> None:
        """``raw`` was acknowledged AA/CA: stored, and its events confirmed by the broker."""
        key = self.dedup_key(raw)
        if key is None:  # the demo's messages always carry MSH-10
            raise ValueError("a demo message without a control id cannot be followed")
        self._messages.append(key)

    async def applied(self) -> bool:
        """Whether the sync engine has applied every event of every accepted message."""
        while self._messages:
            record = await self.store.find_accepted_duplicate(self.system, self._messages[0])
            if record is None:
                return False  # its answer is not on record yet
            basis = ids.event_basis(record.system, record.dedup_key, record.id, record.digest)
            self._events += [ids.event_id(basis, i) for i in range(record.event_count or 0)]
            self._messages.pop(0)
        while self._events:
            if not await self.store.was_processed(SYNC_CONSUMER, self._events[0]):
                return False
            self._events.pop(0)
        return True


async def _send_all(
    port: int, total: int, connections: int, summary: DemoSummary, books: _Books, run_id: str
) -> None:
    patients = demo_patients(total)
    chunks = [patients[i::connections] for i in range(connections)]
    await asyncio.gather(
        *(
            _send(port, chunk, summary, books, f"{run_id}C{n}")
            for n, chunk in enumerate(chunks)
            if chunk
        )
    )


async def _send(
    port: int, patients: list[Any], summary: DemoSummary, books: _Books, prefix: str
) -> None:
    client = MllpClient("127.0.0.1", port, timeout=30)
    try:
        for i, patient in enumerate(patients):
            message = adt_message(patient, f"{prefix}N{i:05d}")
            ack = await client.send(message)
            summary.sent += 1
            if b"MSA|AA|" in ack or b"MSA|CA|" in ack:
                summary.accepted += 1
                books.accepted(message)
            else:
                summary.rejected += 1
    finally:
        await client.close()


async def _trickle(port: int, summary: DemoSummary, books: _Books, prefix: str) -> None:
    await asyncio.sleep(2.0)
    patient = demo_patients(1, seed=summary.sent)[0]
    await _send(port, [patient], summary, books, prefix)


async def _counts(store: Store, subs: dict[str, list[str]]) -> dict[str, int]:
    """Cumulative counts in the store (events applied, deliveries due and by status)."""
    kinds = await store.event_kind_counts()
    deliveries = await store.delivery_counts()

    def status(name: DeliveryStatus) -> int:
        return sum(n for k, n in deliveries.items() if k.endswith(f":{name.value}"))

    due = sum(
        n
        for kind, n in kinds.items()
        for patterns in subs.values()
        if any(topic_matches(p, kind) for p in patterns)
    )
    return {
        "events": sum(kinds.values()),
        "expected_deliveries": due,
        "delivered": status(DeliveryStatus.DELIVERED),
        "failed": status(DeliveryStatus.PARKED),
        "retrying": status(DeliveryStatus.RETRYING),
    }


async def _refresh(
    store: Store,
    summary: DemoSummary,
    subs: dict[str, list[str]],
    started: float,
    baseline: dict[str, int],
) -> None:
    """This run's counts: the store's minus what it held before the run (a reused store)."""
    now = await _counts(store, subs)
    for key, value in now.items():
        setattr(summary, key, value - baseline.get(key, 0))
    summary.seconds = round(time.monotonic() - started, 2)


async def _settled(
    store: Store,
    summary: DemoSummary,
    books: _Books,
    subs: dict[str, list[str]],
    started: float,
    baseline: dict[str, int],
) -> bool:
    """Settled, from the store's durable state rather than from time passing: every message
    answered; every event of every accepted message applied by the sync engine; and then —
    counted only after that, so the deliveries due are all of them — every delivery due
    recorded as delivered or parked, none still retrying."""
    if summary.sent == 0 or summary.accepted + summary.rejected < summary.sent:
        return False
    if not await books.applied():
        return False
    # the engine marks an event applied only after its changes are saved and published:
    # the deliveries due, counted now, are final for this run
    await _refresh(store, summary, subs, started, baseline)
    return (
        summary.retrying == 0 and summary.delivered + summary.failed >= summary.expected_deliveries
    )
