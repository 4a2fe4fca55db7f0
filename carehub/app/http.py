"""The hub's HTTP server: the FHIR API under /fhir, X12 over HTTP under /x12/{system},
/health, and the admin endpoints under /admin (status, parked messages and their replay).

Every endpoint but /health and /fhir/metadata needs a bearer token of a configured client
(``clients:``), checked by the one authenticator the FHIR API uses too
(``carehub/app/access.py``); admin endpoints need a client with the ``carehub/admin`` scope,
``/x12/{system}`` the client its port names. Every denial (401 and 403), every admin action
and every read of parked messages is written to the audit trail.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

from aiohttp import web

from adapters.fhir.api import ApiClient, mount_fhir
from carehub.app.access import ADMIN_SCOPE, authenticator
from carehub.app.fhir import make_fhir_app
from carehub.app.httpguard import ConnectionGuard, GuardedSite, GuardLimits
from carehub.app.tls import client_certificate_check, server_context
from carehub.app.x12 import X12Inbound
from hub.config import HubConfig, X12HttpInbound
from hub.envelope import Envelope, RawEnvelope
from hub.errors import ConfigError, ParseError
from hub.judge import InboundOutcome
from hub.pipeline import Pipeline
from hub.ports import Store, Transport
from hub.redaction import redact_loggers
from hub.sync import IdentityService
from queues import ParkedMessage, raw_queue, work_queue

__all__ = ["HttpServer", "http_wanted", "is_loopback"]

log = logging.getLogger("carehub.http")

#: the logger aiohttp's request handler writes to (parser errors, unhandled exceptions)
SERVER_LOGGER = "carehub.http.server"
#: aiohttp's own loggers that can quote a request, redacted too (belt and braces)
AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal")

EDI = "application/edi-x12"

#: the longest audit subject taken from a URL (an unknown path is attacker-chosen)
_SUBJECT_MAX = 200


def _no_factory() -> asyncio.Protocol:
    raise RuntimeError("the HTTP server is not started")


def is_loopback(host: str) -> bool:
    """A bind address only this machine can reach."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def http_wanted(config: HubConfig) -> bool:
    """Serve HTTP when asked to, or when something needs it (API clients, HTTP ports)."""
    if config.hub.http.enabled is not None:
        return config.hub.http.enabled
    ports = [p for s in config.systems.values() for p in s.inbound]
    return bool(config.clients) or any(p.type in ("fhir", "x12-http") for p in ports)


class HttpServer:
    def __init__(
        self,
        config: HubConfig,
        pipeline: Pipeline,
        store: Store,
        transport: Transport,
        *,
        identity: IdentityService | None = None,
    ):
        self.config = config
        #: the hub's identity service, shared with its sync engine (the FHIR API plans ids)
        self.identity = identity
        self.pipeline = pipeline
        self.store = store
        self.transport = transport
        self.auth = authenticator(config)
        self.x12_ports = {
            name: port
            for name, s in config.systems.items()
            for port in s.inbound
            if isinstance(port, X12HttpInbound)
        }
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: X12 interchanges in flight per client (``hub.http.max_x12_in_flight``)
        self._x12_in_flight: dict[str, int] = {}
        http = config.hub.http
        #: connection caps and header/body/keep-alive timeouts (``stats`` counts refusals)
        self.guard = ConnectionGuard(
            _no_factory,
            GuardLimits(
                header_timeout=http.header_timeout,
                body_timeout=http.body_timeout,
                keepalive_timeout=http.keepalive_timeout,
                max_connections=http.max_connections,
                max_connections_per_peer=http.max_connections_per_peer,
            ),
            allow_certificate=client_certificate_check(http.tls),
        )

    def app(self) -> web.Application:
        root = web.Application(
            client_max_size=self.config.hub.http.max_body_bytes,
            middlewares=[self.guard.middleware()],
        )
        root.router.add_get("/health", self.health)
        root.router.add_post("/x12/{system}", self.x12)
        root.router.add_get("/admin/status", self.status)
        root.router.add_get("/admin/parked/{destination}", self.parked)
        root.router.add_post("/admin/parked/{destination}/replay", self.replay)
        fhir = make_fhir_app(
            self.pipeline, self.store, self.config, auth=self.auth, identity=self.identity
        )
        mount_fhir(root, fhir)
        return root

    async def start(self) -> None:
        http = self.config.hub.http
        ssl_context = server_context(http.tls, "hub.http.tls") if http.tls else None
        # aiohttp's parser errors quote the request line and headers: its server logger,
        # and ours that replaces it, go through the hub's redaction
        redact_loggers(SERVER_LOGGER, *AIOHTTP_LOGGERS)
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            logger=logging.getLogger(SERVER_LOGGER),
            keepalive_timeout=http.keepalive_timeout,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard.factory = self._runner.server
        self.guard.watch(self._runner.server)
        sock = socket.socket(socket.AF_INET6 if ":" in http.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((http.host, http.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"hub.http: cannot listen on {http.host}:{http.port}: {exc.strerror}"
            ) from exc
        self.port = sock.getsockname()[1]
        await GuardedSite(self._runner, sock, self.guard, ssl_context=ssl_context).start()
        scheme = "https" if ssl_context else "http"
        log.info("%s on %s:%d (/fhir, /x12, /health, /admin)", scheme, http.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.guard.close()

    # ------------------------------------------------------------------ endpoints

    async def health(self, request: web.Request) -> web.Response:
        """Liveness for load balancers: the store and the broker, no content."""
        store_ok = await self.store.ping()
        broker_ok = self.transport.connected
        status = 200 if store_ok and broker_ok else 503
        return web.json_response({"store": store_ok, "broker": broker_ok}, status=status)

    async def x12(self, request: web.Request) -> web.Response:
        """One interchange in; its TA1/999/997 out (200), or 503 when nothing could be made
        durable (send again later). Only the client the system's port names may post: the
        token is checked before the system, so an unauthenticated caller learns nothing about
        which systems exist (401 for all)."""
        system = request.match_info["system"]
        subject = f"x12:{system}"
        client = await self._authenticated(request, subject)
        if isinstance(client, web.Response):
            return client
        port = self.x12_ports.get(system)
        if port is None:
            return _problem(404, f"system {system} takes no X12 over HTTP")
        if client.id != port.client:
            await self._denied(client.id, subject, request, 403)
            return _problem(403, f"client {client.id} may not send X12 as {system}")
        most = self.config.hub.http.max_x12_in_flight
        if self._x12_in_flight.get(client.id, 0) >= most:
            return _problem(
                429,
                f"client {client.id} has {most} interchanges in flight (at most {most}); "
                "send again when one is answered",
                headers={"Retry-After": "5"},
            )
        self._x12_in_flight[client.id] = self._x12_in_flight.get(client.id, 0) + 1
        try:
            return await self._x12_receive(request, system, port, client)
        finally:
            self._x12_in_flight[client.id] -= 1

    async def _x12_receive(
        self, request: web.Request, system: str, port: X12HttpInbound, client: ApiClient
    ) -> web.Response:
        body = await request.read()
        port_name = port.name or "x12-http"
        if not body.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"ISA"):
            text = "the body is not an X12 interchange (no ISA)"
            await self.pipeline.refuse(
                "x12",
                body,
                ParseError(text),
                lambda outcome, report: b"HTTP 415",
                system=system,
                port=port_name,
                peer=_peer(request, client),
            )
            return _problem(415, text)
        fmt = X12Inbound(self.store, partner=system)
        result = await self.pipeline.receive(
            fmt, body, system=system, port=port_name, peer=_peer(request, client)
        )
        if result.outcome is InboundOutcome.UNAVAILABLE:
            return _problem(
                503,
                "the hub cannot store or confirm now; send again later",
                headers={"Retry-After": "30"},
            )
        answers = b"".join(a for a in [result.response, *result.followups] if a)
        return web.Response(
            body=answers,
            content_type=EDI,
            headers={"X-Carehub-Message-Id": result.message_id or ""},
        )

    async def status(self, request: web.Request) -> web.Response:
        client = await self._admin(request)
        if isinstance(client, web.Response):
            return client
        return web.json_response(
            {
                "messages": await self.store.message_counts(),
                "deliveries": await self.store.delivery_counts(),
                "entities": await self.store.count_entities(),
                "queues": await self.transport.queue_depths(),
            }
        )

    async def parked(self, request: web.Request) -> web.Response:
        """Parked messages with the partner's reason — which may quote content, so the read
        is audited before anything is shown (no audit record, no answer: 503)."""
        client = await self._admin(request)
        if isinstance(client, web.Response):
            return client
        dest = request.match_info["destination"]
        canonical, raw = self.config.destinations(), self.config.raw_routes()
        if dest not in canonical and dest not in raw:
            return _problem(404, f"no destination {dest}")
        peek = getattr(self.transport, "peek_parked", None)
        ns = self.config.hub.namespace
        items = []
        if peek is not None and dest in canonical:
            items += await peek(work_queue(ns, dest))
        if peek is not None and dest in raw:  # its raw pass-through messages (hub.passthru)
            items += await peek(raw_queue(ns, dest))
        try:
            await self._audit(
                client.id, "read", f"parked:{dest}", request, detail=f"{len(items)} messages"
            )
        except Exception as exc:
            log.warning("audit record not written, parked list withheld: %s", type(exc).__name__)
            return _problem(503, "the read could not be audited; try again later")
        return web.json_response([_parked_view(i) for i in items])

    async def replay(self, request: web.Request) -> web.Response:
        client = await self._admin(request)
        if isinstance(client, web.Response):
            return client
        dest = request.match_info["destination"]
        canonical, raw = self.config.destinations(), self.config.raw_routes()
        if dest not in canonical and dest not in raw:
            return _problem(404, f"no destination {dest}")
        ns = self.config.hub.namespace
        count = 0
        if dest in canonical:
            count += await self.transport.replay_parked(work_queue(ns, dest))
        if dest in raw:  # its raw pass-through messages too (hub.passthru)
            count += await self.transport.replay_parked(raw_queue(ns, dest))
        await self._audit(
            client.id, "replayed", f"destination:{dest}", request, detail=f"{count} messages"
        )
        return web.json_response({"replayed": count})

    # ------------------------------------------------------------------ access

    def _client(self, request: web.Request) -> ApiClient | None:
        return self.auth.identify(request.headers.get("Authorization"))

    async def _authenticated(self, request: web.Request, subject: str) -> ApiClient | web.Response:
        """The calling client, or 401 (audited as ``denied`` by ``anonymous``)."""
        client = self._client(request)
        if client is None:
            await self._denied("anonymous", subject, request, 401)
            return _problem(401, "a bearer token is needed", auth=True)
        return client

    async def _admin(self, request: web.Request) -> ApiClient | web.Response:
        client = await self._authenticated(request, request.path)
        if isinstance(client, web.Response):
            return client
        if not client.has_scope(ADMIN_SCOPE):
            await self._denied(client.id, request.path, request, 403)
            return _problem(403, f"the {ADMIN_SCOPE} scope is needed")
        return client

    async def _denied(self, actor: str, subject: str, request: web.Request, status: int) -> None:
        """Audit a denial (outcome: the HTTP status). A denial stands even when the record
        cannot be written; that is logged (error class only)."""
        try:
            await self.store.audit(
                actor=actor,
                action="denied",
                outcome=str(status),
                subject=subject[:_SUBJECT_MAX],
                peer=request.remote,
            )
        except Exception as exc:
            log.warning("audit record of a denial not written: %s", type(exc).__name__)

    async def _audit(
        self, actor: str, action: str, subject: str, request: web.Request, detail: str | None = None
    ) -> None:
        await self.store.audit(
            actor=actor,
            action=action,
            outcome="ok",
            subject=subject,
            peer=request.remote,
            detail=detail,
        )


def _peer(request: web.Request, client: ApiClient) -> str:
    """Where an X12 post comes from and who sent it, for the message log and the audit
    trail (as MLLP names a certificate's ``cn=``)."""
    return f"{request.remote} client={client.id}"


def _parked_view(item: ParkedMessage) -> dict[str, Any]:
    """What an operator needs to decide on a parked message — ids and reasons, no content."""
    envelope_id: str | None = None
    for kind in (Envelope, RawEnvelope):  # a canonical event's, or a raw message's
        try:
            envelope_id = kind.from_bytes(item.body).id
            break
        except Exception:  # a body that is no envelope is parked too; say so, do not fail
            continue
    return {
        "envelope_id": envelope_id,
        "event": item.routing_key,
        "reason": item.reason,
        "detail": item.detail,
        "history": item.history,
    }


def _problem(
    status: int, text: str, *, auth: bool = False, headers: dict[str, str] | None = None
) -> web.Response:
    hdrs = dict(headers or {})
    if auth:
        hdrs["WWW-Authenticate"] = 'Bearer realm="carehub"'
    return web.json_response({"error": text}, status=status, headers=hdrs)
