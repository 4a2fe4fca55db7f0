"""VXU^V04 immunizations: RXA/ORC/RXR/OBX field by field (CDC IG for Immunization Messaging
r1.5 meanings), the status rules (RXA-20, RXA-21), every corpus VXU written as a FHIR
Immunization that validates, HL7 v2 → canonical → HL7 v2 round trips, and a FHIR client's
Immunization rendered as a strictly valid VXU^V04 that reads back to the same resource."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hl7map_events import EVENTS, K, event, minimal_immunization
from hl7map_support import HL7_CORPUS, context, raw_message, strict_errors

from adapters.hl7v2 import parse, split_messages
from conformance.fhir import check_resource
from hub.canonical import (
    Coded,
    EntityType,
    EventKind,
    Identifier,
    Immunization,
    ImmunizationStatus,
    Ref,
)
from hub.errors import MappingError
from mappings.fhir import FHIR_MAPPINGS, FhirMapContext, carried_values, event_kind, from_fhir
from mappings.hl7v2 import Hl7v2OutboundOptions, map_message, render_hl7v2_event

CVX = "http://hl7.org/fhir/sid/cvx"
MSH = "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301101500-0500||VXU^V04^VXU_V04|IZ1|P|2.5.1"
PID = "PID|1||777^^^CLINIC^MR||DOE^JANE||20230101|F"
ORC = "ORC|RE||F-1^CLINIC"
RXA = "RXA|0|1|20240301||08^HepB peds^CVX|0.5|mL^mL^UCUM||00^New record^NIP001"
REFUSAL = "00^Parental decision^NIP002"
VXU_FILES = sorted(p.name for p in HL7_CORPUS.iterdir() if b"VXU^V04" in p.read_bytes())
IMMUNIZATION = FHIR_MAPPINGS["Immunization"]


def rxa(**fields: str) -> str:
    """RXA with more fields: ``rxa(f18="…", f20="RE")``."""
    parts = RXA.split("|")
    for key, value in fields.items():
        n = int(key[1:])
        parts += [""] * (n + 1 - len(parts))
        parts[n] = value
    return "|".join(parts)


def vxu(*segments: str) -> list:
    return map_message(parse("\r".join([MSH, PID, *segments]) + "\r"), context())


def shots(events: list) -> list[Immunization]:
    return [e.entity for e in events if isinstance(e.entity, Immunization)]


def fhir_ctx() -> FhirMapContext:
    return FhirMapContext(source="ehr")


# ------------------------------------------------------------------ inbound, field by field


def test_the_corpus_has_vxu_samples_and_each_maps():
    assert len(VXU_FILES) >= 3
    for name in VXU_FILES:
        for raw in split_messages((HL7_CORPUS / name).read_bytes()):
            events = map_message(parse(raw), context())
            assert events[0].kind is K.PATIENT_UPDATED
            assert shots(events), name


def test_nist_sample_maps_every_field_it_sends():
    events = map_message(parse(raw_message(HL7_CORPUS / "fhirconverter__VXU.hl7")), context())
    first, historical, _ = shots(events)
    assert [(i.value, i.system, i.type) for i in first.identifiers] == [
        ("13696", "NIST-AA-IZ-2", "FILL"),
        ("4422", "NIST-AA-IZ-2", "PLAC"),
    ]
    assert first.status is ImmunizationStatus.COMPLETED
    assert first.occurred_at == date(2015, 6, 24)
    assert [(c.code, c.system) for c in first.vaccine_codes] == [
        ("49281-0215-88", "http://hl7.org/fhir/sid/ndc")
    ]
    assert (first.dose_quantity, first.dose_unit.code) == (Decimal("0.5"), "mL")
    assert first.primary_source is True and first.report_origin is None
    assert first.administered_by[0].identifiers[0].value == "7824"
    assert first.ordered_by[0].display == "Thomas, Wilma Elizabeth"
    assert first.location.identifiers[0].value == "NIST-Clinic-1"
    assert (first.lot_number, first.expiration_date) == ("315841", date(2015, 12, 16))
    assert first.manufacturer.identifiers[0].value == "PMC"
    assert first.manufacturer.identifiers[0].system == "http://hl7.org/fhir/sid/mvx"
    assert first.manufacturer.display == "Sanofi Pasteur"
    assert (first.route.code, first.site.code) == ("C28161", "RD")
    assert first.site.system == "http://terminology.hl7.org/CodeSystem/v2-0163"
    assert first.funding_source.code == "PHC70"
    assert [c.code for c in first.program_eligibility] == ["V01"]
    assert [(e.document_type, e.presented) for e in first.education] == [
        ("253088698300028811170411", date(2015, 6, 24))
    ]
    # the historical doses: RXA-9 01, amount 999 (unknown), no RXR or OBX of their own
    assert historical.primary_source is False
    assert historical.report_origin.code == "01"
    assert historical.dose_quantity is None
    assert historical.vaccine_codes[0].system == CVX
    assert (historical.route, historical.funding_source, historical.education) == (None, None, [])
    assert all(s.patient.identifiers[0].value == "90012" for s in shots(events))


def test_vis_dates_group_by_obx_4_and_the_alternate_vaccine_code_is_kept():
    (shot,) = shots(
        vxu(
            ORC,
            "RXA|0|1|20240301||115^Tdap^CVX^49281-0400-10^ADACEL^NDC|0.5|mL^mL^UCUM",
            "OBX|1|CE|69764-9^VIS^LN|1|AAA^^cdcgs1vis||||||F",
            "OBX|2|DT|29768-9^published^LN|1|20200401||||||F",
            "OBX|3|CE|69764-9^VIS^LN|2|BBB^^cdcgs1vis||||||F",
            "OBX|4|DT|29769-7^presented^LN|2|20240301||||||F",
        )
    )
    assert [(c.code, c.system) for c in shot.vaccine_codes] == [
        ("115", CVX),
        ("49281-0400-10", "http://hl7.org/fhir/sid/ndc"),
    ]
    assert [(e.document_type, e.published, e.presented) for e in shot.education] == [
        ("AAA", date(2020, 4, 1), None),
        ("BBB", None, date(2024, 3, 1)),
    ]


def test_each_order_group_keeps_its_own_orc_rxr_and_obx():
    first, second = shots(
        vxu(
            ORC,
            RXA,
            "RXR|C28161^IM^NCIT|LA^Left Arm^HL70163",
            "OBX|1|CE|64994-7^elig^LN|1|V02^Medicaid^HL70064||||||F",
            "ORC|RE||F-2^CLINIC",
            RXA.replace("08^HepB", "20^DTaP"),
            "OBX|1|CE|64994-7^elig^LN|1|V03^Uninsured^HL70064||||||F",
        )
    )
    assert first.identifiers[0].value == "F-1" and second.identifiers[0].value == "F-2"
    assert first.site.code == "LA" and second.site is None
    assert [c.code for c in first.program_eligibility] == ["V02"]
    assert [c.code for c in second.program_eligibility] == ["V03"]


def test_a_v231_message_without_orc_still_maps_its_rxa():
    (shot,) = shots(vxu(RXA))
    assert shot.identifiers == []
    assert shot.vaccine_codes[0].code == "08"


@pytest.mark.parametrize(
    ("fields", "status", "subpotent"),
    [
        ({"f20": "CP", "f21": "A"}, ImmunizationStatus.COMPLETED, None),
        ({"f20": "CP", "f21": "U"}, ImmunizationStatus.COMPLETED, None),
        ({"f20": "CP", "f21": "D"}, ImmunizationStatus.ENTERED_IN_ERROR, None),
        ({"f18": REFUSAL, "f20": "RE", "f21": "A"}, ImmunizationStatus.NOT_DONE, None),
        ({"f20": "NA", "f21": "A"}, ImmunizationStatus.NOT_DONE, None),
        ({"f20": "PA", "f21": "A"}, ImmunizationStatus.COMPLETED, True),
    ],
)
def test_rxa_20_and_21_decide_the_status(fields, status, subpotent):
    events = vxu(ORC, rxa(**fields))
    (shot,) = shots(events)
    assert (shot.status, shot.subpotent) == (status, subpotent)
    want = (
        K.IMMUNIZATION_ENTERED_IN_ERROR
        if status is ImmunizationStatus.ENTERED_IN_ERROR
        else K.IMMUNIZATION_RECORDED
    )
    assert events[1].kind is want


def test_a_refusal_carries_rxa_18_as_the_reason():
    (shot,) = shots(vxu(ORC, rxa(f18=REFUSAL, f20="RE")))
    assert shot.status_reason.code == "00"
    assert shot.completion_status == "RE"


def test_a_vxu_without_rxa_is_refused_naming_the_segment():
    with pytest.raises(MappingError) as info:
        vxu(ORC)
    assert info.value.location == "RXA"


def test_an_unreadable_amount_is_refused_naming_rxa_6():
    with pytest.raises(MappingError) as info:
        vxu(ORC, RXA.replace("|0.5|", "|half|"))
    assert info.value.location == "RXA-6"


# ------------------------------------------------------------------ FHIR out


@pytest.mark.parametrize("name", VXU_FILES)
def test_every_corpus_vxu_writes_valid_fhir_immunizations(name):
    for raw in split_messages((HL7_CORPUS / name).read_bytes()):
        for shot in shots(map_message(parse(raw), context())):
            written = IMMUNIZATION.render(shot, fhir_ctx())
            assert check_resource(written).ok, check_resource(written).findings
            assert written["status"] == "completed"
            assert written["vaccineCode"]["coding"][0]["code"] == shot.vaccine_codes[0].code
            assert written["patient"]["identifier"]["value"]


def test_us_core_elements_are_written_from_a_vxu():
    events = map_message(parse(raw_message(HL7_CORPUS / "fhirconverter__VXU.hl7")), context())
    written = IMMUNIZATION.render(shots(events)[0], fhir_ctx())
    assert written["occurrenceDateTime"] == "2015-06-24"
    assert written["primarySource"] is True
    assert written["lotNumber"] == "315841"
    assert written["manufacturer"]["identifier"]["system"] == "http://hl7.org/fhir/sid/mvx"
    assert written["route"]["coding"][0]["code"] == "C28161"
    assert written["site"]["coding"][0]["code"] == "RD"
    assert written["doseQuantity"] == {
        "value": 0.5,
        "unit": "mL",
        "system": "http://unitsofmeasure.org",
        "code": "mL",
    }
    functions = [p["function"]["coding"][0]["code"] for p in written["performer"]]
    assert functions == ["AP", "OP"]
    assert written["fundingSource"]["coding"][0]["code"] == "PHC70"
    assert written["education"][0]["presentationDate"] == "2015-06-24"


def test_an_entered_in_error_vxu_writes_status_entered_in_error():
    (shot,) = shots(vxu(ORC, rxa(f20="CP", f21="D")))
    written = IMMUNIZATION.render(shot, fhir_ctx())
    assert written["status"] == "entered-in-error"
    assert check_resource(written).ok


def test_a_refusal_writes_not_done_with_its_reason():
    (shot,) = shots(vxu(ORC, rxa(f18=REFUSAL, f20="RE")))
    written = IMMUNIZATION.render(shot, fhir_ctx())
    assert (written["status"], written["statusReason"]["coding"][0]["code"]) == ("not-done", "00")


def test_an_immunization_without_a_time_is_not_written_as_fhir():
    (shot,) = shots(vxu(ORC, RXA))
    shot.occurred_at = None
    with pytest.raises(MappingError) as info:
        IMMUNIZATION.render(shot, fhir_ctx())
    assert info.value.location == "Immunization.occurrenceDateTime"


# ------------------------------------------------------------------ HL7 v2 out and back


def _comparable(item: Immunization) -> dict:
    return item.model_dump(exclude={"meta", "id", "completion_status"})


@pytest.mark.parametrize("name", ["v04_rich", "v04_minimal", "v04_refused"])
def test_vxu_round_trips_through_our_own_inbound(name):
    original = EVENTS[name]()
    raw = render_hl7v2_event(original, Hl7v2OutboundOptions())
    assert strict_errors(raw) == []
    events = map_message(parse(raw), context())
    assert [e.kind for e in events] == [K.PATIENT_UPDATED, K.IMMUNIZATION_RECORDED]
    back = events[1].entity

    def strip(d):  # inbound adds the sending system as the source of every identifier
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k != "source"}
        return [strip(v) for v in d] if isinstance(d, list) else d

    assert strip(_comparable(back)) == strip(_comparable(original.entity))


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (EventKind.IMMUNIZATION_ENTERED_IN_ERROR, ImmunizationStatus.ENTERED_IN_ERROR),
        (EventKind.IMMUNIZATION_REMOVED, ImmunizationStatus.COMPLETED),
    ],
)
def test_a_retracted_dose_goes_out_with_rxa_21_d(kind, status):
    name = (
        "v04_entered_in_error" if status is ImmunizationStatus.ENTERED_IN_ERROR else "v04_removed"
    )
    raw = render_hl7v2_event(EVENTS[name](), Hl7v2OutboundOptions())
    assert EVENTS[name]().kind is kind
    assert parse(raw).get("RXA-21") == "D"
    events = map_message(parse(raw), context())
    assert events[1].kind is K.IMMUNIZATION_ENTERED_IN_ERROR


def test_a_recorded_dose_goes_out_with_rxa_21_a_and_rxa_20_derived():
    assert parse(render_hl7v2_event(EVENTS["v04_rich"](), Hl7v2OutboundOptions())).get(
        "RXA-21"
    ) == ("A")
    refused = parse(render_hl7v2_event(EVENTS["v04_refused"](), Hl7v2OutboundOptions()))
    assert (refused.get("RXA-20"), refused.get("RXA-18")) == ("RE", "00")


def test_an_immunization_without_a_vaccine_is_refused_naming_rxa_5():
    shot = EVENTS["v04_minimal"]().entity.model_copy(update={"vaccine_codes": []})
    with pytest.raises(MappingError) as info:
        render_hl7v2_event(event(K.IMMUNIZATION_RECORDED, shot, 120), Hl7v2OutboundOptions())
    assert info.value.location == "RXA-5"


# ------------------------------------------------------------------ FHIR in → HL7 v2 out


CLIENT_IMMUNIZATION = {
    "resourceType": "Immunization",
    "identifier": [{"system": "urn:oid:1.2.3.4", "value": "IMM-55"}],
    "status": "completed",
    "vaccineCode": {"coding": [{"system": CVX, "code": "140", "display": "Influenza"}]},
    "patient": {
        "identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-9"},
        "display": "Doe, Jane",
    },
    "occurrenceDateTime": "2024-10-01T10:30:00-05:00",
    "primarySource": True,
    "lotNumber": "FLU-2024-A",
    "expirationDate": "2025-06-30",
    "manufacturer": {"identifier": {"system": "http://hl7.org/fhir/sid/mvx", "value": "SKB"}},
    "site": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0163", "code": "RA"}]},
    "route": {
        "coding": [
            {"system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "code": "C28161"}
        ]
    },
    "doseQuantity": {
        "value": 0.5,
        "unit": "mL",
        "system": "http://unitsofmeasure.org",
        "code": "mL",
    },
    "performer": [
        {
            "function": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0443", "code": "AP"}
                ]
            },
            "actor": {
                "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}
            },
        }
    ],
    "fundingSource": {"coding": [{"system": "urn:oid:2.16.840.1.114222.4.5.274", "code": "VXC50"}]},
}


def test_a_fhir_clients_immunization_becomes_a_strict_vxu_and_reads_back():
    assert check_resource(CLIENT_IMMUNIZATION).ok
    entity = from_fhir(CLIENT_IMMUNIZATION, fhir_ctx())
    assert isinstance(entity, Immunization)
    raw = render_hl7v2_event(event(K.IMMUNIZATION_RECORDED, entity, 121), Hl7v2OutboundOptions())
    assert strict_errors(raw) == []
    msg = parse(raw)
    assert msg.get("MSH-9.3") == "VXU_V04"
    assert (msg.get("RXA-5.1"), msg.get("RXA-5.3")) == ("140", "CVX")
    assert (msg.get("RXA-17.1"), msg.get("RXA-17.3")) == ("SKB", "MVX")
    assert (msg.get("RXR-1.3"), msg.get("RXR-2.3")) == ("NCIT", "HL70163")
    assert msg.get("RXA-15") == "FLU-2024-A"
    back = shots(map_message(msg, context()))[0]
    rewritten = FHIR_MAPPINGS["Immunization"].render(back, fhir_ctx())
    assert check_resource(rewritten).ok
    carried = IMMUNIZATION.carried
    before, after = carried_values(CLIENT_IMMUNIZATION, carried), carried_values(rewritten, carried)
    # what HL7 v2 cannot say the same way: the identifier's type (FILL) is added on the way
    assert {k: v for k, v in after.items() if "type.coding" not in k} == {
        k: v for k, v in before.items() if "type.coding" not in k
    }


def test_a_vis_known_only_by_vaccine_type_is_kept_but_not_written_as_fhir_education():
    raw = raw_message(HL7_CORPUS / "fhirconverter__IZ_1_1.1_Admin_Child_Max_Message.hl7")
    (shot,) = shots(map_message(parse(raw), context()))
    assert [(e.document_type, e.presented) for e in shot.education] == [(None, date(2012, 8, 14))]
    written = IMMUNIZATION.render(shot, fhir_ctx())
    assert "education" not in written  # imm-1: documentType or reference is required


def test_an_orc_opens_one_order_group_only():
    first, second = shots(vxu(ORC, RXA, RXA.replace("08^HepB", "20^DTaP")))
    assert first.identifiers[0].value == "F-1"
    assert second.identifiers == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (ImmunizationStatus.COMPLETED, EventKind.IMMUNIZATION_RECORDED),
        (ImmunizationStatus.NOT_DONE, EventKind.IMMUNIZATION_RECORDED),
        (ImmunizationStatus.ENTERED_IN_ERROR, EventKind.IMMUNIZATION_ENTERED_IN_ERROR),
    ],
)
def test_a_fhir_write_emits_the_kind_its_status_means(status, kind):
    resource = {**CLIENT_IMMUNIZATION, "status": status.value}
    entity = from_fhir(resource, fhir_ctx())
    assert event_kind("Immunization", entity, None) is kind


ORIGIN = "http://terminology.hl7.org/CodeSystem/immunization-origin"


def test_a_historical_source_fhir_knows_is_written_as_its_report_origin():
    (shot,) = shots(vxu(ORC, rxa(f9="02^From other provider^NIP001")))
    assert shot.primary_source is False
    assert (shot.report_origin.code, shot.report_origin.system) == ("provider", ORIGIN)
    written = IMMUNIZATION.render(shot, fhir_ctx())
    assert written["reportOrigin"]["coding"][0]["code"] == "provider"
    (unspecified,) = shots(vxu(ORC, rxa(f9="01^Historical^NIP001")))
    assert (unspecified.report_origin.code, unspecified.report_origin.system) == ("01", "NIP001")


@pytest.mark.parametrize(
    ("origin", "rxa_9"),
    [
        ({"coding": [{"system": ORIGIN, "code": "school"}]}, "07"),
        ({"coding": [{"system": "urn:example:local", "code": "X"}]}, "01"),
        (None, "01"),
    ],
)
def test_a_fhir_report_origin_goes_out_as_its_nip001_code(origin, rxa_9):
    resource = {**CLIENT_IMMUNIZATION, "primarySource": False}
    if origin is not None:
        resource["reportOrigin"] = origin
    entity = from_fhir(resource, fhir_ctx())
    raw = render_hl7v2_event(event(K.IMMUNIZATION_RECORDED, entity, 122), Hl7v2OutboundOptions())
    msg = parse(raw)
    assert (msg.get("RXA-9.1"), msg.get("RXA-9.3")) == (rxa_9, "NIP001")
    assert strict_errors(raw) == []


# ------------------------------------------------------- RXA-11: a place, never a reference

_BUNDLE_LOCATION = Identifier(
    value="urn:uuid:1f591546-86e1-4f43-8f43-da4f545aef57", system="urn:ietf:rfc:3986"
)


def _at(location: Ref) -> tuple[bytes, str]:
    """The rendered VXU and its RXA-11 as written."""
    shot = minimal_immunization().model_copy(update={"location": location})
    raw = render_hl7v2_event(event(K.IMMUNIZATION_RECORDED, shot, 130), Hl7v2OutboundOptions())
    rxa = next(s for s in raw.decode().split("\r") if s.startswith("RXA|"))
    fields = rxa.split("|")
    return raw, fields[11] if len(fields) > 11 else ""


@pytest.mark.parametrize(
    ("location", "rxa_11"),
    [
        # a FHIR Bundle's urn:uuid (Synthea): the name is the facility, the urn goes nowhere
        (
            Ref(type=EntityType.LOCATION, identifiers=[_BUNDLE_LOCATION], display="REDICLINIC"),
            "^^^REDICLINIC",
        ),
        # a URL on another server, same
        (
            Ref(
                type=EntityType.LOCATION,
                identifiers=[
                    Identifier(value="https://ehr.example.org/fhir/Location/9", system="x")
                ],
                display="North clinic",
            ),
            "^^^North clinic",
        ),
        # a name longer than IS allows goes whole into .10 other designation
        (
            Ref(
                type=EntityType.LOCATION,
                identifiers=[_BUNDLE_LOCATION],
                display="Saint Elsewhere Community Health Center",
            ),
            "^^^^^^^^^Saint Elsewhere Community Health Center",
        ),
        # a real identifier beside the reference is the one written
        (
            Ref(
                type=EntityType.LOCATION,
                identifiers=[_BUNDLE_LOCATION, Identifier(value="PEDS", system="GHH")],
                display="Pediatrics",
            ),
            "PEDS^^^GHH",
        ),
        # only a reference, no name: nothing to say
        (Ref(type=EntityType.LOCATION, identifiers=[_BUNDLE_LOCATION]), ""),
    ],
)
def test_rxa_11_writes_an_identifier_or_the_name_never_a_reference(location, rxa_11):
    raw, written = _at(location)
    assert strict_errors(raw) == []
    assert written == rxa_11
    assert b"urn:uuid" not in raw and b"https://" not in raw


ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


@pytest.mark.parametrize(
    ("reason", "rxa_20"),
    [
        (Coded(code="PATOBJ", system=ACT_REASON, display="patient objection"), "RE"),
        (Coded(code="03", system="NIP002", display="Patient decision"), "RE"),
        (Coded(code="OSTOCK", system=ACT_REASON, display="product out of stock"), "NA"),
        (Coded(code="MEDPREC", system=ACT_REASON, display="medical precaution"), "NA"),
        (Coded(code="IMMUNE", system=ACT_REASON, display="immunity"), "NA"),
    ],
)
def test_only_a_patient_objection_goes_out_as_a_refusal(reason, rxa_20):
    shot = minimal_immunization().model_copy(
        update={"status": ImmunizationStatus.NOT_DONE, "status_reason": reason}
    )
    raw = render_hl7v2_event(event(K.IMMUNIZATION_RECORDED, shot, 130), Hl7v2OutboundOptions())
    msg = parse(raw)
    assert msg.get("RXA-20") == rxa_20
    assert msg.get("RXA-18") == reason.code
    # a table 0396 name, never a URI, in RXA-18.3
    assert msg.get("RXA-18.3") == ("NIP002" if reason.system == "NIP002" else "ACTREASON")
    assert strict_errors(raw) == []
