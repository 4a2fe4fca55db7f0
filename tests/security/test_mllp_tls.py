"""MLLP access through the hub's config: TLS 1.2+ (1.3 when asked), mutual TLS with a
client allow-list, a source-address allow-list, and plain MLLP only where the config says so.
Certificates are made at test time. A refused connection gets no ACK and stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.hl7v2 import parse
from carehub.app.hub import Hub
from hub.config import parse_config
from hub.errors import ConfigError
from tests.adapters.hl7v2.hl7v2_tls import Pki, make_pki
from tests.e2e.test_adt_to_fhir import A04


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    return make_pki(folder, clients=("partner-a", "partner-b"))


def config(pki: Pki, db: Path) -> str:
    tls = f'cert: "{pki.server_cert}", key: "{pki.server_key}"'
    return f"""
hub: {{namespace: tls, db_url: "sqlite:///{db}"}}
systems:
  ehr:
    inbound:
      - {{type: mllp, name: mtls, port: 0,
         tls: {{{tls}, ca: "{pki.ca}", require_client_cert: true,
               allowed_clients: [partner-a]}}}}
    identifiers: {{patient: GOODHEALTH}}
  lab:
    inbound: [{{type: mllp, name: tls13, port: 0, tls: {{{tls}, min_version: "1.3"}}}}]
  clinic:
    inbound: [{{type: mllp, name: tls12, port: 0, tls: {{{tls}}}}}]
  fenced:
    inbound: [{{type: mllp, name: fenced, port: 0, allowed_peers: ["10.9.9.0/24"]}}]
"""


@pytest.fixture
async def hub(pki: Pki, tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(parse_config(config(pki, tmp_path / "tls.db"))) as h:
        yield h


def port(hub: Hub, system: str) -> int:
    assert hub.inbound is not None
    return int(hub.inbound.find(system).server.port)


def client_tls(
    pki: Pki, cn: str | None = None, *, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cn is not None:
        cert, key, _ = pki.clients[cn]
        context.load_cert_chain(str(cert), str(key))
    if max_version is not None:
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = max_version
    return context


async def exchange(port: int, context: ssl.SSLContext | None) -> bytes | None:
    """One A04 over MLLP; the ACK's payload, or None when the hub refused the connection."""
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=context,
                server_hostname="localhost" if context else None,
            )
            try:
                writer.write(b"\x0b" + A04 + b"\x1c\r")
                await writer.drain()
                data = await reader.read(65536)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (ssl.SSLError, ConnectionError, OSError, asyncio.IncompleteReadError):
        return None
    if not data.startswith(b"\x0b") or b"\x1c" not in data:
        return None
    return data[1 : data.index(b"\x1c")]


async def stored(hub: Hub) -> int:
    assert hub.store is not None
    return len(await hub.store.list_messages(direction="in"))


async def test_mutual_tls_serves_an_allowed_client(hub: Hub, pki: Pki):
    ack = await exchange(port(hub, "ehr"), client_tls(pki, "partner-a"))
    assert ack is not None and parse(ack)["MSA-1"] == "AA"
    assert hub.store is not None
    (record,) = await hub.store.list_messages(direction="in")
    assert record.peer is not None and "cn=partner-a" in record.peer


async def test_mutual_tls_without_a_client_certificate_is_refused(hub: Hub, pki: Pki):
    assert await exchange(port(hub, "ehr"), client_tls(pki, None)) is None
    assert await stored(hub) == 0


async def test_mutual_tls_with_a_certificate_not_in_allowed_clients_is_refused(hub: Hub, pki: Pki):
    assert await exchange(port(hub, "ehr"), client_tls(pki, "partner-b")) is None
    assert await stored(hub) == 0


async def test_plain_mllp_to_a_tls_port_is_refused(hub: Hub):
    for system in ("ehr", "clinic"):
        assert await exchange(port(hub, system), None) is None
    assert await stored(hub) == 0


async def test_tls_below_1_2_is_refused_and_the_minimum_is_enforced(hub: Hub, pki: Pki):
    assert hub.inbound is not None
    for system in ("ehr", "clinic", "lab"):
        server = hub.inbound.find(system).server
        assert server.ssl_context.minimum_version >= ssl.TLSVersion.TLSv1_2
    old = client_tls(pki, max_version=ssl.TLSVersion.TLSv1_1)
    assert await exchange(port(hub, "clinic"), old) is None
    # min_version "1.3": a client that stops at 1.2 is refused, one that speaks 1.3 served
    tls12 = client_tls(pki, max_version=ssl.TLSVersion.TLSv1_2)
    assert await exchange(port(hub, "lab"), tls12) is None
    ack = await exchange(port(hub, "lab"), client_tls(pki))
    assert ack is not None and parse(ack)["MSA-1"] in ("AA", "AR")
    ack = await exchange(port(hub, "clinic"), tls12)  # the 1.2 port takes 1.2
    assert ack is not None


async def test_a_source_not_in_the_allow_list_is_refused(hub: Hub):
    assert await exchange(port(hub, "fenced"), None) is None
    assert hub.inbound is not None
    assert hub.inbound.find("fenced").server.stats["refused"] == 1
    assert await stored(hub) == 0


async def test_plain_mllp_off_loopback_needs_allow_plaintext(tmp_path: Path):
    text = f"""
hub: {{namespace: plain, db_url: "sqlite:///{tmp_path / "p.db"}"}}
systems:
  ehr:
    inbound: [{{type: mllp, host: 0.0.0.0, port: 0}}]
"""
    with pytest.raises(ConfigError, match="allow_plaintext"):
        async with Hub(parse_config(text)):
            pass
    allowed = text.replace("port: 0}", "port: 0, allow_plaintext: true}")
    async with Hub(parse_config(allowed)) as hub:
        assert hub.inbound is not None and hub.inbound.find("ehr").server.ssl_context is None
