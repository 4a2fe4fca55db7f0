"""Strict out in the hub: a rendering its format's validator refuses is never sent. The
delivery is parked as a permanent mapping error whose reason names the wrong field, and
``carehub deliveries`` shows it — no AA followed by a silent park.

A defect is injected into the mapping the deliverer calls (the hub's own mappings render
valid output: tests/conformance/test_emitted_corpus.py), so the check is what is tested.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import carehub.app.deliverers as deliverers
from carehub.app.deliverers import FhirDeliverer, X12OutboxDeliverer, make_deliverer
from carehub.app.hub import Hub
from carehub.cli import cli
from carehub.demo.partners import MllpSink
from conformance.emitted import EmittedInvalid
from hub.canonical import EventKind
from hub.config import parse_config
from hub.envelope import Envelope
from hub.store import SqlStore
from mappings.vocab import load_vocabulary
from tests.e2e.test_adt_to_fhir import A04
from tests.e2e.test_hl7_outbound import _config as _mllp_config
from tests.e2e.test_hl7_outbound import _send
from tests.mappings.hl7v2.hl7map_events import EVENTS
from tests.mappings.x12.x12map_events import event as x12_event
from tests.mappings.x12.x12map_events import minimal_professional


def _bad_birth_date(message: bytes) -> bytes:
    """PID-7 of a rendered message replaced by a date that does not exist."""
    lines = message.split(b"\r")
    for i, line in enumerate(lines):
        if line.startswith(b"PID|"):
            fields = line.split(b"|")
            fields[7] = b"19801345"
            lines[i] = b"|".join(fields)
    return b"\r".join(lines)


async def test_an_invalid_hl7_rendering_is_parked_naming_the_field_and_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deliverers.render_hl7v2_event
    threads: list[str] = []

    def defective(event: Any, options: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return _bad_birth_date(real(event, options))

    monkeypatch.setattr(deliverers, "render_hl7v2_event", defective)
    db = tmp_path / "h.db"
    async with MllpSink() as sink:
        cfg = parse_config(_mllp_config(sink.port, tmp_path)).with_overrides(
            db_url=f"sqlite:///{db}"
        )
        async with Hub(cfg) as hub:
            assert await _send(hub, A04) == "AA"  # the hub took it; its own rendering is bad
            assert hub.store is not None
            store = hub.store

            async def parked() -> list[Any]:
                return await store.list_deliveries(destination="lab", status="parked")

            for _ in range(200):
                if await parked():
                    break
                await asyncio.sleep(0.05)
            rows = await parked()
            await asyncio.sleep(0.2)
    assert sink.received == []  # nothing reached the partner
    (row,) = rows
    assert row.event_kind == "patient.registered"
    assert row.attempts == 1  # permanent: parked at once, not retried
    assert (row.detail or "").startswith("rendered HL7 v2 is not valid, not sent: PID-7: ")
    assert "19801345" not in (row.detail or "")
    # rendering (and its hl7apy check) ran off the event loop
    assert threads and all(t.startswith("carehub-render") for t in threads), threads
    args = ["deliveries", "--db-url", f"sqlite:///{db}", "--status", "parked"]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)  # it runs its own loop
    assert result.exit_code == 0, result.output
    assert "PID-7" in result.output and "not valid, not sent" in result.output


def _config(tmp_path: Path) -> str:
    return f"""
hub: {{namespace: strictout}}
systems:
  billing:
    outbound: {{type: fhir, url: "http://127.0.0.1:9/fhir"}}
    subscribes: ["patient.*"]
  payer:
    outbound: {{type: x12-outbox, path: "{tmp_path / "out"}", sender_id: CAREHUB,
               receiver_id: PAYER01, receiver_name: ACME, claim_filing_indicator: CI,
               submitter_phone: "5035550100"}}
    subscribes: ["claim.submitted"]
"""


def _deliverer(tmp_path: Path, name: str) -> Any:
    cfg = parse_config(_config(tmp_path))
    # render never touches the store: a store that is not there proves no control number
    # is spent on an interchange that cannot go out
    return make_deliverer(name, cfg.systems[name], cfg, None, load_vocabulary())  # type: ignore[arg-type]


def _envelope(event: Any) -> Envelope:
    return Envelope(id="env-1", source_system="ehr", format="hl7v2", payload=event)


async def test_an_invalid_fhir_resource_is_refused_at_render_naming_the_element(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deliverers.to_fhir

    def defective(entity: Any, ctx: Any, **kwargs: Any) -> dict[str, Any]:
        resource = real(entity, ctx, **kwargs)
        resource["birthDate"] = "the fourth of July"
        return resource

    deliverer = _deliverer(tmp_path, "billing")
    assert isinstance(deliverer, FhirDeliverer)
    try:
        assert deliverer.render(_envelope(EVENTS["a04_rich"]())).body  # valid: rendered
        monkeypatch.setattr(deliverers, "to_fhir", defective)
        with pytest.raises(EmittedInvalid) as raised:
            deliverer.render(_envelope(EVENTS["a04_rich"]()))
    finally:
        await deliverer.close()
    assert raised.value.location == "Patient.birthDate"
    assert "Patient.birthDate" in str(raised.value)


async def test_an_invalid_merge_bundle_is_refused_at_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deliverers.merge_to_fhir

    def defective(event: Any, ctx: Any) -> list[dict[str, Any]]:
        resources = real(event, ctx)
        resources[-1]["birthDate"] = "the fourth of July"
        return resources

    deliverer = _deliverer(tmp_path, "billing")
    monkeypatch.setattr(deliverers, "merge_to_fhir", defective)
    try:
        with pytest.raises(EmittedInvalid) as raised:
            deliverer.render(_envelope(EVENTS["a40_rich"]()))
    finally:
        await deliverer.close()
    assert (raised.value.location or "").startswith("Bundle.entry[")
    assert (raised.value.location or "").endswith("].resource.birthDate")


async def test_an_invalid_interchange_is_refused_before_a_control_number_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deliverers.render_x12_event

    def defective(event: Any, options: Any) -> bytes:
        return real(event, options).replace(b"NM1*85*1*", b"NM1*85*7*", 1)

    store = await SqlStore.open(f"sqlite:///{tmp_path / 'hub.db'}")
    cfg = parse_config(_config(tmp_path))
    deliverer = make_deliverer("payer", cfg.systems["payer"], cfg, store, load_vocabulary())
    assert isinstance(deliverer, X12OutboxDeliverer)
    env = _envelope(x12_event(EventKind.CLAIM_SUBMITTED, minimal_professional()))
    try:
        monkeypatch.setattr(deliverers, "render_x12_event", defective)
        with pytest.raises(EmittedInvalid) as raised:
            await deliverer.send(deliverer.render(env))
        assert raised.value.location == "2010AA/NM102"
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        monkeypatch.setattr(deliverers, "render_x12_event", real)
        sent = await deliverer.send(deliverer.render(env))  # valid: written
        # the refused interchange spent no control number: the first one goes out as 1
        assert b"*000000001*" in sent.rendered
        assert len(list((tmp_path / "out").iterdir())) == 1
    finally:
        await store.close()


async def test_the_interchange_written_is_the_one_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect that shows only with the real control numbers is caught too: the check
    runs on the interchange that is written, not only on the stand-in rendering."""
    real = deliverers.render_x12_event

    def defective_when_numbered(event: Any, options: Any) -> bytes:
        data = real(event, options)
        if options.next_control("ISA13") == 1:  # the stand-in rendering is left valid
            return data
        return data.replace(b"NM1*85*1*", b"NM1*85*7*", 1)

    store = await SqlStore.open(f"sqlite:///{tmp_path / 'hub.db'}")
    await store.next_control_number("payer", "ISA13")  # the real number will be 2
    cfg = parse_config(_config(tmp_path))
    deliverer = make_deliverer("payer", cfg.systems["payer"], cfg, store, load_vocabulary())
    env = _envelope(x12_event(EventKind.CLAIM_SUBMITTED, minimal_professional()))
    monkeypatch.setattr(deliverers, "render_x12_event", defective_when_numbered)
    try:
        with pytest.raises(EmittedInvalid) as raised:
            await deliverer.send(deliverer.render(env))
    finally:
        await store.close()
    assert raised.value.location == "2010AA/NM102"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
