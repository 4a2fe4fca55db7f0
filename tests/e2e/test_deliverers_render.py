"""Each deliverer's ``render`` is pure: the same envelope rendered twice gives equal results,
and neither the envelope nor its canonical record is changed by it (``send`` does the I/O).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carehub.app.deliverers import (
    CANONICAL_ID_SYSTEM,
    FhirDeliverer,
    FhirRendered,
    X12Rendered,
    make_deliverer,
)
from hub.canonical import Event, EventKind, HumanName, Identifier, Patient, Provenance
from hub.config import parse_config
from hub.envelope import Envelope
from hub.ports import Deliverer
from mappings.vocab import load_vocabulary
from tests.mappings.hl7v2.hl7map_events import EVENTS
from tests.mappings.x12.x12map_events import event as x12_event
from tests.mappings.x12.x12map_events import minimal_professional


def _config(tmp_path: Path) -> str:
    return f"""
hub: {{namespace: render}}
systems:
  billing:
    outbound: {{type: fhir, url: "http://127.0.0.1:9/fhir"}}
    subscribes: ["patient.*"]
  lab:
    outbound: {{type: mllp, host: 127.0.0.1, port: 9, receiving_application: LIS}}
    subscribes: ["patient.*"]
  payer:
    outbound: {{type: x12-outbox, path: "{tmp_path / "out"}", sender_id: CAREHUB,
               receiver_id: PAYER01, receiver_name: ACME, claim_filing_indicator: CI,
               submitter_phone: "5035550100"}}
    subscribes: ["claim.submitted"]
"""


def _deliverer(tmp_path: Path, name: str) -> Deliverer[Any]:
    cfg = parse_config(_config(tmp_path))
    # render never touches the store: a store that is not there proves it
    return make_deliverer(name, cfg.systems[name], cfg, None, load_vocabulary())  # type: ignore[arg-type]


def _envelope(event: Event) -> Envelope:
    return Envelope(id="env-1", source_system="ehr", format="hl7v2", payload=event)


def _unkeyed_patient() -> Event:
    """A patient with no identifier: FHIR delivery adds the hub's canonical id to send by."""
    patient = Patient(id="c-42", names=[HumanName(family="Nguyen")])
    return Event(
        kind=EventKind.PATIENT_UPDATED,
        entity=patient,
        provenance=Provenance(source_system="ehr", format="canonical"),
    )


CASES = {
    "fhir-patient": ("billing", EVENTS["a04_rich"]),
    "fhir-canonical-id": ("billing", _unkeyed_patient),
    "fhir-merge": ("billing", EVENTS["a40_rich"]),
    "hl7v2-a04": ("lab", EVENTS["a04_rich"]),
    "hl7v2-a40": ("lab", EVENTS["a40_minimal"]),
    "x12-837p": ("payer", lambda: x12_event(EventKind.CLAIM_SUBMITTED, minimal_professional())),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_render_is_pure(tmp_path: Path, case: str) -> None:
    name, make = CASES[case]
    deliverer = _deliverer(tmp_path, name)
    env = _envelope(make())
    before = env.model_dump(mode="json")
    try:
        first = deliverer.render(env)
        again = deliverer.render(env)
    finally:
        await deliverer.close()
    assert first == again
    assert first.skipped is None and first.idempotency_key
    assert env.model_dump(mode="json") == before  # the envelope and its record untouched
    assert first.idempotency_key == deliverer.render(_envelope(make())).idempotency_key


async def test_fhir_sends_a_record_without_identifiers_by_its_canonical_id(
    tmp_path: Path,
) -> None:
    deliverer = _deliverer(tmp_path, "billing")
    assert isinstance(deliverer, FhirDeliverer)
    env = _envelope(_unkeyed_patient())
    try:
        rendered = deliverer.render(env)
    finally:
        await deliverer.close()
    assert isinstance(rendered, FhirRendered)
    assert rendered.identifier == ("urn:carehub:canonical-id", "c-42")
    assert rendered.resource["identifier"] == [
        {"system": "urn:carehub:canonical-id", "value": "c-42"}
    ]
    assert rendered.idempotency_key == "env-1:billing"
    assert env.payload.entity.identifiers == []  # the key went onto the rendering only


async def test_an_event_the_format_cannot_carry_is_skipped_at_render(tmp_path: Path) -> None:
    deliverer = _deliverer(tmp_path, "payer")
    event = EVENTS["a04_minimal"]()
    try:
        rendered = deliverer.render(_envelope(event))
    finally:
        await deliverer.close()
    assert isinstance(rendered, X12Rendered)
    assert rendered.skipped == "no X12 rendering for patient.registered"


def _removed_patient() -> Event:
    """A removal as the sync engine publishes it: the record with every known identifier."""
    patient = Patient(
        id="c-43",
        identifiers=[
            Identifier(value="P-7", system="urn:example:portal"),
            Identifier(value="MRN-7", system="urn:oid:1.2.3"),
        ],
        names=[HumanName(family="Tane")],
    )
    return Event(
        kind=EventKind.PATIENT_REMOVED,
        entity=patient,
        provenance=Provenance(source_system="portal", format="fhir"),
    )


async def test_fhir_renders_a_removal_as_a_conditional_delete_by_identifier(
    tmp_path: Path,
) -> None:
    deliverer = _deliverer(tmp_path, "billing")
    env = _envelope(_removed_patient())
    try:
        rendered = deliverer.render(env)
        update = deliverer.render(
            _envelope(_removed_patient().model_copy(update={"kind": EventKind.PATIENT_UPDATED}))
        )
    finally:
        await deliverer.close()
    assert isinstance(rendered, FhirRendered) and isinstance(update, FhirRendered)
    assert rendered.delete and not update.delete
    assert rendered.identifier == update.identifier == ("urn:example:portal", "P-7")
    assert rendered.body == b"DELETE Patient?identifier=urn:example:portal|P-7"
    assert rendered.idempotency_key == "env-1:billing"


@pytest.mark.parametrize("name", ["lab", "payer"])
async def test_hl7v2_and_x12_skip_a_removal_with_the_reason(tmp_path: Path, name: str) -> None:
    deliverer = _deliverer(tmp_path, name)
    try:
        rendered = deliverer.render(_envelope(_removed_patient()))
    finally:
        await deliverer.close()
    assert rendered.skipped is not None
    assert "a removal at the source has no faithful" in rendered.skipped


def _patient_with(*identifiers: Identifier) -> Envelope:
    patient = Patient(id="c-7", names=[HumanName(family="Alpha")], identifiers=list(identifiers))
    return _envelope(
        Event(
            kind=EventKind.PATIENT_UPDATED,
            entity=patient,
            provenance=Provenance(source_system="ehr", format="canonical"),
        )
    )


SSN = "http://hl7.org/fhir/sid/us-ssn"


async def test_a_placeholder_identifier_is_never_the_key_a_partner_updates_by(
    tmp_path: Path,
) -> None:
    """Two people sharing SSN 999-99-9999 must not be one record at billing: the conditional
    update goes by the next identifier that names somebody, else by the canonical id, and
    the placeholder still travels in the resource."""
    deliverer = _deliverer(tmp_path, "billing")
    try:
        placeholder = Identifier(system=SSN, value="999-99-9999")
        mrn = Identifier(system="urn:oid:1.2.3", value="MRN-77")
        keyed = deliverer.render(_patient_with(placeholder, mrn))
        alone = deliverer.render(_patient_with(placeholder))
    finally:
        await deliverer.close()
    assert isinstance(keyed, FhirRendered) and isinstance(alone, FhirRendered)
    assert keyed.identifier == ("urn:oid:1.2.3", "MRN-77")
    assert alone.identifier == (CANONICAL_ID_SYSTEM, "c-7")
    sent = {(i.get("system"), i["value"]) for i in alone.resource.get("identifier") or []}
    assert sent == {(SSN, "999-99-9999"), (CANONICAL_ID_SYSTEM, "c-7")}


async def test_a_patient_is_never_keyed_at_a_partner_by_an_identifier_that_only_corroborates(
    tmp_path: Path,
) -> None:
    """A real SSN (or member id) may be shared — a newborn under the mother's SSN: listed
    first, it is still not the key; the MRN is, else the canonical id."""
    deliverer = _deliverer(tmp_path, "billing")
    try:
        ssn = Identifier(system=SSN, value="123-45-6780")
        typed_ssn = Identifier(system="urn:oid:9.9", value="501-23-4567", type="SS")
        mrn = Identifier(system="urn:oid:1.2.3", value="MRN-77", type="MR")
        keyed = deliverer.render(_patient_with(ssn, typed_ssn, mrn))
        alone = deliverer.render(_patient_with(ssn, typed_ssn))
    finally:
        await deliverer.close()
    assert isinstance(keyed, FhirRendered) and isinstance(alone, FhirRendered)
    assert keyed.identifier == ("urn:oid:1.2.3", "MRN-77")
    assert alone.identifier == (CANONICAL_ID_SYSTEM, "c-7")
