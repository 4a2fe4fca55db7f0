"""FHIR search over resources as the client sees them (search.html, R4).

The parameters a resource type supports are data (``SEARCH_PARAMS``); each names where its
values sit in the rendered resource, so a search matches exactly what a read returns.
Supported: ``token`` (``system|code``, ``|code``, ``code``, ``system|``), ``reference``
(``123``, ``Patient/123``, an absolute URL ending in ``Patient/123``) and ``date`` with the
prefixes eq, ne, gt, lt, ge, le, sa, eb (ranges per the value's precision, UTC when no offset
is given). Comma-separated values are OR, repeated parameters AND. ``_count`` pages
(``_offset`` is the server's paging cursor). Unknown parameters are ignored and reported in an
``OperationOutcome`` entry (``search.mode = outcome``) — or refused with 400 under
``Prefer: handling=strict``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.model import ResourceSupport, SearchParam

__all__ = [
    "CONTROL_PARAMS",
    "COMMON_PARAMS",
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "SEARCH_PARAMS",
    "Criterion",
    "SearchQuery",
    "date_range",
    "matches",
    "page_links",
    "parse_search",
    "values_at",
]

DEFAULT_COUNT = 50
MAX_COUNT = 500
#: result-control parameters handled by paging, not by matching
CONTROL_PARAMS = frozenset({"_count", "_offset", "_format"})
_SP = "http://hl7.org/fhir/SearchParameter/"

COMMON_PARAMS = (
    SearchParam("_id", "token", ("id",), definition=_SP + "Resource-id", documentation="id"),
    SearchParam(
        "_lastUpdated",
        "date",
        ("meta.lastUpdated",),
        definition=_SP + "Resource-lastUpdated",
        documentation="when the hub last changed the record (prefixes eq ne gt lt ge le sa eb)",
    ),
)
_IDENTIFIER = SearchParam("identifier", "token", ("identifier",), documentation="system|value")


def _patient(*paths: str) -> SearchParam:
    return SearchParam("patient", "reference", paths, target="Patient", documentation="Patient")


def _status() -> SearchParam:
    return SearchParam("status", "token", ("status",), documentation="status code")


#: type-specific parameters, each over an element the hub's mapping keeps
SEARCH_PARAMS: Mapping[str, tuple[SearchParam, ...]] = {
    "Patient": (_IDENTIFIER,),
    "Practitioner": (_IDENTIFIER,),
    "PractitionerRole": (
        SearchParam("practitioner", "reference", ("practitioner",), target="Practitioner"),
    ),
    "Organization": (_IDENTIFIER,),
    "Location": (_IDENTIFIER, _status()),
    "Coverage": (
        _IDENTIFIER,
        _status(),
        _patient("beneficiary"),
        SearchParam("beneficiary", "reference", ("beneficiary",), target="Patient"),
    ),
    "CoverageEligibilityRequest": (_IDENTIFIER, _patient("patient")),
    "CoverageEligibilityResponse": (_IDENTIFIER, _patient("patient")),
    "Appointment": (
        _IDENTIFIER,
        _status(),
        _patient("participant.actor"),
        SearchParam("date", "date", ("start",), documentation="Appointment.start"),
    ),
    "Schedule": (),
    "Slot": (),
    "Encounter": (
        _IDENTIFIER,
        _status(),
        _patient("subject"),
        SearchParam("subject", "reference", ("subject",), target="Patient"),
        SearchParam("date", "date", ("period",), documentation="Encounter.period"),
    ),
    "Claim": (_IDENTIFIER, _status(), _patient("patient")),
    "ClaimResponse": (_IDENTIFIER, _patient("patient")),
    "ExplanationOfBenefit": (_IDENTIFIER, _patient("patient")),
    "SupplyRequest": (_IDENTIFIER, _status()),
    "SupplyDelivery": (_IDENTIFIER,),
    "Observation": (
        _IDENTIFIER,
        _status(),
        _patient("subject"),
        SearchParam("subject", "reference", ("subject",), target="Patient"),
        SearchParam("date", "date", ("effectiveDateTime",), documentation="Observation.effective"),
    ),
    "DiagnosticReport": (
        _IDENTIFIER,
        _status(),
        _patient("subject"),
        SearchParam("subject", "reference", ("subject",), target="Patient"),
        SearchParam("date", "date", ("effectiveDateTime",), documentation="effective"),
    ),
    "DocumentReference": (
        _IDENTIFIER,
        _status(),
        _patient("subject"),
        SearchParam("subject", "reference", ("subject",), target="Patient"),
    ),
    "Immunization": (
        _IDENTIFIER,
        _status(),
        _patient("patient"),
        SearchParam(
            "date", "date", ("occurrenceDateTime",), documentation="Immunization.occurrence"
        ),
        SearchParam(
            "vaccine-code",
            "token",
            ("vaccineCode.coding",),
            documentation="Immunization.vaccineCode",
        ),
    ),
}


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter occurrence: its values are OR-ed (``status=booked,arrived``)."""

    param: SearchParam
    values: tuple[str, ...]


@dataclass(slots=True)
class SearchQuery:
    """A parsed search: criteria (AND-ed), paging, what was applied and what was ignored."""

    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    applied: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _int_param(name: str, value: str, low: int) -> int:
    if not value.isdigit() or int(value) < low:
        raise FhirError(400, "invalid", f"{name} must be an integer ≥ {low}", location=name)
    return int(value)


def parse_search(
    support: ResourceSupport,
    pairs: Iterable[tuple[str, str]],
    *,
    strict: bool = False,
    max_count: int = MAX_COUNT,
) -> SearchQuery:
    """Parse query parameters against what ``support`` offers (400 on bad values)."""
    query = SearchQuery(support.resource_type)
    for name, value in pairs:
        if name == "_count":
            query.count = min(_int_param(name, value, 0), max_count)
        elif name == "_offset":
            query.offset = _int_param(name, value, 0)
        elif name in CONTROL_PARAMS:
            continue
        else:
            _add_criterion(query, support, name, value, strict)
    return query


def _add_criterion(
    query: SearchQuery, support: ResourceSupport, name: str, value: str, strict: bool
) -> None:
    param = support.param(name) if ":" not in name else None
    if param is None:
        if strict:
            raise FhirError(400, "not-supported", f"search parameter {name} is not supported")
        query.ignored.append(name)
        return
    values = tuple(v for v in value.split(",") if v)
    if not values:
        raise FhirError(400, "invalid", f"search parameter {name} has no value", location=name)
    if param.type == "date":
        for v in values:
            _split_prefix(v)  # 400 early for a bad date
    query.criteria.append(Criterion(param, values))
    query.applied.append((name, value))


# --------------------------------------------------------------------------- values


def values_at(resource: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted element path; lists are walked at each step."""
    items: list[Any] = [resource]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in items:
            value = item.get(part) if isinstance(item, dict) else None
            if isinstance(value, list):
                nxt.extend(value)
            elif value is not None:
                nxt.append(value)
        items = nxt
    yield from items


def matches(resource: Mapping[str, Any], query: SearchQuery) -> bool:
    """True when ``resource`` satisfies every criterion of ``query``."""
    return all(_criterion(resource, c) for c in query.criteria)


def _criterion(resource: Mapping[str, Any], criterion: Criterion) -> bool:
    param = criterion.param
    found = [v for path in param.paths for v in values_at(resource, path)]
    test = _TESTS[param.type]
    return any(test(found, value, param) for value in criterion.values)


def _token(found: list[Any], wanted: str, param: SearchParam) -> bool:
    system, bar, code = wanted.partition("|")
    if not bar:
        system, code = "", wanted
    for item in found:
        item_system, item_code = (
            (item.get("system"), item.get("value") or item.get("code"))
            if isinstance(item, dict)
            else (None, item)
        )
        if bar and system and item_system != system:
            continue
        if bar and not system and item_system:
            continue  # "|code": no system
        if code and str(item_code) != code:
            continue
        return True
    return False


def _reference(found: list[Any], wanted: str, param: SearchParam) -> bool:
    target = wanted if "/" in wanted else f"{param.target}/{wanted}"
    tail = "/".join(target.rstrip("/").split("/")[-2:])
    for item in found:
        ref = item.get("reference") if isinstance(item, dict) else None
        if not isinstance(ref, str):
            continue
        ref_tail = "/".join(ref.split("/_history/")[0].split("/")[-2:])
        if ref_tail == tail and (param.target is None or tail.startswith(param.target + "/")):
            return True
    return False


# --------------------------------------------------------------------------- dates

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_DATE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


def _split_prefix(value: str) -> tuple[str, tuple[datetime, datetime]]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    rng = date_range(text)
    if rng is None:
        raise FhirError(400, "invalid", "a date search value must be a FHIR date or dateTime")
    return prefix, rng


def _tz(text: str | None) -> Any:
    if not text or text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The instants a FHIR date/dateTime/instant covers, ``[start, end)`` by its precision."""
    match = _DATE.match(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    try:
        return _range(g)
    except ValueError:
        return None


def _range(g: dict[str, str | None]) -> tuple[datetime, datetime]:
    year = int(g["y"] or 0)
    if g["m"] is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = int(g["m"])
    if g["d"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, end
    tz = _tz(g["tz"])
    day = datetime(year, month, int(g["d"]), tzinfo=tz)
    if g["H"] is None:
        return day, day + timedelta(days=1)
    start = day.replace(hour=int(g["H"]), minute=int(g["M"] or 0), second=int(g["S"] or 0))
    if g["S"] is None:
        return start, start + timedelta(minutes=1)
    if g["f"]:
        start = start.replace(microsecond=int(float(g["f"]) * 1_000_000))
        return start, start + timedelta(milliseconds=1)
    return start, start + timedelta(seconds=1)


def _target_range(item: Any) -> tuple[datetime, datetime] | None:
    if isinstance(item, dict):  # a Period: an open end is unbounded
        start = date_range(item["start"]) if isinstance(item.get("start"), str) else None
        end = date_range(item["end"]) if isinstance(item.get("end"), str) else None
        if start is None and end is None:
            return None
        return (start[0] if start else _MIN, end[1] if end else _MAX)
    return date_range(item) if isinstance(item, str) else None


def _compare(
    prefix: str, target: tuple[datetime, datetime], value: tuple[datetime, datetime]
) -> bool:
    (ts, te), (vs, ve) = target, value
    eq = vs <= ts and te <= ve
    return {
        "eq": eq,
        "ne": not eq,
        "gt": te > ve,
        "lt": ts < vs,
        "ge": te > vs,
        "le": ts < ve,
        "sa": ts >= ve,
        "eb": te <= vs,
    }[prefix]


def _date(found: list[Any], wanted: str, param: SearchParam) -> bool:
    prefix, value = _split_prefix(wanted)
    for item in found:
        target = _target_range(item)
        if target is not None and _compare(prefix, target, value):
            return True
    return False


_TESTS = {"token": _token, "reference": _reference, "date": _date}


# --------------------------------------------------------------------------- paging


def page_links(base: str, query: SearchQuery, total: int) -> list[dict[str, str]]:
    """``self``, ``next`` and ``previous`` links (Bundle.link) for this page of ``total``."""

    def url(offset: int) -> str:
        pairs = [*query.applied, ("_count", str(query.count)), ("_offset", str(offset))]
        return f"{base}/{query.resource_type}?{urlencode(pairs)}"

    links = [{"relation": "self", "url": url(query.offset)}]
    if query.count and query.offset + query.count < total:
        links.append({"relation": "next", "url": url(query.offset + query.count)})
    if query.offset > 0 and query.count:
        links.append({"relation": "previous", "url": url(max(0, query.offset - query.count))})
    return links
