"""Bundles: reading transaction/batch requests, writing searchset, history and
transaction/batch-response Bundles, and rewriting ``urn:uuid`` references (http.html#trules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.model import Answer, Stored
from adapters.fhir.api.wire import etag, parse_etag

__all__ = [
    "EntryRequest",
    "METHOD_ORDER",
    "answer_entry",
    "history_bundle",
    "parse_request_bundle",
    "parse_url",
    "response_bundle",
    "rewrite_references",
    "searchset",
    "stored_entry",
]

#: transaction processing order: DELETE, POST, PUT/PATCH, GET/HEAD (http.html#trules)
METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")

Json = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class EntryRequest:
    """One ``Bundle.entry`` of a transaction or batch, with its ``request`` parsed."""

    index: int
    method: str
    resource_type: str
    id: str | None
    version: int | None
    query: list[tuple[str, str]]
    resource: Json | None
    full_url: str | None
    if_match: int | None
    if_none_exist: list[tuple[str, str]] | None
    operation: str | None = None

    @property
    def location(self) -> str:
        return f"Bundle.entry[{self.index}]"


def parse_url(
    url: str, where: str
) -> tuple[str, str | None, int | None, list[tuple[str, str]], str | None]:
    """``Patient``, ``Patient/1``, ``Patient/1/_history/2``, ``Patient?identifier=…``,
    ``Patient/$validate`` (an absolute URL ending in one of these too) → its parts."""
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme:
        path = path.split("/fhir/", 1)[1] if "/fhir/" in path else ""
    segments = [s for s in path.strip("/").split("/") if s]
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not segments or not _TYPE.match(segments[0]):
        raise FhirError(
            400, "invalid", f"request.url {url!r} names no resource type", location=where
        )
    rtype, rest = segments[0], segments[1:]
    if rest and rest[0].startswith("$"):
        return rtype, None, None, query, rest[0]
    rid = rest[0] if rest else None
    if rid is not None and not _ID.match(rid):
        raise FhirError(400, "invalid", "request.url has an invalid resource id", location=where)
    version = None
    if len(rest) == 2 and rest[1] == "_history":
        return rtype, rid, None, query, "_history"
    if len(rest) == 3 and rest[1] == "_history" and rest[2].isdigit():
        version = int(rest[2])
    elif len(rest) > 1:
        raise FhirError(
            400, "not-supported", f"request.url {url!r} is not supported", location=where
        )
    return rtype, rid, version, query, None


def _entry(index: int, entry: Any) -> EntryRequest:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise FhirError(400, "required", "every entry needs a request", location=f"{where}.request")
    request = entry["request"]
    method = str(request.get("method", "")).upper()
    if method not in METHOD_ORDER:
        raise FhirError(
            400,
            "invalid",
            "request.method is missing or unknown",
            location=f"{where}.request.method",
        )
    rtype, rid, version, query, operation = parse_url(
        str(request.get("url", "")), f"{where}.request.url"
    )
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise FhirError(
            400, "structure", "entry.resource must be an object", location=f"{where}.resource"
        )
    none_exist = request.get("ifNoneExist")
    return EntryRequest(
        index=index,
        method=method,
        resource_type=rtype,
        id=rid,
        version=version,
        query=query,
        resource=resource,
        full_url=entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None,
        if_match=parse_etag(request.get("ifMatch"), f"{where}.request.ifMatch"),
        if_none_exist=parse_qsl(none_exist.lstrip("?"), keep_blank_values=True)
        if isinstance(none_exist, str) and none_exist
        else None,
        operation=operation,
    )


def parse_request_bundle(bundle: Json, max_entries: int) -> tuple[str, list[EntryRequest]]:
    """The Bundle's type (``transaction`` or ``batch``) and its entries (413 over the cap)."""
    if bundle.get("resourceType") != "Bundle":
        raise FhirError(
            400,
            "invalid",
            "POST to the base takes a transaction or batch Bundle",
            location="resourceType",
        )
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(
            400, "invalid", "Bundle.type must be transaction or batch", location="Bundle.type"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(400, "structure", "Bundle.entry must be a list", location="Bundle.entry")
    if len(entries) > max_entries:
        raise FhirError(
            413,
            "too-costly",
            f"the Bundle has more than {max_entries} entries",
            location="Bundle.entry",
        )
    return str(kind), [_entry(i, e) for i, e in enumerate(entries)]


# --------------------------------------------------------------------------- references


def rewrite_references(resource: Any, targets: Mapping[str, str]) -> Any:
    """A copy of ``resource`` whose ``reference`` values naming a key of ``targets`` (an
    entry's ``fullUrl``, e.g. ``urn:uuid:…``) name the assigned ``Type/id`` instead."""
    if isinstance(resource, list):
        return [rewrite_references(item, targets) for item in resource]
    if not isinstance(resource, dict):
        return resource
    out = {}
    for key, value in resource.items():
        if key == "reference" and isinstance(value, str) and value in targets:
            out[key] = targets[value]
        else:
            out[key] = rewrite_references(value, targets)
    return out


# --------------------------------------------------------------------------- output


def _full_url(base: str, rtype: str, rid: str) -> str:
    return f"{base}/{rtype}/{rid}"


def stored_entry(base: str, stored: Stored, *, mode: str | None = None) -> Json:
    """A searchset or history entry for one stored version."""
    entry: Json = {"fullUrl": _full_url(base, stored.resource_type, stored.id)}
    if stored.resource is not None:
        entry["resource"] = stored.resource
    if mode is not None:
        entry["search"] = {"mode": mode}
    return entry


def searchset(
    base: str,
    matches: Iterable[Stored],
    total: int,
    links: list[dict[str, str]],
    outcome: Json | None,
) -> Json:
    """A ``searchset`` Bundle: the page of matches, the total, the paging links."""
    entries = [stored_entry(base, s, mode="match") for s in matches]
    if outcome is not None:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "meta": {"lastUpdated": _now()},
        "total": total,
        "link": links,
        "entry": entries,
    }


def history_bundle(base: str, versions: list[Stored], self_url: str) -> Json:
    """A ``history`` Bundle, newest first; a deletion is an entry without a resource."""
    entries = []
    for i, stored in enumerate(reversed(versions)):
        entry = stored_entry(base, stored)
        url = f"{stored.resource_type}/{stored.id}"
        created = i == len(versions) - 1
        if stored.deleted:
            method, status = "DELETE", "204 No Content"
        else:
            method, status = ("POST", "201 Created") if created else ("PUT", "200 OK")
        entry["request"] = {
            "method": method,
            "url": url if method != "POST" else stored.resource_type,
        }
        entry["response"] = {
            "status": status,
            "etag": etag(stored.version),
            "lastModified": stored.last_updated.isoformat(),
        }
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "history",
        "meta": {"lastUpdated": _now()},
        "total": len(versions),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}


def answer_entry(base: str, answer: Answer) -> Json:
    """A transaction/batch-response entry for one answer."""
    reason = _REASONS.get(answer.status, "")
    response: Json = {"status": f"{answer.status} {reason}".strip()}
    if answer.resource_type and answer.id:
        if answer.version is not None:
            response["location"] = f"{answer.resource_type}/{answer.id}/_history/{answer.version}"
            response["etag"] = etag(answer.version)
        if answer.last_updated is not None:
            response["lastModified"] = answer.last_updated.isoformat()
    entry: Json = {"response": response}
    if answer.resource_type and answer.id:
        entry["fullUrl"] = _full_url(base, answer.resource_type, answer.id)
    if answer.body is not None:
        if answer.ok:
            entry["resource"] = answer.body
        else:
            response["outcome"] = answer.body
    return entry


def response_bundle(base: str, kind: str, answers: list[Answer]) -> Json:
    """The ``transaction-response`` or ``batch-response`` Bundle, in request order."""
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "meta": {"lastUpdated": _now()},
        "entry": [answer_entry(base, a) for a in answers],
    }
