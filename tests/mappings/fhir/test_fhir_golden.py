"""Golden files: what the mappings write, compared byte for byte with reviewed JSON. The
same test validates what was written (or, for a reading, the resource read) with the
fhir.resources R4B model: a golden is a reviewed diff, never the only oracle.

Regenerate after a deliberate change with::

    CAREHUB_REGEN_GOLDEN=1 .venv/bin/pytest tests/mappings/fhir/test_fhir_golden.py

then review the diff of tests/mappings/fhir/golden/ by eye before committing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhirmap_fixtures import (
    appointment,
    claim,
    claim_from_837,
    eligibility_response,
    encounter,
    immunization,
    purchase_order,
    remittance,
)
from fhirmap_support import corpus_dir, load_json

from conformance.fhir import validate_fhir
from hub.canonical import Coded, Identifier, Patient
from mappings.fhir import FhirMapContext, from_fhir, to_fhir

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("CAREHUB_REGEN_GOLDEN") == "1"


def _patient_from_adt() -> Patient:
    """A patient as the HL7 v2 ADT mapping makes it (PID-3 HOSP-MRN/MR, PID-8 F)."""
    return Patient.model_validate(
        {
            "id": "p-100",
            "identifiers": [
                Identifier(system="HOSP-MRN", value="MRN-0042", type="MR"),
                Identifier(system="1.2.840.114350", value="E1234", type="PI"),
            ],
            "names": [{"family": "Everywoman", "given": ["Eve", "L"], "use": "official"}],
            "sex": "female",
            "birth_date": "1980-02-29",
            "addresses": [
                {
                    "lines": ["1 Main St"],
                    "city": "Ann Arbor",
                    "state": "MI",
                    "postal_code": "48104",
                    "use": "home",
                }
            ],
            "telecom": [{"system": "phone", "value": "+1-734-555-0100", "use": "home"}],
            "race": [
                Coded(code="2106-3", system="urn:oid:2.16.840.1.113883.6.238", display="White")
            ],
        }
    )


def _encounter_from_adt() -> Any:
    return encounter().model_copy(update={"patient_class": Coded(code="I")})


CASES: dict[str, tuple[Callable[[], Any], str | None]] = {
    "patient_from_adt": (_patient_from_adt, "Patient"),
    "encounter_from_adt": (_encounter_from_adt, "Encounter"),
    "appointment": (appointment, "Appointment"),
    "claim_institutional": (claim, "Claim"),
    "claim_professional_from_837": (claim_from_837, "Claim"),
    "claim_response": (lambda: remittance(with_procedure=False), "ClaimResponse"),
    "explanation_of_benefit": (remittance, "ExplanationOfBenefit"),
    "eligibility_response": (eligibility_response, "CoverageEligibilityResponse"),
    "supply_request": (purchase_order, "SupplyRequest"),
    "immunization": (immunization, "Immunization"),
}

#: corpus files whose canonical reading is kept as a golden (canonical JSON)
CANONICAL = [
    "fhirr4__Patient-example.json",
    "fhirr4__Claim-MED-00050.json",
    "fhirr4__Encounter-emerg.json",
]


def _check(path: Path, produced: Any) -> None:
    text = json.dumps(produced, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {path.name}: review it before committing")
    assert path.is_file(), f"missing golden {path.name}: run with CAREHUB_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_fhir_matches_its_golden(case: str, ctx: FhirMapContext) -> None:
    build, resource_type = CASES[case]
    written = to_fhir(build(), ctx, resource_type)
    validate_fhir(written)
    _check(GOLDEN / f"{case}.fhir.json", written)


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_reading_matches_its_golden(name: str, ctx: FhirMapContext) -> None:
    resource = load_json(corpus_dir() / "fhir" / name)
    validate_fhir(resource)
    entity = from_fhir(resource, ctx)
    assert not isinstance(entity, list)
    _check(
        GOLDEN / name.replace("fhirr4__", "canonical_"),
        entity.model_dump(mode="json", exclude_defaults=True),
    )
