"""Bearer tokens and scopes on every HTTP surface of a running hub: the FHIR API, the admin
endpoints and X12 over HTTP. No token or an unknown one is 401 (with WWW-Authenticate); a
known client without the scope is 403; every denial is in the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from carehub.app.hub import Hub
from tests.security.seckit import TOKENS, base, bearer, secured_hub

NO_TOKEN: dict[str, str] = {}
BAD_TOKEN = {"Authorization": "Bearer not-a-token-of-anyone"}
EMPTY_BEARER = {"Authorization": "Bearer "}
BASIC = {"Authorization": f"Basic {TOKENS['ops']}"}  # a right token in the wrong scheme
UNAUTHENTICATED = [NO_TOKEN, BAD_TOKEN, EMPTY_BEARER, BASIC]
PATIENT = json.dumps(
    {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "A1"}]}
).encode()


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    async with secured_hub(tmp_path, monkeypatch) as (h, _sink):
        yield h


async def call(hub: Hub, method: str, path: str, headers: dict[str, str], body: bytes = b""):
    hdrs = dict(headers)
    if body:
        hdrs["Content-Type"] = (
            "application/edi-x12" if path.startswith("/x12") else "application/fhir+json"
        )
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{base(hub)}{path}", headers=hdrs, data=body or None) as resp,
    ):
        return resp.status, await resp.read(), resp.headers


FHIR_CALLS = [
    ("GET", "/fhir/Patient", b""),
    ("GET", "/fhir/Patient/abc", b""),
    ("POST", "/fhir/Patient", PATIENT),
    ("POST", "/fhir", b'{"resourceType":"Bundle","type":"batch","entry":[]}'),
    ("POST", "/fhir/Patient/$validate", PATIENT),
]
ADMIN_CALLS = [
    ("GET", "/admin/status"),
    ("GET", "/admin/parked/billing"),
    ("POST", "/admin/parked/billing/replay"),
]


@pytest.mark.parametrize(("method", "path", "body"), FHIR_CALLS)
async def test_fhir_api_without_a_valid_bearer_token_is_401(hub: Hub, method, path, body):
    for headers in UNAUTHENTICATED:
        status, answer, hdrs = await call(hub, method, path, headers, body)
        assert status == 401, (headers, answer)
        assert hdrs["WWW-Authenticate"].startswith("Bearer")
        outcome = json.loads(answer)
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "login"


@pytest.mark.parametrize(
    ("client", "method", "path", "body"),
    [
        ("reader", "POST", "/fhir/Patient", PATIENT),  # rs: no create
        ("reader", "GET", "/fhir/Encounter", b""),  # Patient only
        ("ops", "GET", "/fhir/Patient", b""),  # admin scope is not a FHIR scope
        ("ch", "GET", "/fhir/Patient/abc", b""),  # no scopes at all
    ],
)
async def test_fhir_api_with_the_wrong_scope_is_403_and_audited(
    hub: Hub, client, method, path, body
):
    status, answer, hdrs = await call(hub, method, path, bearer(client), body)
    assert status == 403, answer
    assert json.loads(answer)["issue"][0]["code"] == "forbidden"
    assert "insufficient_scope" in hdrs["WWW-Authenticate"]
    assert hub.store is not None
    denied = await hub.store.audit_trail(action="denied")
    assert any(a.actor == client and a.peer == "127.0.0.1" for a in denied)


async def test_fhir_api_with_the_right_scope_is_served_and_metadata_is_open(hub: Hub):
    assert (await call(hub, "GET", "/fhir/Patient", bearer("reader")))[0] == 200
    assert (await call(hub, "GET", "/fhir/metadata", NO_TOKEN))[0] == 200


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
async def test_admin_endpoints_need_a_token_and_the_admin_scope(hub: Hub, method, path):
    for headers in UNAUTHENTICATED:
        status, _, hdrs = await call(hub, method, path, headers)
        assert status == 401 and hdrs["WWW-Authenticate"].startswith("Bearer"), headers
    for client in ("reader", "writer", "ch"):  # valid clients, none with carehub/admin
        status, _, _ = await call(hub, method, path, bearer(client))
        assert status == 403, client
    status, _, _ = await call(hub, method, path, bearer("ops"))
    assert status == 200
    assert hub.store is not None
    denied = {a.actor for a in await hub.store.audit_trail(action="denied") if a.subject == path}
    assert denied == {"reader", "writer", "ch"}


async def test_x12_over_http_needs_the_token_of_the_systems_client(hub: Hub):
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    for headers in UNAUTHENTICATED:
        assert (await call(hub, "POST", "/x12/clearinghouse", headers, isa))[0] == 401
    for client in ("reader", "writer", "ops"):
        assert (await call(hub, "POST", "/x12/clearinghouse", bearer(client), isa))[0] == 403
    assert (await call(hub, "POST", "/x12/clearinghouse", bearer("ch"), isa))[0] == 200


async def test_every_endpoint_reads_the_token_with_the_one_authenticator(hub: Hub):
    """The FHIR API, the admin endpoints and X12 over HTTP identify clients alike: the
    scheme is case-insensitive (RFC 7235 §2.1) everywhere, and the admin scope is held by
    the same client record the FHIR API sees."""
    lower = {name: {"Authorization": f"bearer {token}"} for name, token in TOKENS.items()}
    assert (await call(hub, "GET", "/fhir/Patient", lower["reader"]))[0] == 200
    assert (await call(hub, "GET", "/admin/status", lower["ops"]))[0] == 200
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    assert (await call(hub, "POST", "/x12/clearinghouse", lower["ch"], isa))[0] == 200
    assert hub.http is not None
    assert hub.http.auth.identify(f"Bearer {TOKENS['ops']}").has_scope("carehub/admin")
