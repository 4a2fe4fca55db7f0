"""A record's state in canonical JSON (``entity.model_dump(mode="json")``): what it says
(``content``), what it points at (``refs_in``) and the state after a change (``merge_state``).

Pure functions: the same code serves a Patient, a claim's patient party, an appointment's
participants, and the outbound worker's record of what a destination was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from hub.canonical import Event

__all__ = [
    "BOOKKEEPING",
    "PARTIAL_CLEARS",
    "after_clear",
    "cleared_field",
    "cleared_in",
    "clears_something",
    "content",
    "is_set",
    "merge_state",
    "proposed_state",
    "refs_in",
    "unite",
]

#: fields that say who a record is and where it came from, not what it says
BOOKKEEPING = frozenset({"id", "identifiers", "meta", "entity_type"})

_REF_KEYS = {"type", "id", "identifiers", "display"}


def content(record: dict[str, Any]) -> dict[str, Any]:
    """What a record says, without who it is or where it came from."""
    return {k: v for k, v in record.items() if k not in BOOKKEEPING and v not in (None, [], {})}


def is_set(value: Any) -> bool:
    """A value that says something (not None, not empty)."""
    return value is not None and value not in ([], {}, "")


def refs_in(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every reference inside a canonical JSON record: (path, the ``Ref`` dict). A claim
    party's link (``ClaimParty.ref``) counts too."""
    if isinstance(value, dict):
        if "type" in value and "identifiers" in value and set(value) <= _REF_KEYS:
            yield path, value
            return
        for key, item in value.items():
            if key != "meta":
                yield from refs_in(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from refs_in(item, f"{path}[{i}]")


def unite(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Identifiers of ``a``, then those of ``b`` that ``a`` lacks (by system and value); one
    of both takes ``b``'s period when ``b`` gives one (an identifier retired: its end)."""
    seen = {(i.get("system"), i.get("value")) for i in a}
    periods = {(i.get("system"), i.get("value")): i["period"] for i in b if i.get("period")}
    kept = [
        {**i, "period": periods[k]} if (k := (i.get("system"), i.get("value"))) in periods else i
        for i in a
    ]
    return kept + [i for i in b if (i.get("system"), i.get("value")) not in seen]


def _is_work(item: Any) -> bool:
    return isinstance(item, dict) and item.get("use") == "work"


def _without_order(value: Any) -> Any:
    return True if isinstance(value, int) and not isinstance(value, bool) else value


#: clears of one part of a field, named ``field:part`` in ``meta.cleared``: when one sender
#: field carries only part of a canonical field (HL7 v2 PID-13 the home and personal
#: numbers, PID-14 the work ones, PID-25 the birth order of ``multiple_birth``), its ``""``
#: deletes that part only. Each maps the held value to what is left.
PARTIAL_CLEARS: dict[str, Callable[[Any], Any]] = {
    "telecom:home": lambda v: [t for t in v if _is_work(t)] if isinstance(v, list) else v,
    "telecom:work": lambda v: [t for t in v if not _is_work(t)] if isinstance(v, list) else v,
    "multiple_birth:order": _without_order,
}


def cleared_field(name: str) -> str:
    """The record field a ``meta.cleared`` name clears (``telecom`` for ``telecom:home``)."""
    return name.split(":", 1)[0]


def after_clear(name: str, value: Any) -> Any:
    """The held ``value`` after the clear ``name``: None for a whole-field clear, what is
    left of it for a partial one (``PARTIAL_CLEARS``)."""
    partial = PARTIAL_CLEARS.get(name)
    return partial(value) if partial is not None else None


def clears_something(held: dict[str, Any], name: str) -> bool:
    """The clear ``name`` removes a value ``held`` has."""
    value = held.get(cleared_field(name))
    return is_set(value) and after_clear(name, value) != value


def cleared_in(record: dict[str, Any]) -> list[str]:
    """The clears a record's change makes (``meta.cleared``: HL7 v2 ``""``; a name may be
    ``field:part``, ``PARTIAL_CLEARS``), bookkeeping and whole fields it also sets left out
    (a part cleared beside a field set — PID-13 ``""`` with PID-14 numbers — stays)."""
    names = (record.get("meta") or {}).get("cleared") or []
    return [
        k
        for k in names
        if cleared_field(k) not in BOOKKEEPING
        and (k in PARTIAL_CLEARS or not is_set(record.get(cleared_field(k))))
    ]


def merge_state(
    current: dict[str, Any] | None, incoming: dict[str, Any], source: str
) -> dict[str, Any]:
    """New state: values present in ``incoming`` win, absent or empty ones keep the current
    value, those ``incoming`` clears (``meta.cleared``) are removed (a ``field:part`` clear
    removes that part, ``PARTIAL_CLEARS``); identifiers are united;
    ``meta.field_sources`` records who set (or cleared) each field, and ``meta.cleared`` the
    fields this version cleared that held a value."""
    cleared: list[str] = []
    if current is None:
        merged = dict(incoming)
        sources = {k: source for k, v in incoming.items() if k not in BOOKKEEPING and is_set(v)}
    else:
        merged = dict(current)
        sources = dict(current.get("meta", {}).get("field_sources", {}))
        for key, value in incoming.items():
            if key in BOOKKEEPING or not is_set(value):
                continue
            merged[key] = value
            sources[key] = source
        for name in cleared_in(incoming):
            key = cleared_field(name)
            if not clears_something(current, name):
                continue
            if not is_set(incoming.get(key)):  # else the value sent replaces the part too
                left = after_clear(name, merged.pop(key))
                if is_set(left):
                    merged[key] = left
            cleared.append(name)
            sources[key] = source
        merged["identifiers"] = unite(
            current.get("identifiers", []), incoming.get("identifiers", [])
        )
    meta = dict((current or {}).get("meta") or {})
    meta.pop("cleared", None)  # what an earlier version cleared is not this one's change
    meta.update(source=source, updated_at=datetime.now(UTC).isoformat(), field_sources=sources)
    if cleared:
        meta["cleared"] = cleared
    merged["meta"] = meta
    return merged


def proposed_state(
    current: dict[str, Any] | None,
    incoming: dict[str, Any],
    source: str,
    event: Event,
    canonical_id: str,
    *,
    review: bool,
) -> dict[str, Any]:
    """The state ``event`` from ``source`` would give the record: ``merge_state`` plus its
    canonical id, the event's stamp (MSH-7/EVN-2, ``meta.lastUpdated``) and the review flag."""
    state = merge_state(current, incoming, source)
    state["id"] = canonical_id
    stamp = event.provenance.recorded_at
    if stamp is not None:
        state["meta"]["recorded_at"] = stamp.isoformat()
    if review:
        state["meta"]["pending_review"] = True
    return state
