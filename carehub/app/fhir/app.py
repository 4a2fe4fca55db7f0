"""``make_fhir_app``: the FHIR API of ``adapters/fhir/api`` wired to the hub — the backend
over the pipeline and the store, the authenticator of the config's clients
(``carehub/app/access.py``), the audit trail."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.fhir.api import ApiSettings, Authenticator, JsonLimits, make_api_app
from carehub.app.access import authenticator
from carehub.app.fhir.backend import HubFhirBackend
from hub.config import HubConfig
from hub.pipeline import Pipeline
from hub.ports import Store
from hub.sync import IdentityService

__all__ = ["make_fhir_app", "store_audit"]


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
    auth: Authenticator | None = None,
    identity: IdentityService | None = None,
) -> web.Application:
    """The FHIR API sub-app of the hub; mount it at ``/fhir`` of the hub's HTTP server
    (``adapters.fhir.api.mount_fhir``). ``auth``: the server's authenticator, shared with
    its other endpoints (default: one for the config's clients). ``identity``: the hub's
    identity service, shared with its sync engine (default: one of the config's matching
    rules)."""
    backend = HubFhirBackend(
        pipeline,
        store,
        hub_name=config.hub.name,
        sync_wait=sync_wait,
        identity=identity or IdentityService(config.matching.patient, config.matching.identifying),
    )
    http = config.hub.http
    settings = ApiSettings(
        max_body_bytes=http.max_body_bytes,
        max_bundle_entries=http.max_bundle_entries,
        max_count=http.max_count,
        json=JsonLimits(http.max_json_depth, http.max_array_items, http.max_json_values),
        max_bundle_searches=http.max_bundle_searches,
        max_search_scan=http.max_search_scan,
        max_request_results=http.max_request_results,
    )
    return make_api_app(backend, auth or authenticator(config), store_audit(store), settings)
