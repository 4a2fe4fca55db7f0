"""The hub's broker topology as plain values (kombu style), declared later by a transport.

Names, for a namespace ``ns`` (``carehub`` in production, a unique one per test)::

    {ns}.ingress        topic exchange: what adapters publish (routing key = event kind)
    {ns}.events         topic exchange: what the sync engine publishes
    {ns}.sync           work queue of the sync engine, bound to ingress with ``#``
    {ns}.dest.D         work queue of destination system D, bound to events once per
                        subscription pattern (``patient.*``, ``claim.#``)
    {ns}.raw            topic exchange: raw HL7 v2 messages passed through (routing key
                        ``hl7v2.<MSH-9.1>.<MSH-9.2>``; ``hub.passthru``), declared when
                        some system subscribes to raw messages
    {ns}.dest.D.raw     work queue of D's raw messages, bound to raw once per raw pattern
    <work>.retry.N      retry tier N (1-based) of a work queue: holds a message for its delay
                        (``x-message-ttl``), then dead-letters it back to the work queue
                        through the default exchange
    <work>.parked       parking queue: what could not be handled, with the reason

Every queue is a durable quorum queue. A work queue has an explicit ``x-delivery-limit``
and dead-letters at-least-once (``x-dead-letter-strategy: at-least-once``, which RabbitMQ
only honours together with ``x-overflow: reject-publish``) to its parking queue, so a
message the broker redelivered too often (a consumer crashing on it) is parked, not lost.

Routing follows RabbitMQ's topic rules (:func:`topic_matches`): a routing key is a list of
dot-separated words; ``*`` matches exactly one word and ``#`` zero or more words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from hub.errors import ConfigError
from hub.ports import Binding, ExchangeSpec, QueueSpec, Topology

__all__ = [
    "DEFAULT_EXCHANGE",
    "build_topology",
    "check_destination",
    "events_exchange",
    "ingress_exchange",
    "parking_queue",
    "raw_exchange",
    "raw_queue",
    "queue_arguments",
    "retry_queue",
    "route",
    "sync_queue",
    "topic_matches",
    "work_queue",
]

#: AMQP's default (nameless direct) exchange: the routing key is a queue name.
DEFAULT_EXCHANGE = ""

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_WORD = re.compile(r"[^.]+|\*|#")


def ingress_exchange(ns: str) -> str:
    """The exchange adapters publish canonical events to (routing key = event kind)."""
    return f"{ns}.ingress"


def events_exchange(ns: str) -> str:
    """The exchange the sync engine publishes settled events to."""
    return f"{ns}.events"


def raw_exchange(ns: str) -> str:
    """The exchange the pipeline publishes raw (pass-through) messages to."""
    return f"{ns}.raw"


def raw_queue(ns: str, dest: str) -> str:
    """Destination system ``dest``'s queue of raw (pass-through) messages."""
    return f"{work_queue(ns, dest)}.raw"


def sync_queue(ns: str) -> str:
    """The sync engine's work queue (bound to the ingress exchange with ``#``)."""
    return f"{ns}.sync"


def work_queue(ns: str, dest: str) -> str:
    """Destination system ``dest``'s work queue."""
    return f"{ns}.dest.{dest}"


def retry_queue(work: str, tier: int) -> str:
    """Retry tier ``tier`` (1-based, growing delay) of the work queue named ``work``."""
    return f"{work}.retry.{tier}"


def parking_queue(work: str) -> str:
    """The parking queue of the work queue named ``work``."""
    return f"{work}.parked"


def build_topology(
    namespace: str,
    destinations: Mapping[str, Sequence[str]],
    *,
    retry_delays: Sequence[float] = (1, 5, 30, 120, 600),
    delivery_limit: int = 20,
    extra_work_queues: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    raw_destinations: Mapping[str, Sequence[str]] | None = None,
) -> Topology:
    """Exchanges, queues and bindings of a hub namespace.

    ``destinations`` maps a destination system name to its subscription patterns.
    ``extra_work_queues`` maps a queue's local name ``L`` (queue ``{ns}.L``) to
    ``(exchange, patterns)``, where ``exchange`` is ``"ingress"``, ``"events"`` or a full
    exchange name of this namespace; such queues get retry tiers and parking too.
    ``raw_destinations`` maps a destination to its raw (``hl7v2.…``) patterns: the raw
    exchange and a raw work queue each (``hub.passthru``).
    ``retry_delays`` are seconds, one tier each, in growing order. Raises ``ConfigError``.
    """
    _check_name(namespace, "namespace")
    _check_delays(retry_delays)
    if delivery_limit < 1:
        raise ConfigError("delivery_limit must be at least 1", location="delivery_limit")
    builder = _Builder(namespace, tuple(retry_delays), delivery_limit)
    builder.add_work(sync_queue(namespace), ingress_exchange(namespace), ("#",))
    for dest, patterns in destinations.items():
        _check_name(dest, f"destinations[{dest!r}]")
        builder.add_work(work_queue(namespace, dest), events_exchange(namespace), patterns)
    for dest, patterns in (raw_destinations or {}).items():
        _check_name(dest, f"raw_destinations[{dest!r}]")
        builder.raw = True
        builder.add_work(raw_queue(namespace, dest), raw_exchange(namespace), patterns)
    for local, (exchange, patterns) in (extra_work_queues or {}).items():
        _check_name(local, f"extra_work_queues[{local!r}]")
        builder.add_work(f"{namespace}.{local}", _exchange_name(namespace, exchange), patterns)
    return builder.build()


def queue_arguments(spec: QueueSpec) -> dict[str, Any]:
    """The ``queue.declare`` arguments of ``spec`` (``x-queue-type`` follows ``quorum``)."""
    args = dict(spec.arguments)
    args["x-queue-type"] = "quorum" if spec.quorum else "classic"
    return args


def topic_matches(pattern: str, routing_key: str) -> bool:
    """True when a topic binding ``pattern`` matches ``routing_key`` (RabbitMQ's rules)."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def route(topology: Topology, exchange: str, routing_key: str) -> list[str]:
    """The queues of ``topology`` a message published to ``exchange`` would land in.

    On the default exchange the routing key names the queue. Each queue appears once even
    when several of its bindings match, as on the broker.
    """
    if exchange == DEFAULT_EXCHANGE:
        return [q.name for q in topology.queues if q.name == routing_key]
    found: list[str] = []
    for b in topology.bindings:
        if (
            b.exchange == exchange
            and b.queue not in found
            and topic_matches(b.pattern, routing_key)
        ):
            found.append(b.queue)
    return found


def check_destination(topology: Topology, exchange: str, routing_key: str) -> None:
    """Refuse a publish to an exchange, or (default exchange) a queue, not in ``topology``.

    On RabbitMQ such a publish would close the channel (404) or vanish; refusing it up front
    keeps one bad caller from disturbing everyone's in-flight publishes.
    """
    if exchange == DEFAULT_EXCHANGE:
        if all(q.name != routing_key for q in topology.queues):
            raise ConfigError(f"queue {routing_key!r} is not in the topology", location=routing_key)
    elif all(e.name != exchange for e in topology.exchanges):
        raise ConfigError(f"exchange {exchange!r} is not in the topology", location=exchange)


# --------------------------------------------------------------------------- internals


class _Builder:
    """Accumulates the values of one namespace; one work queue at a time."""

    def __init__(self, ns: str, delays: tuple[float, ...], delivery_limit: int) -> None:
        self.ns = ns
        self.delays = delays
        self.delivery_limit = delivery_limit
        self.queues: list[QueueSpec] = []
        self.bindings: list[Binding] = []
        self.tiers: dict[str, tuple[str, ...]] = {}
        self.parking: dict[str, str] = {}
        #: whether the raw (pass-through) exchange is declared
        self.raw = False

    def add_work(self, work: str, exchange: str, patterns: Sequence[str]) -> None:
        if work in self.tiers:
            raise ConfigError(f"queue {work} is defined twice", location=work)
        parked = parking_queue(work)
        self.queues.append(self._work_spec(work, parked))
        tiers = tuple(retry_queue(work, n) for n in range(1, len(self.delays) + 1))
        for name, delay in zip(tiers, self.delays, strict=True):
            self.queues.append(_retry_spec(name, delay, work))
        self.queues.append(QueueSpec(name=parked, role="parking", arguments=_QUORUM))
        self.tiers[work] = tiers
        self.parking[work] = parked
        for pattern in dict.fromkeys(patterns):
            _check_pattern(pattern, work)
            self.bindings.append(Binding(exchange=exchange, queue=work, pattern=pattern))

    def _work_spec(self, work: str, parked: str) -> QueueSpec:
        args = {
            **_QUORUM,
            **_dead_letter_to(parked),
            "x-delivery-limit": self.delivery_limit,
            # one consuming hub process at a time (the others stand by): with the lanes
            # inside it, changes to one key are handled in order, different keys in parallel
            "x-single-active-consumer": True,
        }
        return QueueSpec(
            name=work,
            role="work",
            arguments=args,
            dead_letter_to=parked,
            delivery_limit=self.delivery_limit,
        )

    def build(self) -> Topology:
        names = [ingress_exchange(self.ns), events_exchange(self.ns)]
        if self.raw:
            names.append(raw_exchange(self.ns))
        exchanges = tuple(ExchangeSpec(name=name) for name in names)
        return Topology(
            exchanges=exchanges,
            queues=tuple(self.queues),
            bindings=tuple(self.bindings),
            retry_tiers=dict(self.tiers),
            parking=dict(self.parking),
        )


_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


def _dead_letter_to(queue: str) -> dict[str, Any]:
    """Dead-letter through the default exchange straight to ``queue``, at least once."""
    return {
        "x-dead-letter-exchange": DEFAULT_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        # at-least-once dead-lettering is ignored by RabbitMQ unless overflow rejects publishes
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def _retry_spec(name: str, delay: float, work: str) -> QueueSpec:
    args = {**_QUORUM, **_dead_letter_to(work), "x-message-ttl": max(1, round(delay * 1000))}
    return QueueSpec(
        name=name, role="retry", arguments=args, delay_seconds=delay, dead_letter_to=work
    )


def _exchange_name(ns: str, exchange: str) -> str:
    if exchange in ("ingress", "events"):
        return f"{ns}.{exchange}"
    if exchange in (ingress_exchange(ns), events_exchange(ns)):
        return exchange
    raise ConfigError(f"unknown exchange {exchange!r}", location="extra_work_queues")


def _check_name(name: str, where: str) -> None:
    # Dots would make names ambiguous (``dest.a.b.parked``); keep names to one word.
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{name!r} must be letters, digits, '_' or '-'", location=where)


def _check_delays(delays: Sequence[float]) -> None:
    if any(d <= 0 for d in delays):
        raise ConfigError("retry delays must be positive", location="retry_delays")
    if list(delays) != sorted(delays):
        raise ConfigError("retry delays must grow", location="retry_delays")


def _check_pattern(pattern: str, where: str) -> None:
    if not all(_WORD.fullmatch(w) for w in pattern.split(".")):
        raise ConfigError(f"bad routing-key pattern {pattern!r}", location=where)


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # '#' takes zero words, or one word and stays
        return _match(rest, words) or (bool(words) and _match(pattern, words[1:]))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])
