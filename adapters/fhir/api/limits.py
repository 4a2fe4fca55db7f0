"""What one request may cost the hub (``hub.http``): the shape of a decoded JSON body
(nesting depth, items of any one array, values in all), and a budget per request for the
reads it asks for (candidates examined and resources returned by its searches, searches in
one Bundle). A request over a limit gets an OperationOutcome naming the element and the
limit; a request whose client has gone is stopped at its next step (``ClientGone``).

CPU-heavy steps (decoding and checking a large body) run on the app's small thread pool, so
other traffic on the event loop is not held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from adapters.fhir.api.errors import FhirError

__all__ = [
    "BUDGET",
    "EXECUTOR",
    "ClientGone",
    "JsonLimits",
    "RequestBudget",
    "budget_of",
    "check_json_shape",
    "offload",
]

T = TypeVar("T")

#: bodies up to this size are decoded on the event loop (it takes well under a millisecond)
INLINE_BYTES = 64 * 1024
#: the search loop gives the event loop a turn (and checks for the client) this often
YIELD_EVERY = 16


class ClientGone(Exception):
    """The client closed its connection: the rest of its request is not worked on."""


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """The shape a decoded body may have (``hub.http.max_json_depth``, ``max_array_items``,
    ``max_json_values``). ``Bundle.entry`` has its own limit (``max_bundle_entries``)."""

    max_depth: int = 64
    max_array_items: int = 1000
    max_values: int = 500_000


def _path(trail: tuple[Any, ...] | None) -> str:
    """``Patient.name[0].given`` from the parent links of the walk."""
    parts: list[str] = []
    while trail is not None:
        trail, step = trail
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "".join(reversed(parts)).lstrip(".")


def check_json_shape(data: Any, limits: JsonLimits) -> None:
    """400 ``structure`` past ``max_depth``; 413 ``too-long`` for an array of more than
    ``max_array_items`` or more than ``max_values`` values in all. The message names the
    element (``Patient.name[0].given``) and the limit."""
    root = data.get("resourceType") if isinstance(data, dict) else None
    top = (None, root if isinstance(root, str) else "$")
    values = 0
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(data, top, 1)]
    while stack:
        value, trail, depth = stack.pop()
        if depth > limits.max_depth:
            raise FhirError(
                400,
                "structure",
                f"{_path(trail)} is nested deeper than {limits.max_depth} levels "
                "(hub.http.max_json_depth)",
                location=_path(trail),
            )
        if isinstance(value, dict):
            values += len(value)
            children: Any = value.items()
        elif isinstance(value, list):
            values += len(value)
            exempt = trail is not None and trail[0] is top and trail[1] == "entry"
            exempt = exempt and root == "Bundle"
            if len(value) > limits.max_array_items and not exempt:
                raise FhirError(
                    413,
                    "too-long",
                    f"{_path(trail)} has {len(value)} items; at most "
                    f"{limits.max_array_items} are taken (hub.http.max_array_items)",
                    location=_path(trail),
                )
            children = enumerate(value)
        else:
            continue
        if values > limits.max_values:
            raise FhirError(
                413,
                "too-long",
                f"the body holds more than {limits.max_values} JSON values "
                "(hub.http.max_json_values)",
            )
        for key, child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, (trail, key), depth + 1))


#: the FHIR app's worker threads for CPU-heavy steps (``hub.http.workers`` of them)
EXECUTOR = web.AppKey("fhir_executor", ThreadPoolExecutor)


async def offload(request: web.Request, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` on the FHIR app's worker threads (``EXECUTOR``), off the event loop."""
    executor = request.config_dict.get(EXECUTOR)
    return await asyncio.get_running_loop().run_in_executor(executor, work, *args)


class RequestBudget:
    """What one request (a search, or a whole Bundle) may still do: candidates examined
    (``hub.http.max_search_scan``) and resources returned (``hub.http.max_request_results``)
    by its searches. Also the place a long request checks that its client is still there."""

    def __init__(self, request: web.Request, max_scan: int, max_results: int):
        self.request = request
        self.max_scan = max_scan
        self.max_results = max_results
        self.scanned = 0
        self.returned = 0

    def client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def step(self) -> None:
        """One candidate examined: over the budget is 413 ``too-costly``; every
        ``YIELD_EVERY`` steps the event loop gets a turn, and a client that left stops it."""
        self.scanned += 1
        if self.scanned > self.max_scan:
            raise FhirError(
                413,
                "too-costly",
                f"the request would examine more than {self.max_scan} resources "
                "(hub.http.max_search_scan); narrow the search or split the Bundle",
            )
        if self.scanned % YIELD_EVERY == 0:
            await asyncio.sleep(0)
            if self.client_gone():
                raise ClientGone()

    def take(self, count: int) -> None:
        """``count`` more resources returned: over the budget is 413 ``too-costly``."""
        self.returned += count
        if self.returned > self.max_results:
            raise FhirError(
                413,
                "too-costly",
                f"the request would return more than {self.max_results} resources "
                "(hub.http.max_request_results); page with _count or split the Bundle",
            )


BUDGET = web.RequestKey("fhir_budget", RequestBudget)


def budget_of(request: web.Request, max_scan: int, max_results: int) -> RequestBudget:
    """The request's budget (made on first use)."""
    budget = request.get(BUDGET)
    if budget is None:
        budget = RequestBudget(request, max_scan, max_results)
        request[BUDGET] = budget
    return budget
