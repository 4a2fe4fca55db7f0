"""Carehub's broker layer: topology as values, the RabbitMQ and embedded transports, settling.

::

    topology = build_topology("carehub", {"billing": ["charge.*", "claim.#"]})
    transport = make_transport(url)          # None / "memory://" → embedded, amqp:// → RabbitMQ
    await transport.start(topology)
    await transport.publish(events_exchange("carehub"), env.routing_key, env)  # after confirm
    async with transport.consume(work_queue("carehub", "billing")) as deliveries:
        async for delivery in deliveries:
            await settle(delivery, handle)   # ack / retry tier / park, exactly once

Queues know no wire format: they carry :class:`hub.envelope.Envelope` values.
"""

from __future__ import annotations

from hub.errors import ConfigError
from queues.amqp import AmqpTransport
from queues.amqp_consume import AmqpDelivery, AmqpSubscription
from queues.delivery import (
    ATTEMPT,
    HISTORY,
    LAST_ERROR,
    PARK_DETAIL,
    PARK_REASON,
    PARKED_AT,
    ROUTING_KEY,
    SOURCE_QUEUE,
    BaseDelivery,
    ParkedMessage,
    attempt_of,
    history_of,
    original_routing_key,
    park_reason,
)
from queues.memory import MemoryDelivery, MemorySubscription, MemoryTransport
from queues.settle import SettleResult, error_detail, settle, settling, settling_as
from queues.topology import (
    DEFAULT_EXCHANGE,
    build_topology,
    check_destination,
    events_exchange,
    ingress_exchange,
    parking_queue,
    queue_arguments,
    raw_exchange,
    raw_queue,
    retry_queue,
    route,
    sync_queue,
    topic_matches,
    work_queue,
)

__all__ = [
    "ATTEMPT",
    "DEFAULT_EXCHANGE",
    "HISTORY",
    "LAST_ERROR",
    "PARKED_AT",
    "PARK_DETAIL",
    "PARK_REASON",
    "ROUTING_KEY",
    "SOURCE_QUEUE",
    "AmqpDelivery",
    "AmqpSubscription",
    "AmqpTransport",
    "BaseDelivery",
    "MemoryDelivery",
    "MemorySubscription",
    "MemoryTransport",
    "ParkedMessage",
    "SettleResult",
    "attempt_of",
    "build_topology",
    "check_destination",
    "error_detail",
    "events_exchange",
    "history_of",
    "ingress_exchange",
    "make_transport",
    "original_routing_key",
    "park_reason",
    "parking_queue",
    "queue_arguments",
    "raw_exchange",
    "raw_queue",
    "retry_queue",
    "route",
    "settle",
    "settling",
    "settling_as",
    "sync_queue",
    "topic_matches",
    "work_queue",
]


def make_transport(url: str | None, **options: object) -> AmqpTransport | MemoryTransport:
    """The transport for ``url``: None or ``memory://`` → embedded, ``amqp(s)://`` → RabbitMQ.

    ``options`` go to the transport's constructor (``delay_scale`` for the embedded one,
    ``heartbeat``, ``confirm_window``, … for RabbitMQ). Raises ``ConfigError`` otherwise.
    """
    if url is None or url == "memory://" or url.startswith("memory:"):
        return MemoryTransport(**options)  # type: ignore[arg-type]
    if url.startswith(("amqp://", "amqps://")):
        return AmqpTransport(url, **options)  # type: ignore[arg-type]
    raise ConfigError("broker URL must be memory:// or amqp(s)://", location="broker.url")
