"""Round trip over the shared corpus: every supported resource (whole files and Bundle
entries) maps to canonical and back, the result validates with fhir.resources R4B, and its
carried elements (the COVERAGE table) equal the original's."""

from __future__ import annotations

from typing import Any

import pytest
from fhirmap_support import corpus_dir, corpus_resources, load_json

from conformance.fhir import validate_fhir
from hub.canonical import Patient
from hub.errors import UnsupportedMessage
from mappings.fhir import (
    FHIR_MAPPINGS,
    FhirMapContext,
    carried_values,
    from_bundle,
    from_fhir,
)

SUPPORTED = [(name, r) for name, r in corpus_resources() if r["resourceType"] in FHIR_MAPPINGS]
UNSUPPORTED_TYPES = sorted({r["resourceType"] for _, r in corpus_resources()} - set(FHIR_MAPPINGS))
#: corpus resources of a supported type that the hub refuses on purpose, and why
REFUSED = {"fhirr4__Claim-100153.json": "preauthorization"}
NOTHING_KEPT = {"Schedule", "Slot"}


def test_the_corpus_has_every_supported_type_we_claim() -> None:
    seen = {r["resourceType"] for _, r in SUPPORTED}
    assert seen == set(FHIR_MAPPINGS), set(FHIR_MAPPINGS) - seen


@pytest.mark.parametrize(("name", "resource"), SUPPORTED, ids=[n for n, _ in SUPPORTED])
def test_carried_elements_survive_the_round_trip(
    name: str, resource: dict[str, Any], ctx: FhirMapContext
) -> None:
    mapping = FHIR_MAPPINGS[resource["resourceType"]]
    if name in REFUSED:
        with pytest.raises(UnsupportedMessage, match=REFUSED[name]):
            from_fhir(resource, ctx)
        return
    mapped = from_fhir(resource, ctx)
    if resource["resourceType"] in NOTHING_KEPT:
        assert mapped == []
        return
    assert not isinstance(mapped, list)
    written = mapping.render(mapped, ctx)
    validate_fhir(written)
    before = carried_values(resource, mapping.carried)
    after = carried_values(written, mapping.carried)
    assert any(before.values()), "nothing carried: the comparison would prove nothing"
    assert after == before


def test_round_trip_compares_real_values() -> None:
    """Guard against a vacuous projection: a changed carried value must show."""
    resource = load_json(corpus_dir() / "fhir" / "fhirr4__Patient-example.json")
    changed = {**resource, "birthDate": "1975-01-01"}
    carried = FHIR_MAPPINGS["Patient"].carried
    assert carried_values(changed, carried) != carried_values(resource, carried)


@pytest.mark.parametrize("resource_type", UNSUPPORTED_TYPES)
def test_unsupported_types_are_refused_clearly(resource_type: str, ctx: FhirMapContext) -> None:
    with pytest.raises(UnsupportedMessage) as caught:
        from_fhir({"resourceType": resource_type}, ctx)
    assert resource_type in caught.value.message
    assert caught.value.location == "resourceType"


def test_a_synthea_bundle_maps_its_supported_entries(ctx: FhirMapContext) -> None:
    path = next((corpus_dir() / "fhir").glob("msanon__Carolee951*.json"))
    bundle = load_json(path)
    result = from_bundle(bundle, ctx)
    kinds = {kind for _, kind, _ in result.entities}
    assert {"Patient", "Encounter", "Claim", "ExplanationOfBenefit", "Practitioner"} <= kinds
    assert "Observation" in kinds  # mapped since the results work (issue 12)
    assert {"Condition"} <= {kind for _, kind, _ in result.unsupported}
    mapped = len(result.entities) + len(result.unsupported)
    assert mapped == len([e for e in bundle["entry"] if "resource" in e])
    patient = next(e for _, kind, e in result.entities if kind == "Patient")
    assert isinstance(patient, Patient)
    assert [c.code for c in patient.race] == ["2106-3"]  # US Core race (PID-10 meaning)
