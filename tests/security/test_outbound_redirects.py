"""Outbound FHIR never follows a redirect (issue 11, item 6).

Two real aiohttp servers: the partner answers every request with a 3xx whose ``Location``
points at another origin (with a token in its query); the other origin records whatever
reaches it. Nothing may reach it — not the resource, not the bearer token, not the signed
SMART assertion — and the delivery is not recorded as done: parked by default, retrying
with ``redirects: retry``. The failure names the status and the Location's origin, never
its path or query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.fhir.client import FhirClient
from adapters.fhir.smart import SmartBackendAuth
from adapters.hl7v2 import parse
from adapters.hl7v2.client import MllpClient
from carehub.app.hub import Hub
from hub.config import parse_config
from hub.errors import PartnerRejected, PartnerUnavailable
from hub.records import DeliveryStatus
from tests.e2e.test_adt_to_fhir import A04
from tests.waiting import eventually

PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "42"}]}
QUERY_SECRET = "stolen-QZ7731"


@dataclass
class Server:
    url: str = ""
    seen: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None


async def _serve(handler: web.StreamResponse | object) -> Server:
    server = Server()

    async def record(request: web.Request) -> web.StreamResponse:
        await request.read()
        server.seen.append(f"{request.method} {request.path_qs}")
        return await handler(request)  # type: ignore[operator,no-any-return]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server.runner = web.AppRunner(app)
    await server.runner.setup()
    site = web.TCPSite(server.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    return server


@dataclass
class Pair:
    partner: Server
    elsewhere: Server
    status: list[int]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """``partner`` redirects with ``status[0]`` to ``elsewhere``, which would accept
    anything (201) — a client that follows would record the delivery as done."""

    async def accept(request: web.Request) -> web.StreamResponse:
        return web.json_response(PATIENT, status=201)

    elsewhere = await _serve(accept)
    status = [307]

    async def redirect(request: web.Request) -> web.StreamResponse:
        target = f"{elsewhere.url}/fhir/Patient?token={QUERY_SECRET}"
        return web.Response(status=status[0], headers={"Location": target})

    partner = await _serve(redirect)
    yield Pair(partner, elsewhere, status)
    for s in (partner, elsewhere):
        assert s.runner is not None
        await s.runner.cleanup()


def _named(exc: BaseException, pair: Pair, status: int) -> None:
    text = str(exc)
    assert f"partner answered {status}" in text
    assert f"a redirect to {pair.elsewhere.url} (another origin)" in text
    assert QUERY_SECRET not in text and "/fhir/Patient" not in text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_on_a_write_is_not_followed_and_is_a_permanent_failure(
    pair: Pair, status: int
):
    pair.status[0] = status
    async with FhirClient(f"{pair.partner.url}/fhir", token=_token) as client:
        with pytest.raises(PartnerRejected) as err:
            await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)
    assert pair.elsewhere.seen == []
    assert len(pair.partner.seen) == 1  # permanent: not retried
    _named(err.value, pair, status)


async def test_with_redirects_retry_a_redirect_is_transient(pair: Pair):
    async with FhirClient(
        f"{pair.partner.url}/fhir", attempts=2, max_backoff=0.01, redirects="retry"
    ) as client:
        with pytest.raises(PartnerUnavailable) as err:
            await client.conditional_update("Patient", "urn:mrn", "42", PATIENT)
    assert err.value.transient and pair.elsewhere.seen == []
    _named(err.value, pair, 307)


@pytest.mark.parametrize("method", ["transaction", "delete", "read"])
async def test_no_interaction_follows_a_redirect(pair: Pair, method: str):
    pair.status[0] = 308
    async with FhirClient(f"{pair.partner.url}/fhir", token=_token) as client:
        with pytest.raises(PartnerRejected):
            if method == "transaction":
                await client.transaction({"resourceType": "Bundle", "type": "transaction"})
            elif method == "delete":
                await client.conditional_delete("Patient", "urn:mrn", "42")
            else:
                await client.read("Patient", "1")
    assert pair.elsewhere.seen == []


async def _token() -> str:
    return "bearer-QZ-never-elsewhere"


def _pem() -> str:
    key = rsa.generate_private_key(65537, 2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    ("policy", "error"), [("fail", PartnerRejected), ("retry", PartnerUnavailable)]
)
async def test_the_smart_token_request_does_not_follow_a_redirect(
    pair: Pair, policy: str, error: type[Exception]
):
    auth = SmartBackendAuth(f"{pair.partner.url}/token", "carehub", _pem(), redirects=policy)  # type: ignore[arg-type]
    with pytest.raises(error) as err:
        await auth()
    assert pair.elsewhere.seen == []  # the signed assertion went nowhere else
    assert "token endpoint: partner answered 307" in str(err.value)
    assert f"{pair.elsewhere.url} (another origin)" in str(err.value)


CONFIG = """
hub:
  namespace: redirects
  retry_delays: [0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
  delivery_limit: 50
systems:
  ehr:
    inbound: [{{type: mllp, name: adt, port: 0}}]
    identifiers: {{patient: GOODHEALTH}}
  billing:
    outbound: {{type: fhir, url: "{partner}/billing", timeout: 5}}
    subscribes: ["patient.*"]
  claims:
    outbound: {{type: fhir, url: "{partner}/claims", timeout: 5, redirects: retry}}
    subscribes: ["patient.*"]
"""


async def test_a_delivery_answered_with_a_redirect_is_parked_or_retried_never_done(
    pair: Pair, tmp_path
):
    cfg = parse_config(CONFIG.format(partner=pair.partner.url)).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'h.db'}"
    )
    async with Hub(cfg) as hub:
        assert hub.inbound is not None and hub.store is not None
        store = hub.store
        client = MllpClient("127.0.0.1", hub.inbound.find("ehr").server.port, timeout=10)
        assert parse(await client.send(A04))["MSA-1"] == "AA"
        await client.close()

        async def status(name: str) -> list:
            return await store.list_deliveries(destination=name)

        async def settled() -> bool:
            billing, claims = await status("billing"), await status("claims")
            return bool(
                billing
                and billing[0].status is DeliveryStatus.PARKED
                and claims
                and claims[0].status is DeliveryStatus.RETRYING
                and claims[0].attempts >= 2
            )

        await eventually(settled, 15)
        (billing,), (claims,) = await status("billing"), await status("claims")
    assert pair.elsewhere.seen == []
    assert billing.detail is not None and "partner answered 307" in billing.detail
    assert f"{pair.elsewhere.url} (another origin)" in billing.detail
    assert QUERY_SECRET not in billing.detail
    assert claims.status is DeliveryStatus.RETRYING and claims.detail is not None
    assert "partner answered 307" in claims.detail
