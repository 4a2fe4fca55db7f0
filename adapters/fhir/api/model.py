"""What the HTTP layer and the hub's FHIR service exchange: requests as typed values, answers,
stored resource versions, and the ``FhirBackend`` contract the hub implements (carehub/app/fhir/).

The adapter speaks HTTP and FHIR REST; it never maps, checks or publishes. Everything that
needs the canonical model, the mappings or the pipeline sits behind ``FhirBackend``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from hub.findings import Report

__all__ = [
    "Answer",
    "Caller",
    "FhirBackend",
    "Interaction",
    "ResourceSupport",
    "SearchParam",
    "Stored",
    "WriteEntry",
]

Json = dict[str, Any]


class Interaction(StrEnum):
    """FHIR RESTful interactions (http.html), named as the CapabilityStatement names them."""

    READ = "read"
    VREAD = "vread"
    HISTORY = "history-instance"
    SEARCH = "search-type"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter: its FHIR name and type, and where its values are in the resource
    (dotted element paths over the JSON; ``target`` restricts a reference to a type)."""

    name: str
    type: str  # token, reference, date
    paths: tuple[str, ...]
    target: str | None = None
    definition: str | None = None
    documentation: str = ""


@dataclass(frozen=True, slots=True)
class ResourceSupport:
    """What the server does for one resource type (drives routing and the capability)."""

    resource_type: str
    interactions: frozenset[Interaction]
    search_params: tuple[SearchParam, ...] = ()
    documentation: str = ""

    def param(self, name: str) -> SearchParam | None:
        return next((p for p in self.search_params if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the API client id, the partner system it writes as, its address, and
    the SMART permission letters (``cruds``) its scopes grant per resource type (``*``: every
    type). The HTTP layer checks the letter of the interaction asked for; the backend checks
    what a write turns out to be with ``may`` — a create that lands on an existing record
    changes it only with ``u`` and shows it only with ``r``, an update that creates needs
    ``c`` (docs/security.md, "Write scopes"). No permissions given: none granted."""

    client: str
    system: str
    peer: str | None = None
    permissions: Mapping[str, str] = field(default_factory=dict, hash=False)

    def may(self, resource_type: str, letter: str) -> bool:
        """One of the client's scopes grants ``letter`` on ``resource_type``."""
        return any(letter in self.permissions.get(t, "") for t in ("*", resource_type))


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource as the hub holds it (``resource`` carries ``meta``)."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    resource: Json | None  # None for a deleted version
    deleted: bool = False


@dataclass(slots=True)
class WriteEntry:
    """One write: create (POST), update (PUT by id or by search), or delete.

    ``conditional`` is the search of a conditional update/delete (``PUT Patient?identifier=``),
    ``if_none_exist`` that of a conditional create; ``full_url`` the entry's ``fullUrl`` in a
    Bundle (``urn:uuid:…`` references to it are rewritten to the assigned id). ``location`` is
    where in the request the entry is (``Bundle.entry[3]``), for error messages.
    """

    method: str  # POST, PUT, DELETE
    resource_type: str
    id: str | None = None
    resource: Json | None = None
    conditional: list[tuple[str, str]] | None = None
    if_none_exist: list[tuple[str, str]] | None = None
    if_match: int | None = None
    full_url: str | None = None
    location: str = ""

    @property
    def interaction(self) -> Interaction:
        if self.method == "DELETE":
            return Interaction.DELETE
        return Interaction.CREATE if self.method == "POST" else Interaction.UPDATE


@dataclass(slots=True)
class Answer:
    """The outcome of one interaction: HTTP status, body, and the version it produced.

    ``audit_id``: the record's id for the audit trail when the answer does not show it (a
    client without ``r`` on a record that existed: no id, version, ``Location`` or ``ETag``)."""

    status: int
    body: Json | None = None
    resource_type: str | None = None
    id: str | None = None
    version: int | None = None
    last_updated: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)
    audit_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400


class FhirBackend(Protocol):
    """The hub side of the API (carehub/app/fhir/ implements it)."""

    def support(self) -> Mapping[str, ResourceSupport]:
        """Every served resource type and what it supports."""
        ...

    def outcome(self, report: Report) -> Json:
        """``report`` as an OperationOutcome."""
        ...

    def check(self, resource: Json) -> Report:
        """``$validate``: conformance and mapping findings; nothing is stored."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        """The current (or the given) version; a deleted resource is a ``Stored`` with
        ``deleted=True``; ``None`` when it never existed."""
        ...

    async def history(self, resource_type: str, id: str) -> list[Stored]:
        """Every version, oldest first (empty when it never existed)."""
        ...

    def candidates(
        self, resource_type: str, params: list[tuple[str, str]]
    ) -> AsyncIterator[Stored]:
        """Current, not deleted resources that may match ``params`` (a superset: the adapter
        filters); the backend narrows by ``_id``, ``identifier`` and ``_lastUpdated``."""
        ...

    async def write(self, caller: Caller, entries: list[WriteEntry], raw: bytes) -> list[Answer]:
        """Apply ``entries`` all-or-nothing through the pipeline (``raw``: the request body).

        Returns one answer per entry, or a single failed answer for the whole request.
        """
        ...

    async def refused(self, caller: Caller, raw: bytes, status: int, report: Report) -> None:
        """Keep a write's body that was refused before it could be read as a request (not
        JSON, XML, over a limit, the wrong type) — ``raw`` is at most the body cap — with the
        answer given: the status and ``report``. Never raises."""
        ...
