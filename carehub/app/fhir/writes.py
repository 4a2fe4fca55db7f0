"""FHIR writes, planned before the pipeline runs: conditional searches, checks, mapping, and
the canonical id of every resource — the URL id for an update, the id the cross-reference
already gives its identifiers, else a new id reserved for them — planned with the hub's one
``hub.sync.IdentityService`` and set on ``entity.id`` so the sync engine keeps it. The plan is
the native value of ``FhirInboundFormat``, so one pipeline message stores the raw body,
publishes the events and waits for the broker's confirm.

A delete is an event like any other write: the removal of its record (``hub.canonical.REMOVED``),
which the sync engine applies (a tombstone version, ``hub.sync.removal``) and publishes to the
subscribers. Then the bounded wait until the sync engine has applied the events
(read-your-writes), and the answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from adapters.fhir.api import Answer, Caller, FhirError, Stored, WriteEntry, rewrite_references
from carehub.app.fhir.checks import map_resource
from carehub.app.fhir.plan import Planned, WritePlan
from carehub.app.fhir.reads import FhirReader
from carehub.app.fhir.views import View, entity_of
from conformance.fhir import check_resource, operation_outcome, outcome_bytes
from hub.canonical import REMOVED, EntityType, Event, EventKind
from hub.context import MapContext
from hub.findings import Report
from hub.judge import InboundOutcome, MessageIdentity
from hub.ports import Store
from hub.sync import CONSUMER as SYNC_CONSUMER
from hub.sync import IdentityService, disagreement, is_tombstone
from hub.sync.identity import demographics
from mappings.fhir import FhirMapContext, FhirVocabulary, event_kind

__all__ = ["FhirInboundFormat", "WritePlanner"]

log = logging.getLogger("carehub.fhir")

Json = dict[str, Any]


class FhirInboundFormat:
    """``InboundFormat`` for one planned FHIR write (``hub.pipeline``): the plan is built
    before the pipeline runs, because the canonical ids must be known at write time."""

    format = "fhir"

    def __init__(self, plan: WritePlan):
        self.plan = plan

    def parse(self, raw: bytes) -> WritePlan:
        return self.plan

    def identify(self, native: WritePlan) -> MessageIdentity:
        """Resource type (or ``transaction``); FHIR REST has no de-duplication key."""
        return MessageIdentity(native.message_key, None, None)

    def check(self, native: WritePlan) -> Report:
        return native.report

    def map(self, native: WritePlan, ctx: MapContext) -> list[Event]:
        """One event per entry that writes: its change, or for a delete the removal of the
        record as it stands (``hub.canonical.REMOVED``)."""
        events = []
        for item in native.items:
            if item.answer is not None:
                continue
            found = _removal(item) if item.entry.method == "DELETE" else _change(item)
            if found is None:
                continue
            kind, entity = found
            item.event = Event(
                kind=kind, entity=entity, provenance=ctx.provenance(item.entry.resource_type)
            )
            events.append(item.event)
        return events

    def respond(
        self, native: WritePlan | None, raw: bytes, outcome: InboundOutcome, report: Report
    ) -> bytes:
        """The OperationOutcome kept as the message's answer."""
        return outcome_bytes(report, ok_text=f"accepted ({outcome.value})")


def _change(item: Planned) -> tuple[EventKind, Any] | None:
    """A create or update: the kind of change, and the mapped entity."""
    if item.entity is None:
        return None
    previous = entity_of(item.current) if item.alive and item.current else None
    kind = event_kind(item.entry.resource_type, item.entity, previous)
    return (kind, item.entity) if kind is not None else None


def _removal(item: Planned) -> tuple[EventKind, Any] | None:
    """A delete of a live record: its removal, carrying the record as it stands (its id and
    identifiers: what subscribers find their copy by)."""
    if item.current is None or item.entity_type is None or not item.alive:
        return None
    entity = entity_of(item.current)
    # the version checked while planning: the sync engine does not remove a record that
    # changed since (then the answer is 409, as for any write that lost a race)
    entity.meta.version = item.current.version
    return REMOVED[item.entity_type], entity


class WritePlanner:
    """Plans writes, waits for the sync engine and answers each entry."""

    def __init__(
        self,
        store: Store,
        reader: FhirReader,
        views: Mapping[str, View],
        vocab: FhirVocabulary,
        *,
        identity: IdentityService,
        sync_wait: float,
    ):
        self.store = store
        self.reader = reader
        self.views = views
        self.vocab = vocab
        #: the hub's identity service (the sync engine's): cross-reference, reservations,
        #: the config's patient matching rules
        self.identity = identity
        self.sync_wait = sync_wait

    def context(self, system: str) -> FhirMapContext:
        return FhirMapContext(source=system, vocab=self.vocab)

    async def plan(self, caller: Caller, entries: list[WriteEntry]) -> WritePlan:
        """Targets, checks, mapping and canonical ids of every entry (``FhirError`` for a
        request that cannot proceed: 404, 405, 409, 412)."""
        items = [
            Planned(e, self._writable(e), f"{e.location}.resource." if e.location else "")
            for e in entries
        ]
        plan = WritePlan(caller, items, message_key=_message_key(entries))
        for item in items:
            await self._target(plan, item)
        live = [p for p in items if p.answer is None and p.entry.method != "DELETE"]
        for item in live:
            self._check(plan, item)
        if plan.report.ok:
            await self._identify(plan, [p for p in live if p.entity is not None])
            await self._conditional_providers(plan, live)
        for item in items:
            await self._current(item)
            _within_scopes(plan.caller, item)
        await self._holds(plan)
        return plan

    def _writable(self, entry: WriteEntry) -> View:
        view = self.views[entry.resource_type]
        if entry.interaction not in view.interactions:
            raise FhirError(
                405,
                "not-supported",
                view.documentation or "not writable",
                location=entry.location or None,
            )
        return view

    async def _target(self, plan: WritePlan, item: Planned) -> None:
        """Resolve a conditional create/update/delete to its target (or its answer)."""
        e = item.entry
        item.fhir_id = e.id
        if e.if_none_exist:
            _may_search(plan.caller, e)
            hits = await self._matches(e.resource_type, e.if_none_exist, e.location)
            if hits:
                item.matched = True
                item.answer = _shown(_found(hits[0]), plan.caller, item)
        elif e.conditional:
            hits = await self._matches(e.resource_type, e.conditional, e.location)
            item.fhir_id = hits[0].id if hits else self._conditional_id(e)
            if e.method == "DELETE" and not hits:
                item.answer = Answer(204)

    async def _matches(self, rtype: str, params: list[tuple[str, str]], where: str) -> list[Stored]:
        hits = await self.reader.search(rtype, params, where)
        if len(hits) > 1:
            raise FhirError(
                412,
                "multiple-matches",
                f"the condition matches {len(hits)} {rtype} resources",
                location=where or None,
            )
        return hits

    @staticmethod
    def _conditional_id(e: WriteEntry) -> str | None:
        body_id = e.resource.get("id") if e.resource else None
        return body_id if isinstance(body_id, str) else None

    def _check(self, plan: WritePlan, item: Planned) -> None:
        """Conformance findings, then the first mapping (entity without final ids)."""
        resource = dict(item.entry.resource or {})
        if item.entry.method == "POST":
            resource.pop("id", None)  # create: the server assigns the id (http.html#create)
        elif (
            item.fhir_id is not None
            and item.entry.conditional
            and resource.get("id") not in (None, item.fhir_id)
        ):
            raise FhirError(
                400,
                "invalid",
                "the id in the body is not that of the matched resource",
                location=f"{item.prefix}{item.entry.resource_type}.id",
            )
        item.resource = resource
        report = check_resource(resource, prefix=item.prefix)
        plan.report.extend(report)
        if report.ok:
            item.entity = self._map(plan, item, resource)

    def _map(self, plan: WritePlan, item: Planned, resource: Json) -> Any:
        ctx = self.context(plan.caller.system)
        mapped = map_resource(resource, ctx, plan.report, item.prefix)
        if isinstance(mapped, list):  # Schedule/Slot: not writable, refused before
            return None
        return mapped

    async def _identify(self, plan: WritePlan, items: list[Planned]) -> None:
        """Canonical ids: roles after the rest, because a role's id is its practitioner's,
        which may be another entry of the same Bundle (``urn:uuid:``)."""
        roles = [p for p in items if p.entry.resource_type == "PractitionerRole"]
        for item in items:
            if item not in roles:
                await self._assign(plan, item)
        targets = {
            p.entry.full_url: f"{p.entry.resource_type}/{p.fhir_id}"
            for p in items
            if p.entry.full_url and p.fhir_id and p not in roles
        }
        if targets:
            for item in items:
                item.resource = rewrite_references(item.resource, targets)
                item.entity = self._map(plan, item, item.resource or {})
                if item.entity is not None and item not in roles:
                    item.entity.id = item.fhir_id
        for item in roles:
            if item.entity is not None:
                await self._assign(plan, item)

    async def _conditional_providers(self, plan: WritePlan, items: list[Planned]) -> None:
        """A Claim's provider given as a conditional reference (``Organization?identifier=…``)
        must name exactly one record the hub holds (FHIR http.html#trules): none is a 422 and
        several a 412, naming ``Claim.provider`` — nothing written. A record of that type
        created by the same request is left to the sync engine to resolve."""
        written = {p.entry.resource_type for p in items}
        for item in items:
            if item.entry.resource_type != "Claim" or not item.resource:
                continue
            team = item.resource.get("careTeam")
            member = team[0] if isinstance(team, list) and team else {}
            for path, ref in (
                ("Claim.provider", item.resource.get("provider")),
                ("Claim.careTeam[0].provider", member.get("provider") if member else None),
            ):
                literal = ref.get("reference") if isinstance(ref, dict) else None
                if not isinstance(literal, str) or "?" not in literal:
                    continue
                rtype, _, query = literal.partition("?")
                rtype = "Practitioner" if rtype == "PractitionerRole" else rtype
                if rtype not in self.views or rtype in written:
                    continue
                where = f"{item.prefix}{path}"
                hits = await self.reader.search(rtype, parse_qsl(query), where)
                if len(hits) != 1:
                    raise FhirError(
                        412 if hits else 422,
                        "multiple-matches" if hits else "processing",
                        f"{path}: the conditional reference matches "
                        f"{len(hits) or 'no'} {rtype} the hub holds; an X12 837 needs the "
                        "billing provider's NPI. Nothing was written",
                        location=where,
                    )

    async def _assign(self, plan: WritePlan, item: Planned) -> None:
        entity = item.entity
        item.entity_type = entity.entity_type
        pairs = self.identity.pairs(entity.identifiers, plan.caller.system, entity.entity_type)
        known = await self.identity.resolve(self.store, entity.entity_type.value, pairs)
        wanted = item.fhir_id
        if item.entry.resource_type == "PractitionerRole" and entity.id is not None:
            if wanted is not None and wanted != entity.id:
                raise FhirError(
                    422,
                    "business-rule",
                    "a PractitionerRole's id is the id of its practitioner",
                    location=f"{item.prefix}PractitionerRole.practitioner",
                )
            wanted = entity.id
        if wanted is not None and known and known != [wanted]:
            rtype = item.entry.resource_type
            # the other record is named only to a client that may read it
            owner = f"{rtype}/{known[0]}" if plan.caller.may(rtype, "r") else f"another {rtype}"
            raise FhirError(
                409,
                "conflict",
                f"an identifier of this resource already belongs to {owner}",
                location=f"{item.prefix}{rtype}.identifier",
            )
        if entity.entity_type is EntityType.PATIENT and known and item.entry.id is None:
            await self._same_person(item, known)
        if wanted is None:
            wanted = known[0] if known else await self._new_id(plan, entity, pairs)
        item.fhir_id = wanted
        entity.id = wanted

    async def _same_person(self, item: Planned, known: list[str]) -> None:
        """A Patient its identifying identifiers name (a create, a conditional update): the
        identity rules the sync engine applies to every other feed (``hub.sync.identity``),
        which an event carrying its canonical id skips. Identifiers naming several records,
        or a record whose identity facts contradict the incoming ones (``disagreement``:
        birth date, sex, or both names), hold the write (``_holds``). An update by id names
        its record itself and is not held."""
        etype = EntityType.PATIENT.value
        real = await self.identity.existing(self.store, etype, known)
        if len(real) > 1:
            item.held, item.candidates = "its identifiers name several records", tuple(real)
            return
        if not real:
            return
        current = await self.store.get_entity(etype, real[0])
        if current is None or is_tombstone(current):
            return
        incoming = item.entity.model_dump(mode="json", exclude_none=True)
        differs = disagreement(demographics(incoming), demographics(current.data))
        if differs:
            item.held = f"an identifying identifier names a record whose {differs} differ"
            item.candidates = (real[0],)

    async def _holds(self, plan: WritePlan) -> None:
        """Writes the identity rules hold: a review for each (as the sync engine opens for
        an event it holds), then 409 for the request — nothing written or published, the
        body kept as a rejected message (``FhirBackend.write``), no values in the answer and
        the record named only to a client that may read it."""
        held = [p for p in plan.items if p.held and p.candidates and p.answer is None]
        for item in held:
            rule = f"FHIR write by client {plan.caller.client} held: {item.held}"
            record, *others = item.candidates
            await self.store.open_review(EntityType.PATIENT.value, record, others, rule[:128])
        if not held:
            return
        first = held[0]
        rtype = first.entry.resource_type
        names = ", ".join(f"{rtype}/{c}" for c in first.candidates)
        named = f" ({names})" if plan.caller.may(rtype, "r") else ""
        raise FhirError(
            409,
            "conflict",
            f"held for review: {first.held}{named}; an identifier alone does not make two "
            "records one person. Nothing was changed",
            location=f"{first.prefix}{rtype}.identifier",
        )

    async def _new_id(self, plan: WritePlan, entity: Any, pairs: list[tuple[str, str]]) -> str:
        """The id of a create no identifier names yet: a patient the hub knows under other
        identifiers (HL7 v2 MRN, X12 member id) by the matching rules the sync engine
        applies, else an id reserved for the identifiers now — two creates of one new
        patient racing each other end as one record (the sync engine links identifiers only
        when it applies the event)."""
        if entity.entity_type is EntityType.PATIENT:
            match = await self.identity.match(
                self.store, entity.model_dump(mode="json", exclude_none=True)
            )
            if match.linked:
                return match.linked
        return await self.identity.reserve(
            self.store, entity.entity_type.value, pairs, plan.caller.system
        )

    async def _current(self, item: Planned) -> None:
        """What the store holds for the target now; If-Match; delete preconditions."""
        if item.answer is not None or item.fhir_id is None:
            return
        located = item.view.locate(item.fhir_id)
        if item.entity_type is not None:
            located = [(t, c) for t, c in located if t is item.entity_type]
        for et, cid in located:
            record = await self.store.get_entity(et.value, cid)
            if record is not None:
                item.current, item.entity_type = record, et
                break
        self._preconditions(item)

    def _preconditions(self, item: Planned) -> None:
        e = item.entry
        where = e.location or None
        version = item.current.version if item.current else None
        if e.if_match is not None and e.if_match != version:
            raise FhirError(
                412,
                "conflict",
                f'If-Match W/"{e.if_match}" is not the current version',
                location=where,
            )
        if e.method == "DELETE":
            if item.current is None:
                raise FhirError(
                    404,
                    "not-found",
                    f"{e.resource_type}/{item.fhir_id} is not known",
                    location=where,
                )
            if not item.alive:
                item.answer = Answer(204, None, e.resource_type, item.fhir_id)
            return
        item.status = 200 if item.alive else 201

    async def finish(self, plan: WritePlan) -> list[Answer]:
        """After the pipeline took the plan: the wait for the sync engine (bounded by
        ``sync_wait``), then one answer per entry."""
        applied = await self._wait_applied(plan)
        return [_shown(await self._answer(p, applied), plan.caller, p) for p in plan.items]

    async def _wait_applied(self, plan: WritePlan) -> bool:
        """Until the sync engine has applied every event (bounded by ``sync_wait``)."""
        pending = [p.event.id for p in plan.items if p.event is not None]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sync_wait
        delay = 0.002
        while pending:
            if await self.store.was_processed(SYNC_CONSUMER, pending[0]):
                pending.pop(0)
                continue
            if loop.time() >= deadline:
                log.info(
                    "FHIR write: %d event(s) not applied within %.1fs", len(pending), self.sync_wait
                )
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    async def _deleted(self, item: Planned, applied: bool) -> Answer:
        """204 once the sync engine removed the record; 409 when it did not, because the
        record changed after the delete was planned; 202 past the wait."""
        e = item.entry
        if not applied:
            return _accepted(item)
        assert item.fhir_id is not None
        stored = await self.reader.read(e.resource_type, item.fhir_id)
        if stored is not None and not stored.deleted:
            raise FhirError(
                409,
                "conflict",
                "the resource changed while it was being deleted",
                location=e.location or None,
            )
        return Answer(204, None, e.resource_type, item.fhir_id)

    async def _answer(self, item: Planned, applied: bool) -> Answer:
        e = item.entry
        if item.answer is not None:
            return item.answer
        if e.method == "DELETE":
            return await self._deleted(item, applied)
        assert item.fhir_id is not None
        stored = await self.reader.read(e.resource_type, item.fhir_id) if applied else None
        if stored is None or stored.deleted:
            return _accepted(item)
        return Answer(
            item.status,
            stored.resource,
            e.resource_type,
            stored.id,
            stored.version,
            stored.last_updated,
        )


def _within_scopes(caller: Caller, item: Planned) -> None:
    """What a write turns out to do, against the caller's scopes (the HTTP layer checked the
    letter of the interaction asked for; docs/security.md, "Write scopes"): a create that
    lands on an existing record (its identifiers or demographics name it) changes that record
    only with ``u`` — 409, nothing changed, the record not named; an update whose target does
    not exist creates it, which needs ``c`` — 403."""
    e = item.entry
    if item.answer is not None or e.method == "DELETE" or item.fhir_id is None:
        return
    rtype, where = e.resource_type, e.location or None
    exists = item.current is not None and item.view.present(item.current)
    if e.method == "POST" and exists and not caller.may(rtype, "u"):
        raise FhirError(
            409,
            "conflict",
            f"this {rtype} matches an existing record (by identifier or by the matching "
            f"rules); changing it needs the scope system/{rtype}.u. Nothing was changed",
            location=where,
        )
    if e.method == "PUT" and not exists and not caller.may(rtype, "c"):
        raise FhirError(
            403,
            "forbidden",
            f"no {rtype} matches, so this update would create one; creating needs the scope "
            f"system/{rtype}.c. Nothing was written",
            location=where,
            headers={"WWW-Authenticate": 'Bearer realm="carehub-fhir", error="insufficient_scope"'},
        )


def _may_search(caller: Caller, e: WriteEntry) -> None:
    """A conditional create searches, and its answer says whether the search found someone:
    ``If-None-Exist`` needs ``r`` or ``s`` on the type (403 otherwise, nothing written)."""
    rtype = e.resource_type
    if caller.may(rtype, "r") or caller.may(rtype, "s"):
        return
    raise FhirError(
        403,
        "forbidden",
        f"If-None-Exist searches {rtype}: it needs the scope system/{rtype}.r or "
        f"system/{rtype}.s. Nothing was written",
        location=e.location or None,
        headers={"WWW-Authenticate": 'Bearer realm="carehub-fhir", error="insufficient_scope"'},
    )


def _shown(answer: Answer, caller: Caller, item: Planned) -> Answer:
    """``answer`` as the caller may see it. Without ``r`` on the type: no resource in the
    body (the status and headers alone, ``Prefer: return=minimal`` whatever the client asked
    for); and when the answer is about a record that existed before the request and the
    client did not name it (``Planned.existing``), no id either — no ``Location``, ``ETag``,
    ``fullUrl`` (the id stays in ``audit_id`` for the audit trail). OperationOutcomes (202,
    errors) are kept."""
    if caller.may(item.entry.resource_type, "r"):
        return answer
    if item.existing and answer.id is not None:
        answer = dataclasses.replace(
            answer, id=None, version=None, last_updated=None, audit_id=answer.id
        )
    body = answer.body
    if body is None or body.get("resourceType") == "OperationOutcome":
        return answer
    return dataclasses.replace(answer, body=None)


def _accepted(item: Planned) -> Answer:
    """202: confirmed by the broker, not yet applied by the sync engine within the wait."""
    report = Report()
    report.info("informational", "accepted; not yet applied to the hub's state")
    return Answer(202, operation_outcome(report), item.entry.resource_type, item.fhir_id)


def _found(stored: Stored) -> Answer:
    """A conditional create that matched: 200 with the existing resource, nothing written."""
    return Answer(
        200, stored.resource, stored.resource_type, stored.id, stored.version, stored.last_updated
    )


def _message_key(entries: list[WriteEntry]) -> str:
    if len(entries) == 1 and not entries[0].location:
        return entries[0].resource_type
    return "transaction"
