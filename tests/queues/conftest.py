"""Fixtures for the queue tests (helpers live in ``queues_testkit``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from queues_testkit import Hub, HubMaker, need_broker


@pytest.fixture(params=["memory", "amqp"])
async def hub_factory(request: pytest.FixtureRequest) -> AsyncIterator[HubMaker]:
    """``await hub_factory(destinations, **topology_kw)`` → a started :class:`Hub`."""
    if request.param == "amqp":
        need_broker()
    maker = HubMaker(request.param)
    yield maker
    await maker.cleanup()


@pytest.fixture
async def hub(hub_factory: HubMaker) -> Hub:
    """A started transport with destination ``a`` subscribed to ``patient.*``."""
    return await hub_factory()


@pytest.fixture
async def amqp_hub() -> AsyncIterator[HubMaker]:
    """Like ``hub_factory``, RabbitMQ only (AMQP-specific tests)."""
    need_broker()
    maker = HubMaker("amqp")
    yield maker
    await maker.cleanup()
