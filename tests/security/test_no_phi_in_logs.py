"""No PHI in logs. Unique names and identifiers are planted in HL7 v2 (PID-3, PID-5), FHIR
(Patient.name, Patient.identifier) and X12 (NM1) messages, driven through a running hub on
the success paths and the error paths — content errors, unreadable input, oversized and
unfinished frames, a partner that refuses the delivery and echoes the resource back in its
error, a partner failing with 500 — with every logger at DEBUG. None of the planted values
may appear in the log output (messages, arguments, tracebacks)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from carehub.app.hub import Hub
from hub.config import parse_config
from tests.corpus import corpus_dir
from tests.e2e.test_adt_to_fhir import A04


def token(prefix: str) -> str:
    return prefix + secrets.token_hex(6).upper()


FAMILY, GIVEN, MRN = token("QZFAM"), token("QZGIV"), token("9")
BAD_FAMILY, BAD_MRN = token("QZBADFAM"), token("8")
REJECT_FAMILY, REJECT_MRN = token("QZREJFAM"), token("7")
FLAKY_FAMILY, FLAKY_MRN = token("QZFLKFAM"), token("6")
FHIR_FAMILY, FHIR_ID = token("QZFHIRFAM"), token("QZFHIRID")
X12_LAST, X12_FIRST, X12_MEMBER = token("QZSUBL"), token("QZSUBF"), token("QZMEM")
PLANTED = [
    FAMILY,
    GIVEN,
    MRN,
    BAD_FAMILY,
    BAD_MRN,
    REJECT_FAMILY,
    REJECT_MRN,
    FLAKY_FAMILY,
    FLAKY_MRN,
    FHIR_FAMILY,
    FHIR_ID,
    X12_LAST,
    X12_FIRST,
    X12_MEMBER,
]


class Everything(logging.Handler):
    """Every record, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    saved = {
        name: lg.level
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    saved_root = root.level
    for name in saved:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def partner() -> AsyncIterator[str]:
    """A partner FHIR server that refuses one patient quoting the whole resource back, fails
    another with a 500 echoing the body, and takes the rest."""

    async def put(request: web.Request) -> web.Response:
        body = await request.text()
        if REJECT_MRN in body:
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "business-rule", "diagnostics": body}],
            }
            return web.json_response(outcome, status=422)
        if FLAKY_MRN in body:
            return web.Response(status=500, text=f"cannot store {body}")
        return web.json_response(json.loads(body) | {"id": "x1"}, status=201)

    app = web.Application()
    app.router.add_put("/fhir/{rtype}", put)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        await runner.cleanup()


CONFIG = """
hub:
  namespace: {ns}
  retry_delays: [0.05]
  delivery_limit: 2
  http: {{port: 0}}
systems:
  ehr:
    inbound:
      - {{type: mllp, name: adt, port: 0, max_frame_bytes: 4096, frame_timeout: 0.5}}
      - {{type: fhir, client: app}}
    identifiers: {{patient: GOODHEALTH}}
  payer:
    inbound: [{{type: x12-http, client: gw}}]
  billing:
    outbound: {{type: fhir, url: "{url}"}}
    subscribes: ["patient.*"]
clients:
  app: {{token_env: PHI_APP, scopes: ["system/*.cruds"], system: ehr}}
  gw: {{token_env: PHI_GW, scopes: [], system: payer}}
"""


def adt(control: str, family: str, mrn: str, *, given: str = "Chidinma") -> bytes:
    return (
        A04.replace(b"MSG-A04-0001", control.encode())
        .replace(b"Okonkwo^Chidinma", f"{family}^{given}".encode())
        .replace(b"4455667", mrn.encode())
    )


async def mllp(port: int, data: bytes, wait: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        async with asyncio.timeout(wait):
            return await reader.readuntil(b"\x1c")
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return b""
    finally:
        writer.close()


async def drive_hl7(hub: Hub) -> None:
    assert hub.inbound is not None
    port = hub.inbound.find("ehr").server.port
    frame = lambda m: b"\x0b" + m + b"\x1c\r"  # noqa: E731
    assert b"MSA|AA" in await mllp(port, frame(adt("PHI-1", FAMILY, MRN, given=GIVEN)))
    bad_date = adt("PHI-2", BAD_FAMILY, BAD_MRN).replace(b"|19850214|", b"|19851399|")
    assert b"MSA|AE" in await mllp(port, frame(bad_date))
    escapes = adt("PHI-3", f"{BAD_FAMILY}\\Xzz\\", BAD_MRN)
    assert b"MSA|AA" in await mllp(port, frame(escapes))
    assert b"MSA|AR" in await mllp(port, frame(f"PID|1||{MRN}||{FAMILY}\r".encode()))
    not_enc = adt("PHI-4", FAMILY, MRN).replace(b"MSH|^~\\&|", b"MSH|^~Q&|")
    assert b"MSA|AR" in await mllp(port, frame(not_enc))
    huge = adt("PHI-5", FAMILY, MRN) + f"NTE|1||{FAMILY} {MRN} ".encode() * 400
    assert b"MSA|AR" in await mllp(port, frame(huge))
    assert b"MSA|AR" in await mllp(port, b"\x0b" + adt("PHI-6", FAMILY, MRN))  # no end block
    garbage = f"{FAMILY} {MRN} junk".encode()
    await mllp(port, garbage + frame(adt("PHI-7", FAMILY, MRN)))
    assert b"MSA|AA" in await mllp(port, frame(adt("PHI-8", REJECT_FAMILY, REJECT_MRN)))
    assert b"MSA|AA" in await mllp(port, frame(adt("PHI-9", FLAKY_FAMILY, FLAKY_MRN)))


async def drive_fhir(hub: Hub) -> None:
    assert hub.http is not None
    url = f"http://127.0.0.1:{hub.http.port}/fhir/Patient"
    headers = {"Authorization": "Bearer phi-app", "Content-Type": "application/fhir+json"}
    good = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": FHIR_ID}],
        "name": [{"family": FHIR_FAMILY}],
    }
    bodies = [
        (json.dumps(good).encode(), (200, 201, 202)),
        (json.dumps(good | {"birthDate": "1999-13-45"}).encode(), (422,)),
        (json.dumps(good | {"name": [{"family": 5, "given": [FHIR_FAMILY]}]}).encode(), (422,)),
        (json.dumps(good).encode()[:-5], (400,)),
        (f"<Patient><name value='{FHIR_FAMILY}'/></Patient>".encode(), (415,)),
        (json.dumps(good | {"resourceType": "Observation"}).encode(), (400,)),
    ]
    async with aiohttp.ClientSession() as http:
        for body, statuses in bodies:
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status in statuses, (resp.status, await resp.text())
        async with http.get(
            f"{url}?identifier={FHIR_ID}&name={FHIR_FAMILY}", headers=headers
        ) as resp:
            assert resp.status == 200


async def drive_x12(hub: Hub) -> None:
    assert hub.http is not None
    path = corpus_dir() / "x12" / "lfhx12__837_005010X222A2_demo.autoaccident.837"
    claim = (
        path.read_bytes()
        .replace(
            b"NM1*IL*1*HOWLING*HAL****MI*B99977791G",
            f"NM1*IL*1*{X12_LAST}*{X12_FIRST}****MI*{X12_MEMBER}".encode(),
        )
        .replace(b"NM1*QC*1*DIMPSON*DJ", f"NM1*QC*1*{X12_LAST}*{X12_FIRST}".encode())
    )
    broken = [
        claim,
        claim.replace(b"*000000907*", b"*000000908*")[: len(claim) // 2],
        claim.replace(b"*000000907*", b"*000000909*").replace(b"*", b"\x00", 3),
        claim.replace(b"*000000907*", b"*000000910*").replace(
            b"N4*", b"N4*" + X12_LAST.encode() * 5
        ),
    ]
    url = f"http://127.0.0.1:{hub.http.port}/x12/payer"
    headers = {"Authorization": "Bearer phi-gw", "Content-Type": "application/edi-x12"}
    async with aiohttp.ClientSession() as http:
        for body in broken:
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200


@pytest.fixture(params=["embedded", "rabbitmq"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str | None, str]]:
    """The embedded transport, and RabbitMQ (pika logs too) on a namespace of its own."""
    ns = f"phi{secrets.token_hex(4)}"
    if request.param == "embedded":
        yield None, ns
        return
    url = request.getfixturevalue("amqp_url")
    yield url, ns
    from hub.config import parse_config as _parse
    from queues import build_topology
    from tests.queues.queues_testkit import delete_namespace

    cfg = _parse(CONFIG.format(url="http://x", ns=ns))
    await delete_namespace(
        build_topology(
            ns,
            cfg.destinations(),
            retry_delays=cfg.hub.retry_delays,
            delivery_limit=cfg.hub.delivery_limit,
        )
    )


async def test_planted_phi_never_reaches_the_logs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    logs: Everything,
    partner: str,
    transport: tuple[str | None, str],
):
    amqp_url, ns = transport
    monkeypatch.setenv("PHI_APP", "phi-app")
    monkeypatch.setenv("PHI_GW", "phi-gw")
    cfg = parse_config(CONFIG.format(url=partner, ns=ns)).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'phi.db'}", amqp_url=amqp_url
    )
    async with Hub(cfg) as hub:
        await drive_hl7(hub)
        await drive_fhir(hub)
        await drive_x12(hub)
        assert hub.store is not None
        async with asyncio.timeout(20):  # both partner failures end parked
            while len(await hub.store.list_deliveries(status="parked")) < 2:
                await asyncio.sleep(0.05)
        rows = await hub.store.list_messages(limit=1000)
        # the 422 is parked at once, the 500 after its retry tier: both on record, audited
        parked = await hub.store.audit_trail(action="parked")
        assert sorted(a.outcome for a in parked) == ["rejected", "retries exhausted"]
    # the planted values did go through the hub, and are kept where they belong
    kept = b"".join(m.raw for m in rows)
    assert all(t.encode() in kept for t in PLANTED), "a planted value never reached the hub"
    text = "\n".join(logs.lines)
    assert "mllp conn=" in text and "frame refused" in text  # the capture works
    leaked = [t for t in PLANTED if t in text]
    assert not leaked, (
        f"planted PHI in the logs: {leaked}\n"
        + "\n".join(line for line in logs.lines if any(t in line for t in leaked))[:3000]
    )


# --------------------------------------------------------------------------- HTTP parser
# aiohttp's parser puts the offending request line or header into its exception text and
# logs it with the traceback. Through the hub's redaction only the error class and the
# status are left.

EDGE_FAMILY, EDGE_GIVEN = token("QZEDGEFAM"), token("QZEDGEGIV")
EDGE_SSN = (
    f"{secrets.randbelow(900) + 100}-{secrets.randbelow(90) + 10}-{secrets.randbelow(9000) + 1000}"
)
EDGE_TOKEN = "phi-edge-" + secrets.token_hex(8)
EDGE_PLANTED = [EDGE_FAMILY, EDGE_GIVEN, EDGE_SSN, EDGE_TOKEN]
QUERY = f"name={EDGE_FAMILY}&given={EDGE_GIVEN}&ssn={EDGE_SSN}"
AUTH = f"Authorization: Bearer {EDGE_TOKEN}\r\n"

MALFORMED = {
    "bad request line": f"GET /fhir/Patient?{QUERY} HTTP/1.1 trailing\r\nHost: h\r\n\r\n",
    "bad method": f"G\x00T /fhir/Patient?{QUERY} HTTP/1.1\r\nHost: h\r\n{AUTH}\r\n",
    "request line too long": f"GET /fhir/Patient?{QUERY}&pad={'B' * 9000} HTTP/1.1\r\n\r\n",
    "header too long": f"GET /fhir/Patient?{QUERY} HTTP/1.1\r\n{AUTH}X-Pad: {EDGE_FAMILY}"
    + "A" * 9000
    + "\r\n\r\n",
    "too many headers": f"GET /fhir/Patient?{QUERY} HTTP/1.1\r\n{AUTH}"
    + "".join(f"X-{i}: {EDGE_GIVEN}\r\n" for i in range(200))
    + "\r\n",
    "bad header value (token)": f"GET /fhir/Patient?{QUERY} HTTP/1.1\r\n"
    f"Authorization: Bearer {EDGE_TOKEN}\x01\r\n\r\n",
    "bad header name": f"GET /fhir/Patient HTTP/1.1\r\nAuth{EDGE_FAMILY} x: {EDGE_SSN}\r\n\r\n",
    "invalid chunking": f"POST /fhir/Patient?{QUERY} HTTP/1.1\r\n{AUTH}"
    "Transfer-Encoding: chunked\r\n\r\n"
    f"{EDGE_FAMILY}\r\n{EDGE_SSN}\r\n0\r\n\r\n",
    "content-length and chunked": f"POST /x12/payer?{QUERY} HTTP/1.1\r\n{AUTH}"
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad version": f"GET /fhir/Patient?{QUERY} HTTP/9.{EDGE_SSN}\r\n\r\n",
}


async def raw_http(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    except (TimeoutError, ConnectionError):
        return b""
    finally:
        writer.close()


async def test_malformed_and_over_long_requests_leave_no_phi_or_token_in_the_logs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    logs: Everything,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PHI_APP", EDGE_TOKEN)
    monkeypatch.setenv("PHI_GW", "phi-gw")
    cfg = parse_config(CONFIG.format(url="http://127.0.0.1:9/fhir", ns="phiedge")).with_overrides(
        db_url=f"sqlite:///{tmp_path / 'edge.db'}"
    )
    async with Hub(cfg) as hub:
        assert hub.http is not None
        answers = {
            name: await raw_http(hub.http.port, text.encode("latin-1"))
            for name, text in MALFORMED.items()
        }
        # and a well-formed request carrying the same, answered by the API (no parser error)
        ok = f"GET /fhir/Patient?{QUERY} HTTP/1.1\r\nHost: h\r\n{AUTH}Connection: close\r\n\r\n"
        answers["well-formed"] = await raw_http(hub.http.port, ok.encode())
    for name, answer in answers.items():
        expected = b"HTTP/1.1 200" if name == "well-formed" else b" 400 "
        assert expected in answer[:20], (name, answer[:300])
    text = "\n".join(logs.lines + [r.getMessage() for r in caplog.records])
    leaked = [t for t in EDGE_PLANTED if t in text]
    assert not leaked, (
        f"planted PHI or token in the logs: {leaked}\n"
        + "\n".join(line for line in text.splitlines() if any(t in line for t in leaked))[:3000]
    )
    # the capture works: the parser errors were logged, by class and status
    for error in ("BadStatusLine 400", "LineTooLong 400", "BadHttpMessage 400"):
        assert error in text, f"{error} not logged"
    assert "request content not logged" in text
    # a client's malformed request is its fault: a warning at most, not an error of the hub
    parser = [r for r in caplog.records if r.name == "carehub.http.server"]
    assert parser and all(r.levelno <= logging.WARNING for r in parser)


def test_the_redaction_filter_strips_queries_credentials_and_exception_text(
    caplog: pytest.LogCaptureFixture,
):
    """aiohttp's access log quotes the request line; an exception's text quotes input."""
    from hub.redaction import redact, redact_loggers

    redact_loggers("aiohttp.access", "aiohttp.server")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("aiohttp.access").info(
        '127.0.0.1 "GET /fhir/Patient?%s HTTP/1.1" 200 "%s"', QUERY, f"Bearer {EDGE_TOKEN}"
    )
    try:
        raise ValueError(f"cannot read {EDGE_FAMILY} {EDGE_SSN}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Unhandled exception")
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /fhir/Patient?<redacted> HTTP/1.1" in text
    assert "ValueError (message not logged)" in text and "Traceback" in text
    assert not [t for t in EDGE_PLANTED if t in text], text
    assert redact(f"Cookie: s={EDGE_TOKEN}; b=1") == "Cookie: <redacted>"
    assert redact(f"basic {EDGE_TOKEN}, next") == "basic <redacted>, next"
