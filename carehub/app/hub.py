"""The one place that wires adapters, mappings, conformance and queues together.

``Hub(config)`` opens the store, connects the transport and declares the topology, starts
the sync engine, one outbound worker per destination, and every inbound port the config
names. ``async with Hub(cfg) as hub:`` runs it; leaving the block stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carehub.app.consumers import Handler, LaneConsumer
from carehub.app.deliverers import make_deliverer
from carehub.app.http import HttpServer, http_wanted
from carehub.app.inbound import InboundPorts
from hub.config import HubConfig
from hub.context import Vocabulary
from hub.errors import CarehubError, ConfigError
from hub.outbound import OutboundWorker, PassthroughWorker, raw_envelope
from hub.passthru import RawRoutes
from hub.pipeline import Pipeline
from hub.ports import Deliverer, Delivery, OnSettled, PassesThrough, Transport
from hub.store import SqlStore
from hub.sync import IdentityService, SyncEngine
from mappings.vocab import load_vocabulary
from queues import (
    build_topology,
    events_exchange,
    ingress_exchange,
    make_transport,
    raw_exchange,
    raw_queue,
    sync_queue,
    work_queue,
)

__all__ = ["Hub", "HubStats"]

log = logging.getLogger("carehub.hub")


@dataclass
class HubStats:
    consumers: dict[str, int] = field(default_factory=dict)


class Hub:
    """A running hub. Components are public so the CLI, the demo and tests can look in."""

    def __init__(self, config: HubConfig, *, transport: Transport | None = None, lanes: int = 8):
        self.config = config
        self.ns = config.hub.namespace
        self.lanes = lanes
        self._given_transport = transport
        self.store: SqlStore | None = None
        self.transport: Transport | None = transport
        self.pipeline: Pipeline | None = None
        self.sync: SyncEngine | None = None
        self.consumers: list[LaneConsumer] = []
        self.deliverers: dict[str, Deliverer[Any]] = {}
        self.inbound: InboundPorts | None = None
        self.http: HttpServer | None = None

    async def __aenter__(self) -> Hub:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        cfg = self.config
        self.store = await SqlStore.open(cfg.hub.db_url)
        if self.transport is None:
            # lazy: the hub starts even when the broker is down; it refuses to acknowledge
            # (nothing can be confirmed) and recovers on its own when the broker comes up
            options = (
                {"lazy": True, "connection_name": f"carehub {cfg.hub.name}"}
                if cfg.hub.amqp_url
                else {}
            )
            self.transport = make_transport(cfg.hub.amqp_url, **options)
        raw_routes = cfg.raw_routes()
        topology = build_topology(
            self.ns,
            cfg.destinations(),
            retry_delays=cfg.hub.retry_delays,
            delivery_limit=cfg.hub.delivery_limit,
            raw_destinations=raw_routes,
        )
        await self.transport.start(topology)
        vocab = load_vocabulary(cfg.vocab)
        self.pipeline = Pipeline(
            self.store,
            self.transport,
            ingress_exchange=ingress_exchange(self.ns),
            confirm_timeout=cfg.hub.confirm_timeout,
            vocab=vocab,
            namespaces={n: s.identifiers for n, s in cfg.systems.items()},
            raw_exchange=raw_exchange(self.ns),
            raw_routes=RawRoutes(raw_routes),
        )
        # one identity service: the sync engine and the FHIR API decide ids the same way
        identity = IdentityService(cfg.matching.patient, cfg.matching.identifying)
        self.sync = SyncEngine(
            self.store,
            self.transport,
            events_exchange=events_exchange(self.ns),
            config=cfg,
            identity=identity,
        )
        self._consume(sync_queue(self.ns), self.sync.handle, "sync")
        for name in cfg.destinations():
            await self._start_destination(name, vocab)
        for name in raw_routes:
            self._start_passthrough(name, vocab)
        self.inbound = InboundPorts(cfg, self.pipeline)
        await self.inbound.start()
        if http_wanted(cfg):
            self.http = HttpServer(
                cfg, self.pipeline, self.store, self.transport, identity=identity
            )
            await self.http.start()
        log.info(
            "hub %s started: %d destinations, %d inbound ports",
            cfg.hub.name,
            len(self.deliverers),
            len(self.inbound.ports),
        )

    async def _start_destination(self, name: str, vocab: Vocabulary) -> None:
        system = self.config.systems[name]
        assert system.outbound is not None and self.store is not None
        deliverer = self._deliverer(name, vocab)
        worker = OutboundWorker(self.store, name, deliverer, format=system.outbound.type)
        self._consume(
            work_queue(self.ns, name), worker.handle, f"dest:{name}", settled=worker.settled
        )

    def _start_passthrough(self, name: str, vocab: Vocabulary) -> None:
        """The raw messages ``name`` subscribes to (``hub.passthru``), through the same HL7 v2
        deliverer (one MLLP connection) as its canonical events; one lane, so they go out
        in the order they came, as an interface engine's channel does."""
        assert self.store is not None
        deliverer = self._deliverer(name, vocab)
        if not isinstance(deliverer, PassesThrough):
            raise ConfigError(f"systems.{name}.outbound: cannot pass raw HL7 v2 messages through")
        worker = PassthroughWorker(self.store, name, deliverer)
        self._consume(
            raw_queue(self.ns, name),
            worker.handle,
            f"raw:{name}",
            settled=worker.settled,
            read=raw_envelope,
            lanes=1,
        )

    def _deliverer(self, name: str, vocab: Vocabulary) -> Deliverer[Any]:
        """The one deliverer of ``name``, made on first use."""
        if name not in self.deliverers:
            system = self.config.systems[name]
            assert self.store is not None
            self.deliverers[name] = make_deliverer(name, system, self.config, self.store, vocab)
        return self.deliverers[name]

    def _consume(
        self,
        queue: str,
        handler: Handler,
        name: str,
        *,
        settled: OnSettled | None = None,
        read: Callable[[Delivery], Any] | None = None,
        lanes: int | None = None,
    ) -> None:
        assert self.transport is not None
        consumer = LaneConsumer(
            self.transport,
            queue,
            handler,
            lanes=lanes or self.lanes,
            name=name,
            settled=settled,
            read=read,
        )
        consumer.start()
        self.consumers.append(consumer)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.inbound is not None:
            await self.inbound.stop()
        for consumer in self.consumers:
            await consumer.stop()
        self.consumers = []
        for deliverer in self.deliverers.values():
            with contextlib.suppress(Exception):
                await deliverer.close()
        self.deliverers = {}
        if self.transport is not None and self._given_transport is None:
            with contextlib.suppress(CarehubError, asyncio.TimeoutError):
                await self.transport.close()
            self.transport = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    def stats(self) -> HubStats:
        return HubStats(consumers={c.name: c.handled for c in self.consumers})
