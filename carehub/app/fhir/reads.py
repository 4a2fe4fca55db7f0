"""The read side of the FHIR API: canonical state (``Store.get_entity`` / ``entity_version`` /
``entity_history`` / ``list_entities``) rendered as FHIR through the views, whichever format
the record arrived in — read, vread, history, search candidates and conditional searches.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from pydantic import ValidationError

from adapters.fhir.api import FhirError, ResourceSupport, Stored, matches, parse_search
from adapters.fhir.api.search import date_range
from carehub.app.fhir.views import ScheduleView, View, entity_of
from hub.canonical import EntityType
from hub.ports import Store
from hub.records import EntityRecord
from hub.sync import DELETED_SOURCE
from mappings.fhir import FhirMapContext

__all__ = ["FhirReader"]

log = logging.getLogger("carehub.fhir")


class FhirReader:
    """Reads canonical state as the resources of ``views``."""

    def __init__(
        self,
        store: Store,
        views: Mapping[str, View],
        support: Mapping[str, ResourceSupport],
        render_ctx: FhirMapContext,
    ):
        self.store = store
        self.views = views
        self.render_ctx = render_ctx
        self._support = support

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
            entity = entity_of(record)
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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _fhir_id(view: View, record: EntityRecord) -> str:
    if isinstance(view, ScheduleView):
        return f"{record.entity_type.lower()}-{record.id}"
    return record.id


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
