"""The FHIR R4 REST routes (aiohttp), relative to the FHIR base (mounted at ``/fhir``).

``fhir_routes`` is a ``RouteTableDef`` tied to no app; ``make_api_app`` builds the sub-app
with its state under the ``AppKey``s of ``interactions.py`` and the backend's lifecycle in
``cleanup_ctx``; Bundles are run by ``transaction.py``. Every request is authenticated
(except ``/metadata``), checked against the client's scopes, and audited (actor = client id,
subject = ``Type/id``, outcome = the HTTP status).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from adapters.fhir.api.auth import ApiClient, Authenticator
from adapters.fhir.api.bundle import EntryRequest, parse_request_bundle, response_bundle
from adapters.fhir.api.capability import capability_statement
from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.interactions import (
    AUDIT,
    AUTH,
    BACKEND,
    SETTINGS,
    ApiSettings,
    AuditSink,
    answer_response,
    audit,
    authenticate,
    authorize,
    base_url,
    caller,
    check_body_id,
    enter,
    history_answer,
    response_body,
    search_answer,
    stored_response,
    subject_of,
    support_of,
    write_audit,
)
from adapters.fhir.api.limits import EXECUTOR, check_json_shape, offload
from adapters.fhir.api.limits import INLINE_BYTES as _INLINE_BYTES
from adapters.fhir.api.middleware import error_middleware, outcome_response
from adapters.fhir.api.model import FhirBackend, Interaction, Stored, WriteEntry
from adapters.fhir.api.transaction import run_batch, run_transaction
from adapters.fhir.api.wire import (
    check_content_type,
    fhir_response,
    parse_etag,
    parse_json,
    read_body,
)

__all__ = ["fhir_routes", "make_api_app", "mount_fhir"]

log = logging.getLogger("carehub.fhir.api")

Json = dict[str, Any]


fhir_routes = web.RouteTableDef()

_TYPE = r"{type:[A-Z][A-Za-z]+}"
_ID = r"{id:[A-Za-z0-9\-.]{1,64}}"


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
    await audit(request, client.id, "read", subject_of(rtype, rid), response.status)
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
    await audit(request, client.id, "read", subject_of(rtype, rid), response.status)
    return response


@fhir_routes.get(f"/{_TYPE}/{_ID}/_history")
async def history(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    client, _ = await enter(request, Interaction.HISTORY, rid)
    answer = await history_answer(request, rtype, rid)
    await audit(request, client.id, "read", subject_of(rtype, rid), answer.status)
    return fhir_response(answer.status, answer.body)


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
        return raw, await _decode(request, raw)
    except FhirError as exc:
        await _keep_refused(request, client, raw or exc.head, exc)
        raise


async def _decode(request: web.Request, raw: bytes) -> Json:
    """``raw`` as JSON whose shape is within ``hub.http`` limits; a large body is decoded
    and checked on the app's worker threads, not on the event loop."""
    limits = request.app[SETTINGS].json

    def decode() -> Json:
        data = parse_json(raw)
        check_json_shape(data, limits)
        return data

    if len(raw) <= _INLINE_BYTES:
        return decode()
    return await offload(request, decode)


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
    subject = subject_of(entry.resource_type, answer.id or answer.audit_id or entry.id)
    await write_audit(
        request, client, entry.interaction, subject, answer, response_body(request, answer)
    )
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
        await _decode(request, await read_body(request, request.app[SETTINGS].max_body_bytes))
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
    settings = request.app[SETTINGS]
    try:
        kind, entries = parse_request_bundle(body, settings.max_bundle_entries)
        _within_searches(entries, settings.max_bundle_searches)
    except FhirError as exc:
        await _keep_refused(request, client, raw, exc)
        raise
    if kind == "transaction":
        answers = await run_transaction(request, client, entries, raw)
    else:
        answers = await run_batch(request, client, entries)
    return fhir_response(200, response_bundle(base_url(request), kind, answers))


def _within_searches(entries: list[EntryRequest], limit: int) -> None:
    """413 ``too-costly`` for a Bundle with more than ``limit`` searches (GET entries
    without an id)."""
    searches = sum(1 for e in entries if e.method == "GET" and e.id is None)
    if searches > limit:
        raise FhirError(
            413,
            "too-costly",
            f"the Bundle has {searches} searches; at most {limit} are taken per Bundle "
            "(hub.http.max_bundle_searches)",
            location="Bundle.entry",
        )


# --------------------------------------------------------------------------- app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    backend = app[BACKEND]
    await backend.start()
    try:
        yield
    finally:
        await backend.close()
        app[EXECUTOR].shutdown(wait=False, cancel_futures=True)


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
    app[EXECUTOR] = ThreadPoolExecutor(app[SETTINGS].workers, thread_name_prefix="fhir-work")
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(fhir_routes)
    return app


def mount_fhir(parent: web.Application, fhir_app: web.Application, prefix: str = "/fhir") -> None:
    """Mount the FHIR sub-app under ``prefix`` of the hub's HTTP app."""
    parent.add_subapp(prefix, fhir_app)
