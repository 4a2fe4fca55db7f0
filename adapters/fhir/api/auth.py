"""Bearer tokens per API client and SMART system scopes.

Scopes follow SMART App Launch v2 (``system/Patient.rs``, ``system/*.cruds``,
``system/Appointment.c``: c create, r read, u update, d delete, s search) and the v1 forms
(``system/Patient.read`` = rs, ``.write`` = cud, ``.*`` = cruds). Only ``system/`` scopes are
honoured: ``patient/`` and ``user/`` scopes restrict access to a compartment or a user, which
a backend service token cannot express, so they grant nothing here. Scopes with a query
(``?category=…``) grant nothing either (finer than this server can enforce).

Tokens are compared in constant time (``hmac.compare_digest`` over SHA-256 digests, against
every client, without an early exit).

This is the hub's one bearer-token authenticator: the hub's other HTTP endpoints (admin, X12
over HTTP) identify clients with the same instance and check their own scopes with
``ApiClient.has_scope`` (``carehub/app/access.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from adapters.fhir.api.model import Interaction

__all__ = ["ApiClient", "Authenticator", "Grant", "parse_scope", "permission_for"]

log = logging.getLogger("carehub.fhir.auth")

_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perms>[cruds]+|read|write|\*)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_ORDER = "cruds"

_PERMISSION = {
    Interaction.READ: "r",
    Interaction.VREAD: "r",
    Interaction.HISTORY: "r",
    Interaction.SEARCH: "s",
    Interaction.CREATE: "c",
    Interaction.UPDATE: "u",
    Interaction.DELETE: "d",
}


def permission_for(interaction: Interaction) -> str:
    """The SMART v2 permission letter an interaction needs."""
    return _PERMISSION[interaction]


@dataclass(frozen=True, slots=True)
class Grant:
    """What one scope allows: a resource type (or ``*``) and permission letters."""

    resource_type: str
    permissions: frozenset[str]


def parse_scope(scope: str) -> Grant | None:
    """A grant for a ``system/`` scope; ``None`` for a scope this server does not honour."""
    match = _SCOPE.match(scope.strip())
    if match is None:
        return None
    perms = match["perms"]
    letters = _V1.get(perms, perms)
    if perms not in _V1 and (
        len(set(letters)) != len(letters) or list(letters) != sorted(letters, key=_ORDER.index)
    ):
        return None  # v2 requires the letters in cruds order, each once
    return Grant(match["type"], frozenset(letters))


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A configured client: its id, the partner system it writes as, its SMART grants, and
    every scope it was configured with (the SMART ones and those of other endpoints)."""

    id: str
    system: str
    grants: tuple[Grant, ...]
    scopes: frozenset[str] = frozenset()

    def has_scope(self, scope: str) -> bool:
        """The client was configured with exactly ``scope`` (e.g. ``carehub/admin``)."""
        return scope in self.scopes

    def allows(self, resource_type: str, permission: str) -> bool:
        return any(
            g.resource_type in ("*", resource_type) and permission in g.permissions
            for g in self.grants
        )

    def allows_any(self, resource_type: str) -> bool:
        return any(g.resource_type in ("*", resource_type) for g in self.grants)

    def permissions(self) -> dict[str, str]:
        """The permission letters of every grant, by resource type (``*``: every type)."""
        out: dict[str, str] = {}
        for g in self.grants:
            have = out.get(g.resource_type, "") + "".join(g.permissions)
            out[g.resource_type] = "".join(c for c in _ORDER if c in have)
        return out


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Finds the client a bearer token belongs to."""

    def __init__(self, clients: Iterable[tuple[str, ApiClient]]):
        self._clients = [(_digest(token), client) for token, client in clients if token]

    @classmethod
    def from_scopes(
        cls,
        clients: Mapping[str, tuple[str, str, Iterable[str]]],
        *,
        other_scopes: Collection[str] = (),
    ) -> Authenticator:
        """``{client id: (token, system, scopes)}``. ``other_scopes`` are honoured by other
        endpoints (``ApiClient.has_scope``), not as SMART grants; any other scope that is not
        honoured is logged by name of the client only."""
        built = []
        for cid, (token, system, scopes) in clients.items():
            listed = list(scopes)
            grants = []
            for scope in listed:
                grant = parse_scope(scope)
                if grant is not None:
                    grants.append(grant)
                elif scope not in other_scopes:
                    log.warning("API client %s: a scope is not honoured (system/ scopes only)", cid)
            built.append((token, ApiClient(cid, system, tuple(grants), frozenset(listed))))
        return cls(built)

    def identify(self, authorization: str | None) -> ApiClient | None:
        """The client of an ``Authorization: Bearer …`` header, or ``None``."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = _digest(token.strip())
        found: ApiClient | None = None
        for digest, client in self._clients:
            if hmac.compare_digest(given, digest) and found is None:
                found = client
        return found
