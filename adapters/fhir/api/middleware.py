"""Every error as an OperationOutcome response: ours (``FhirError``, ``AnswerFailed``),
aiohttp's own 404/405/413/415, and unexpected ones (500, logged by class only), each with the
right status (FHIR http.html: errors SHOULD carry an OperationOutcome).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from adapters.fhir.api.errors import AnswerFailed, FhirError
from adapters.fhir.api.limits import ClientGone
from adapters.fhir.api.wire import fhir_response
from hub.findings import Report

__all__ = ["OutcomeRenderer", "error_middleware", "outcome_response"]

log = logging.getLogger("carehub.fhir.api")

Json = dict[str, Any]
OutcomeRenderer = Callable[[Report], Json]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: status → FHIR issue type, for HTTP errors raised by aiohttp itself
_HTTP_ISSUE = {404: "not-found", 405: "not-supported", 413: "too-long", 415: "not-supported"}


def outcome_response(
    render: OutcomeRenderer,
    status: int,
    report: Report,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An OperationOutcome response (application/fhir+json)."""
    return fhir_response(status, render(report), headers=headers)


def error_middleware(render: OutcomeRenderer) -> Any:
    """Middleware turning every error into an OperationOutcome response."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except FhirError as exc:
            return outcome_response(render, exc.status, exc.report(), exc.headers)
        except AnswerFailed as exc:
            return fhir_response(exc.status, exc.body, headers=exc.headers)
        except ClientGone:
            # nobody is listening: the work stopped; what was done is audited already
            log.info("FHIR API: client left during %s; the request was stopped", request.method)
            return web.Response(status=499)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _http_error(render, exc)
        except Exception as exc:
            # the error text may quote request content: log its class only
            log.error("FHIR API: unexpected %s on %s", type(exc).__name__, request.method)
            err = FhirError(500, "exception", "internal error; the request was not completed")
            return outcome_response(render, 500, err.report())

    return middleware


def _http_error(render: OutcomeRenderer, exc: web.HTTPException) -> web.Response:
    text = exc.reason
    if exc.status == 404:
        text = "no such endpoint (the FHIR base is /fhir; see /fhir/metadata)"
    elif exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        text = f"method not allowed here (allowed: {allowed})" if allowed else exc.reason
    report = Report()
    report.error(_HTTP_ISSUE.get(exc.status, "processing"), text)
    keep = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
    return outcome_response(render, exc.status, report, keep)
