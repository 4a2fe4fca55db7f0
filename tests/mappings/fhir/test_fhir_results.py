"""Observation, DiagnosticReport and DocumentReference: every resource the hub writes from the
ORU/MDM corpus validates with fhir.resources; FHIR in → canonical → FHIR out keeps every
carried element; FHIR in → canonical → HL7 v2 out is strict-valid ORU^R01 / MDM^T02."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest

from adapters.hl7v2 import parse
from conformance.fhir import check_resource
from conformance.hl7v2 import validate_strict
from hub.canonical import Event, EventKind, Identifier, Observation, Provenance
from hub.errors import MappingError
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, carried_values, from_fhir, to_fhir
from mappings.fhir.observation import ATTACHMENT_VALUE
from mappings.hl7v2 import Hl7v2OutboundOptions, map_message, render_hl7v2_event
from tests.mappings.hl7v2.hl7map_support import HL7_CORPUS, context, load

CTX = FhirMapContext(source="lab")
CORPUS = [
    "fhirconverter__LAB-ORU-1.hl7",
    "fhirconverter__LAB-ORU-2.hl7",
    "fhirconverter__ORU-R01-01.hl7",
    "fhirconverter__ORU-R01-RMGEAD.hl7",
    "fhirconverter__LRI_2.0-NG_CBC_Typ_Message.hl7",
    "lfhhl7__ORU-multiline-short-mixed.hl7",
    "fhirconverter__MDM-T02-01.hl7",
    "fhirconverter__MDM-T02-03.hl7",
]
SUBJECT = {"reference": "Patient/p-1", "display": "Doe, Jane"}


def _roundtrip(resource: dict[str, Any]) -> dict[str, Any]:
    carried = FHIR_MAPPINGS[resource["resourceType"]].carried
    again = to_fhir(from_fhir(resource, CTX), CTX)  # type: ignore[arg-type]
    assert carried_values(again, carried) == carried_values(resource, carried)
    return again


@pytest.mark.parametrize("name", CORPUS)
def test_every_resource_written_from_the_corpus_validates_and_round_trips(name: str):
    events = map_message(load(HL7_CORPUS / name), context())
    written = 0
    for event in events[1:]:  # the patient event is tested with the Patient mapping
        resource = to_fhir(event.entity, CTX)
        report = check_resource(resource)
        assert report.ok, (resource["resourceType"], report.as_list())
        _roundtrip(resource)
        written += 1
    assert written == len(events) - 1


def _observation(**value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "http://lab.example/obs", "value": "O-1"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3", "display": "Chol"}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2024-07-01T09:00:00+02:00",
        "issued": "2024-07-01T10:00:00+02:00",
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "H",
                    }
                ]
            }
        ],
        "referenceRange": [
            {
                "low": {
                    "value": 100,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
                "high": {
                    "value": 199,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
                "text": "100-199",
            }
        ],
        "note": [{"text": "fasting"}],
        **value,
    }


UCUM = {"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
PDF = base64.b64encode(b"%PDF-1.4 test").decode()
VALUES: dict[str, dict[str, Any]] = {
    "quantity": {"valueQuantity": {"value": 212.5, **UCUM}},
    "comparator": {"valueQuantity": {"value": 10, "comparator": "<", **UCUM}},
    "range": {"valueRange": {"low": {"value": 10, **UCUM}, "high": {"value": 20, **UCUM}}},
    "ratio": {"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 128}}},
    "coded": {
        "valueCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "3092008"}]
        }
    },
    "string": {"valueString": "Hemolysed & lipemic"},
    "text": {"valueString": "Line one\nLine two"},
    "dateTime": {"valueDateTime": "2024-03-15T12:30:00+02:00"},
    "date": {"valueDateTime": "2024-03-15"},
    "time": {"valueTime": "09:30:00"},
    "attachment": {
        "extension": [
            {
                "url": ATTACHMENT_VALUE,
                "valueAttachment": {"contentType": "application/pdf", "data": PDF},
            }
        ]
    },
    "url": {
        "extension": [
            {
                "url": ATTACHMENT_VALUE,
                "valueAttachment": {"contentType": "image/jpeg", "url": "https://pacs.example/1"},
            }
        ]
    },
    "absent": {
        "dataAbsentReason": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "unknown",
                }
            ]
        }
    },
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_observation_values_round_trip_through_fhir_and_out_as_strict_oru(kind: str):
    resource = _observation(**VALUES[kind])
    assert check_resource(resource).ok
    again = _roundtrip(resource)
    assert check_resource(again).ok
    obs = from_fhir(resource, CTX)
    assert isinstance(obs, Observation)
    event = Event(
        kind=EventKind.RESULT_REPORTED,
        entity=obs,
        provenance=Provenance(source_system="ehr", format="fhir"),
    )
    # the sync engine gives a resolved reference the identifiers the hub knows; here by hand
    obs.patient.identifiers.append(_mrn())  # type: ignore[union-attr]
    raw = render_hl7v2_event(event, Hl7v2OutboundOptions(control_id="T1"))
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    back = map_message(parse(raw), context())
    result = next(e.entity for e in back if isinstance(e.entity, Observation))
    assert result.value == obs.value or _same_value(result, obs)
    assert result.status == obs.status
    assert result.code is not None and result.code.code == "2093-3"


def _mrn() -> Identifier:
    return Identifier(value="MRN-1", system="HOSP", type="MR")


def _same_value(a: Observation, b: Observation) -> bool:
    """The HL7 v2 value read back equals the FHIR one in what both can say (the OBX-2 type
    is inferred from FHIR, and text lines come back as TX)."""
    if a.value is None or b.value is None:
        return a.value is None and b.value is None
    dump = {
        "exclude": {"type": True, "attachment": {"original_encoding", "size"}},
        "exclude_none": True,
    }
    left, right = a.value.model_dump(**dump), b.value.model_dump(**dump)  # type: ignore[arg-type]
    return left == right


def test_quantity_decimal_precision_is_kept():
    obs = from_fhir(_observation(**VALUES["quantity"]), CTX)
    assert isinstance(obs, Observation) and obs.value and obs.value.quantity
    assert obs.value.quantity.value == Decimal("212.5")


REPORT = {
    "resourceType": "DiagnosticReport",
    "identifier": [
        {
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "FILL"}
                ]
            },
            "system": "http://lab.example/order",
            "value": "FL-1",
        }
    ],
    "status": "final",
    "category": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "CH"}]}
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "24331-1"}]},
    "subject": SUBJECT,
    "effectivePeriod": {"start": "2024-07-01T08:00:00+02:00", "end": "2024-07-01T08:15:00+02:00"},
    "issued": "2024-07-01T11:00:00+02:00",
    "result": [
        {"type": "Observation", "identifier": {"system": "http://lab.example/obs", "value": "O-1"}}
    ],
    "conclusion": "Normal lipids",
    "presentedForm": [{"contentType": "application/pdf", "data": PDF, "title": "report"}],
}

DOCUMENT = {
    "resourceType": "DocumentReference",
    "masterIdentifier": {"system": "http://hosp.example/doc", "value": "DOC-55"},
    "status": "current",
    "docStatus": "final",
    "type": {
        "coding": [
            {"system": "http://loinc.org", "code": "18842-5", "display": "Discharge summary"}
        ]
    },
    "subject": SUBJECT,
    "date": "2024-07-01T11:30:00+02:00",
    "author": [{"reference": "Practitioner/doc-1", "display": "House, Greg"}],
    "description": "Discharge summary",
    "content": [
        {
            "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(b"Line one\nLine two").decode(),
            }
        },
        {"attachment": {"contentType": "application/pdf", "data": PDF}},
    ],
    "context": {"period": {"start": "2024-07-01T11:00:00+02:00"}},
}


@pytest.mark.parametrize(
    "resource", [REPORT, DOCUMENT], ids=["DiagnosticReport", "DocumentReference"]
)
def test_report_and_document_round_trip_and_validate(resource: dict[str, Any]):
    assert check_resource(resource).ok
    again = _roundtrip(resource)
    assert check_resource(again).ok, check_resource(again).as_list()


def test_a_document_reference_becomes_a_strict_mdm_t02_and_back():
    doc = from_fhir(DOCUMENT, CTX)
    doc.patient.identifiers.append(_mrn())  # type: ignore[union-attr]
    event = Event(
        kind=EventKind.DOCUMENT_REPORTED,
        entity=doc,
        provenance=Provenance(source_system="ehr", format="fhir"),
    )  # type: ignore[arg-type]
    raw = render_hl7v2_event(event, Hl7v2OutboundOptions(control_id="T2"))
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    msg = parse(raw)
    assert msg["MSH-9"] == "MDM" and msg["MSH-9.3"] == "MDM_T02" and msg["TXA-12.1"] == "DOC-55"
    back = map_message(msg, context())[-1].entity
    assert [a.content_type for a in back.content] == [
        "text/plain; charset=utf-8",
        "application/pdf",
    ]  # type: ignore[union-attr]
    texts = [base64.b64decode(a.data or "") for a in back.content]  # type: ignore[union-attr]
    assert texts == [b"Line one\nLine two", b"%PDF-1.4 test"]
    assert back.doc_status == "final"  # type: ignore[union-attr]


def test_a_report_becomes_a_strict_oru_with_its_order_numbers():
    report = from_fhir(REPORT, CTX)
    report.patient.identifiers.append(_mrn())  # type: ignore[union-attr]
    event = Event(
        kind=EventKind.REPORT_ISSUED,
        entity=report,
        provenance=Provenance(source_system="ehr", format="fhir"),
    )  # type: ignore[arg-type]
    raw = render_hl7v2_event(event, Hl7v2OutboundOptions(control_id="T3"))
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    msg = parse(raw)
    assert msg["OBR-3.1"] == "FL-1" and msg["OBR-25"] == "F" and msg["OBR-24"] == "CH"
    assert msg["OBR-8"] == "20240701081500+0200"


@pytest.mark.parametrize(
    ("resource", "location"),
    [
        ({**DOCUMENT, "content": []}, "DocumentReference.content"),
        ({**DOCUMENT, "status": "bogus"}, "DocumentReference.status"),
        (_observation(status="done"), "Observation.status"),
        ({**REPORT, "status": "done"}, "DiagnosticReport.status"),
    ],
)
def test_bad_input_names_the_element(resource: dict[str, Any], location: str):
    with pytest.raises(MappingError) as caught:
        from_fhir(resource, CTX)
    assert caught.value.location == location


def test_a_result_keeps_its_order_numbers_from_hl7v2_to_fhir_and_back_out():
    """OBR-2/OBR-3 → Observation.basedOn ServiceRequest identifiers (PLAC/FILL) → back to
    the canonical numbers → OBR-2/OBR-3 of the ORU^R01 written for the result."""
    message = (
        "MSH|^~\\&|LIS|LAB|EHR|HOSP|20240701120000||ORU^R01^ORU_R01|C-3|P|2.5.1\r"
        "PID|1||MRN-1^^^HOSP^MR||Doe^Jane\r"
        "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN\r"
        "OBX|1|NM|2093-3^Chol^LN||200|mg/dL^^UCUM|||||F\r"
    )
    events = map_message(parse(message.encode()), context())
    obs = next(e.entity for e in events if isinstance(e.entity, Observation))
    resource = to_fhir(obs, CTX)
    assert check_resource(resource).ok, check_resource(resource).as_list()
    assert [
        (b["type"], b["identifier"]["value"], b["identifier"]["type"]["coding"][0]["code"])
        for b in resource["basedOn"]
    ] == [("ServiceRequest", "PL-1", "PLAC"), ("ServiceRequest", "FL-1", "FILL")]
    again = from_fhir(_roundtrip(resource), CTX)
    assert isinstance(again, Observation)
    assert again.placer_number is not None and again.placer_number.value == "PL-1"
    assert again.filler_number is not None and again.filler_number.value == "FL-1"
    again.patient.identifiers.append(_mrn())  # type: ignore[union-attr]
    event = Event(
        kind=EventKind.RESULT_REPORTED,
        entity=again,
        provenance=Provenance(source_system="ehr", format="fhir"),
    )
    raw = render_hl7v2_event(event, Hl7v2OutboundOptions(control_id="T4"))
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    msg = parse(raw)
    assert (msg["OBR-2.1"], msg["OBR-3.1"]) == ("PL-1", "FL-1")


@pytest.mark.parametrize(
    ("status", "reason"), [("X", "not-performed"), ("N", "not-asked"), ("F", None)]
)
def test_a_result_without_a_value_says_why_when_obx_11_does(status: str, reason: str | None):
    message = (
        "MSH|^~\\&|LIS|LAB|EHR|HOSP|20240701120000||ORU^R01^ORU_R01|C-5|P|2.5.1\r"
        "PID|1||MRN-1^^^HOSP^MR||Doe^Jane\r"
        "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN\r"
        f"OBX|1|NM|2093-3^Chol^LN||||||||{status}\r"
    )
    events = map_message(parse(message.encode()), context())
    obs = next(e.entity for e in events if isinstance(e.entity, Observation))
    resource = to_fhir(obs, CTX)
    assert check_resource(resource).ok, check_resource(resource).as_list()
    got = resource.get("dataAbsentReason", {}).get("coding", [{}])[0].get("code")
    assert got == reason
    if reason:
        again = from_fhir(_roundtrip(resource), CTX)
        assert isinstance(again, Observation) and again.absent_reason is not None
        assert again.absent_reason.code == reason
