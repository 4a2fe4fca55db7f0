"""``carehub mappings coverage --hl7v2``: derived from the registries the hub runs on, so a
mapping added to ``INBOUND``/``OUTBOUND`` appears and one taken out disappears; every event
a mapping declares is what it really emits."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest
from click.testing import CliRunner

from adapters.hl7v2 import Message, parse
from carehub.app import coverage as coverage_module
from carehub.app.coverage import entity_of_kind, hl7v2_coverage
from carehub.app.files import read_items
from carehub.cli import cli
from hub.canonical import EntityType, Event, EventKind
from hub.context import MapContext
from mappings.hl7v2 import INBOUND, OUTBOUND, Mapper, map_message, message_key
from mappings.hl7v2.source import declare_emits, emits_of
from mappings.vocab import load_vocabulary


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_every_inbound_mapping_is_listed_with_its_events_and_resources():
    report = hl7v2_coverage()
    assert list(report["inbound"]) == sorted(INBOUND, key=lambda k: (k.split("^")[0], k))
    a04 = report["inbound"]["ADT^A04"]
    assert a04["mapped"] and a04["structure"] == "ADT_A01"
    assert {"patient.registered", "encounter.started"} <= set(a04["events"])
    assert a04["fhir"]["patient.registered"] == "Patient"
    assert a04["hl7v2_out"]["patient.registered"] == OUTBOUND[EventKind.PATIENT_REGISTERED].__name__
    assert a04["hl7v2_out"]["encounter.started"] is None  # no HL7 v2 rendering of it
    assert set(report["outbound"]) == {k.value for k in OUTBOUND}


def _new_toy() -> Mapper:
    """A fresh mapping each time (``declare_emits`` marks the function it is given)."""

    def _toy(msg: Message, ctx: MapContext) -> list[Event]:
        return []

    return _toy


def test_an_entry_appears_and_disappears_with_the_registry(monkeypatch: pytest.MonkeyPatch):
    added = MappingProxyType(
        {**INBOUND, "ORM^O01": declare_emits(_new_toy(), EventKind.PATIENT_UPDATED)}
    )
    monkeypatch.setattr(coverage_module, "INBOUND", added)
    code, out = run("mappings", "coverage", "--hl7v2", "--json")
    entry = json.loads(out)["inbound"]["ORM^O01"]
    assert code == 0 and entry["mapped"] and entry["events"] == ["patient.updated"]
    assert "ORM^*" in json.loads(out)["refused"]

    taken = MappingProxyType({k: v for k, v in INBOUND.items() if k != "SIU^S12"})
    monkeypatch.setattr(coverage_module, "INBOUND", taken)
    code, out = run("mappings", "coverage", "--hl7v2", "--json")
    report = json.loads(out)
    assert "SIU^S12" not in report["inbound"] and "ORM^O01" not in report["inbound"]
    assert report["outbound"]["appointment.booked"]["from_hl7v2"] == []
    code, out = run("mappings", "coverage", "--hl7v2", "SIU^S12")
    assert code == 0 and "SIU^S12: not mapped, refused (AR, ERR-3 201" in out


def test_a_mapping_that_declares_nothing_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(coverage_module, "INBOUND", MappingProxyType({"ZZZ^Z01": _new_toy()}))
    code, out = run("mappings", "coverage", "--hl7v2")
    assert code == 0 and "ZZZ^Z01 → events not declared by _toy" in out


def test_asking_for_an_unmapped_type_or_trigger_answers_how_the_port_refuses_it():
    code, out = run("mappings", "coverage", "--hl7v2", "zzz^z01", "ADT^Z99", "adt^a04")
    assert code == 0
    assert "ZZZ^Z01: not mapped, refused (AR, ERR-3 200 unsupported message type)" in out
    assert "ADT^Z99: not mapped, refused (AR, ERR-3 201 unsupported event)" in out
    assert "ADT^A04 (ADT_A01) → patient.registered [Patient" in out


def test_the_event_kinds_name_their_entities():
    assert entity_of_kind(EventKind.PATIENT_MERGED) is EntityType.PATIENT
    assert entity_of_kind(EventKind.CLAIM_STATUS_REMOVED) is EntityType.CLAIM_STATUS
    assert entity_of_kind(EventKind.SUPPLY_ITEM_UPDATED) is EntityType.SUPPLY_ITEM


def test_what_a_mapping_declares_covers_what_it_emits_on_the_corpus(corpus: Path):
    """The declarations are checked against the mappings' real output: every event a
    mapping emits for a corpus message is among the kinds it declares."""
    ctx = MapContext(source_system="ehr", format="hl7v2", vocab=load_vocabulary())
    seen: set[str] = set()
    for path in sorted((corpus / "hl7v2").iterdir()):
        for item in read_items(path):
            if item.format != "hl7v2":
                continue
            try:
                msg = parse(item.raw)
                key = message_key(msg)
                events = map_message(msg, ctx) if key in INBOUND else []
            except Exception:  # the message is refused; validate covers that
                continue
            declared = emits_of(INBOUND[key]) if key in INBOUND else ()
            for event in events:
                assert declared is not None and event.kind in declared, (path.name, key)
                seen.add(key)
    assert {"ADT^A04", "SIU^S12", "DFT^P03"} <= seen
