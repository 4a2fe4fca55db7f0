"""Identifier systems and references: canonical ↔ FHIR, in the hub's and in a partner's
context."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.canonical import EntityType, Identifier, Patient, Ref
from hub.errors import MappingError
from mappings.fhir import FhirMapContext, default_namespace, default_system_uri, from_fhir, to_fhir
from mappings.fhir.context import URI_SYSTEM
from mappings.fhir.references import identifier_to, ref_from, ref_to
from mappings.fhir.vocab import load_vocabulary

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


@pytest.mark.parametrize(
    ("namespace", "uri"),
    [
        ("HOSP-MRN", "urn:carehub:id:HOSP-MRN"),
        ("St Mary MRN", "urn:carehub:id:St%20Mary%20MRN"),
        ("1.2.36.146.595.217.0.1", "urn:oid:1.2.36.146.595.217.0.1"),
        ("http://hl7.org/fhir/sid/us-npi", "http://hl7.org/fhir/sid/us-npi"),
        ("http://www.acme.org/practitioners", "http://www.acme.org/practitioners"),
    ],
)
def test_namespace_and_system_uri_are_inverse(namespace: str, uri: str) -> None:
    assert default_system_uri(namespace) == uri
    assert default_namespace(uri) == namespace


def test_an_npi_has_one_canonical_namespace_whichever_format_named_it() -> None:
    # HL7 v2 and X12 write the NPI URI as the namespace; FHIR reads its system back to it,
    # and the short name NPI still renders as the URI
    assert default_namespace("http://hl7.org/fhir/sid/us-npi") == "http://hl7.org/fhir/sid/us-npi"
    assert default_system_uri("NPI") == "http://hl7.org/fhir/sid/us-npi"


def test_an_mr_identifier_from_hl7v2_looks_like_the_v2_to_fhir_guide(ctx: FhirMapContext) -> None:
    """PID-3 with assigning authority HOSP-MRN and type MR, as the HL7 v2 mapping makes it."""
    patient = Patient(
        id="p-1",
        identifiers=[Identifier(system="HOSP-MRN", value="12345", type="MR", source="adt")],
    )
    written = to_fhir(patient, ctx)
    assert written["identifier"] == [
        {
            "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
            "system": "urn:carehub:id:HOSP-MRN",
            "value": "12345",
        }
    ]
    back = from_fhir(written, ctx)
    assert isinstance(back, Patient)
    assert back.identifiers[0].key() == patient.identifiers[0].key()
    assert back.identifiers[0].type == "MR"


def test_a_site_overrides_identifier_systems_with_its_own_table(tmp_path: Path) -> None:
    (tmp_path / "fhir_identifier_systems.csv").write_text(
        "namespace,system_uri,note\nHOSP-MRN,https://hospital.example/mrn,site MRN\n"
    )
    ctx = FhirMapContext(source="ehr", vocab=load_vocabulary(tmp_path))
    assert identifier_to(Identifier(system="HOSP-MRN", value="1"), ctx)["system"] == (
        "https://hospital.example/mrn"
    )
    assert ctx.namespace("https://hospital.example/mrn") == "HOSP-MRN"
    assert ctx.vocab.patient_class["I"].code == "IMP"  # tables it does not override: packaged


def test_a_known_canonical_id_becomes_a_literal_reference(ctx: FhirMapContext) -> None:
    assert ref_to(Ref(type=EntityType.PATIENT, id="p-1", display="Jo"), ctx) == {
        "reference": "Patient/p-1",
        "display": "Jo",
    }


def test_without_an_id_the_reference_is_logical_by_identifier(ctx: FhirMapContext) -> None:
    ref = Ref(
        type=EntityType.PRACTITIONER,
        identifiers=[Identifier(system="http://hl7.org/fhir/sid/us-npi", value="1234567893")],
    )
    assert ref_to(ref, ctx) == {
        "type": "Practitioner",
        "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
    }
    back = ref_from(ref_to(ref, ctx), "X.ref", ctx, (EntityType.PRACTITIONER,))
    assert back is not None and back.identifiers[0].key() == (
        "http://hl7.org/fhir/sid/us-npi",
        "1234567893",
    )


def test_a_partner_context_keeps_unknown_fhir_ids_as_identifiers() -> None:
    partner = FhirMapContext(
        source="epic", canonical_id=lambda kind, fid: None, fhir_id=lambda kind, cid: None
    )
    ref = ref_from(
        {"reference": "Patient/abc"}, "Encounter.subject", partner, (EntityType.PATIENT,)
    )
    assert ref is not None and ref.id is None
    assert ref.identifiers[0].system == "urn:carehub:fhir-id:epic"
    assert ref_to(ref, partner) == {"reference": "Patient/abc"}
    # and the resource's own id travels the same way
    patient = from_fhir({"resourceType": "Patient", "id": "abc"}, partner)
    assert isinstance(patient, Patient) and patient.id is None
    assert to_fhir(patient, partner)["id"] == "abc"
    assert "identifier" not in to_fhir(patient, partner)  # bookkeeping is not re-published


def test_a_resolver_translates_ids_both_ways() -> None:
    ctx = FhirMapContext(
        source="epic",
        canonical_id=lambda kind, fid: f"c-{fid}",
        fhir_id=lambda kind, cid: cid.removeprefix("c-"),
    )
    ref = ref_from({"reference": "Patient/42"}, "X", ctx, (EntityType.PATIENT,))
    assert ref == Ref(type=EntityType.PATIENT, id="c-42")
    assert ref_to(ref, ctx) == {"reference": "Patient/42"}


@pytest.mark.parametrize(
    "uri",
    [
        "urn:uuid:d88f994a-5efa-421d-9c40-5f116d2114a6",
        "http://other.example/fhir/Patient/9",
        "http://payer.example/claims/15476332402",
    ],
)
def test_uri_references_are_kept_verbatim(uri: str, ctx: FhirMapContext) -> None:
    ref = ref_from({"reference": uri}, "X", ctx, (EntityType.PATIENT,))
    assert ref is not None and ref.identifiers[0].system == URI_SYSTEM
    assert ref_to(ref, ctx) == {"reference": uri}


@pytest.mark.parametrize(
    "reference", ["#contained-1", "HealthcareService/example", "PractitionerRole/7"]
)
def test_references_without_a_canonical_target_are_dropped(
    reference: str, ctx: FhirMapContext
) -> None:
    allowed = (EntityType.PRACTITIONER, EntityType.ORGANIZATION)
    assert ref_from({"reference": reference, "display": "x"}, "X", ctx, allowed) is None


def test_an_unreadable_reference_names_its_element(ctx: FhirMapContext) -> None:
    with pytest.raises(MappingError) as caught:
        ref_from({"reference": "not a reference"}, "Encounter.subject", ctx, (EntityType.PATIENT,))
    assert caught.value.location == "Encounter.subject.reference"
