"""A small FHIR R4 REST client for outbound delivery (aiohttp).

Sorts the partner's answers (CONVENTIONS habit 2): 2xx → done; 429 and 5xx, connection
errors and timeouts → ``PartnerUnavailable`` (transient, ``retry_after`` from the header);
other 4xx → ``PartnerRejected`` with the partner's OperationOutcome text. A short tenacity
back-off covers blips; longer outages go to the broker's retry tiers.

Redirects are never followed (``allow_redirects=False``): a write that ends at another
origin is not a write to the partner, and the bearer token must not travel there. A 3xx is
a failure that names the status and the origin of its ``Location`` (never its path or
query) — ``PartnerRejected`` (parked) by default, ``PartnerUnavailable`` (retried) with
``redirects="retry"`` (docs/security.md, "Outbound HTTP").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from hub.errors import PartnerRejected, PartnerUnavailable

__all__ = [
    "FHIR_JSON",
    "FhirClient",
    "FhirResponse",
    "RedirectPolicy",
    "outcome_text",
    "redirect_error",
]

FHIR_JSON = "application/fhir+json"

#: what a 3xx answer is: ``fail`` a permanent failure (parked), ``retry`` a transient one
RedirectPolicy = Literal["fail", "retry"]

TokenSource = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class FhirResponse:
    status: int
    body: dict[str, Any] | None
    location: str | None
    etag: str | None


class FhirClient:
    """One partner FHIR base URL. Use as an async context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource | None = None,
        timeout: float = 30.0,
        attempts: int = 3,
        max_backoff: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        redirects: RedirectPolicy = "fail",
    ):
        self.base_url = base_url.rstrip("/")
        self.redirects: RedirectPolicy = redirects
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._max_backoff = max_backoff
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ interactions

    async def conditional_update(
        self,
        resource_type: str,
        system: str | None,
        value: str,
        resource: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> FhirResponse:
        """``PUT [base]/Type?identifier=system|value``: creates or updates exactly one
        resource, so a retry never creates a duplicate."""
        path = _by_identifier(resource_type, system, value)
        return await self.request("PUT", path, resource, idempotency_key=idempotency_key)

    async def conditional_delete(
        self,
        resource_type: str,
        system: str | None,
        value: str,
        *,
        idempotency_key: str | None = None,
    ) -> FhirResponse:
        """``DELETE [base]/Type?identifier=system|value`` (http.html#cdelete): removes the
        resource that identifier names; a retry, or a partner that never had it, is no
        error (200/204 either way)."""
        return await self.request(
            "DELETE", _by_identifier(resource_type, system, value), idempotency_key=idempotency_key
        )

    async def transaction(
        self, bundle: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> FhirResponse:
        return await self.request("POST", "", bundle, idempotency_key=idempotency_key)

    async def read(self, resource_type: str, rid: str) -> FhirResponse:
        return await self.request("GET", f"{resource_type}/{rid}")

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> FhirResponse:
        """One interaction with bounded back-off on transient failures."""
        backoff = wait_exponential_jitter(multiplier=0.2, max=self._max_backoff, jitter=0.1)

        def wait(state: RetryCallState) -> float:
            # honour the partner's Retry-After, within our own cap
            exc = state.outcome.exception() if state.outcome else None
            asked = getattr(exc, "retry_after", None)
            if asked is not None:
                return float(min(asked, self._max_backoff))
            return float(backoff(state))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait,
            retry=retry_if_exception_type(PartnerUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, path, body, idempotency_key)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def _once(
        self, method: str, path: str, body: Mapping[str, Any] | None, idempotency_key: str | None
    ) -> FhirResponse:
        url = f"{self.base_url}/{path}" if path else self.base_url
        headers = {"Accept": FHIR_JSON}
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
        if idempotency_key:
            headers["X-Idempotency-Key"] = idempotency_key
        if self._token is not None:
            tok = await self._token()
            if tok:
                headers["Authorization"] = f"Bearer {tok}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            async with self._http().request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                if 300 <= resp.status < 400:
                    raise redirect_error(
                        f"{method} {self.base_url}", resp.status, url, resp.headers, self.redirects
                    )
                raw = await resp.read()
                return _sort(resp.status, raw, resp.headers)
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise PartnerUnavailable(f"{method} {self.base_url}: {type(exc).__name__}") from exc

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def redirect_error(
    what: str, status: int, url: str, headers: Mapping[str, str], policy: RedirectPolicy
) -> PartnerRejected | PartnerUnavailable:
    """The failure a 3xx answer is (it is not followed): names the status and the origin
    the ``Location`` points to — scheme, host and port only, no path, query or user."""
    text = (
        f"{what}: partner answered {status}, a redirect to {_origin(url, headers.get('Location'))}"
        " (redirects are not followed)"
    )
    if policy == "retry":
        return PartnerUnavailable(text, code=str(status))
    return PartnerRejected(text, code=str(status))


def _origin(base: str, location: str | None) -> str:
    """``scheme://host[:port]`` of ``location`` (relative to ``base``), and whether it is
    the partner's own origin; nothing else of it."""
    if not location:
        return "no Location"
    try:
        parts = urlsplit(urljoin(base, location.strip()))
        host, port = parts.hostname, parts.port
        own = urlsplit(base)
        own_origin = (own.scheme, own.hostname, own.port)
    except ValueError:
        return "an unreadable Location"
    if not parts.scheme or not host or not host.isprintable() or len(host) > 255:
        return "an unreadable Location"
    shown = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")
    same = own_origin == (parts.scheme, host, port)
    return f"{origin} ({'the same' if same else 'another'} origin)"


def _by_identifier(resource_type: str, system: str | None, value: str) -> str:
    """``Type?identifier=system|value``: the search a conditional interaction names."""
    token = f"{system}|{value}" if system else value
    return f"{resource_type}?identifier={quote(token, safe='|:/')}"


def _sort(status: int, raw: bytes, headers: Mapping[str, str]) -> FhirResponse:
    body = _json(raw)
    if 200 <= status < 300:
        return FhirResponse(
            status,
            body,
            headers.get("Location") or headers.get("Content-Location"),
            headers.get("ETag"),
        )
    text = outcome_text(body) or f"HTTP {status}"
    if status == 429 or status >= 500:
        raise PartnerUnavailable(
            f"partner answered {status}: {text}",
            code=str(status),
            retry_after=_retry_after(headers.get("Retry-After")),
        )
    raise PartnerRejected(f"partner answered {status}: {text}", code=str(status))


def _json(raw: bytes) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def outcome_text(body: Mapping[str, Any] | None) -> str | None:
    """The diagnostics of an OperationOutcome, joined: what the partner said was wrong."""
    if not body or body.get("resourceType") != "OperationOutcome":
        return None
    parts = []
    for issue in body.get("issue", []):
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        where = ",".join(issue.get("expression", []) or issue.get("location", []))
        parts.append(f"{where}: {text}" if where and text else text or issue.get("code", ""))
    return "; ".join(p for p in parts if p) or None


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
