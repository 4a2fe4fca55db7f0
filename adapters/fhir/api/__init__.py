"""The hub's FHIR R4 REST API (aiohttp): wire ↔ FHIR REST requests and answers.

::

    app = make_api_app(backend, Authenticator.from_scopes(clients), audit_sink, ApiSettings())
    mount_fhir(root_app, app)                    # served under /fhir

The package speaks HTTP and FHIR REST only — routes, content types and limits, bearer tokens
and SMART scopes, search parameters and paging, Bundles, the CapabilityStatement. What a
request means for the hub (mapping, checking, the pipeline, the store) is behind
``FhirBackend``, implemented in ``carehub/app/fhir/``.
"""

from __future__ import annotations

from adapters.fhir.api.auth import ApiClient, Authenticator, Grant, parse_scope, permission_for
from adapters.fhir.api.bundle import EntryRequest, parse_request_bundle, rewrite_references
from adapters.fhir.api.capability import FHIR_VERSION, capability_statement
from adapters.fhir.api.errors import AnswerFailed, FhirError
from adapters.fhir.api.interactions import (
    AUDIT,
    AUTH,
    BACKEND,
    SETTINGS,
    ApiSettings,
    AuditSink,
)
from adapters.fhir.api.limits import ClientGone, JsonLimits
from adapters.fhir.api.model import (
    Answer,
    Caller,
    FhirBackend,
    Interaction,
    ResourceSupport,
    SearchParam,
    Stored,
    WriteEntry,
)
from adapters.fhir.api.routes import fhir_routes, make_api_app, mount_fhir
from adapters.fhir.api.search import (
    COMMON_PARAMS,
    SEARCH_PARAMS,
    SearchQuery,
    date_range,
    matches,
    parse_search,
)

__all__ = [
    "AUDIT",
    "AUTH",
    "BACKEND",
    "COMMON_PARAMS",
    "FHIR_VERSION",
    "SEARCH_PARAMS",
    "SETTINGS",
    "Answer",
    "AnswerFailed",
    "ApiClient",
    "ApiSettings",
    "AuditSink",
    "Authenticator",
    "Caller",
    "ClientGone",
    "EntryRequest",
    "FhirBackend",
    "FhirError",
    "Grant",
    "Interaction",
    "JsonLimits",
    "ResourceSupport",
    "SearchParam",
    "SearchQuery",
    "Stored",
    "WriteEntry",
    "capability_statement",
    "date_range",
    "fhir_routes",
    "make_api_app",
    "matches",
    "mount_fhir",
    "parse_request_bundle",
    "parse_scope",
    "parse_search",
    "permission_for",
    "rewrite_references",
]
