"""Pass-through routing: raw HL7 v2 messages to systems that subscribe to them by type.

The classic interface-engine channel. A destination whose outbound is HL7 v2 may subscribe
to raw message types as well as to canonical event kinds; the raw routing key of a message
is ``hl7v2.<MSH-9.1>.<MSH-9.2>`` (``hl7v2.ORU.R01``, ``hl7v2.ADT.A08``; ``hl7v2.ACK`` when
MSH-9.2 is empty), and patterns follow the topic rules like any other subscription
(``hl7v2.ORU.*``, ``hl7v2.#``). Raw messages travel on their own exchange
(``<ns>.raw``) to their own queue per destination (``<ns>.dest.<system>.raw``): they never
reach the sync engine, and a canonical ``#`` subscription does not take them in.

Which subscription is which is decided by the pattern's first word: ``hl7v2`` is raw,
anything else canonical (no canonical event kind starts with it). :class:`RawRoutes` answers
the pipeline's question — who, besides the sender, takes this raw key — and
:func:`accepts_unmapped` is the same question for ``carehub validate``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

__all__ = [
    "RAW_PREFIX",
    "RawRoutes",
    "accepts_unmapped",
    "is_raw_pattern",
    "raw_routing_key",
    "split_subscriptions",
]

#: the first word of every raw routing key and raw subscription pattern
RAW_PREFIX = "hl7v2"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def raw_routing_key(code: str | None, trigger: str | None) -> str | None:
    """``hl7v2.<MSH-9.1>.<MSH-9.2>``, upper case; a character that cannot be in a routing-key
    word (a dot, a space) becomes ``_``. ``None`` without a message code."""
    code = (code or "").strip()
    if not code:
        return None
    words = [RAW_PREFIX, _UNSAFE.sub("_", code.upper())]
    trigger = (trigger or "").strip()
    if trigger:
        words.append(_UNSAFE.sub("_", trigger.upper()))
    return ".".join(words)


def is_raw_pattern(pattern: str) -> bool:
    """A subscription to raw HL7 v2 messages: its first word is ``hl7v2``."""
    return pattern.split(".", 1)[0] == RAW_PREFIX


def split_subscriptions(patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(canonical patterns, raw patterns), each in the order given."""
    canonical: list[str] = []
    raw: list[str] = []
    for pattern in patterns:
        (raw if is_raw_pattern(pattern) else canonical).append(pattern)
    return canonical, raw


class RawRoutes:
    """Which systems take which raw keys: ``{system: [raw patterns]}``."""

    def __init__(self, routes: Mapping[str, Sequence[str]] | None = None):
        self.routes = {name: tuple(p) for name, p in (routes or {}).items() if p}

    def __bool__(self) -> bool:
        return bool(self.routes)

    def subscribers(self, key: str, sender: str | None = None) -> list[str]:
        """The systems subscribed to raw ``key``, the sender left out (no echo)."""
        return [
            name
            for name, patterns in self.routes.items()
            if name != sender and any(_matches(p, key) for p in patterns)
        ]


def accepts_unmapped(
    routes: Mapping[str, Sequence[str]], code: str | None, trigger: str | None, sender: str
) -> bool:
    """Whether a port of ``sender`` takes an HL7 v2 message of type ``code^trigger`` that
    the canonical model does not map: yes when some other system subscribes to its raw key
    (``routes`` as ``HubConfig.raw_routes()`` gives them); otherwise it is answered AR with
    ERR-3 200/201, as the hub does without pass-through."""
    key = raw_routing_key(code, trigger)
    return key is not None and bool(RawRoutes(routes).subscribers(key, sender))


def _matches(pattern: str, key: str) -> bool:
    """RabbitMQ's topic rule: ``*`` one word, ``#`` zero or more."""
    return _match(tuple(pattern.split(".")), tuple(key.split(".")))


@lru_cache(maxsize=1024)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return _match(rest, words) or (bool(words) and _match(pattern, words[1:]))
    if not words:
        return False
    return head in ("*", words[0]) and _match(rest, words[1:])
