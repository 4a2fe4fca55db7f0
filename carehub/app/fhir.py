"""FHIR R4 as the hub sees it: the ``FhirInboundFormat`` pipeline format, the read side over the
canonical state, and ``make_fhir_app`` — the API of ``adapters/fhir/api`` wired to the
pipeline, the store, the mappings (``mappings/fhir``) and the checks (``conformance/fhir``).

Writes: the request is planned first (conditional searches, checks, mapping, and the
canonical id of every resource: the URL id for an update, the id the cross-reference already
gives its identifiers, else a new uuid — set on ``entity.id`` so the sync engine keeps it),
then one pipeline message stores the raw body, publishes the events and waits for the
broker's confirm. For read-your-writes the answer waits (bounded) until the sync engine has
applied the events, and is the stored state rendered as FHIR; past the wait it is 202.

Reads: canonical state (``Store.get_entity`` / ``entity_version`` / ``entity_history`` /
``list_entities``) rendered with ``to_fhir``, whichever format the record arrived in.

Deletes: the canonical model and the sync engine know no deletion, so a FHIR delete writes a
tombstone version (store ``source`` = ``DELETED_SOURCE``, no fields) straight to the store
after its request is logged through the pipeline; reads then answer 410. No event is
published for it (see docs/fhir-api.md, "Deletes").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from adapters.fhir.api import (
    COMMON_PARAMS,
    SEARCH_PARAMS,
    Answer,
    ApiSettings,
    Authenticator,
    Caller,
    FhirError,
    Interaction,
    ResourceSupport,
    Stored,
    WriteEntry,
    make_api_app,
    matches,
    parse_search,
    rewrite_references,
)
from adapters.fhir.api.search import date_range
from conformance.fhir import check_resource, operation_outcome, outcome_bytes
from hub.canonical import EntityType, Event
from hub.canonical.entities import Entity
from hub.config import FhirInbound as FhirPort
from hub.config import HubConfig, MatchingConfig, MatchRule, secret
from hub.context import MapContext
from hub.errors import (
    ConfigError,
    MappingError,
    ParseError,
    StoreUnavailable,
    UnsupportedMessage,
)
from hub.findings import Report, Severity
from hub.pipeline import MessageIdentity, Outcome, Pipeline
from hub.ports import Store
from hub.records import DuplicateKey, EntityRecord, VersionConflict
from hub.sync import CONSUMER as SYNC_CONSUMER
from hub.sync import identifier_pairs, match_patient
from mappings.fhir import (
    FHIR_MAPPINGS,
    ResourceMapping,
    event_kind,
    from_fhir,
    load_vocabulary,
)
from mappings.fhir import MapContext as FhirContext
from mappings.fhir.appointment import schedule_to_fhir, slot_to_fhir
from mappings.fhir.practitioner import practitioner_role_to_fhir

__all__ = [
    "DELETED_SOURCE",
    "FHIR_PORT",
    "FhirInboundFormat",
    "HubFhirBackend",
    "WritePlan",
    "api_clients",
    "make_fhir_app",
    "views",
]

log = logging.getLogger("carehub.fhir")

FHIR_PORT = "fhir"
#: the store ``source`` of a tombstone version (a FHIR delete)
DELETED_SOURCE = "carehub:deleted"
ENTITY: TypeAdapter[Entity] = TypeAdapter(Entity)
Json = dict[str, Any]

_READS = frozenset({Interaction.READ, Interaction.VREAD, Interaction.HISTORY, Interaction.SEARCH})
_WRITES = frozenset({Interaction.CREATE, Interaction.UPDATE})


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class View:
    """How one FHIR resource type reads from canonical state: which entity types, which ids,
    how it renders. The default: the registry mapping, canonical id = FHIR id."""

    resource_type: str
    mapping: ResourceMapping
    interactions: frozenset[Interaction] = _READS | _WRITES | {Interaction.DELETE}
    documentation: str = ""

    @property
    def entity_types(self) -> tuple[EntityType, ...]:
        return self.mapping.entity_types

    def locate(self, fhir_id: str) -> list[tuple[EntityType, str]]:
        """Where the record of ``fhir_id`` may be in the store."""
        return [(et, fhir_id) for et in self.entity_types]

    def fhir_id(self, entity: Entity) -> str:
        return str(entity.id)

    def render(self, entity: Entity, ctx: FhirContext) -> Json | None:
        """The resource, or ``None`` when this record has no such rendering."""
        try:
            return self.mapping.render(entity, ctx)
        except (MappingError, UnsupportedMessage):
            return None


@dataclass(frozen=True)
class RoleView(View):
    """PractitionerRole: the roles of a Practitioner, with the practitioner's id."""

    def render(self, entity: Entity, ctx: FhirContext) -> Json | None:
        if entity.entity_type is not EntityType.PRACTITIONER:
            return None
        if not (entity.roles or entity.specialties or entity.organization):
            return None
        return {"id": entity.id, **practitioner_role_to_fhir(entity, ctx)}


@dataclass(frozen=True)
class ScheduleView(View):
    """Schedule ``practitioner-<id>`` / ``location-<id>``: derived, read only."""

    def locate(self, fhir_id: str) -> list[tuple[EntityType, str]]:
        kind, _, cid = fhir_id.partition("-")
        types = {"practitioner": EntityType.PRACTITIONER, "location": EntityType.LOCATION}
        return [(types[kind], cid)] if kind in types and cid else []

    def fhir_id(self, entity: Entity) -> str:
        return f"{entity.entity_type.value.lower()}-{entity.id}"

    def render(self, entity: Entity, ctx: FhirContext) -> Json | None:
        if entity.entity_type not in (EntityType.PRACTITIONER, EntityType.LOCATION):
            return None
        try:
            return schedule_to_fhir(entity, ctx)
        except MappingError:
            return None


@dataclass(frozen=True)
class SlotView(View):
    """Slot = the time an Appointment occupies (same id): derived, read only."""

    def render(self, entity: Entity, ctx: FhirContext) -> Json | None:
        if entity.entity_type is not EntityType.APPOINTMENT:
            return None
        try:
            return slot_to_fhir(entity, ctx)
        except MappingError:
            return None


_DERIVED = (
    "derived from the hub's {what}; the hub keeps no availability, so {kind} cannot be "
    "written (docs/fhir-mappings.md, Schedule and Slot)"
)


def views(registry: Mapping[str, ResourceMapping] = FHIR_MAPPINGS) -> dict[str, View]:
    """One view per resource type of the mapping registry."""
    out: dict[str, View] = {}
    for name, mapping in registry.items():
        if name == "PractitionerRole":
            out[name] = RoleView(
                name,
                mapping,
                _READS | _WRITES,
                "id = the practitioner's id; a role is part of its Practitioner (no delete)",
            )
        elif name == "Schedule":
            doc = _DERIVED.format(what="practitioners and locations", kind="a Schedule")
            out[name] = ScheduleView(name, mapping, _READS, doc)
        elif name == "Slot":
            out[name] = SlotView(
                name, mapping, _READS, _DERIVED.format(what="appointments", kind="a Slot")
            )
        else:
            out[name] = View(name, mapping)
    return out


# --------------------------------------------------------------------------- the write plan


@dataclass
class Planned:
    """One write entry, planned: its target, its canonical entity, what exists now."""

    entry: WriteEntry
    view: View
    prefix: str
    resource: Json | None = None
    fhir_id: str | None = None
    entity: Any = None
    entity_type: EntityType | None = None
    current: EntityRecord | None = None
    status: int = 201
    answer: Answer | None = None
    event: Event | None = None

    @property
    def alive(self) -> bool:
        """A current state exists and is not a tombstone."""
        return self.current is not None and self.current.source != DELETED_SOURCE


@dataclass
class WritePlan:
    """Everything one request will do; the ``FhirInboundFormat``'s native value."""

    caller: Caller
    items: list[Planned]
    report: Report = field(default_factory=Report)
    message_key: str = "fhir"

    @property
    def settled(self) -> bool:
        """Every entry is answered without writing (e.g. a conditional create that matched)."""
        return all(p.answer is not None for p in self.items)


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
        events = []
        for item in native.items:
            if item.entity is None or item.answer is not None:
                continue
            previous = _entity(item.current) if item.alive and item.current else None
            kind = event_kind(item.entry.resource_type, item.entity, previous)
            if kind is None:
                continue
            item.event = Event(
                kind=kind, entity=item.entity, provenance=ctx.provenance(item.entry.resource_type)
            )
            events.append(item.event)
        return events

    def respond(
        self, native: WritePlan | None, raw: bytes, outcome: Outcome, report: Report
    ) -> bytes:
        """The OperationOutcome kept as the message's answer."""
        return outcome_bytes(report, ok_text=f"accepted ({outcome.value})")


class _RefusedBody:
    """``InboundFormat`` for a request body the API refused: it never parses; its answer is
    the OperationOutcome already sent."""

    format = "fhir"

    def __init__(self, status: int, report: Report):
        self.status = status
        self.report = report

    def parse(self, raw: bytes) -> WritePlan:
        first = self.report.findings[0] if self.report.findings else None
        raise ParseError(
            f"HTTP {self.status}: {first.text if first else 'refused'}",
            code=first.code if first else None,
            location=first.location if first else None,
        )

    def identify(self, native: WritePlan) -> MessageIdentity:
        raise AssertionError("a refused body is never parsed")

    def check(self, native: WritePlan) -> Report:
        raise AssertionError("a refused body is never parsed")

    def map(self, native: WritePlan, ctx: MapContext) -> list[Event]:
        raise AssertionError("a refused body is never parsed")

    def respond(
        self, native: WritePlan | None, raw: bytes, outcome: Outcome, report: Report
    ) -> bytes:
        return outcome_bytes(self.report)


def _entity(record: EntityRecord) -> Any:
    return ENTITY.validate_python(record.data)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _status_of(outcome: Outcome, report: Report) -> int:
    if outcome is Outcome.UNAVAILABLE:
        return 503
    if any(f.code == "structure" for f in report.errors):
        return 400
    return 422


# --------------------------------------------------------------------------- the backend


class HubFhirBackend:
    """``adapters.fhir.api.FhirBackend`` over the hub's pipeline and store."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        *,
        hub_name: str = "carehub",
        sync_wait: float = 5.0,
        retry_after: int = 5,
        registry: Mapping[str, ResourceMapping] = FHIR_MAPPINGS,
        matching: list[MatchRule] | None = None,
    ):
        self.pipeline = pipeline
        self.store = store
        #: the patient matching rules (config ``matching:``), as the sync engine applies them
        self.matching = matching if matching is not None else list(MatchingConfig().patient)
        self.sync_wait = sync_wait
        self.retry_after = retry_after
        self.views = views(registry)
        self.vocab = load_vocabulary()
        self.render_ctx = FhirContext(source=hub_name, vocab=self.vocab)
        self._support = {n: self._support_of(v) for n, v in self.views.items()}

    @staticmethod
    def _support_of(view: View) -> ResourceSupport:
        params = (*COMMON_PARAMS, *SEARCH_PARAMS.get(view.resource_type, ()))
        return ResourceSupport(view.resource_type, view.interactions, params, view.documentation)

    async def start(self) -> None:
        log.info("FHIR API: %d resource types", len(self.views))

    async def close(self) -> None:
        return None

    def support(self) -> Mapping[str, ResourceSupport]:
        return self._support

    def outcome(self, report: Report) -> Json:
        return operation_outcome(report)

    def context(self, system: str) -> FhirContext:
        return FhirContext(source=system, vocab=self.vocab)

    # ----------------------------------------------------------------------- $validate

    def check(self, resource: Json) -> Report:
        """FHIR conformance (R4B models), then a trial mapping: what a write would say."""
        report = check_resource(resource)
        if not report.ok:
            return report
        try:
            from_fhir(resource, self.context("validate"))
        except UnsupportedMessage as exc:
            report.error("not-supported", exc.message, exc.location)
        except MappingError as exc:
            report.error("value", exc.message, exc.location)
        return report

    # ----------------------------------------------------------------------- reads

    def stored(self, view: View, record: EntityRecord) -> Stored | None:
        """A store record as the resource of ``view`` (``None``: no such rendering)."""
        if record.source == DELETED_SOURCE:
            return Stored(
                view.resource_type,
                _fhir_id(view, record),
                record.version,
                record.updated_at,
                None,
                True,
            )
        try:
            entity = _entity(record)
        except ValidationError:
            log.warning(
                "entity %s/%s v%d does not validate", record.entity_type, record.id, record.version
            )
            return None
        resource = view.render(entity, self.render_ctx)
        if resource is None:
            return None
        resource["id"] = view.fhir_id(entity)
        meta = {
            **resource.get("meta", {}),
            "versionId": str(record.version),
            "lastUpdated": _iso(record.updated_at),
        }
        resource = {
            "resourceType": resource.pop("resourceType"),
            "id": resource.pop("id"),
            "meta": meta,
            **resource,
        }
        return Stored(
            view.resource_type, resource["id"], record.version, record.updated_at, resource
        )

    async def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        view = self.views[resource_type]
        for et, cid in view.locate(id):
            if version is None:
                record = await self.store.get_entity(et.value, cid)
            else:
                record = await self.store.entity_version(et.value, cid, version)
            found = self.stored(view, record) if record is not None else None
            if found is not None:
                return found
        return None

    async def history(self, resource_type: str, id: str) -> list[Stored]:
        view = self.views[resource_type]
        for et, cid in view.locate(id):
            records = await self.store.entity_history(et.value, cid)
            found = [s for s in (self.stored(view, r) for r in records) if s is not None]
            if found:
                return found
        return []

    async def candidates(
        self, resource_type: str, params: list[tuple[str, str]]
    ) -> AsyncIterator[Stored]:
        """Current resources, narrowed by ``_id``, ``identifier`` (system|value, through the
        cross-reference) and a lower bound of ``_lastUpdated``; the caller filters exactly."""
        view = self.views[resource_type]
        for et in view.entity_types:
            ids = await self._narrow(view, et, params)
            async for record in self._records(et, ids, _updated_since(params)):
                found = self.stored(view, record)
                if found is not None and not found.deleted:
                    yield found

    async def _narrow(
        self, view: View, et: EntityType, params: list[tuple[str, str]]
    ) -> set[str] | None:
        ids: set[str] | None = None
        for name, value in params:
            if name == "_id":
                found = {cid for v in value.split(",") for t, cid in view.locate(v) if t is et}
            elif name == "identifier" and "," not in value and "|" in value:
                system, _, code = value.partition("|")
                if not system or not code:
                    continue
                pair = (self.render_ctx.namespace(system), code)
                found = set((await self.store.resolve_identifiers(et.value, [pair])).values())
            else:
                continue
            ids = found if ids is None else ids & found
        return ids

    async def _records(
        self, et: EntityType, ids: set[str] | None, since: datetime | None, page: int = 500
    ) -> AsyncIterator[EntityRecord]:
        if ids is not None:
            for record in await self.store.list_entities(
                et.value, ids=sorted(ids), limit=max(1, len(ids))
            ):
                yield record
            return
        offset = 0
        while True:
            batch = await self.store.list_entities(
                et.value, updated_since=since, limit=page, offset=offset
            )
            for record in batch:
                yield record
            if len(batch) < page:
                return
            offset += page

    async def search(
        self, resource_type: str, params: list[tuple[str, str]], where: str
    ) -> list[Stored]:
        """A conditional search (strict: an unsupported parameter is a 400)."""
        try:
            query = parse_search(self._support[resource_type], params, strict=True)
        except FhirError as exc:
            exc.location = exc.location or where
            raise
        return [
            s
            async for s in self.candidates(resource_type, params)
            if s.resource is not None and matches(s.resource, query)
        ]

    # ----------------------------------------------------------------------- writes

    async def write(self, caller: Caller, entries: list[WriteEntry], raw: bytes) -> list[Answer]:
        """Plan, run through the pipeline, apply deletes, wait for the sync engine, answer."""
        try:
            plan = await self.plan(caller, entries)
            if plan.settled:
                return [p.answer for p in plan.items if p.answer is not None]
            result = await self.pipeline.receive(
                FhirInboundFormat(plan), raw, system=caller.system, port=FHIR_PORT, peer=caller.peer
            )
            if result.outcome not in (Outcome.ACCEPTED, Outcome.DUPLICATE):
                return [self._refused(result.outcome, result.report, result.response)]
            await self._apply_deletes(plan)
            applied = await self._wait_applied(plan)
            return [await self._answer(p, applied) for p in plan.items]
        except FhirError as exc:
            return [Answer(exc.status, self.outcome(exc.report()), headers=exc.headers)]
        except StoreUnavailable:
            return [self._unavailable("the store is unavailable")]

    async def refused(self, caller: Caller, raw: bytes, status: int, report: Report) -> None:
        """Keep a body the API refused before planning (bad JSON, XML, over a limit) in the
        message log as a rejected message, with the OperationOutcome it was answered with."""
        try:
            await self.pipeline.receive(
                _RefusedBody(status, report),
                raw,
                system=caller.system,
                port=FHIR_PORT,
                peer=caller.peer,
            )
        except Exception as exc:  # the refusal is answered whatever happens here
            log.warning("refused FHIR request not kept: %s", type(exc).__name__)

    def _refused(self, outcome: Outcome, report: Report, response: bytes) -> Answer:
        status = _status_of(outcome, report)
        headers = {"Retry-After": str(self.retry_after)} if status == 503 else {}
        return Answer(status, json.loads(response), headers=headers)

    def _unavailable(self, text: str) -> Answer:
        report = Report()
        report.add(Severity.ERROR, "transient", f"{text}; not accepted, send again later")
        return Answer(503, self.outcome(report), headers={"Retry-After": str(self.retry_after)})

    async def plan(self, caller: Caller, entries: list[WriteEntry]) -> WritePlan:
        """Targets, checks, mapping and canonical ids of every entry (``FhirError`` for a
        request that cannot proceed: 404, 405, 409, 412)."""
        items = [
            Planned(e, self._writable(e), f"{e.location}.resource." if e.location else "")
            for e in entries
        ]
        plan = WritePlan(caller, items, message_key=_message_key(entries))
        for item in items:
            await self._target(item)
        live = [p for p in items if p.answer is None and p.entry.method != "DELETE"]
        for item in live:
            self._check(plan, item)
        if plan.report.ok:
            await self._identify(plan, [p for p in live if p.entity is not None])
        for item in items:
            await self._current(item)
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

    async def _target(self, item: Planned) -> None:
        """Resolve a conditional create/update/delete to its target (or its answer)."""
        e = item.entry
        item.fhir_id = e.id
        if e.if_none_exist:
            hits = await self._matches(e.resource_type, e.if_none_exist, e.location)
            if hits:
                item.answer = _found(hits[0])
        elif e.conditional:
            hits = await self._matches(e.resource_type, e.conditional, e.location)
            item.fhir_id = hits[0].id if hits else self._conditional_id(e)
            if e.method == "DELETE" and not hits:
                item.answer = Answer(204)

    async def _matches(self, rtype: str, params: list[tuple[str, str]], where: str) -> list[Stored]:
        hits = await self.search(rtype, params, where)
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
        try:
            mapped = from_fhir(resource, self.context(plan.caller.system))
        except UnsupportedMessage as exc:
            plan.report.error(
                "not-supported", exc.message, f"{item.prefix}{exc.location or ''}" or None
            )
            return None
        except MappingError as exc:
            plan.report.error("value", exc.message, f"{item.prefix}{exc.location or ''}" or None)
            return None
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

    async def _assign(self, plan: WritePlan, item: Planned) -> None:
        entity = item.entity
        item.entity_type = entity.entity_type
        pairs = identifier_pairs(entity.identifiers, plan.caller.system)
        known = sorted(
            set((await self.store.resolve_identifiers(entity.entity_type.value, pairs)).values())
        )
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
            raise FhirError(
                409,
                "conflict",
                "an identifier of this resource already belongs to "
                f"{item.entry.resource_type}/{known[0]}",
                location=f"{item.prefix}{item.entry.resource_type}.identifier",
            )
        if wanted is None:
            wanted = (
                known[0] if known else await self._reserve(entity.entity_type, pairs, plan, entity)
            )
        item.fhir_id = wanted
        entity.id = wanted

    async def _reserve(
        self,
        etype: EntityType,
        pairs: list[tuple[str, str]],
        plan: WritePlan,
        plan_record: Any = None,
    ) -> str:
        """A new id, with the identifiers linked to it now: two creates of one new patient
        racing each other must end as one record, and the sync engine only links them
        when it applies the event. The loser of the race takes the winner's id."""
        if etype is EntityType.PATIENT and self.matching:
            # a patient the hub knows under other identifiers (HL7 v2 MRN, X12 member id):
            # the same demographic rules the sync engine applies
            record = plan_record.model_dump(mode="json", exclude_none=True) if plan_record else {}
            match = await match_patient(self.store, record, self.matching)
            if match.linked:
                return match.linked
        candidate = str(uuid.uuid4())
        if not pairs:
            return candidate
        with contextlib.suppress(DuplicateKey):  # a racing insert of the same pair
            await self.store.link_identifiers(
                etype.value, candidate, pairs, source=plan.caller.system
            )
        linked = set((await self.store.resolve_identifiers(etype.value, pairs)).values())
        others = sorted(linked - {candidate})
        return others[0] if others else candidate

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

    async def _apply_deletes(self, plan: WritePlan) -> None:
        for item in plan.items:
            if item.entry.method != "DELETE" or item.answer is not None:
                continue
            assert item.current is not None and item.entity_type is not None
            tombstone: Json = {
                "id": item.current.id,
                "entity_type": item.entity_type.value,
                "identifiers": [],
                "meta": {"source": DELETED_SOURCE, "field_sources": {}},
            }
            try:
                await self.store.save_entity(
                    item.entity_type.value,
                    item.current.id,
                    tombstone,
                    source=DELETED_SOURCE,
                    event_kind="fhir.deleted",
                    expected_version=item.current.version,
                )
            except VersionConflict as exc:
                raise FhirError(
                    409,
                    "conflict",
                    "the resource changed while it was being deleted",
                    location=item.entry.location or None,
                ) from exc
            log.info(
                "FHIR delete of %s/%s by %s",
                item.entity_type.value,
                item.current.id,
                plan.caller.client,
            )

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

    async def _answer(self, item: Planned, applied: bool) -> Answer:
        e = item.entry
        if item.answer is not None:
            return item.answer
        if e.method == "DELETE":
            return Answer(204, None, e.resource_type, item.fhir_id)
        assert item.fhir_id is not None
        stored = await self.read(e.resource_type, item.fhir_id) if applied else None
        if stored is None or stored.deleted:
            report = Report()
            report.info("informational", "accepted; not yet applied to the hub's state")
            return Answer(202, self.outcome(report), e.resource_type, item.fhir_id)
        return Answer(
            item.status,
            stored.resource,
            e.resource_type,
            stored.id,
            stored.version,
            stored.last_updated,
        )


def _found(stored: Stored) -> Answer:
    """A conditional create that matched: 200 with the existing resource, nothing written."""
    return Answer(
        200, stored.resource, stored.resource_type, stored.id, stored.version, stored.last_updated
    )


def _fhir_id(view: View, record: EntityRecord) -> str:
    if isinstance(view, ScheduleView):
        return f"{record.entity_type.lower()}-{record.id}"
    return record.id


def _message_key(entries: list[WriteEntry]) -> str:
    if len(entries) == 1 and not entries[0].location:
        return entries[0].resource_type
    return "transaction"


def _updated_since(params: list[tuple[str, str]]) -> datetime | None:
    """A lower bound of ``_lastUpdated`` (for the store query), when one value gives it."""
    for name, value in params:
        if name != "_lastUpdated" or "," in value:
            continue
        prefix = value[:2] if value[:2].isalpha() else "eq"
        text = value[2:] if value[:2].isalpha() else value
        rng = date_range(text)
        if rng is not None and prefix in ("eq", "ge", "gt", "sa"):
            return rng[0]
    return None


# --------------------------------------------------------------------------- the app


def _client_system(config: HubConfig, client_id: str, configured: str | None) -> str:
    """The system a client writes as: its ``system``, else the system whose FHIR port names
    it, else the client id."""
    if configured:
        return configured
    for name, system in config.systems.items():
        for port in system.inbound:
            if isinstance(port, FhirPort) and port.client == client_id:
                return name
    return client_id


def api_clients(config: HubConfig) -> dict[str, tuple[str, str, list[str]]]:
    """``{client id: (token, system, scopes)}`` from ``clients:``; a client whose token
    variable is unset is left out (it cannot authenticate), with a warning naming it."""
    out = {}
    for cid, client in config.clients.items():
        try:
            token = secret(client.token_env, f"clients.{cid}.token_env")
        except ConfigError:
            log.warning("API client %s: its token variable is not set; it cannot sign in", cid)
            continue
        out[cid] = (token, _client_system(config, cid, client.system), list(client.scopes))
    return out


def store_audit(store: Store) -> Any:
    """The API's audit sink: ``Store.audit``."""

    async def sink(
        *, actor: str, action: str, outcome: str, subject: str | None, peer: str | None
    ) -> None:
        await store.audit(actor=actor, action=action, outcome=outcome, subject=subject, peer=peer)

    return sink


def make_fhir_app(
    pipeline: Pipeline,
    store: Store,
    config: HubConfig,
    *,
    sync_wait: float = 5.0,
) -> web.Application:
    """The FHIR API sub-app of the hub; mount it at ``/fhir`` of the hub's HTTP server
    (``adapters.fhir.api.mount_fhir``)."""
    backend = HubFhirBackend(
        pipeline,
        store,
        hub_name=config.hub.name,
        sync_wait=sync_wait,
        matching=list(config.matching.patient),
    )
    http = config.hub.http
    settings = ApiSettings(
        max_body_bytes=http.max_body_bytes, max_bundle_entries=http.max_bundle_entries
    )
    auth = Authenticator.from_scopes(api_clients(config))
    return make_api_app(backend, auth, store_audit(store), settings)
