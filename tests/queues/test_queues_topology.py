"""Topology values: names, quorum arguments, bindings, validation, RabbitMQ topic matching."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from queues import (
    build_topology,
    events_exchange,
    ingress_exchange,
    parking_queue,
    queue_arguments,
    retry_queue,
    route,
    sync_queue,
    topic_matches,
    work_queue,
)

DESTS = {"billing": ["charge.*", "claim.#"], "ehr": ["patient.*", "appointment.*"]}


@pytest.fixture
def topo():
    return build_topology("hub", DESTS, retry_delays=(1, 5, 30), delivery_limit=7)


def test_names_follow_the_namespace():
    assert ingress_exchange("hub") == "hub.ingress"
    assert events_exchange("hub") == "hub.events"
    assert sync_queue("hub") == "hub.sync"
    assert work_queue("hub", "billing") == "hub.dest.billing"
    assert retry_queue("hub.dest.billing", 2) == "hub.dest.billing.retry.2"
    assert parking_queue("hub.sync") == "hub.sync.parked"


def test_exchanges_are_durable_topics(topo):
    assert {(e.name, e.type, e.durable) for e in topo.exchanges} == {
        ("hub.ingress", "topic", True),
        ("hub.events", "topic", True),
    }


def test_every_work_queue_has_tiers_and_parking(topo):
    for work in ("hub.sync", "hub.dest.billing", "hub.dest.ehr"):
        assert topo.retry_tiers[work] == tuple(f"{work}.retry.{n}" for n in (1, 2, 3))
        assert topo.parking[work] == f"{work}.parked"
    assert len(topo.queues) == 3 * (1 + 3 + 1)
    assert all(q.quorum for q in topo.queues)


def test_work_queue_arguments(topo):
    q = topo.queue("hub.dest.billing")
    assert q.role == "work"
    assert q.delivery_limit == 7
    assert q.dead_letter_to == "hub.dest.billing.parked"
    assert queue_arguments(q) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "hub.dest.billing.parked",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-single-active-consumer": True,
    }


def test_retry_tiers_hold_for_their_delay_then_return_to_work(topo):
    tiers = [topo.queue(name) for name in topo.retry_tiers["hub.dest.ehr"]]
    assert [t.arguments["x-message-ttl"] for t in tiers] == [1000, 5000, 30000]
    assert [t.delay_seconds for t in tiers] == [1, 5, 30]
    for tier in tiers:
        assert tier.role == "retry"
        assert tier.dead_letter_to == "hub.dest.ehr"
        assert tier.arguments["x-dead-letter-exchange"] == ""
        assert tier.arguments["x-dead-letter-routing-key"] == "hub.dest.ehr"
        assert tier.arguments["x-dead-letter-strategy"] == "at-least-once"


def test_parking_queue_is_plain_quorum(topo):
    parked = topo.queue("hub.dest.ehr.parked")
    assert parked.role == "parking"
    assert queue_arguments(parked) == {"x-queue-type": "quorum"}


def test_bindings(topo):
    got = {(b.exchange, b.queue, b.pattern) for b in topo.bindings}
    assert got == {
        ("hub.ingress", "hub.sync", "#"),
        ("hub.events", "hub.dest.billing", "charge.*"),
        ("hub.events", "hub.dest.billing", "claim.#"),
        ("hub.events", "hub.dest.ehr", "patient.*"),
        ("hub.events", "hub.dest.ehr", "appointment.*"),
    }


def test_short_delays_become_milliseconds():
    topo = build_topology("t", {"a": ["x"]}, retry_delays=(0.2, 0.4))
    assert [topo.queue(n).arguments["x-message-ttl"] for n in topo.retry_tiers["t.dest.a"]] == [
        200,
        400,
    ]


def test_extra_work_queues_get_tiers_and_parking():
    topo = build_topology(
        "hub", {}, retry_delays=(1,), extra_work_queues={"audit": ("ingress", ["#"])}
    )
    assert topo.retry_tiers["hub.audit"] == ("hub.audit.retry.1",)
    assert topo.parking["hub.audit"] == "hub.audit.parked"
    assert any(b.queue == "hub.audit" and b.exchange == "hub.ingress" for b in topo.bindings)


def test_no_retry_delays_means_park_at_once():
    topo = build_topology("hub", {"a": ["x"]}, retry_delays=())
    assert topo.retry_tiers["hub.dest.a"] == ()


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"namespace": "a.b"}, "namespace"),
        ({"destinations": {"bad.name": ["x"]}}, "destinations"),
        ({"destinations": {"a": ["patient..x"]}}, "hub.dest.a"),
        ({"retry_delays": (0,)}, "retry_delays"),
        ({"retry_delays": (5, 1)}, "retry_delays"),
        ({"delivery_limit": 0}, "delivery_limit"),
        ({"extra_work_queues": {"x": ("nowhere", ["#"])}}, "extra_work_queues"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs, where):
    args = {"namespace": "hub", "destinations": {"a": ["x"]}, **kwargs}
    ns, dests = args.pop("namespace"), args.pop("destinations")
    with pytest.raises(ConfigError) as err:
        build_topology(ns, dests, **args)
    assert where in (err.value.location or "")


def test_the_same_queue_twice_is_refused():
    with pytest.raises(ConfigError):
        build_topology("hub", {}, extra_work_queues={"sync": ("ingress", ["#"])})


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("patient.*", "patient.registered", True),
        ("patient.*", "patient.merged.x", False),
        ("patient.*", "patient", False),
        ("claim.#", "claim", True),
        ("claim.#", "claim.paid", True),
        ("claim.#", "claim.a.b.c", True),
        ("claim.#", "claims.paid", False),
        ("#", "anything.at.all", True),
        ("#", "", True),
        ("*", "one", True),
        ("*", "one.two", False),
        ("#.paid", "claim.paid", True),
        ("#.paid", "paid", True),
        ("#.paid", "claim.paid.not", False),
        ("supply.*.shipped", "supply.order.shipped", True),
        ("supply.*.shipped", "supply.shipped", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
        ("*.#", "x", True),
        ("*.*.#", "x", False),
        ("patient.registered", "patient.registered", True),
        ("patient.registered", "patient.updated", False),
    ],
)
def test_topic_matching_follows_rabbitmq(pattern, key, matches):
    assert topic_matches(pattern, key) is matches


def test_route_lists_each_bound_queue_once(topo):
    assert route(topo, "hub.events", "claim.paid") == ["hub.dest.billing"]
    assert route(topo, "hub.events", "patient.merged") == ["hub.dest.ehr"]
    assert route(topo, "hub.events", "supply.order.placed") == []
    assert route(topo, "hub.ingress", "claim.paid") == ["hub.sync"]
    assert route(topo, "", "hub.dest.ehr.retry.2") == ["hub.dest.ehr.retry.2"]
    assert route(topo, "", "nope") == []
    both = build_topology("n", {"a": ["claim.*", "claim.#"]})
    assert route(both, "n.events", "claim.paid") == ["n.dest.a"]
