"""``HubFhirBackend``: the ``adapters.fhir.api.FhirBackend`` the hub implements, composed of
the views (``views.py``), the read side (``reads.py``) and the write planner (``writes.py``).

A write (a delete too) is planned, run through the pipeline as one message
(``FhirInboundFormat``), then the answer waits (bounded) until the sync engine has applied
the events; past the wait it is 202. ``$validate`` says what a write would say.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from adapters.fhir.api import (
    COMMON_PARAMS,
    SEARCH_PARAMS,
    Answer,
    Caller,
    FhirError,
    ResourceSupport,
    Stored,
    WriteEntry,
)
from carehub.app.fhir.checks import check_write
from carehub.app.fhir.reads import FhirReader
from carehub.app.fhir.views import View, views
from carehub.app.fhir.writes import FhirInboundFormat, WritePlanner
from conformance.fhir import operation_outcome, outcome_bytes
from hub.config import MatchingConfig, MatchRule
from hub.errors import ParseError, StoreUnavailable
from hub.findings import IssueType, Report, Severity
from hub.judge import InboundOutcome
from hub.pipeline import Pipeline
from hub.ports import Store
from hub.sync import IdentityService
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, ResourceMapping, load_vocabulary

__all__ = ["FHIR_PORT", "HubFhirBackend"]

log = logging.getLogger("carehub.fhir")

FHIR_PORT = "fhir"
Json = dict[str, Any]


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
        identity: IdentityService | None = None,
    ):
        """``identity``: the hub's one identity service, shared with the sync engine; by
        default one of ``matching`` (the config's patient matching rules)."""
        self.pipeline = pipeline
        self.store = store
        rules = matching if matching is not None else list(MatchingConfig().patient)
        self.identity = identity or IdentityService(rules)
        self.sync_wait = sync_wait
        self.retry_after = retry_after
        self.views = views(registry)
        self.vocab = load_vocabulary()
        self.render_ctx = FhirMapContext(source=hub_name, vocab=self.vocab)
        self._support = {n: self._support_of(v) for n, v in self.views.items()}
        self.reader = FhirReader(store, self.views, self._support, self.render_ctx)
        self.planner = WritePlanner(
            store,
            self.reader,
            self.views,
            self.vocab,
            identity=self.identity,
            sync_wait=sync_wait,
        )

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

    def context(self, system: str) -> FhirMapContext:
        return FhirMapContext(source=system, vocab=self.vocab)

    # ----------------------------------------------------------------------- $validate

    def check(self, resource: Json) -> Report:
        """FHIR conformance (R4B models), then a trial mapping: what a write would say."""
        return check_write(resource, self.context("validate"))

    # ----------------------------------------------------------------------- reads

    async def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        return await self.reader.read(resource_type, id, version)

    async def history(self, resource_type: str, id: str) -> list[Stored]:
        return await self.reader.history(resource_type, id)

    def candidates(
        self, resource_type: str, params: list[tuple[str, str]]
    ) -> AsyncIterator[Stored]:
        return self.reader.candidates(resource_type, params)

    # ----------------------------------------------------------------------- writes

    async def write(self, caller: Caller, entries: list[WriteEntry], raw: bytes) -> list[Answer]:
        """Plan, run through the pipeline, wait for the sync engine, answer."""
        try:
            plan = await self.planner.plan(caller, entries)
            if plan.settled:
                return [p.answer for p in plan.items if p.answer is not None]
            result = await self.pipeline.receive(
                FhirInboundFormat(plan), raw, system=caller.system, port=FHIR_PORT, peer=caller.peer
            )
            if result.outcome not in (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE):
                return [self._refused(result.outcome, result.report, result.response)]
            return await self.planner.finish(plan)
        except FhirError as exc:
            # refused while planning (a scope, a conflict, a precondition): kept all the same
            if any(e.resource is not None for e in entries):
                await self.refused(caller, raw, exc.status, exc.report())
            return [Answer(exc.status, self.outcome(exc.report()), headers=exc.headers)]
        except StoreUnavailable:
            return [self._unavailable("the store is unavailable")]

    async def refused(self, caller: Caller, raw: bytes, status: int, report: Report) -> None:
        """Keep a body the API refused before planning (bad JSON, XML, over a limit) in the
        message log as a rejected message, with the OperationOutcome it was answered with."""
        first = report.findings[0] if report.findings else None
        error = ParseError(
            f"HTTP {status}: {first.text if first else 'refused'}",
            code=first.code if first else None,
            location=first.location if first else None,
        )
        try:
            await self.pipeline.refuse(
                FhirInboundFormat.format,
                raw,
                error,
                lambda outcome, found: outcome_bytes(report),
                system=caller.system,
                port=FHIR_PORT,
                peer=caller.peer,
            )
        except Exception as exc:  # the refusal is answered whatever happens here
            log.warning("refused FHIR request not kept: %s", type(exc).__name__)

    def _refused(self, outcome: InboundOutcome, report: Report, response: bytes) -> Answer:
        status = _status_of(outcome, report)
        headers = {"Retry-After": str(self.retry_after)} if status == 503 else {}
        return Answer(status, json.loads(response), headers=headers)

    def _unavailable(self, text: str) -> Answer:
        report = Report()
        report.add(Severity.ERROR, "transient", f"{text}; not accepted, send again later")
        return Answer(503, self.outcome(report), headers={"Retry-After": str(self.retry_after)})


def _status_of(outcome: InboundOutcome, report: Report) -> int:
    if outcome is InboundOutcome.UNAVAILABLE:
        return 503
    if any(f.code == IssueType.STRUCTURE for f in report.errors):
        return 400
    return 422
