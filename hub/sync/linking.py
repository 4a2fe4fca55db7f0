"""What may link two patient records: identifying identifiers, placeholders, disagreement.

A shared identifier is not proof of identity (issue 11). Three rules, each a pure function:

- ``IdentifierPolicy.identifying``: the identifiers ``matching.identifying`` names link
  records by themselves; those of a corroborating type (SSN, licence, member id…) or
  namespace only corroborate; any other (untyped, a vendor's own type) links.
- ``is_placeholder``: a well-known filler value (``999-99-9999``, ``123456789``,
  ``UNKNOWN``…) never links and is never stored as a link key; it stays on the record.
- ``disagreement``: two records' identity facts contradict each other (birth date, sex, or
  both names) — a link by identifier is then held for review instead of applied.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import Any

from hub.config import IdentifyingConfig

__all__ = ["IdentifierPolicy", "disagreement", "has_ended", "is_placeholder"]

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")

#: values a registration clerk types when the real one is not at hand
_FILLER_WORDS = frozenset(
    {
        "UNKNOWN", "UNK", "UNKN", "NONE", "NA", "NULL", "NIL", "TEMP", "TBD", "PENDING",
        "REFUSED", "DECLINED", "NOTGIVEN", "NOTAVAILABLE", "UNAVAILABLE", "NOTAPPLICABLE",
        "NOSSN", "NONEGIVEN", "TEST", "XXX", "NOID",
    }
)  # fmt: skip

#: SSNs printed on sample cards and in forms, given out by countless people
_KNOWN_SSNS = frozenset({"078051120", "219099999", "123121234", "111223333"})

_SSN_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1"})

#: shortest value taken as filler when it is one character repeated (``11111``; a short
#: ``1111`` can be a small system's real number); zeros and X's are filler at any length
_MIN_REPEAT = 5
#: shortest run of consecutive digits taken as filler (``123456``, ``987654``); ``12345``
#: is the MRN of HL7's own Patient example and of many a small system
_MIN_RUN = 6


def is_placeholder(value: str | None, namespace: str | None = None) -> bool:
    """A value that names nobody: empty, a filler word (``UNKNOWN``, ``N/A``), zeros or X's
    (``000-00-0000``, ``XXX``), one character repeated five times or more
    (``999-99-9999``), a run of six or more consecutive digits (``123456789``,
    ``9876543210``), a sample SSN (``078-05-1120``); in an SSN namespace, a number the SSA
    never issues (area 000/666, group 00, serial 0000)."""
    folded = _NOT_ALNUM.sub("", (value or "").upper())
    if not folded or folded in _FILLER_WORDS or set(folded) in ({"0"}, {"X"}):
        return True
    if len(set(folded)) == 1 and len(folded) >= _MIN_REPEAT:
        return True
    if folded.isdigit():
        if _is_run(folded) or folded in _KNOWN_SSNS:
            return True
        if namespace in _SSN_SYSTEMS and len(folded) == 9:
            return folded[:3] in ("000", "666") or folded[3:5] == "00" or folded[5:] == "0000"
    return False


def has_ended(identifier: dict[str, Any]) -> bool:
    """An identifier (canonical JSON) whose period has ended: retired (an ADT^A47's prior
    identifier) or expired (CX-8 in the past). It names nobody any more: never a link key.
    A date ends on that day (an identifier retired or expiring today links no more); an
    unreadable end is not taken as ended."""
    end = (identifier.get("period") or {}).get("end")
    if not end:
        return False
    text = str(end)
    try:
        if len(text) <= len("YYYY-MM-DD"):
            return date.fromisoformat(text) <= datetime.now(UTC).date()
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= datetime.now(UTC)


def _is_run(digits: str) -> bool:
    if len(digits) < _MIN_RUN:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(digits)}
    return steps in ({1}, {9})


class IdentifierPolicy:
    """``matching.identifying`` applied to one identifier (namespace as the cross-reference
    holds it, and its HL7 table 0203 type)."""

    def __init__(self, config: IdentifyingConfig | None = None):
        cfg = config or IdentifyingConfig()
        self.types = frozenset(t.upper() for t in cfg.types)
        self.systems = tuple(cfg.systems)
        self.corroborating_types = frozenset(t.upper() for t in cfg.corroborating_types)
        self.corroborating_systems = tuple(cfg.corroborating_systems)

    def identifying(self, namespace: str, type_: str | None) -> bool:
        """True when this identifier may link two patient records by itself: its namespace
        in ``systems`` or its type in ``types``; else not when its type is in
        ``corroborating_types`` or its namespace in ``corroborating_systems``; else it is
        (untyped, or a type neither list knows: a vendor's ``MRN`` is still an MRN)."""
        kind = (type_ or "").upper()
        if _matches(namespace, self.systems) or kind in self.types:
            return True
        if kind in self.corroborating_types:
            return False
        return not _matches(namespace, self.corroborating_systems)


def _matches(namespace: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(namespace.casefold(), p.casefold()) for p in patterns)


def disagreement(mine: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """What makes two sets of identity facts (``identity.demographics``) two people, or
    None. Only facts present on both sides count; ``unknown`` sex is absent. Disagree: the
    birth date (one a prefix of the other — ``1970`` and ``1970-01-01`` — agrees), the
    sex, or the family AND the given name together. One name alone differing is a
    correction (a typo, a marriage) and links. Names name the fields only (never PHI)."""
    found = []
    a, b = mine.get("birth_date") or "", theirs.get("birth_date") or ""
    if a and b and not (a.startswith(b) or b.startswith(a)):
        found.append("birth date")
    sexes = [s for s in (mine.get("sex"), theirs.get("sex")) if s and s != "unknown"]
    if len(sexes) == 2 and sexes[0] != sexes[1]:
        found.append("sex")
    names = [
        k for k in ("family", "given") if mine.get(k) and theirs.get(k) and mine[k] != theirs[k]
    ]
    if len(names) == 2:
        found.append("family and given name")
    return ", ".join(found) or None
