"""What every interaction of the API shares: the app's state (``AppKey``s for the backend,
the authenticator, the audit sink, the settings), the prologue of a request (authenticate,
check the type and interaction, authorize), the audit record, and the answers that routes
and Bundle entries both give (reads, history, search, the response of a write).

``routes.py`` (single interactions) and ``transaction.py`` (Bundles) both build on it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from adapters.fhir.api.auth import ApiClient, Authenticator, permission_for
from adapters.fhir.api.bundle import history_bundle, searchset
from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.limits import JsonLimits, RequestBudget, budget_of
from adapters.fhir.api.model import (
    Answer,
    Caller,
    FhirBackend,
    Interaction,
    ResourceSupport,
    Stored,
)
from adapters.fhir.api.search import SearchQuery, matches, page_links, parse_search
from adapters.fhir.api.wire import check_accept, etag, fhir_response, http_date
from hub.findings import Report

__all__ = [
    "AUDIT",
    "AUDIT_ACTION",
    "AUTH",
    "BACKEND",
    "SETTINGS",
    "ApiSettings",
    "AuditSink",
    "answer_response",
    "audit",
    "authenticate",
    "authorize",
    "base_url",
    "budget",
    "caller",
    "check_body_id",
    "discloses",
    "enter",
    "history_answer",
    "peer_of",
    "prefer",
    "response_body",
    "run_search",
    "search_answer",
    "stored_response",
    "subject_of",
    "support_of",
    "version_headers",
    "write_audit",
]

log = logging.getLogger("carehub.fhir.api")

Json = dict[str, Any]


class AuditSink(Protocol):
    """Appends one audit record (hub: ``Store.audit``). Never given PHI."""

    def __call__(
        self, *, actor: str, action: str, outcome: str, subject: str | None, peer: str | None
    ) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits (``hub.http``) and naming."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_bundle_entries: int = 1000
    max_count: int = 500
    software: str = "Carehub"
    #: the shape a decoded body may have (depth, items of one array, values in all)
    json: JsonLimits = field(default_factory=JsonLimits)
    #: GET entries that search, per Bundle
    max_bundle_searches: int = 50
    #: candidates the searches of one request (a Bundle's together) may examine
    max_search_scan: int = 50_000
    #: resources the searches and histories of one request may return in all
    max_request_results: int = 5000
    #: threads for CPU-heavy steps (decoding large bodies)
    workers: int = 2


BACKEND = web.AppKey("fhir_backend", FhirBackend)
AUTH = web.AppKey("fhir_auth", Authenticator)
AUDIT = web.AppKey("fhir_audit", AuditSink)
SETTINGS = web.AppKey("fhir_settings", ApiSettings)

#: the audit trail's action for each interaction
AUDIT_ACTION = {
    Interaction.READ: "read",
    Interaction.VREAD: "read",
    Interaction.HISTORY: "read",
    Interaction.SEARCH: "search",
    Interaction.CREATE: "create",
    Interaction.UPDATE: "update",
    Interaction.DELETE: "delete",
}


def base_url(request: web.Request) -> str:
    """The absolute FHIR base of this request (``http://host:port/fhir``)."""
    path = str(request.app.router["fhir-metadata"].url_for())
    return f"{request.scheme}://{request.host}{path.rsplit('/metadata', 1)[0]}"


def peer_of(request: web.Request) -> str | None:
    """Where the request comes from, for the audit trail and the message log."""
    return request.remote


async def audit(
    request: web.Request, actor: str, action: str, subject: str | None, status: int
) -> None:
    """Record one access; a failure to record is logged (class only), not raised."""
    try:
        await request.app[AUDIT](
            actor=actor, action=action, outcome=str(status), subject=subject, peer=peer_of(request)
        )
    except Exception as exc:
        log.warning("audit record not written: %s", type(exc).__name__)


def subject_of(rtype: str, rid: str | None) -> str:
    """The audit subject: ``Type/id``, or the type alone."""
    return f"{rtype}/{rid}" if rid else rtype


async def authenticate(request: web.Request, subject: str) -> ApiClient:
    """The calling client, or 401 (audited as ``denied``)."""
    client = request.app[AUTH].identify(request.headers.get("Authorization"))
    if client is None:
        await audit(request, "anonymous", "denied", subject, 401)
        raise FhirError(
            401,
            "login",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="carehub-fhir", error="invalid_token"'},
        )
    return client


async def authorize(
    request: web.Request, client: ApiClient, rtype: str, interaction: Interaction, subject: str
) -> None:
    """403 (audited) unless one of the client's scopes covers ``interaction`` on ``rtype``."""
    if client.allows(rtype, permission_for(interaction)):
        return
    await audit(request, client.id, "denied", subject, 403)
    raise FhirError(
        403,
        "forbidden",
        f"no scope grants {permission_for(interaction)} on {rtype}",
        headers={"WWW-Authenticate": 'Bearer realm="carehub-fhir", error="insufficient_scope"'},
    )


def support_of(
    request: web.Request, rtype: str, interaction: Interaction | None
) -> ResourceSupport:
    """404 for a type the server does not serve, 405 for an interaction it does not offer."""
    support = request.app[BACKEND].support().get(rtype)
    if support is None:
        raise FhirError(404, "not-supported", f"resource type {rtype} is not supported here")
    if interaction is not None and interaction not in support.interactions:
        why = f": {support.documentation}" if support.documentation else ""
        raise FhirError(
            405, "not-supported", f"{interaction.value} is not supported for {rtype}{why}"
        )
    return support


async def enter(
    request: web.Request, interaction: Interaction, rid: str | None = None
) -> tuple[ApiClient, ResourceSupport]:
    """Authenticate, check the type and interaction, authorize: the common prologue."""
    rtype = request.match_info["type"]
    subject = subject_of(rtype, rid)
    client = await authenticate(request, subject)
    support = support_of(request, rtype, interaction)
    await authorize(request, client, rtype, interaction, subject)
    check_accept(request)
    return client, support


def caller(request: web.Request, client: ApiClient) -> Caller:
    return Caller(client.id, client.system, peer_of(request), client.permissions())


def version_headers(base: str, answer: Answer | Stored) -> dict[str, str]:
    """ETag, Last-Modified and Location/Content-Location with ``_history``."""
    rtype = answer.resource_type
    version = answer.version
    headers: dict[str, str] = {}
    if rtype and answer.id and version is not None:
        headers["ETag"] = etag(version)
        headers["Content-Location"] = f"{base}/{rtype}/{answer.id}/_history/{version}"
    if answer.last_updated is not None:
        headers["Last-Modified"] = http_date(answer.last_updated)
    return headers


def prefer(request: web.Request, name: str) -> str | None:
    """The value of ``Prefer: name=value`` (RFC 7240), lower case, or ``None``."""
    for part in request.headers.getall("Prefer", []):
        for item in part.split(";"):
            key, _, value = item.strip().partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"').lower()
    return None


def answer_response(request: web.Request, answer: Answer) -> web.Response:
    """The HTTP response of a write (``Prefer: return=minimal|representation|OperationOutcome``)."""
    base = base_url(request)
    headers = {**answer.headers, **version_headers(base, answer)}
    if answer.status in (200, 201) and "Content-Location" in headers:
        headers["Location"] = headers["Content-Location"]
    if answer.status == 202 and answer.resource_type and answer.id:
        headers["Content-Location"] = f"{base}/{answer.resource_type}/{answer.id}"
    return fhir_response(answer.status, response_body(request, answer), headers=headers)


def response_body(request: web.Request, answer: Answer) -> Json | None:
    """The body a write's answer is sent with, after ``Prefer: return=``."""
    body = answer.body
    if answer.ok and body is not None:
        wanted = prefer(request, "return")
        if wanted == "minimal":
            body = None
        elif wanted == "operationoutcome":
            body = request.app[BACKEND].outcome(_info(f"{answer.status}"))
    return body


def discloses(body: Json | None) -> bool:
    """A write's answer carries a resource (not an OperationOutcome): a read as well."""
    return body is not None and body.get("resourceType") != "OperationOutcome"


async def write_audit(
    request: web.Request,
    client: ApiClient,
    interaction: Interaction,
    subject: str,
    answer: Answer,
    sent: Json | None,
) -> None:
    """The audit of one write: its action (``denied`` when the backend refused it for the
    scopes, 403), and a ``read`` too when the answer carries the resource (``sent``)."""
    action = "denied" if answer.status == 403 else AUDIT_ACTION[interaction]
    await audit(request, client.id, action, subject, answer.status)
    if discloses(sent):
        await audit(request, client.id, "read", subject, answer.status)


def _info(text: str) -> Report:
    report = Report()
    report.info("informational", text)
    return report


def stored_response(request: web.Request, stored: Stored | None, what: str) -> web.Response:
    """200 with the resource, 410 when deleted, 404 when it never existed."""
    if stored is None:
        raise FhirError(404, "not-found", f"{what} is not known")
    if stored.deleted:
        raise FhirError(
            410,
            "deleted",
            f"{what} was deleted",
            headers=version_headers(base_url(request), stored),
        )
    headers = version_headers(base_url(request), stored)
    headers.pop("Content-Location", None)
    return fhir_response(200, stored.resource, headers=headers)


def budget(request: web.Request) -> RequestBudget:
    """The work budget of this request (one for a whole Bundle)."""
    settings = request.app[SETTINGS]
    return budget_of(request, settings.max_search_scan, settings.max_request_results)


async def history_answer(request: web.Request, rtype: str, rid: str) -> Answer:
    versions = await request.app[BACKEND].history(rtype, rid)
    if not versions:
        err = FhirError(404, "not-found", f"{rtype}/{rid} is not known")
        return Answer(404, request.app[BACKEND].outcome(err.report()))
    budget(request).take(len(versions))
    base = base_url(request)
    return Answer(200, history_bundle(base, versions, f"{base}/{rtype}/{rid}/_history"))


async def run_search(
    request: web.Request, support: ResourceSupport, pairs: list[tuple[str, str]]
) -> tuple[list[Stored], int, SearchQuery]:
    """The page of matches of ``pairs`` (``_offset``, ``_count``), the number of matches in
    all, and the parsed query. Only the page is kept; every candidate examined is charged to
    the request's budget (which also yields to the event loop and stops for a client that
    left), and the page to what it may return."""
    settings = request.app[SETTINGS]
    strict = prefer(request, "handling") == "strict"
    query = parse_search(support, pairs, strict=strict, max_count=settings.max_count)
    work = budget(request)
    found: AsyncIterator[Stored] = request.app[BACKEND].candidates(support.resource_type, pairs)
    page: list[Stored] = []
    total = 0
    end = query.offset + query.count
    async for s in found:
        await work.step()
        if s.resource is None or not matches(s.resource, query):
            continue
        if query.offset <= total < end:
            page.append(s)
        total += 1
    work.take(len(page))
    return page, total, query


async def search_answer(
    request: web.Request, support: ResourceSupport, pairs: list[tuple[str, str]]
) -> Answer:
    page, total, query = await run_search(request, support, pairs)
    outcome = None
    if query.ignored:
        report = Report()
        for name in query.ignored:
            report.warning("not-supported", f"search parameter {name} is not supported: ignored")
        outcome = request.app[BACKEND].outcome(report)
    base = base_url(request)
    body = searchset(base, page, total, page_links(base, query, total), outcome)
    return Answer(200, body)


def check_body_id(resource: Json, rid: str, where: str = "") -> None:
    """update: the body's id must be present and equal the URL's (http.html#update → 400)."""
    body_id = resource.get("id")
    if body_id is None:
        raise FhirError(
            400,
            "required",
            "an update must carry the resource id",
            location=f"{where}{resource.get('resourceType')}.id",
        )
    if body_id != rid:
        raise FhirError(
            400,
            "invalid",
            "the id in the body is not the id in the URL",
            location=f"{where}{resource.get('resourceType')}.id",
        )
