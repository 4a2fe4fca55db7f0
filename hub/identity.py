"""Identity helpers for the sync engine: demographic match keys, references inside records,
and the content of a record as partners see it (for duplicate and echo detection).

Work on canonical JSON (``entity.model_dump(mode="json")``), so the same code serves a
Patient, a claim's patient party, an appointment's participants.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from hub.config import MatchRule

__all__ = [
    "BOOKKEEPING",
    "content",
    "demographics",
    "is_echo",
    "match_key",
    "normalise",
    "refs_in",
]

#: fields that say who a record is and where it came from, not what it says
BOOKKEEPING = frozenset({"id", "identifiers", "meta", "entity_type"})

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise(text: str | None) -> str:
    """Case, accents, punctuation and spacing folded away: ``Renée-O'Neil`` → ``reneeoneil``."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _NOT_ALNUM.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def demographics(record: dict[str, Any]) -> dict[str, str]:
    """The matchable facts of a Patient (``names``, ``addresses``, ``telecom``) or of a claim
    party (``name``, ``address``)."""
    names = record.get("names") or ([record["name"]] if record.get("name") else [])
    name = names[0] if names else {}
    given = name.get("given") or []
    addresses = record.get("addresses") or ([record["address"]] if record.get("address") else [])
    phones = [
        t.get("value", "")
        for t in record.get("telecom") or []
        if t.get("system") in (None, "phone")
    ]
    return {
        "family": normalise(name.get("family")),
        "given": normalise(given[0] if given else None),
        "birth_date": str(record.get("birth_date") or ""),
        "sex": str(record.get("sex") or ""),
        "postal_code": normalise((addresses[0] or {}).get("postal_code")) if addresses else "",
        "phone": re.sub(r"\D", "", phones[0])[-10:] if phones else "",
    }


def match_key(rule_index: int, rule: MatchRule, facts: dict[str, str]) -> str | None:
    """The key a record has under ``rule``, or None when a field the rule needs is empty."""
    values = [facts.get(f, "") for f in rule.fields]
    if not all(values):
        return None
    return f"r{rule_index}:" + "|".join(values)


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


_REF_KEYS = {"type", "id", "identifiers", "display"}


def content(record: dict[str, Any]) -> dict[str, Any]:
    """What a record says, without who it is or where it came from."""
    return {k: v for k, v in record.items() if k not in BOOKKEEPING and v not in (None, [], {})}


def is_echo(
    incoming: dict[str, Any], sent: dict[str, Any] | None, ignore: Sequence[str] = ()
) -> bool:
    """True when every value ``incoming`` carries is the value we last sent that system:
    it is telling us back what we told it."""
    if sent is None:
        return False
    said = {k: v for k, v in content(incoming).items() if k not in ignore}
    return bool(said) and all(sent.get(k) == v for k, v in said.items())
