"""A partner FHIR server for the fault suite: records every request, dedupes on the
``X-Idempotency-Key`` the hub sends, and counts what it *applied* per business identifier.

"Applied twice" is judged by the patient identifier (unique per test message), not by the
key: if a copy came with a different key the sink would apply it again, and that is what the
invariant "0 duplicates applied" catches.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.hl7v2 import parse
from adapters.hl7v2.server import MllpServer
from conformance.hl7v2 import render_ack
from hub.findings import Report

__all__ = ["RecordingMllpSink", "RecordingSink"]

FHIR_JSON = "application/fhir+json"


@dataclass
class RecordingSink:
    name: str
    port: int = 0
    #: identifier values refused with 422 (a permanent rejection)
    reject_values: set[str] = field(default_factory=set)
    #: identifier values always answered 503 (transient, forever)
    fail_values: set[str] = field(default_factory=set)
    requests: int = 0
    #: identifier value → times applied (must stay at most 1)
    applied: Counter[str] = field(default_factory=Counter)
    #: idempotency key → requests carrying it (> 1: a copy, recognised and not applied)
    keys: Counter[str] = field(default_factory=Counter)
    #: identifier value → requests seen (for "was it tried" questions)
    seen: Counter[str] = field(default_factory=Counter)
    without_key: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def copies(self) -> int:
        """Requests that repeated an idempotency key already applied (redeliveries)."""
        return sum(n - 1 for n in self.keys.values() if n > 1)

    def duplicates_applied(self) -> int:
        return sum(n - 1 for n in self.applied.values() if n > 1)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("PUT", "/fhir/{rtype}", self._put)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Go down: the port refuses connections until ``start()`` again (same port)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _put(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        token = request.query.get("identifier", "")
        value = token.split("|")[-1]
        key = request.headers.get("X-Idempotency-Key")
        self.seen[value] += 1
        if value in self.fail_values:
            return _outcome(503, "transient", "busy")
        if value in self.reject_values:
            return _outcome(422, "business-rule", "refused by the partner's rules")
        if not value or not body:
            return _outcome(400, "invalid", "conditional update needs ?identifier= and a body")
        if key is None:
            self.without_key += 1
        else:
            self.keys[key] += 1
            if self.keys[key] > 1:
                return web.json_response(json.loads(body), status=200, content_type=FHIR_JSON)
        self.applied[value] += 1
        await asyncio.sleep(0)
        return web.json_response(json.loads(body), status=201, content_type=FHIR_JSON)


def _outcome(status: int, code: str, text: str) -> web.Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return web.json_response(body, status=status, content_type=FHIR_JSON)


@dataclass
class RecordingMllpSink:
    """A partner HL7 v2 system (real MLLP listener): answers AA, dedupes on MSH-10 (the hub
    derives it from the envelope id, so a redelivery carries the same one) and counts what
    it applied per PID-3.1 — the same questions as :class:`RecordingSink`."""

    name: str
    port: int = 0
    requests: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    keys: Counter[str] = field(default_factory=Counter)
    without_key: int = 0
    _server: Any = None

    @property
    def copies(self) -> int:
        return sum(n - 1 for n in self.keys.values() if n > 1)

    def duplicates_applied(self) -> int:
        return sum(n - 1 for n in self.applied.values() if n > 1)

    async def start(self) -> None:
        self._server = MllpServer(self._handle, "127.0.0.1", self.port)
        await self._server.start()
        self.port = self._server.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def _handle(self, frame: bytes, peer: object) -> bytes:
        self.requests += 1
        msg = parse(frame)
        control = msg.control_id
        if not control:
            self.without_key += 1
        else:
            self.keys[control] += 1
        if not control or self.keys[control] == 1:
            self.applied[str(msg.get("PID-3.1"))] += 1
        return render_ack(msg, frame, Report())
