"""TLS on the HTTP listener (FHIR API, /x12, /admin, /health) with the MLLP options
(``hub.http.tls``): certificate and key, TLS 1.2+ or 1.3, mutual TLS against a CA, and an
``allowed_clients`` list of subject CNs or SHA-256 fingerprints. Certificates are made at test
time; requests go over real sockets to a running hub."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from carehub.app.hub import Hub
from hub.config import parse_config
from hub.errors import ConfigError
from tests.adapters.hl7v2.hl7v2_tls import Pki, make_pki

TOKEN = "tls-app-token"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    return make_pki(folder, clients=("partner-a", "partner-b"))


def config(tls: str, db: Path) -> str:
    return f"""
hub:
  namespace: httptls
  db_url: "sqlite:///{db}"
  http: {{port: 0, header_timeout: 0.8, tls: {{{tls}}}}}
systems:
  ehr:
    inbound: [{{type: fhir, client: app}}]
    identifiers: {{patient: GOODHEALTH}}
clients:
  app: {{token_env: TLS_APP, scopes: ["system/*.cruds"], system: ehr}}
"""


@pytest.fixture
def https(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], AsyncIterator[Hub]]:
    monkeypatch.setenv("TLS_APP", TOKEN)

    @asynccontextmanager
    async def start(extra: str = "") -> AsyncIterator[Hub]:
        tls = f'cert: "{pki.server_cert}", key: "{pki.server_key}"' + extra
        async with Hub(parse_config(config(tls, tmp_path / "tls.db"))) as hub:
            yield hub

    return start  # type: ignore[return-value]


def client_tls(
    pki: Pki, cn: str | None = None, *, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cn is not None:
        cert, key, _ = pki.clients[cn]
        context.load_cert_chain(str(cert), str(key))
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = max_version
    return context


async def request(
    hub: Hub, context: ssl.SSLContext | None, path: str = "/health", token: str | None = None
) -> bytes | None:
    """One GET; the answer's bytes, or None when the connection or handshake was refused."""
    assert hub.http is not None
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                hub.http.port,
                ssl=context,
                server_hostname="localhost" if context else None,
            )
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: hub\r\n{auth}Connection: close\r\n\r\n".encode()
                )
                data = await reader.read()
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (ssl.SSLError, ConnectionError, OSError, asyncio.IncompleteReadError):
        return None
    return data


def status(answer: bytes | None) -> int | None:
    if not answer or not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


async def test_https_serves_the_api_and_plain_http_gets_no_answer(https, pki: Pki):
    async with https() as hub:
        assert status(await request(hub, client_tls(pki))) == 200
        answer = await request(hub, client_tls(pki), "/fhir/Patient?family=Nobody", TOKEN)
        assert status(answer) == 200 and b'"Bundle"' in (answer or b"")
        assert status(await request(hub, None)) is None  # plain HTTP to the TLS port
        # a client that does not trust the hub's certificate does not get through either
        assert status(await request(hub, ssl.create_default_context())) is None


async def test_mutual_tls_lets_in_allowed_clients_only(https, pki: Pki):
    extra = f', ca: "{pki.ca}", require_client_cert: true, allowed_clients: [partner-a]'
    async with https(extra) as hub:
        assert status(await request(hub, client_tls(pki, "partner-a"))) == 200
        refused = await request(hub, client_tls(pki, "partner-b"))
        assert status(refused) == 403
        assert b"this client certificate is not allowed here" in (refused or b"")
        assert status(await request(hub, client_tls(pki))) is None  # no certificate
        assert hub.http is not None and hub.http.guard.stats["refused_certificate"] == 1


async def test_allowed_clients_by_fingerprint(https, pki: Pki):
    fingerprint = pki.clients["partner-b"][2]
    extra = f', ca: "{pki.ca}", require_client_cert: true, allowed_clients: ["{fingerprint}"]'
    async with https(extra) as hub:
        assert status(await request(hub, client_tls(pki, "partner-b"))) == 200
        assert status(await request(hub, client_tls(pki, "partner-a"))) == 403


async def test_min_version_1_3_refuses_a_1_2_client(https, pki: Pki):
    async with https(', min_version: "1.3"') as hub:
        tls12 = client_tls(pki, max_version=ssl.TLSVersion.TLSv1_2)
        assert status(await request(hub, tls12)) is None
        assert status(await request(hub, client_tls(pki))) == 200
    async with https() as hub:  # the default is 1.2: a 1.2 client is served, 1.1 is not
        assert status(await request(hub, client_tls(pki, max_version=ssl.TLSVersion.TLSv1_2)))
        old = client_tls(pki, max_version=ssl.TLSVersion.TLSv1_1)
        assert status(await request(hub, old)) is None


async def test_a_connection_that_never_starts_the_handshake_is_closed(https):
    async with https() as hub:
        assert hub.http is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.http.port)
        start = time.monotonic()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(6):
                assert await reader.read() == b""
        writer.close()
        assert time.monotonic() - start < 0.8 + 2


async def test_a_key_that_does_not_load_is_a_config_error_naming_the_key(pki: Pki, tmp_path: Path):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    tls = f'cert: "{pki.server_cert}", key: "{bad}"'
    with pytest.raises(ConfigError, match=r"hub\.http\.tls: cannot load certificate or key"):
        async with Hub(parse_config(config(tls, tmp_path / "bad.db"))):
            pass
    mutual = f'cert: "{pki.server_cert}", key: "{pki.server_key}", require_client_cert: true'
    with pytest.raises(ConfigError, match=r"hub\.http\.tls\.ca: mutual TLS needs"):
        async with Hub(parse_config(config(mutual, tmp_path / "bad2.db"))):
            pass
