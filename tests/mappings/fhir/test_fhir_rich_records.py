"""Every resource type, written from a rich canonical record: the JSON validates with
fhir.resources R4B and reads back to the same canonical record."""

from __future__ import annotations

import json

import pytest
from fhirmap_fixtures import RICH

from conformance.fhir import validate_fhir
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, from_fhir

#: what a PractitionerRole carries of a Practitioner
ROLE_FIELDS = {"id", "roles", "specialties", "organization"}


@pytest.mark.parametrize("resource_type", sorted(RICH))
def test_rich_record_writes_valid_fhir_and_reads_back(
    resource_type: str, ctx: FhirMapContext
) -> None:
    record = RICH[resource_type]()
    written = FHIR_MAPPINGS[resource_type].render(record, ctx)
    assert written["resourceType"] == resource_type
    validate_fhir(written)
    json.dumps(written)  # plain JSON: no Decimal, date or model objects left inside
    back = from_fhir(written, ctx)
    assert not isinstance(back, list)
    include = ROLE_FIELDS if resource_type == "PractitionerRole" else None
    assert back.model_dump(exclude={"meta"}, include=include) == record.model_dump(
        exclude={"meta"}, include=include
    )


def test_every_mapped_type_has_a_rich_record_or_a_documented_reason() -> None:
    # Schedule and Slot are written from other records (tests in test_fhir_schedule_slot.py)
    assert set(FHIR_MAPPINGS) - set(RICH) == {"Schedule", "Slot"}


def test_field_sources_name_what_the_message_asserted(ctx: FhirMapContext) -> None:
    written = FHIR_MAPPINGS["PractitionerRole"].render(RICH["PractitionerRole"](), ctx)
    back = from_fhir(written, ctx)
    assert not isinstance(back, list)
    assert back.meta.source == "ehr"
    assert set(back.meta.field_sources) == {"roles", "specialties", "organization"}
