"""Bearer tokens and scopes on every HTTP surface of a running hub: the FHIR API, the admin
endpoints and X12 over HTTP. No token or an unknown one is 401 (with WWW-Authenticate); a
known client without the scope is 403; every denial — 401 and 403 — is in the audit trail.
X12 over HTTP takes only the token of the client its port names, and says 401 before 404.
Config: an x12-http port must name its client, and no two clients may share a token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from carehub.app.hub import Hub
from tests.security import seckit
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
    denied = [
        (a.actor, a.outcome, a.peer)
        for a in await hub.store.audit_trail(action="denied")
        if a.subject == path
    ]
    assert sorted(denied) == sorted(
        [("anonymous", "401", "127.0.0.1")] * len(UNAUTHENTICATED)
        + [(c, "403", "127.0.0.1") for c in ("reader", "writer", "ch")]
    )


async def test_x12_over_http_needs_the_token_of_the_systems_client(hub: Hub):
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    for headers in UNAUTHENTICATED:
        assert (await call(hub, "POST", "/x12/clearinghouse", headers, isa))[0] == 401
    for client in ("reader", "writer", "ops"):
        assert (await call(hub, "POST", "/x12/clearinghouse", bearer(client), isa))[0] == 403
    assert hub.store is not None
    assert not await hub.store.list_messages(direction="in")  # nothing taken from them
    assert (await call(hub, "POST", "/x12/clearinghouse", bearer("ch"), isa))[0] == 200
    denied = [
        (a.actor, a.outcome)
        for a in await hub.store.audit_trail(action="denied")
        if a.subject == "x12:clearinghouse"
    ]
    assert sorted(denied) == sorted(
        [("anonymous", "401")] * len(UNAUTHENTICATED)
        + [(c, "403") for c in ("reader", "writer", "ops")]
    )


async def test_an_unknown_x12_system_is_401_before_404(hub: Hub):
    """Without a valid token every /x12/{system} answers alike, so a caller cannot learn
    which systems exist; a known client is told the system takes no X12."""
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    for system in ("nosuch", "ehr", "billing", "clearinghouse"):
        for headers in UNAUTHENTICATED:
            status, answer, hdrs = await call(hub, "POST", f"/x12/{system}", headers, isa)
            assert status == 401, (system, headers, answer)
            assert hdrs["WWW-Authenticate"].startswith("Bearer")
            assert system.encode() not in answer
    status, answer, _ = await call(hub, "POST", "/x12/nosuch", bearer("ch"), isa)
    assert status == 404 and b"takes no X12" in answer
    assert hub.store is not None
    assert not await hub.store.list_messages(direction="in")  # nothing was taken


async def test_the_audit_of_an_x12_post_names_the_client_that_sent(hub: Hub):
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    status, _, hdrs = await call(hub, "POST", "/x12/clearinghouse", bearer("ch"), isa)
    assert status == 200
    assert hub.store is not None
    message_id = hdrs["X-Carehub-Message-Id"]
    received = [
        a
        for a in await hub.store.audit_trail(action="received")
        if a.subject == f"message:{message_id}"
    ]
    assert len(received) == 1
    assert received[0].actor == "clearinghouse"
    assert received[0].peer == "127.0.0.1 client=ch"
    message = await hub.store.get_message(message_id)
    assert message is not None and message.peer == "127.0.0.1 client=ch"


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


# --------------------------------------------------------------------------- config time

X12_PORT_CONFIG = """\
systems:
  payer:
    inbound:
      - type: x12-http
        name: edi
clients:
  portal: {token_env: CFG_T_PORTAL, scopes: ["system/Patient.rs"]}
  gw: {token_env: CFG_T_GW, scopes: [], system: payer}
"""


def check_config(tmp_path: Path, text: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from carehub.cli import cli

    path = tmp_path / "hub.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", str(path)], catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_an_x12_http_port_without_a_client_is_a_config_error(tmp_path: Path):
    """Without ``client:`` any valid token (a read-only portal's) could post as the payer."""
    code, out = check_config(tmp_path, X12_PORT_CONFIG)
    assert code == 2, out
    assert f"{tmp_path / 'hub.yaml'}:4: systems.payer.inbound.0.client: Field required" in out
    assert "/x12/payer" in out and "Traceback" not in out
    with_client = X12_PORT_CONFIG.replace("name: edi", "name: edi\n        client: gw")
    assert check_config(tmp_path, with_client)[0] == 0


def test_two_clients_naming_one_token_variable_is_a_config_error(tmp_path: Path):
    shared = X12_PORT_CONFIG.replace("name: edi", "client: gw").replace("CFG_T_GW", "CFG_T_PORTAL")
    code, out = check_config(tmp_path, shared)
    assert code == 2, out
    assert f"{tmp_path / 'hub.yaml'}:8: clients.gw.token_env: CFG_T_PORTAL" in out
    assert "'portal'" in out and "own token" in out


async def test_two_clients_whose_variables_hold_one_token_do_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Equal values in two variables are found where the values are known: at start. The
    message names the clients and the variables, never the token."""
    from hub.config import parse_config
    from hub.errors import ConfigError

    token = "tok-shared-4d1f9a"
    monkeypatch.setenv("CFG_T_PORTAL", token)
    monkeypatch.setenv("CFG_T_GW", f"{token}\n")  # the same token, as a file would give it
    text = X12_PORT_CONFIG.replace("name: edi", "client: gw") + "hub: {http: {port: 0}}\n"
    cfg = parse_config(text, "hub.yaml").with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    with pytest.raises(ConfigError) as err:
        async with Hub(cfg):
            pass
    text = str(err.value)
    assert "clients.gw.token_env" in text and "CFG_T_GW" in text and "CFG_T_PORTAL" in text
    assert "'portal'" in text and token not in text
    monkeypatch.setenv("CFG_T_GW", "tok-other-0b7e")
    async with Hub(cfg) as hub:
        assert hub.http is not None


async def test_a_client_over_its_x12_in_flight_cap_gets_429_until_one_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """aiohttp does not stop a handler when its client hangs up, so "post 8 MB, hang up,
    repeat" would pile up work past every connection cap: each client's interchanges in
    flight are counted until answered (``hub.http.max_x12_in_flight``)."""
    monkeypatch.setattr(
        seckit,
        "CONFIG",
        seckit.CONFIG.replace("http: {{port: 0}}", "http: {{port: 0, max_x12_in_flight: 1}}"),
    )
    isa = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *"
    async with secured_hub(tmp_path, monkeypatch) as (hub, _sink):
        assert hub.http is not None
        _reader, writer = await asyncio.open_connection("127.0.0.1", hub.http.port)
        head = (
            "POST /x12/clearinghouse HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKENS['ch']}\r\n"
            "Content-Type: application/edi-x12\r\nContent-Length: 100000\r\n\r\n"
        )
        writer.write(head.encode() + isa)  # the rest of the body never comes (yet)
        await writer.drain()
        try:
            status = 0
            for _ in range(50):  # until the server has taken the first one's head
                status, answer, headers = await call(
                    hub, "POST", "/x12/clearinghouse", bearer("ch"), isa
                )
                if status == 429:
                    break
                await asyncio.sleep(0.05)
            assert status == 429, answer
            assert b"in flight" in answer and headers["Retry-After"] == "5"
            # another client's work is not held up by it
            assert (await call(hub, "POST", "/fhir/Patient", bearer("writer"), PATIENT))[0] in (
                200,
                201,
            )
        finally:
            writer.close()
            await writer.wait_closed()
        status = 0
        for _ in range(50):  # the hung-up post gave its slot back
            status = (await call(hub, "POST", "/x12/clearinghouse", bearer("ch"), isa))[0]
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200
