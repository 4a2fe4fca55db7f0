"""The FHIR R4 REST routes (aiohttp), relative to the FHIR base (mounted at ``/fhir``).

``fhir_routes`` is a ``RouteTableDef`` tied to no app; ``make_api_app`` builds the sub-app
with its state under ``AppKey``s and the backend's lifecycle in ``cleanup_ctx``. Every
request is authenticated (except ``/metadata``), checked against the client's scopes, and
audited (actor = client id, subject = ``Type/id``, outcome = the HTTP status).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from adapters.fhir.api.auth import ApiClient, Authenticator, permission_for
from adapters.fhir.api.bundle import (
    history_bundle,
    parse_request_bundle,
    response_bundle,
    searchset,
)
from adapters.fhir.api.capability import capability_statement
from adapters.fhir.api.errors import FhirError, error_middleware, outcome_response
from adapters.fhir.api.model import (
    Answer,
    Caller,
    FhirBackend,
    Interaction,
    ResourceSupport,
    Stored,
    WriteEntry,
)
from adapters.fhir.api.search import matches, page_links, parse_search
from adapters.fhir.api.wire import (
    check_accept,
    check_content_type,
    etag,
    fhir_response,
    http_date,
    parse_etag,
    parse_json,
    read_body,
)

__all__ = [
    "AUDIT",
    "AUTH",
    "BACKEND",
    "SETTINGS",
    "ApiSettings",
    "AuditSink",
    "fhir_routes",
    "make_api_app",
    "mount_fhir",
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


BACKEND = web.AppKey("fhir_backend", FhirBackend)
AUTH = web.AppKey("fhir_auth", Authenticator)
AUDIT = web.AppKey("fhir_audit", AuditSink)
SETTINGS = web.AppKey("fhir_settings", ApiSettings)

fhir_routes = web.RouteTableDef()

_TYPE = r"{type:[A-Z][A-Za-z]+}"
_ID = r"{id:[A-Za-z0-9\-.]{1,64}}"
AUDIT_ACTION = {
    Interaction.READ: "read",
    Interaction.VREAD: "read",
    Interaction.HISTORY: "read",
    Interaction.SEARCH: "search",
    Interaction.CREATE: "create",
    Interaction.UPDATE: "update",
    Interaction.DELETE: "delete",
}


# --------------------------------------------------------------------------- helpers


def base_url(request: web.Request) -> str:
    """The absolute FHIR base of this request (``http://host:port/fhir``)."""
    path = str(request.app.router["fhir-metadata"].url_for())
    return f"{request.scheme}://{request.host}{path.rsplit('/metadata', 1)[0]}"


def _peer(request: web.Request) -> str | None:
    return request.remote


async def audit(
    request: web.Request, actor: str, action: str, subject: str | None, status: int
) -> None:
    """Record one access; a failure to record is logged (class only), not raised."""
    try:
        await request.app[AUDIT](
            actor=actor, action=action, outcome=str(status), subject=subject, peer=_peer(request)
        )
    except Exception as exc:
        log.warning("audit record not written: %s", type(exc).__name__)


def _subject(rtype: str, rid: str | None) -> str:
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
    subject = _subject(rtype, rid)
    client = await authenticate(request, subject)
    support = support_of(request, rtype, interaction)
    await authorize(request, client, rtype, interaction, subject)
    check_accept(request)
    return client, support


def caller(request: web.Request, client: ApiClient) -> Caller:
    return Caller(client.id, client.system, _peer(request))


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


def _prefer(request: web.Request, name: str) -> str | None:
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
    body = answer.body
    if answer.ok and body is not None:
        wanted = _prefer(request, "return")
        if wanted == "minimal":
            body = None
        elif wanted == "operationoutcome":
            body = request.app[BACKEND].outcome(_info(f"{answer.status}"))
    return fhir_response(answer.status, body, headers=headers)


def _info(text: str) -> Any:
    from hub.findings import Report

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


# --------------------------------------------------------------------------- metadata


@fhir_routes.get("/metadata", name="fhir-metadata")
async def metadata(request: web.Request) -> web.Response:
    """The CapabilityStatement; open to everyone."""
    settings = request.app[SETTINGS]
    body = capability_statement(
        request.app[BACKEND].support(),
        base_url=base_url(request),
        software=settings.software,
        max_count=settings.max_count,
    )
    return fhir_response(200, body)


# --------------------------------------------------------------------------- reads


@fhir_routes.get(f"/{_TYPE}/{_ID}")
async def read(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    client, _ = await enter(request, Interaction.READ, rid)
    stored = await request.app[BACKEND].read(rtype, rid)
    response = _safe_stored(request, stored, f"{rtype}/{rid}")
    await audit(request, client.id, "read", _subject(rtype, rid), response.status)
    return response


def _safe_stored(request: web.Request, stored: Stored | None, what: str) -> web.Response:
    try:
        return stored_response(request, stored, what)
    except FhirError as exc:
        return outcome_response(request.app[BACKEND].outcome, exc.status, exc.report(), exc.headers)


@fhir_routes.get(f"/{_TYPE}/{_ID}/_history/{{vid:[0-9]+}}")
async def vread(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    vid = int(request.match_info["vid"])
    client, _ = await enter(request, Interaction.VREAD, rid)
    stored = await request.app[BACKEND].read(rtype, rid, vid)
    response = _safe_stored(request, stored, f"{rtype}/{rid} version {vid}")
    await audit(request, client.id, "read", _subject(rtype, rid), response.status)
    return response


@fhir_routes.get(f"/{_TYPE}/{_ID}/_history")
async def history(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    client, _ = await enter(request, Interaction.HISTORY, rid)
    answer = await history_answer(request, rtype, rid)
    await audit(request, client.id, "read", _subject(rtype, rid), answer.status)
    return fhir_response(answer.status, answer.body)


async def history_answer(request: web.Request, rtype: str, rid: str) -> Answer:
    versions = await request.app[BACKEND].history(rtype, rid)
    if not versions:
        err = FhirError(404, "not-found", f"{rtype}/{rid} is not known")
        return Answer(404, request.app[BACKEND].outcome(err.report()))
    base = base_url(request)
    return Answer(200, history_bundle(base, versions, f"{base}/{rtype}/{rid}/_history"))


@fhir_routes.get(f"/{_TYPE}")
async def search(request: web.Request) -> web.Response:
    client, support = await enter(request, Interaction.SEARCH)
    answer = await search_answer(request, support, list(request.query.items()))
    await audit(request, client.id, "search", support.resource_type, answer.status)
    return fhir_response(answer.status, answer.body)


@fhir_routes.post(f"/{_TYPE}/_search")
async def search_post(request: web.Request) -> web.Response:
    """``POST Type/_search`` with form-encoded parameters (search.html#Introduction)."""
    client, support = await enter(request, Interaction.SEARCH)
    form = await request.post()
    pairs = [*request.query.items(), *((k, str(v)) for k, v in form.items())]
    answer = await search_answer(request, support, pairs)
    await audit(request, client.id, "search", support.resource_type, answer.status)
    return fhir_response(answer.status, answer.body)


async def run_search(
    request: web.Request, support: ResourceSupport, pairs: list[tuple[str, str]]
) -> tuple[list[Stored], Any]:
    """Every match of ``pairs`` (not paged) and the parsed query."""
    settings = request.app[SETTINGS]
    strict = _prefer(request, "handling") == "strict"
    query = parse_search(support, pairs, strict=strict, max_count=settings.max_count)
    found: AsyncIterator[Stored] = request.app[BACKEND].candidates(support.resource_type, pairs)
    hits = [s async for s in found if s.resource is not None and matches(s.resource, query)]
    return hits, query


async def search_answer(
    request: web.Request, support: ResourceSupport, pairs: list[tuple[str, str]]
) -> Answer:
    hits, query = await run_search(request, support, pairs)
    page = hits[query.offset : query.offset + query.count]
    outcome = None
    if query.ignored:
        from hub.findings import Report

        report = Report()
        for name in query.ignored:
            report.warning("not-supported", f"search parameter {name} is not supported: ignored")
        outcome = request.app[BACKEND].outcome(report)
    base = base_url(request)
    body = searchset(base, page, len(hits), page_links(base, query, len(hits)), outcome)
    return Answer(200, body)


# --------------------------------------------------------------------------- writes


async def _request_json(request: web.Request, client: ApiClient) -> tuple[bytes, Json]:
    """The body of a write as JSON. A body refused here (415 XML or another type, 413 over
    the cap, 400 not JSON) is read anyway — never past the cap — and kept by the backend
    before the refusal is raised, so every request that carried content is in the log."""
    raw = b""
    try:
        wrong_type: FhirError | None = None
        try:
            check_content_type(request)
        except FhirError as exc:
            wrong_type = exc
        raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
        if wrong_type is not None:
            raise wrong_type
        return raw, parse_json(raw)
    except FhirError as exc:
        await _keep_refused(request, client, raw or exc.head, exc)
        raise


async def _keep_refused(
    request: web.Request, client: ApiClient, raw: bytes, exc: FhirError
) -> None:
    await request.app[BACKEND].refused(caller(request, client), raw, exc.status, exc.report())


async def _resource_body(request: web.Request, client: ApiClient, rtype: str) -> tuple[bytes, Json]:
    raw, resource = await _request_json(request, client)
    if resource.get("resourceType") != rtype:
        exc = FhirError(400, "invalid", f"the body is not a {rtype}", location="resourceType")
        await _keep_refused(request, client, raw, exc)
        raise exc
    return raw, resource


def _conditional(request: web.Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query.items() if k != "_format"]


@fhir_routes.post(f"/{_TYPE}")
async def create(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    client, _ = await enter(request, Interaction.CREATE)
    raw, resource = await _resource_body(request, client, rtype)
    none_exist = request.headers.get("If-None-Exist")
    entry = WriteEntry(
        "POST",
        rtype,
        resource=resource,
        if_none_exist=_query_pairs(none_exist) if none_exist else None,
    )
    return await _write(request, client, entry, raw)


def _query_pairs(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text.lstrip("?"), keep_blank_values=True)


@fhir_routes.put(f"/{_TYPE}/{_ID}")
async def update(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    client, _ = await enter(request, Interaction.UPDATE, rid)
    raw, resource = await _resource_body(request, client, rtype)
    check_body_id(resource, rid)
    entry = WriteEntry(
        "PUT",
        rtype,
        id=rid,
        resource=resource,
        if_match=parse_etag(request.headers.get("If-Match")),
    )
    return await _write(request, client, entry, raw)


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


@fhir_routes.put(f"/{_TYPE}")
async def conditional_update(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    client, _ = await enter(request, Interaction.UPDATE)
    conditional = _conditional(request)
    if not conditional:
        raise FhirError(400, "required", "a conditional update needs search parameters")
    raw, resource = await _resource_body(request, client, rtype)
    entry = WriteEntry(
        "PUT",
        rtype,
        resource=resource,
        conditional=conditional,
        if_match=parse_etag(request.headers.get("If-Match")),
    )
    return await _write(request, client, entry, raw)


@fhir_routes.delete(f"/{_TYPE}/{_ID}")
async def delete(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    client, _ = await enter(request, Interaction.DELETE, rid)
    entry = WriteEntry(
        "DELETE", rtype, id=rid, if_match=parse_etag(request.headers.get("If-Match"))
    )
    return await _write(request, client, entry, f"DELETE {rtype}/{rid}".encode())


@fhir_routes.delete(f"/{_TYPE}")
async def conditional_delete(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    client, _ = await enter(request, Interaction.DELETE)
    conditional = _conditional(request)
    if not conditional:
        raise FhirError(400, "required", "a conditional delete needs search parameters")
    entry = WriteEntry("DELETE", rtype, conditional=conditional)
    return await _write(request, client, entry, f"DELETE {request.rel_url}".encode())


async def _write(
    request: web.Request, client: ApiClient, entry: WriteEntry, raw: bytes
) -> web.Response:
    answers = await request.app[BACKEND].write(caller(request, client), [entry], raw)
    answer = answers[0]
    subject = _subject(entry.resource_type, answer.id or entry.id)
    await audit(request, client.id, AUDIT_ACTION[entry.interaction], subject, answer.status)
    return answer_response(request, answer)


@fhir_routes.post(f"/{_TYPE}/{{op:\\$[a-z-]+}}")
async def operation(request: web.Request) -> web.Response:
    """``$validate``: the resource (or a Parameters with a ``resource``) checked, not stored."""
    rtype, op = request.match_info["type"], request.match_info["op"]
    client = await authenticate(request, rtype)
    support_of(request, rtype, None)
    if op != "$validate":
        raise FhirError(404, "not-supported", f"operation {op} is not supported")
    if not client.allows_any(rtype):
        await authorize(request, client, rtype, Interaction.CREATE, rtype)
    check_content_type(request)
    resource = _validate_target(
        parse_json(await read_body(request, request.app[SETTINGS].max_body_bytes))
    )
    report = request.app[BACKEND].check(resource)
    await audit(request, client.id, "validate", rtype, 200)
    return fhir_response(200, request.app[BACKEND].outcome(report))


def _validate_target(body: Json) -> Json:
    if body.get("resourceType") != "Parameters":
        return body
    for param in body.get("parameter") or []:
        if isinstance(param, dict) and param.get("name") == "resource":
            resource = param.get("resource")
            if isinstance(resource, dict):
                return resource
    raise FhirError(
        400,
        "required",
        "Parameters must carry a 'resource' parameter",
        location="Parameters.parameter",
    )


# --------------------------------------------------------------------------- bundles


@fhir_routes.post("")
@fhir_routes.post("/")
async def bundle(request: web.Request) -> web.Response:
    """A transaction (all or nothing) or a batch (each entry on its own)."""
    client = await authenticate(request, "Bundle")
    raw, body = await _request_json(request, client)
    try:
        kind, entries = parse_request_bundle(body, request.app[SETTINGS].max_bundle_entries)
    except FhirError as exc:
        await _keep_refused(request, client, raw, exc)
        raise
    if kind == "transaction":
        from adapters.fhir.api.transaction import run_transaction

        answers = await run_transaction(request, client, entries, raw)
    else:
        from adapters.fhir.api.transaction import run_batch

        answers = await run_batch(request, client, entries)
    return fhir_response(200, response_bundle(base_url(request), kind, answers))


# --------------------------------------------------------------------------- app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    backend = app[BACKEND]
    await backend.start()
    try:
        yield
    finally:
        await backend.close()


def make_api_app(
    backend: FhirBackend,
    auth: Authenticator,
    audit_sink: AuditSink,
    settings: ApiSettings | None = None,
) -> web.Application:
    """The FHIR sub-app; mount it at ``/fhir`` (``mount_fhir``)."""
    app = web.Application(middlewares=[error_middleware(backend.outcome)])
    app[BACKEND] = backend
    app[AUTH] = auth
    app[AUDIT] = audit_sink
    app[SETTINGS] = settings or ApiSettings()
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(fhir_routes)
    return app


def mount_fhir(parent: web.Application, fhir_app: web.Application, prefix: str = "/fhir") -> None:
    """Mount the FHIR sub-app under ``prefix`` of the hub's HTTP app."""
    parent.add_subapp(prefix, fhir_app)
