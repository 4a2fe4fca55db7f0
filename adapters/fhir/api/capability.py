"""The CapabilityStatement (``GET /fhir/metadata``), generated from the same ``ResourceSupport``
values the routes dispatch on, so it says what the server really does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.fhir.api.model import Interaction, ResourceSupport

__all__ = ["FHIR_VERSION", "SECURITY_TEXT", "capability_statement"]

FHIR_VERSION = "4.0.1"

SECURITY_TEXT = (
    "Bearer tokens configured per API client (config `clients:`). Authorization by SMART "
    "App Launch v2 system scopes — system/<Type>.<cruds> and system/*.<cruds> — and the v1 "
    "forms system/<Type>.read|write|*. patient/ and user/ scopes grant nothing. No OAuth "
    "endpoints: tokens are provisioned out of band. /metadata is open."
)

_WRITES = (Interaction.CREATE, Interaction.UPDATE)


def _resource(support: ResourceSupport) -> dict[str, Any]:
    interactions = sorted(support.interactions, key=list(Interaction).index)
    writable = any(i in support.interactions for i in _WRITES)
    params = support.search_params if Interaction.SEARCH in interactions else ()
    out: dict[str, Any] = {
        "type": support.resource_type,
        "documentation": support.documentation or None,
        "interaction": [{"code": i.value} for i in interactions],
        "versioning": "versioned-update" if writable else "versioned",
        "readHistory": Interaction.VREAD in interactions,
        "updateCreate": Interaction.UPDATE in interactions,
        "conditionalCreate": Interaction.CREATE in interactions,
        "conditionalRead": "not-supported",
        "conditionalUpdate": Interaction.UPDATE in interactions,
        "conditionalDelete": "single" if Interaction.DELETE in interactions else "not-supported",
        "referencePolicy": ["literal", "logical"],
        "searchParam": [_param(p) for p in params],
        "operation": [
            {
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
            }
        ],
    }
    return {k: v for k, v in out.items() if v not in (None, [])}


def _param(param: Any) -> dict[str, Any]:
    out = {"name": param.name, "type": param.type}
    if param.definition:
        out["definition"] = param.definition
    if param.documentation:
        out["documentation"] = param.documentation
    return out


def capability_statement(
    support: Mapping[str, ResourceSupport],
    *,
    base_url: str,
    software: str = "Carehub",
    version: str = "0.1.0",
    max_count: int = 500,
) -> dict[str, Any]:
    """The server's CapabilityStatement (R4 4.0.1): JSON only, the resources, interactions and
    search parameters of ``support``, transaction and batch, SMART system scopes."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": software,
        "kind": "instance",
        "software": {"name": software, "version": version},
        "implementation": {"description": f"{software} FHIR API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    f"Search pages with _count (at most {max_count}) and _offset; unknown "
                    "parameters are ignored and reported (Prefer: handling=strict refuses "
                    "them). No _include, _revinclude, _sort, _elements, _summary, PATCH, XML."
                ),
                "security": {"cors": False, "description": SECURITY_TEXT},
                "resource": [_resource(s) for _, s in sorted(support.items())],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
