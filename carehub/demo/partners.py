"""Simulated partner systems for the demo and the tests: real servers on real sockets.

- ``FhirSink``: a small FHIR server (aiohttp) standing in for a partner's FHIR endpoint. It
  applies conditional updates and conditional deletes by identifier, counts what it applied,
  recognises repeated idempotency keys (a copy is acknowledged, never applied twice), and can
  be told to fail (503 with Retry-After) or reject (422) to exercise retries and parking.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.hl7v2 import parse
from adapters.hl7v2.server import MllpServer
from conformance.hl7v2 import render_ack
from hub.findings import Report

__all__ = ["FhirSink", "MllpSink", "SinkRecord"]

FHIR_JSON = "application/fhir+json"


@dataclass(slots=True)
class SinkRecord:
    method: str
    path: str
    query: str
    idempotency_key: str | None
    resource: dict[str, Any] | None


@dataclass
class FhirSink:
    """A partner FHIR server on 127.0.0.1 (port 0 = any free port)."""

    host: str = "127.0.0.1"
    port: int = 0
    #: answer the next N requests with 503 + Retry-After
    fail_next: int = 0
    retry_after: float = 0.1
    #: resources whose identifier value is in this set are refused with 422
    reject_values: set[str] = field(default_factory=set)
    #: resourceType → identifier token (system|value) → resource
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[SinkRecord] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    #: resourceType → how many resources conditional deletes removed
    deleted: Counter[str] = field(default_factory=Counter)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    repeated_keys: int = 0
    _keys: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/fhir"

    async def __aenter__(self) -> FhirSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("PUT", "/fhir/{rtype}", self._conditional_update)
        app.router.add_route("DELETE", "/fhir/{rtype}", self._conditional_delete)
        app.router.add_route("POST", "/fhir", self._transaction)
        app.router.add_route("GET", "/fhir/{rtype}/{rid}", self._read)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def count(self, resource_type: str) -> int:
        return len(self.resources.get(resource_type, {}))

    async def _conditional_update(self, request: web.Request) -> web.Response:
        rtype = request.match_info["rtype"]
        key = request.headers.get("X-Idempotency-Key")
        body = await request.read()
        resource = json.loads(body) if body else None
        self.requests.append(SinkRecord("PUT", request.path, request.query_string, key, resource))
        if self.fail_next > 0:
            self.fail_next -= 1
            return _outcome(
                503, "transient", "sink is busy", {"Retry-After": str(self.retry_after)}
            )
        token = request.query.get("identifier")
        if not token or not isinstance(resource, dict):
            return _outcome(400, "invalid", "conditional update needs ?identifier= and a body")
        if resource.get("resourceType") != rtype:
            return _outcome(400, "invalid", f"body is not a {rtype}")
        if token.split("|")[-1] in self.reject_values:
            return _outcome(422, "business-rule", f"{rtype} refused by the partner's rules")
        async with self._lock:
            return self._apply(rtype, token, resource, key)

    def _apply(
        self, rtype: str, token: str, resource: dict[str, Any], key: str | None
    ) -> web.Response:
        if key is not None and key in self._keys:
            self.repeated_keys += 1
            return web.json_response(resource, status=200, content_type=FHIR_JSON)
        if key is not None:
            self._keys.add(key)
        store = self.resources.setdefault(rtype, {})
        existing = store.get(token)
        resource = dict(resource)
        resource["id"] = existing["id"] if existing else uuid.uuid4().hex[:16]
        version = int(existing["meta"]["versionId"]) + 1 if existing else 1
        resource["meta"] = {"versionId": str(version)}
        store[token] = resource
        self.applied[rtype] += 1
        status = 200 if existing else 201
        return web.json_response(
            resource,
            status=status,
            content_type=FHIR_JSON,
            headers={
                "Location": f"{self.base_url}/{rtype}/{resource['id']}/_history/{version}",
                "ETag": f'W/"{version}"',
            },
        )

    async def _conditional_delete(self, request: web.Request) -> web.Response:
        """``DELETE Type?identifier=…``: removes what the identifier names; nothing to
        remove is no error (http.html#cdelete), so a repeated delete answers 204 too."""
        rtype = request.match_info["rtype"]
        key = request.headers.get("X-Idempotency-Key")
        self.requests.append(SinkRecord("DELETE", request.path, request.query_string, key, None))
        token = request.query.get("identifier")
        if not token:
            return _outcome(400, "invalid", "conditional delete needs ?identifier=")
        async with self._lock:
            if self.resources.get(rtype, {}).pop(token, None) is not None:
                self.deleted[rtype] += 1
        return web.Response(status=204)

    async def _transaction(self, request: web.Request) -> web.Response:
        """A transaction Bundle of conditional updates (``PUT Type?identifier=…``)."""
        key = request.headers.get("X-Idempotency-Key")
        bundle = await request.json()
        self.requests.append(SinkRecord("POST", request.path, "", key, bundle))
        self.transactions.append(bundle)
        if bundle.get("type") != "transaction":
            return _outcome(400, "invalid", "only transaction Bundles are taken here")
        answers = []
        async with self._lock:
            for entry in bundle.get("entry", []):
                rtype, _, query = entry["request"]["url"].partition("?identifier=")
                resp = self._apply(rtype, query, entry["resource"], None)
                answers.append({"response": {"status": str(resp.status)}})
        return web.json_response(
            {"resourceType": "Bundle", "type": "transaction-response", "entry": answers},
            content_type=FHIR_JSON,
        )

    async def _read(self, request: web.Request) -> web.Response:
        rtype, rid = request.match_info["rtype"], request.match_info["rid"]
        for resource in self.resources.get(rtype, {}).values():
            if resource["id"] == rid:
                return web.json_response(resource, content_type=FHIR_JSON)
        return _outcome(404, "not-found", f"{rtype}/{rid} is not known")


def _outcome(
    status: int, code: str, text: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return web.json_response(body, status=status, content_type=FHIR_JSON, headers=headers)


@dataclass
class MllpSink:
    """A partner HL7 v2 system on 127.0.0.1: records every message, answers AA — or AE for
    messages whose PID-3.1 is in ``reject_values`` — and counts a repeated MSH-10 as a
    copy it recognises instead of applying it twice."""

    port: int = 0
    reject_values: set[str] = field(default_factory=set)
    received: list[bytes] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    repeated_control_ids: int = 0
    _server: Any = None

    async def __aenter__(self) -> MllpSink:
        self._server = MllpServer(self._handle, "127.0.0.1", self.port)
        await self._server.start()
        self.port = self._server.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    async def _handle(self, frame: bytes, peer: Any) -> bytes:
        self.received.append(frame)
        msg = parse(frame)
        report = Report()
        if msg.get("PID-3.1") in self.reject_values:
            report.error("business-rule", "patient refused by the partner's rules", "PID-3", "207")
        elif msg.control_id in self.applied:
            self.repeated_control_ids += 1
        else:
            self.applied.append(msg.control_id or "")
        return render_ack(msg, frame, report)
