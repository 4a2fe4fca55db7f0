"""Fixtures of the fault suite: a private RabbitMQ node per test.

Without ``rabbitmq-server`` the tests skip — or fail with ``CAREHUB_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fault.rabbit import RabbitNode, rabbitmq_installed


def _need_rabbitmq() -> None:
    if rabbitmq_installed():
        return
    message = "rabbitmq-server is not installed (the fault suite starts a private node)"
    if os.environ.get("CAREHUB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and CAREHUB_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def rabbit_node() -> Iterator[RabbitNode]:
    """A private node of this test's own, not started yet; killed and removed afterwards."""
    _need_rabbitmq()
    node = RabbitNode()
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def rabbit(rabbit_node: RabbitNode) -> RabbitNode:
    """The private node, booted and answering AMQP."""
    rabbit_node.start()
    return rabbit_node
