"""Race and ethnicity travel as CDC Race & Ethnicity codes (issue 12, item 5): HL7 v2 PID-10 /
PID-22 (CDC codes, or older feeds' letters W/B/H/N through the ``hl7_race`` /
``hl7_ethnicity`` tables, the original text kept) → FHIR US Core race and ethnicity
extensions with ``urn:oid:2.16.840.1.113883.6.238`` codings; an unknown code is text only
with a warning; FHIR US Core extensions → HL7 v2 PID-10/PID-22 with the CDCREC coding
system. Outputs are checked by fhir.resources (R4B) and hl7apy (strict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.patient import Patient as R4BPatient

from adapters.hl7v2 import parse
from carehub.app.files import convert_item, read_items, validate_item
from conformance.hl7v2 import validate_strict
from hub.canonical import Coded, Event, EventKind, Patient, Provenance
from hub.context import MapContext
from mappings.fhir import FhirMapContext, from_fhir, to_fhir
from mappings.hl7v2 import Hl7v2OutboundOptions, map_message, render_hl7v2_event
from mappings.hl7v2.race import race_ethnicity_findings
from mappings.vocab import load_vocabulary
from tests.corpus import corpus_dir

CDC = "urn:oid:2.16.840.1.113883.6.238"
RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
HL7 = corpus_dir() / "hl7v2"
FHIR = corpus_dir() / "fhir"
OPTIONS = Hl7v2OutboundOptions(
    sending_application="CAREHUB",
    sending_facility="GHH",
    receiving_application="EHR",
    receiving_facility="GHH",
)


def _pid(pid10: str, pid22: str) -> bytes:
    fields = ["PID", "1", "", "MRN-RACE-1^^^GHH^MR", "", "Okoye^Chidi", "", "19800101", "M"]
    fields += ["", pid10, "1 Main St^^Albany^NY^12207"] + [""] * 10 + [pid22]
    head = (
        "MSH|^~\\&|EHR|GHH|CAREHUB|GHH|20240601120000||ADT^A04^ADT_A01|RACE0001|P|2.5.1\r"
        "EVN|A04|20240601120000\r"
    )
    return (head + "|".join(fields) + "\rPV1|1|O\r").encode()


def _patient(raw: bytes) -> Patient:
    ctx = MapContext(
        source_system="ehr",
        format="hl7v2",
        source_port="mllp-in",
        message_id="m-race",
        received_at=datetime(2024, 6, 1, tzinfo=UTC),
        vocab=load_vocabulary(),
    )
    events = map_message(parse(raw), ctx)
    found = [e.entity for e in events if isinstance(e.entity, Patient)]
    assert found
    return found[0]


def _ext(resource: dict[str, Any], url: str) -> dict[str, list[Any]]:
    (ext,) = [e for e in resource.get("extension", []) if e["url"] == url]
    parts: dict[str, list[Any]] = {}
    for part in ext["extension"]:
        value = part.get("valueCoding") or part.get("valueString")
        parts.setdefault(part["url"], []).append(value)
    return parts


def test_pid10_and_pid22_become_cdc_codes_with_their_original_text() -> None:
    pat = _patient(_pid("W^Caucasian^HL70005~2028-9^Asian^HL70005~B", "H^Hispanic^HL70189"))
    assert [(c.code, c.system, c.display) for c in pat.race] == [
        ("2106-3", CDC, "Caucasian"),  # the letter through hl7_race; the text as sent
        ("2028-9", CDC, "Asian"),  # a CDC code in table 0005 is a CDC code
        ("2054-5", CDC, "Black or African American"),  # no text: the table's name
    ]
    assert [(c.code, c.system, c.display) for c in pat.ethnicity] == [("2135-2", CDC, "Hispanic")]


def test_fhir_patient_uses_the_us_core_extensions_with_cdc_codes() -> None:
    pat = _patient(_pid("2106-3^White^HL70005~2108-9^European^CDCREC", "N^Not Hispanic^HL70189"))
    resource = to_fhir(pat, FhirMapContext(source="carehub"))
    R4BPatient.model_validate(resource)
    race = _ext(resource, RACE)
    assert race["ombCategory"] == [{"system": CDC, "code": "2106-3", "display": "White"}]
    assert race["detailed"] == [{"system": CDC, "code": "2108-9", "display": "European"}]
    assert race["text"] == ["White, European"]
    ethnicity = _ext(resource, ETHNICITY)
    assert ethnicity["ombCategory"] == [
        {"system": CDC, "code": "2186-5", "display": "Not Hispanic"}
    ]
    assert ethnicity["text"] == ["Not Hispanic"]
    assert "v2-0005" not in json.dumps(resource) and "v2-0189" not in json.dumps(resource)


def test_an_unknown_code_is_text_only_with_a_warning() -> None:
    raw = _pid("C^Caucasian^HL70005", "")
    pat = _patient(raw)
    (race,) = pat.race
    assert race.code == "C" and race.display == "Caucasian"  # kept as sent
    resource = to_fhir(pat, FhirMapContext(source="carehub"))
    R4BPatient.model_validate(resource)
    assert _ext(resource, RACE) == {"text": ["Caucasian"]}  # no coding claims a CDC code
    (warning,) = race_ethnicity_findings(parse(raw)).findings
    assert warning.location == "PID-10" and "text only" in warning.text
    assert "Caucasian" not in warning.text and "C" not in warning.text.split()  # no values


def test_the_warning_reaches_the_validate_report(tmp_path: Path) -> None:
    path = tmp_path / "race.hl7"
    path.write_bytes(_pid("2106-3^White^HL70005", "X^Martian^HL70189"))
    (item,) = read_items(path)
    verdict = validate_item(item)
    assert verdict.ok
    assert [f.location for f in verdict.report.findings if f.code == "code-invalid"] == ["PID-22"]


@pytest.mark.parametrize("name", ["fhirconverter__ADT-A01-01.hl7", "fhirconverter__ADT-A08-01.hl7"])
def test_corpus_race_and_ethnicity_go_out_as_cdc_codes(name: str) -> None:
    (item, *_) = read_items(HL7 / name)
    verdict = convert_item(item, "fhir")
    patients = [json.loads(d) for n, d in verdict.outputs if n.endswith("Patient.json")]
    assert patients, [(f.text, f.location) for f in verdict.report.errors]
    for resource in patients:
        R4BPatient.model_validate(resource)
        for url in (RACE, ETHNICITY):
            parts = _ext(resource, url)
            codings = parts.get("ombCategory", []) + parts.get("detailed", [])
            assert codings and all(c["system"] == CDC for c in codings)
            assert parts["text"] and parts["text"][0]


def test_us_core_extensions_go_out_as_pid10_and_pid22_with_cdcrec() -> None:
    (path,) = [p for p in FHIR.glob("msanon__Carolee951*.json")]
    bundle = json.loads(path.read_text())  # a Synthea Bundle: its Patient entry
    resource = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    pat = from_fhir(resource, FhirMapContext(source="ehr"))
    assert isinstance(pat, Patient)
    assert pat.race and all(c.system == CDC for c in pat.race if c.code)
    event = Event(kind=EventKind.PATIENT_REGISTERED, entity=pat, provenance=_provenance())
    raw = render_hl7v2_event(event, OPTIONS)
    assert [f.as_dict() for f in validate_strict(raw).errors] == []
    pid = next(s for s in raw.decode().split("\r") if s.startswith("PID|")).split("|")
    race = _ext(resource, RACE)["ombCategory"][0]
    ethnicity = _ext(resource, ETHNICITY)["ombCategory"][0]
    assert pid[10].split("~")[0] == f"{race['code']}^{race['display']}^CDCREC"
    assert pid[22] == f"{ethnicity['code']}^{ethnicity['display']}^CDCREC"
    # and back: the same CDC codes
    back = _patient(raw)
    assert [c.code for c in back.race] == [c.code for c in pat.race]
    assert [(c.code, c.system) for c in back.ethnicity] == [(ethnicity["code"], CDC)]


def test_a_text_only_extension_is_kept_as_text() -> None:
    resource = {
        "resourceType": "Patient",
        "extension": [
            {"url": RACE, "extension": [{"url": "text", "valueString": "Declined to say"}]}
        ],
    }
    pat = from_fhir(resource, FhirMapContext(source="ehr"))
    assert isinstance(pat, Patient)
    assert pat.race == [Coded(display="Declined to say")]
    out = to_fhir(pat, FhirMapContext(source="carehub"))
    assert _ext(out, RACE) == {"text": ["Declined to say"]}


def _provenance() -> Provenance:
    return Provenance(
        source_system="ehr",
        format="fhir",
        source_port="fhir",
        message_id="m-1",
        received_at=datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_a_cdc_code_stored_under_the_hl7_table_goes_out_as_cdc() -> None:
    """A record kept before this mapping (code 2106-3 under v2-0005) is still written with
    the CDC system US Core requires; UNK keeps its null-flavor system."""
    v2 = "http://terminology.hl7.org/CodeSystem/v2-"
    pat = Patient(
        race=[Coded(code="2106-3", system=v2 + "0005", display="White")],
        ethnicity=[Coded(code="UNK", system="http://terminology.hl7.org/CodeSystem/v3-NullFlavor")],
    )
    resource = to_fhir(pat, FhirMapContext(source="carehub"))
    R4BPatient.model_validate(resource)
    assert _ext(resource, RACE)["ombCategory"] == [
        {"system": CDC, "code": "2106-3", "display": "White"}
    ]
    (unknown,) = _ext(resource, ETHNICITY)["ombCategory"]
    assert unknown["code"] == "UNK" and unknown["system"].endswith("v3-NullFlavor")
