"""Pass-through routing (``hub.passthru``): raw keys and patterns, the config's raw
subscriptions, and the pipeline publishing the raw envelope — once, confirmed before the
answer, never to the ingress (the sync engine) — on both stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.hl7v2 import parse
from carehub.app.deliverers import MllpDeliverer, make_deliverer
from carehub.app.hl7v2 import Hl7v2Inbound
from hub import ids
from hub.config import parse_config
from hub.envelope import RawEnvelope
from hub.errors import BrokerUnavailable, ConfigError, ParseError
from hub.ids import mllp_control_id
from hub.judge import InboundOutcome
from hub.outbound import PassthroughWorker, raw_envelope
from hub.passthru import (
    RawRoutes,
    accepts_unmapped,
    is_raw_pattern,
    raw_routing_key,
    split_subscriptions,
)
from hub.pipeline import Pipeline, RoutesRaw
from hub.ports import Delivered, Rendered
from hub.store import SqlStore
from mappings.vocab import load_vocabulary
from queues import (
    MemoryTransport,
    build_topology,
    ingress_exchange,
    raw_exchange,
    raw_queue,
    sync_queue,
)
from tests.e2e.test_adt_to_fhir import A04

ORM = "hl7v2/fhirconverter__ORM-O01-01.hl7"


# --------------------------------------------------------------------------- keys, routes


def test_the_raw_key_is_hl7v2_code_trigger():
    assert raw_routing_key("ORU", "R01") == "hl7v2.ORU.R01"
    assert raw_routing_key("adt", "a08") == "hl7v2.ADT.A08"
    assert raw_routing_key("ACK", None) == "hl7v2.ACK"
    assert raw_routing_key("ZX.Y", "A 1") == "hl7v2.ZX_Y.A_1"  # no dot or blank in a word
    assert raw_routing_key(None, "R01") is None and raw_routing_key(" ", "") is None


def test_raw_patterns_are_told_from_canonical_ones_by_their_first_word():
    assert is_raw_pattern("hl7v2.#") and is_raw_pattern("hl7v2.ORU.*")
    assert not is_raw_pattern("#") and not is_raw_pattern("patient.*")
    assert not is_raw_pattern("hl7v2x.ORU.R01")
    assert split_subscriptions(["patient.*", "hl7v2.ORU.*", "#", "hl7v2.#"]) == (
        ["patient.*", "#"],
        ["hl7v2.ORU.*", "hl7v2.#"],
    )


def test_routes_follow_the_topic_rules_and_leave_the_sender_out():
    routes = RawRoutes(
        {"lis": ["hl7v2.ORU.*"], "arch": ["hl7v2.#"], "ehr": ["hl7v2.#"], "adt": ["hl7v2.ADT.A08"]}
    )
    assert routes.subscribers("hl7v2.ORU.R01", "ehr") == ["lis", "arch"]
    assert routes.subscribers("hl7v2.ORU.R01", "arch") == ["lis", "ehr"]
    assert routes.subscribers("hl7v2.ADT.A08", "ehr") == ["arch", "adt"]
    assert routes.subscribers("hl7v2.ADT.A01", "arch") == ["ehr"]
    assert RawRoutes({"lis": ["hl7v2.ORU.*"]}).subscribers("hl7v2.ORU", None) == []
    assert not RawRoutes({}) and not RawRoutes({"x": []})


def test_accepts_unmapped_says_whether_a_port_takes_an_unmapped_type():
    routes = {"lis": ["hl7v2.ORM.*"], "ehr": ["hl7v2.#"]}
    assert accepts_unmapped(routes, "ORM", "O01", sender="ehr")
    assert accepts_unmapped(routes, "RDE", "O11", sender="lis")  # ehr takes everything
    assert not accepts_unmapped(routes, "RDE", "O11", sender="ehr")  # only itself: no echo
    assert not accepts_unmapped(routes, None, None, sender="x")
    assert not accepts_unmapped({}, "ORM", "O01", sender="ehr")


# --------------------------------------------------------------------------- config

CONFIG = """\
systems:
  ehr:
    inbound: [{type: mllp, port: 0}]
  lis:
    outbound: {type: mllp, host: 127.0.0.1, port: 2575}
    subscribes: ["patient.*", "hl7v2.ORU.R01", "hl7v2.ORM.*", "hl7v2.#"]
  billing:
    outbound: {type: fhir, url: "http://127.0.0.1:9/fhir"}
    subscribes: ["#"]
"""


def test_raw_subscriptions_are_accepted_on_an_hl7v2_outbound_and_kept_apart():
    cfg = parse_config(CONFIG, "hub.yaml")
    assert cfg.destinations() == {"lis": ["patient.*"], "billing": ["#"]}
    assert cfg.raw_routes() == {"lis": ["hl7v2.ORU.R01", "hl7v2.ORM.*", "hl7v2.#"]}
    assert cfg.systems["lis"].outbound.passthrough_sender == "original"


def test_a_raw_only_destination_has_no_canonical_subscription():
    cfg = parse_config(CONFIG.replace('"patient.*", ', ""), "hub.yaml")
    assert "lis" not in cfg.destinations() and "lis" in cfg.raw_routes()


def test_a_raw_subscription_on_a_fhir_outbound_is_refused_with_file_and_line():
    text = CONFIG.replace('subscribes: ["#"]', 'subscribes: ["claim.#", "hl7v2.ADT.*"]')
    with pytest.raises(ConfigError) as err:
        parse_config(text, "hub.yaml")
    message = str(err.value)
    assert message.startswith("hub.yaml:9: systems.billing.subscribes.1: 'hl7v2.ADT.*'")
    assert "outbound of billing is fhir, not HL7 v2 (mllp)" in message


def test_a_raw_subscription_on_an_x12_outbox_is_refused():
    text = CONFIG.replace(
        'outbound: {type: fhir, url: "http://127.0.0.1:9/fhir"}',
        "outbound: {type: x12-outbox, path: out, sender_id: A, receiver_id: B}",
    ).replace('subscribes: ["#"]', 'subscribes: ["hl7v2.#"]')
    with pytest.raises(ConfigError, match=r"hub.yaml:9: .*outbound of billing is x12-outbox"):
        parse_config(text, "hub.yaml")


def test_hl7v2_alone_matches_nothing_and_is_refused():
    text = CONFIG.replace('"hl7v2.#"]', '"hl7v2"]')
    with pytest.raises(ConfigError, match=r"hub.yaml:6: systems.lis.subscribes.3: 'hl7v2' matches"):
        parse_config(text, "hub.yaml")


def test_passthrough_sender_takes_original_or_hub_only():
    text = CONFIG.replace("port: 2575}", "port: 2575, passthrough_sender: ehr}")
    with pytest.raises(ConfigError, match=r"hub.yaml:5: systems.lis.outbound.passthrough_sender"):
        parse_config(text, "hub.yaml")


# --------------------------------------------------------------------------- the pipeline

NS = "pt"


def test_hl7v2_routes_raw():
    assert isinstance(Hl7v2Inbound(), RoutesRaw)


class _RawFails(MemoryTransport):
    """A broker that confirms canonical events but never a raw message."""

    async def publish(self, exchange: str, *args: Any, **kwargs: Any) -> None:
        if exchange == raw_exchange(NS):
            raise BrokerUnavailable("no confirm")
        await super().publish(exchange, *args, **kwargs)


async def _pipeline(
    db_url: str, routes: dict[str, list[str]], transport: MemoryTransport | None = None
) -> tuple[Pipeline, SqlStore, MemoryTransport]:
    store = await SqlStore.open(db_url)
    transport = transport or MemoryTransport()
    await transport.start(build_topology(NS, {}, raw_destinations=routes))
    pipeline = Pipeline(
        store,
        transport,
        ingress_exchange=ingress_exchange(NS),
        raw_exchange=raw_exchange(NS),
        raw_routes=RawRoutes(routes),
    )
    return pipeline, store, transport


async def _drain(transport: MemoryTransport, queue: str) -> list[bytes]:
    depth = (await transport.queue_depths())[queue]
    bodies: list[bytes] = []
    if not depth:
        return bodies
    async with transport.consume(queue) as deliveries:
        async for delivery in deliveries:
            bodies.append(delivery.body)
            await delivery.ack()
            if len(bodies) == depth:
                break
    return bodies


async def test_an_unmapped_type_is_published_raw_once_and_accepted(db_url: str, corpus: Path):
    orm = (corpus / ORM).read_bytes()
    pipeline, store, transport = await _pipeline(db_url, {"lis": ["hl7v2.ORM.*"]})
    try:
        result = await pipeline.receive(Hl7v2Inbound(), orm, system="ehr")
        again = await pipeline.receive(Hl7v2Inbound(), orm, system="ehr")  # a resend
        depths = await transport.queue_depths()
        (body,) = await _drain(transport, raw_queue(NS, "lis"))
        message = await store.get_message(result.message_id or "")
    finally:
        await transport.close()
        await store.close()
    assert result.outcome is InboundOutcome.ACCEPTED, result.report.as_list()
    ack = parse(result.response)
    assert ack["MSA-1"] == "AA"
    # liberal reading may add W warnings (ERR-4 W); never an error (E) or fatal error (F)
    severities = [
        ack.get(f"ERR[{n}]-4") for n in range(1, len(list(ack.segments_by_id("ERR"))) + 1)
    ]
    assert not [s for s in severities if s in ("E", "F")], severities
    assert again.outcome is InboundOutcome.DUPLICATE  # published once, not again
    assert depths[sync_queue(NS)] == 0  # the sync engine never sees a raw message
    env = RawEnvelope.from_bytes(body)
    assert env.raw == orm and env.routing_key == "hl7v2.ORM.O01"
    assert env.source_system == "ehr" and env.exclude_destinations == ["ehr"]
    assert env.control_id == "MSG00018" and env.message_key == "ORM^O01"
    assert env.raw_ref == result.message_id
    fmt = Hl7v2Inbound()
    ident = fmt.identify(fmt.parse(orm))
    basis = ids.event_basis("ehr", ident.dedup_key, "unused", ident.digest)
    assert env.id == ids.raw_envelope_id(basis)  # stable: the same for a resend
    assert message is not None and message.status == "accepted"
    notes = [f["text"] for f in message.findings]
    assert any("passed through as hl7v2.ORM.O01 to 1 subscribing system" in t for t in notes)


async def test_without_another_subscriber_an_unmapped_type_is_refused_200(
    db_url: str, corpus: Path
):
    orm = (corpus / ORM).read_bytes()
    # only the sender subscribes: it never gets its own message back, so nobody takes it
    pipeline, store, transport = await _pipeline(db_url, {"ehr": ["hl7v2.#"]})
    try:
        result = await pipeline.receive(Hl7v2Inbound(), orm, system="ehr")
        depths = await transport.queue_depths()
    finally:
        await transport.close()
        await store.close()
    assert result.outcome is InboundOutcome.REJECTED
    assert b"MSA|AR|" in result.response and b"|200^" in result.response
    assert sum(depths.values()) == 0


async def test_an_unsupported_version_is_not_passed_through(tmp_path: Path):
    msg = A04.replace(b"|2.5.1", b"|9.9", 1)
    assert msg != A04
    pipeline, store, transport = await _pipeline(
        f"sqlite:///{tmp_path / 'v.db'}", {"l": ["hl7v2.#"]}
    )
    try:
        result = await pipeline.receive(Hl7v2Inbound(), msg, system="ehr")
        depths = await transport.queue_depths()
    finally:
        await transport.close()
        await store.close()
    assert result.outcome is InboundOutcome.REJECTED and sum(depths.values()) == 0


async def test_a_mapped_type_publishes_its_events_and_the_raw_message(tmp_path: Path):
    pipeline, store, transport = await _pipeline(
        f"sqlite:///{tmp_path / 'm.db'}", {"lis": ["hl7v2.ADT.*"]}
    )
    try:
        result = await pipeline.receive(Hl7v2Inbound(), A04, system="ehr")
        depths = await transport.queue_depths()
    finally:
        await transport.close()
        await store.close()
    assert result.outcome is InboundOutcome.ACCEPTED
    assert depths[sync_queue(NS)] == len(result.events) > 0
    assert depths[raw_queue(NS, "lis")] == 1


async def test_no_answer_before_the_raw_message_is_confirmed(db_url: str, corpus: Path):
    orm = (corpus / ORM).read_bytes()
    pipeline, store, transport = await _pipeline(db_url, {"lis": ["hl7v2.ORM.*"]}, _RawFails())
    try:
        result = await pipeline.receive(Hl7v2Inbound(), orm, system="ehr")
        message = await store.get_message(result.message_id or "")
    finally:
        await transport.close()
        await store.close()
    assert result.outcome is InboundOutcome.UNAVAILABLE
    assert b"MSA|AR|" in result.response and b"207" in result.response
    assert message is not None and message.status == "unavailable"


# --------------------------------------------------------------------------- the worker


class _Deliverer:
    """Counts what it sends; renders the raw bytes unchanged."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def render_raw(self, envelope: RawEnvelope) -> Rendered:
        return Rendered(format="hl7v2", message_key=envelope.message_key, body=envelope.raw)

    async def send(self, rendered: Rendered) -> Delivered:
        assert rendered.body is not None
        self.sent.append(rendered.body)
        return Delivered(format="hl7v2", rendered=rendered.body, response="MSA-1 AA")


@dataclass
class _Delivery:
    body: bytes
    attempt: int = 0
    redelivered: bool = False


def _raw(source: str = "ehr") -> RawEnvelope:
    return RawEnvelope(
        id="raw-1",
        source_system=source,
        routing="hl7v2.ORM.O01",
        message_key="ORM^O01",
        exclude_destinations=[source],
        raw=A04,
    )


async def test_a_delivered_raw_message_is_not_sent_again(db_url: str):
    store = await SqlStore.open(db_url)
    deliverer = _Deliverer()
    worker = PassthroughWorker(store, "lis", deliverer)
    try:
        body = _raw().to_bytes()
        await worker.handle(_Delivery(body))
        await worker.handle(_Delivery(body, redelivered=True))
        (row,) = await store.list_deliveries(destination="lis")
        out = await store.get_message(row.outbound_message_id or "")
    finally:
        await store.close()
    assert deliverer.sent == [A04]
    assert row.status == "delivered" and row.event_kind == "hl7v2.ORM.O01"
    assert out is not None and out.direction == "out" and out.raw == A04


async def test_the_worker_never_sends_a_raw_message_back_to_its_sender(tmp_path: Path):
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'echo.db'}")
    deliverer = _Deliverer()
    worker = PassthroughWorker(store, "ehr", deliverer)
    try:
        await worker.handle(_Delivery(_raw("ehr").to_bytes()))
        (row,) = await store.list_deliveries(destination="ehr")
    finally:
        await store.close()
    assert deliverer.sent == [] and row.status == "skipped"


def test_a_body_that_is_no_raw_envelope_is_a_parse_error():
    with pytest.raises(ParseError):
        raw_envelope(_Delivery(b'{"id": "x"}'))


# --------------------------------------------------------------------------- render_raw


def _mllp(name: str, extra: str = "") -> MllpDeliverer:
    cfg = parse_config(
        f"systems:\n  {name}:\n    outbound: {{type: mllp, host: 127.0.0.1, port: 9,"
        f" receiving_application: LIS, receiving_facility: LAB{extra}}}\n"
        '    subscribes: ["hl7v2.#"]\n'
    )
    deliverer = make_deliverer(name, cfg.systems[name], cfg, None, load_vocabulary())  # type: ignore[arg-type]
    assert isinstance(deliverer, MllpDeliverer)
    return deliverer


def test_render_raw_is_the_same_every_time_and_per_destination():
    """A retry from a tier re-renders: the same bytes, the same MSH-10 (derived from the raw
    envelope id and the destination), another MSH-10 for another destination."""
    env = _raw()
    first, again = _mllp("lis").render_raw(env), _mllp("lis").render_raw(env)
    other = _mllp("lab2").render_raw(env)
    assert first == again and first.body is not None and other.body is not None
    control = mllp_control_id(env.id, "lis")
    assert first.idempotency_key == control and first.body.startswith(
        b"MSH|^~\\&|EPIC|GOODHEALTH|LIS|LAB|"
    )
    assert first.body.split(b"|")[9] == control.encode()
    assert other.idempotency_key == mllp_control_id(env.id, "lab2") != control


def test_render_raw_presents_the_hub_when_asked():
    body = _mllp("lis", ", passthrough_sender: hub").render_raw(_raw()).body
    assert body is not None and body.startswith(b"MSH|^~\\&|CAREHUB||LIS|LAB|")


def test_render_raw_takes_a_message_over_the_default_limits():
    """A port with max_frame_bytes over 16 MiB accepted it: the rewrite of the hub's own
    stored bytes applies no limit again (it would park the message after its AA)."""
    big = A04 + b"OBX|1|ED|PDF||^AP^^Base64^" + b"A" * (17 * 1024 * 1024) + b"\r"
    env = RawEnvelope(
        id="raw-big",
        source_system="ehr",
        routing="hl7v2.ADT.A04",
        message_key="ADT^A04",
        exclude_destinations=["ehr"],
        raw=big,
    )
    body = _mllp("lis").render_raw(env).body
    assert body is not None and body.startswith(b"MSH|^~\\&|EPIC|GOODHEALTH|LIS|LAB|")
    assert body.endswith(big[big.index(b"\rEVN") :])
