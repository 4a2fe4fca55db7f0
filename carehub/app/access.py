"""Who may call the hub's HTTP server: the API clients of the config (``clients:``), each with
a bearer token (from the environment), the system it writes as, and its scopes.

One authenticator serves every endpoint that needs a token: the FHIR API checks SMART
``system/`` scopes on it; the admin endpoints check ``carehub/admin``; X12 over HTTP checks
that the client is the one its port names. It is the FHIR adapter's ``Authenticator``
(``adapters/fhir/api/auth.py``): tokens are checked at the edge, in constant time, in one
place.
"""

from __future__ import annotations

import logging

from adapters.fhir.api import Authenticator
from hub.config import FhirInbound, HubConfig, secret
from hub.errors import ConfigError

__all__ = ["ADMIN_SCOPE", "api_clients", "authenticator"]

log = logging.getLogger("carehub.fhir")

#: the scope of the admin endpoints (/admin/...)
ADMIN_SCOPE = "carehub/admin"


def authenticator(config: HubConfig) -> Authenticator:
    """The hub's one authenticator for the configured clients."""
    return Authenticator.from_scopes(api_clients(config), other_scopes={ADMIN_SCOPE})


def api_clients(config: HubConfig) -> dict[str, tuple[str, str, list[str]]]:
    """``{client id: (token, system, scopes)}`` from ``clients:``; a client whose token
    variable is unset is left out (it cannot authenticate), with a warning naming it.

    Two clients whose variables hold the same token are a ``ConfigError``: the token would
    sign in as one of them, with its scopes and its system. The message names the clients
    and the variables, never the value."""
    out = {}
    holder: dict[str, str] = {}  # token -> the first client holding it
    for cid, client in config.clients.items():
        try:
            token = secret(client.token_env, f"clients.{cid}.token_env")
        except ConfigError:
            log.warning("API client %s: its token variable is not set; it cannot sign in", cid)
            continue
        other = holder.setdefault(token.strip(), cid)
        if other != cid:
            raise ConfigError(
                f"clients.{cid}.token_env: {client.token_env} holds the same token as "
                f"{config.clients[other].token_env} (client {other!r}); each client needs "
                "its own token"
            )
        out[cid] = (token, _client_system(config, cid, client.system), list(client.scopes))
    return out


def _client_system(config: HubConfig, client_id: str, configured: str | None) -> str:
    """The system a client writes as: its ``system``, else the system whose FHIR port names
    it, else the client id."""
    if configured:
        return configured
    for name, system in config.systems.items():
        for port in system.inbound:
            if isinstance(port, FhirInbound) and port.client == client_id:
                return name
    return client_id
