"""Helpers for the queue tests: both transports over one contract, on a private namespace.

The RabbitMQ broker is shared with other test runs: every test gets its own namespace
(``t<uuid8>``) and deletes exactly that namespace's queues and exchanges afterwards.
The AMQP parameter skips when the broker is unreachable, unless
``CAREHUB_REQUIRE_SERVICES=1``, in which case it fails.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pika
import pytest

from hub.canonical import Event, EventKind, Patient, Provenance
from hub.envelope import Envelope
from hub.ports import Topology
from queues import AmqpTransport, MemoryTransport, build_topology
from queues._pika import Channel, close_quietly, open_connection

AMQP_URL = os.environ.get("CAREHUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
REQUIRE = os.environ.get("CAREHUB_REQUIRE_SERVICES") == "1"

#: short tiers so a full retry cycle takes well under a second
DELAYS = (0.2, 0.4)


def broker_reachable(url: str = AMQP_URL) -> bool:
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 1):
            return True
    except OSError:
        return False


def need_broker() -> None:
    """Skip (or fail, when services are required) without a reachable broker."""
    if not broker_reachable():
        if REQUIRE:
            pytest.fail(f"RabbitMQ required (CAREHUB_REQUIRE_SERVICES=1) but {AMQP_URL} is down")
        pytest.skip("RabbitMQ not reachable")


def need_rabbitmqctl() -> str:
    path = shutil.which("rabbitmqctl")
    if path is None:
        if REQUIRE:
            pytest.fail("rabbitmqctl required to inspect the broker but not found")
        pytest.skip("rabbitmqctl not available")
    return path


def rabbitmqctl(*args: str) -> str:
    out = subprocess.run(
        [need_rabbitmqctl(), "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout


def new_namespace() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def make_envelope(kind: str = "patient.registered", **fields: Any) -> Envelope:
    """An envelope with a minimal canonical payload (no real patient data)."""
    event = Event(
        kind=EventKind(kind),
        entity=Patient(),
        provenance=Provenance(source_system="ehr", format="hl7v2"),
    )
    return Envelope(source_system="ehr", format="hl7v2", payload=event, **fields)


@asynccontextmanager
async def raw_channel(url: str = AMQP_URL) -> AsyncIterator[Channel]:
    """A channel on a connection of its own, for arranging things behind a transport's back."""
    conn = await open_connection(pika.URLParameters(url), lambda *_: None, 10)
    try:
        yield await Channel.open(conn, 10)
    finally:
        close_quietly(conn)
        await asyncio.sleep(0.05)


async def delete_queues(*names: str) -> None:
    async with raw_channel() as chan:
        for name in names:
            await chan.call(functools.partial(chan.raw.queue_delete, name), "delete")


async def delete_namespace(topology: Topology) -> None:
    """Delete the queues and exchanges of ``topology`` (and nothing else) on the broker."""
    async with raw_channel() as chan:
        for q in topology.queues:
            await chan.call(functools.partial(chan.raw.queue_delete, q.name), "delete")
        for e in topology.exchanges:
            await chan.call(functools.partial(chan.raw.exchange_delete, e.name), "delete")


@dataclass
class Hub:
    """A started transport on a private namespace, and how to build more of the same kind."""

    kind: str
    transport: Any
    topology: Topology
    ns: str
    make: Callable[..., Any]

    @property
    def is_amqp(self) -> bool:
        return self.kind == "amqp"


class HubMaker:
    """Builds started transports of one kind on private namespaces; cleans them all up."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.hubs: list[Hub] = []

    def new_transport(self, **kw: Any) -> Any:
        if self.kind == "memory":
            return MemoryTransport(**kw)
        return AmqpTransport(AMQP_URL, **{"publish_timeout": 10, **kw})

    async def __call__(
        self,
        destinations: dict[str, list[str]] | None = None,
        *,
        ns: str | None = None,
        transport_kw: dict[str, Any] | None = None,
        **topology_kw: Any,
    ) -> Hub:
        ns = ns or new_namespace()
        topology_kw.setdefault("retry_delays", DELAYS)
        topology = build_topology(ns, destinations or {"a": ["patient.*"]}, **topology_kw)
        transport = self.new_transport(**(transport_kw or {}))
        hub = Hub(self.kind, transport, topology, ns, self.new_transport)
        self.hubs.append(hub)
        await transport.start(topology)
        return hub

    async def cleanup(self) -> None:
        for hub in self.hubs:
            await hub.transport.close()
        if self.kind == "amqp":
            for topology in {h.ns: h.topology for h in self.hubs}.values():
                await delete_namespace(topology)


def connection_pids(name: str) -> list[str]:
    """Broker-side pids of the connections whose client named itself ``name``."""
    out = rabbitmqctl("--no-table-headers", "list_connections", "pid", "client_properties")
    tag = f'{{"connection_name","{name}"}}'
    return [line.split("\t", 1)[0] for line in out.splitlines() if tag in line]


def connection_heartbeat(name: str) -> int:
    out = rabbitmqctl("--no-table-headers", "list_connections", "timeout", "client_properties")
    tag = f'{{"connection_name","{name}"}}'
    [line] = [line for line in out.splitlines() if tag in line]
    return int(line.split("\t", 1)[0])


def close_connection_on_broker(name: str) -> None:
    """Force-close (``320 CONNECTION_FORCED``) our named connection from the broker side."""
    pids = connection_pids(name)
    assert pids, f"no broker connection named {name}"
    for pid in pids:
        rabbitmqctl("close_connection", pid, "carehub test: forced close")


def queue_types_and_arguments(prefix: str) -> dict[str, tuple[str, str]]:
    out = rabbitmqctl("--no-table-headers", "list_queues", "name", "type", "arguments")
    found = {}
    for line in out.splitlines():
        name, qtype, args = line.split("\t", 2)
        if name.startswith(prefix):
            found[name] = (qtype, args)
    return found


def free_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
