"""``make_fhir_app``: the FHIR API of ``adapters/fhir/api`` wired to the hub — the backend
over the pipeline and the store, the API clients of the config, the audit trail."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from adapters.fhir.api import ApiSettings, Authenticator, make_api_app
from carehub.app.fhir.backend import HubFhirBackend
from hub.config import FhirInbound as FhirPort
from hub.config import HubConfig, secret
from hub.errors import ConfigError
from hub.pipeline import Pipeline
from hub.store import Store

__all__ = ["api_clients", "make_fhir_app", "store_audit"]

log = logging.getLogger("carehub.fhir")


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
