"""Transaction and batch Bundles (http.html#transaction).

A **transaction** is all or nothing: every entry is checked (type, interaction, scope,
request shape) before anything happens, the writes go to the backend as one request (one
pipeline message, all events confirmed or none acknowledged), then the reads run. Any
failure fails the whole Bundle with that entry's status and an OperationOutcome naming the
entry. A **batch** runs each entry on its own; a failed entry gets its own status and
OperationOutcome in ``response.outcome``.
"""

from __future__ import annotations

from aiohttp import web

from adapters.fhir.api.auth import ApiClient
from adapters.fhir.api.bundle import METHOD_ORDER, EntryRequest
from adapters.fhir.api.errors import AnswerFailed, FhirError
from adapters.fhir.api.interactions import (
    AUDIT_ACTION,
    BACKEND,
    audit,
    authorize,
    budget,
    caller,
    check_body_id,
    history_answer,
    search_answer,
    support_of,
    write_audit,
)
from adapters.fhir.api.limits import ClientGone
from adapters.fhir.api.model import Answer, Interaction, Stored, WriteEntry
from adapters.fhir.api.wire import dumps

__all__ = ["entry_interaction", "run_batch", "run_transaction"]


def entry_interaction(entry: EntryRequest) -> Interaction:
    """The interaction an entry's request asks for (405 for PATCH, HEAD and operations)."""
    if entry.operation not in (None, "_history"):
        raise FhirError(
            405,
            "not-supported",
            "operations are not supported in a Bundle",
            location=entry.location,
        )
    if entry.method == "GET":
        if entry.operation == "_history":
            return Interaction.HISTORY
        if entry.id is None:
            return Interaction.SEARCH
        return Interaction.VREAD if entry.version is not None else Interaction.READ
    if entry.method in ("PATCH", "HEAD"):
        raise FhirError(
            405, "not-supported", f"{entry.method} is not supported", location=entry.location
        )
    if entry.method == "POST":
        return Interaction.CREATE
    return Interaction.UPDATE if entry.method == "PUT" else Interaction.DELETE


def _subject(entry: EntryRequest) -> str:
    return f"{entry.resource_type}/{entry.id}" if entry.id else entry.resource_type


async def _admit(request: web.Request, client: ApiClient, entry: EntryRequest) -> Interaction:
    """Check one entry's type, interaction and scope; errors name the entry."""
    try:
        interaction = entry_interaction(entry)
        support_of(request, entry.resource_type, interaction)
        await authorize(request, client, entry.resource_type, interaction, _subject(entry))
    except FhirError as exc:
        exc.location = exc.location or entry.location
        raise
    return interaction


def to_write(entry: EntryRequest) -> WriteEntry:
    """A write entry from a Bundle entry (400 for a malformed request)."""
    where = entry.location
    if entry.method in ("POST", "PUT"):
        if entry.resource is None:
            raise FhirError(
                400, "required", "the entry needs a resource", location=f"{where}.resource"
            )
        if entry.resource.get("resourceType") != entry.resource_type:
            raise FhirError(
                400, "invalid", "resource type and request.url differ", location=f"{where}.resource"
            )
    if entry.method == "PUT" and entry.id is not None:
        assert entry.resource is not None
        check_body_id(entry.resource, entry.id, f"{where}.resource.")
    if entry.method in ("PUT", "DELETE") and entry.id is None and not entry.query:
        raise FhirError(
            400,
            "required",
            "request.url needs an id or search parameters",
            location=f"{where}.request.url",
        )
    return WriteEntry(
        entry.method,
        entry.resource_type,
        id=entry.id,
        resource=entry.resource,
        conditional=entry.query if entry.id is None and entry.method != "POST" else None,
        if_none_exist=entry.if_none_exist,
        if_match=entry.if_match,
        full_url=entry.full_url,
        location=where,
    )


def _no_overlap(writes: list[WriteEntry]) -> None:
    seen: set[str] = set()
    for w in writes:
        if w.id is None:
            continue
        key = f"{w.resource_type}/{w.id}"
        if key in seen:
            raise FhirError(
                400, "business-rule", f"{key} is the target of two entries", location=w.location
            )
        seen.add(key)


async def read_answer(
    request: web.Request, entry: EntryRequest, interaction: Interaction
) -> Answer:
    """A GET entry: read, vread, history or search."""
    backend = request.app[BACKEND]
    if interaction is Interaction.HISTORY:
        assert entry.id is not None
        return await history_answer(request, entry.resource_type, entry.id)
    if interaction is Interaction.SEARCH:
        support = support_of(request, entry.resource_type, interaction)
        return await search_answer(request, support, entry.query)
    assert entry.id is not None
    stored = await backend.read(entry.resource_type, entry.id, entry.version)
    return stored_answer(stored, _subject(entry))


def stored_answer(stored: Stored | None, what: str) -> Answer:
    if stored is None:
        raise FhirError(404, "not-found", f"{what} is not known")
    if stored.deleted:
        raise FhirError(410, "deleted", f"{what} was deleted")
    return Answer(
        200, stored.resource, stored.resource_type, stored.id, stored.version, stored.last_updated
    )


async def run_transaction(
    request: web.Request, client: ApiClient, entries: list[EntryRequest], raw: bytes
) -> list[Answer]:
    """All or nothing; answers in request order (``AnswerFailed`` for a failed transaction)."""
    kinds = [await _admit(request, client, e) for e in entries]
    writes_at = [i for i, e in enumerate(entries) if e.method != "GET"]
    writes = [to_write(entries[i]) for i in writes_at]
    _no_overlap(writes)
    answers: dict[int, Answer] = {}
    if writes:
        order = sorted(range(len(writes)), key=lambda k: METHOD_ORDER[writes[k].method])
        done = await request.app[BACKEND].write(
            caller(request, client), [writes[k] for k in order], raw
        )
        if len(done) != len(writes) or (len(done) == 1 and not done[0].ok):
            await _audit_all(request, client, entries, kinds, done[0].status)
            raise AnswerFailed(done[0].status, done[0].body, done[0].headers)
        for k, answer in zip(order, done, strict=True):
            answers[writes_at[k]] = answer
    for i, entry in enumerate(entries):
        if entry.method == "GET":
            _still_there(request)
            try:
                answers[i] = await read_answer(request, entry, kinds[i])
            except FhirError as exc:
                exc.location = exc.location or entry.location
                raise
    for i, entry in enumerate(entries):
        subject = _answer_subject(entry, answers[i])
        if entry.method == "GET":
            await audit(request, client.id, AUDIT_ACTION[kinds[i]], subject, answers[i].status)
        else:  # entry.resource: a read too
            await write_audit(request, client, kinds[i], subject, answers[i], answers[i].body)
    return [answers[i] for i in range(len(entries))]


def _answer_subject(entry: EntryRequest, answer: Answer) -> str:
    rid = answer.id or answer.audit_id or entry.id
    return f"{entry.resource_type}/{rid}" if rid else entry.resource_type


async def _audit_all(
    request: web.Request,
    client: ApiClient,
    entries: list[EntryRequest],
    kinds: list[Interaction],
    status: int,
) -> None:
    for entry, kind in zip(entries, kinds, strict=True):
        action = "denied" if status == 403 else AUDIT_ACTION[kind]  # the backend's scope check
        await audit(request, client.id, action, _subject(entry), status)


async def run_batch(
    request: web.Request, client: ApiClient, entries: list[EntryRequest]
) -> list[Answer]:
    """Each entry on its own, in order; a failure is that entry's answer. Stops (``ClientGone``)
    between entries once the client has left."""
    answers = []
    for entry in entries:
        _still_there(request)
        answers.append(await _batch_entry(request, client, entry))
    return answers


def _still_there(request: web.Request) -> None:
    if budget(request).client_gone():
        raise ClientGone()


async def _batch_entry(request: web.Request, client: ApiClient, entry: EntryRequest) -> Answer:
    backend = request.app[BACKEND]
    action = "batch"
    try:
        interaction = await _admit(request, client, entry)
        action = AUDIT_ACTION[interaction]
        if entry.method == "GET":
            answer = await read_answer(request, entry, interaction)
        else:
            write = to_write(entry)
            raw = (
                dumps(entry.resource)
                if entry.resource is not None
                else f"{entry.method} {_subject(entry)}".encode()
            )
            answer = (await backend.write(caller(request, client), [write], raw))[0]
            # the backend's answer: audited here, a 403 (its scope check) as denied
            subject = _answer_subject(entry, answer)
            await write_audit(request, client, interaction, subject, answer, answer.body)
            return answer
    except FhirError as exc:
        exc.location = exc.location or entry.location
        answer = Answer(exc.status, backend.outcome(exc.report()))
    if answer.status not in (401, 403):  # a denial by _admit is audited already
        await audit(request, client.id, action, _answer_subject(entry, answer), answer.status)
    return answer
