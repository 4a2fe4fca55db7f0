"""The wire: content types, bounded body reading, JSON parsing, FHIR JSON responses, ETags.

JSON only. An XML request (any ``+xml`` or ``text/xml``/``application/xml`` content type, or a
body whose first character is ``<``) is refused with 415 and never parsed: no XML parser
ever sees partner input, so DOCTYPE/entity tricks have nothing to act on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from adapters.fhir.api.errors import FhirError

__all__ = [
    "FHIR_JSON",
    "JSON_TYPES",
    "check_accept",
    "check_content_type",
    "etag",
    "fhir_response",
    "http_date",
    "parse_etag",
    "parse_json",
    "read_body",
]

FHIR_JSON = "application/fhir+json"
#: request content types taken as FHIR JSON (the R4 MIME type, plain JSON, the DSTU2 one)
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_XML_TYPES = frozenset({"text/xml", "application/xml"})
_CHUNK = 64 * 1024


def _is_xml(mime: str) -> bool:
    return mime.endswith("+xml") or mime in _XML_TYPES


def check_content_type(request: web.Request) -> None:
    """415 for XML or any non-JSON body type. A missing Content-Type is taken as JSON."""
    mime = request.content_type.lower() if request.headers.get("Content-Type") else ""
    if mime and _is_xml(mime):
        raise FhirError(415, "not-supported", "XML is not supported; send application/fhir+json")
    if mime and mime not in JSON_TYPES:
        raise FhirError(
            415, "not-supported", "unsupported content type; send application/fhir+json"
        )


def check_accept(request: web.Request) -> None:
    """406 when the client accepts XML only (``_format=xml`` or an XML-only Accept)."""
    fmt = request.query.get("_format", "").lower()
    if fmt and ("xml" in fmt) and "json" not in fmt:
        raise FhirError(406, "not-supported", "only JSON is served (_format=json)")
    accept = request.headers.get("Accept", "")
    if not accept:
        return
    mimes = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if mimes and all(_is_xml(m) for m in mimes if m):
        raise FhirError(406, "not-supported", "only application/fhir+json is served")


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The body, at most ``max_bytes`` (413 past that, checked before and while reading;
    408 when the server cut it for arriving too slowly; the refusal carries what was read
    so far, never more than ``max_bytes``)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise FhirError(
            413,
            "too-long",
            f"the body is over the limit of {max_bytes} bytes",
            head=await _head(request, min(max_bytes, _CHUNK)),
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FhirError(
                    413,
                    "too-long",
                    f"the body is over the limit of {max_bytes} bytes",
                    head=b"".join(chunks),
                )
            chunks.append(chunk)
    except web.HTTPRequestTimeout as exc:
        # the server cut a body that did not arrive in time: what did arrive is kept
        raise FhirError(
            408, "timeout", "the request body did not arrive in full in time", head=b"".join(chunks)
        ) from exc
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are Python's JSON extensions, not JSON (RFC 8259): refused."""
    raise ValueError(f"{name} is not a JSON number")


async def _head(request: web.Request, size: int) -> bytes:
    """The first ``size`` bytes of a body that is refused for its declared length: kept so
    the log shows what was sent, without reading the rest."""
    head = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        head += chunk
        if len(head) >= size:
            break
    return bytes(head[:size])


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object from ``raw``: 415 when it looks like XML, 400 when it is not JSON."""
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        raise FhirError(415, "not-supported", "XML is not supported; send application/fhir+json")
    if not text:
        raise FhirError(400, "structure", "the request body is empty")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})"
        raise FhirError(400, "structure", f"the body is not valid JSON{where}") from exc
    except (ValueError, RecursionError) as exc:  # nesting too deep, bad numbers
        raise FhirError(400, "structure", "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise FhirError(400, "structure", "the body must be a JSON object (a FHIR resource)")
    return data


def dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def fhir_response(
    status: int,
    body: Mapping[str, Any] | None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A FHIR JSON response (no body for ``None``)."""
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=dumps(body),
        content_type=FHIR_JSON,
        charset="utf-8",
        headers=headers,
    )


def etag(version: int) -> str:
    """The weak ETag of a version: ``W/"3"`` (FHIR http.html#versioning)."""
    return f'W/"{version}"'


def parse_etag(value: str | None, what: str = "If-Match") -> int | None:
    """``W/"3"`` (or ``"3"``, ``3``) → 3; 400 for anything else."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise FhirError(400, "invalid", f'{what} must be a version ETag such as W/"1"')
    return int(text)


def http_date(moment: datetime) -> str:
    """An HTTP date (Last-Modified)."""
    return format_datetime(moment, usegmt=True)
