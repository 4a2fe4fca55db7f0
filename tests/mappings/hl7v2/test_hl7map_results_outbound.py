"""ORU^R01 / MDM^T02 out, read back by our own inbound mapping: what the canonical result,
report and document carry survives the round trip; what cannot be rendered is refused
naming the field."""

from __future__ import annotations

import base64

import pytest
from hl7map_events import EVENTS, K, event, minimal_document, minimal_result, rich_result
from hl7map_support import context, strict_errors

from adapters.hl7v2 import parse
from hub.canonical import (
    Attachment,
    DiagnosticReport,
    Document,
    Observation,
    ObservationValue,
    ResultStatus,
)
from hub.errors import MappingError
from mappings.hl7v2 import Hl7v2OutboundOptions, map_message, render_hl7v2_event

OPTIONS = Hl7v2OutboundOptions(control_id="RT-1")


def back(name: str) -> tuple:
    original = EVENTS[name]()
    events = map_message(parse(render_hl7v2_event(original, OPTIONS)), context())
    return original.entity, [e.entity for e in events]


@pytest.mark.parametrize("name", ["r01_result_rich", "r01_result_minimal"])
def test_a_result_round_trips(name: str):
    sent, entities = back(name)
    (got,) = [e for e in entities if isinstance(e, Observation)]
    keep = {"status", "code", "sub_id", "value", "interpretation", "effective", "issued", "notes"}
    assert got.model_dump(include=keep) == sent.model_dump(include=keep)
    if sent.reference_range is not None:
        assert got.reference_range == sent.reference_range
    if sent.encounter is not None:
        assert got.encounter is not None
        assert got.encounter.identifiers[0].value == sent.encounter.identifiers[0].value
    assert got.patient is not None and got.patient.identifiers[0].value == "MRN-2002"


def test_a_report_round_trips_with_its_order_numbers_and_status():
    sent, entities = back("r01_report_rich")
    (got,) = [e for e in entities if isinstance(e, DiagnosticReport)]
    keep = {"status", "code", "category", "effective", "effective_end", "issued", "conclusion"}
    assert got.model_dump(include=keep) == sent.model_dump(include=keep)
    assert (got.filler_number.value, got.placer_number.value) == ("FL-1", "PL-1")  # type: ignore[union-attr]
    assert got.interpreters[0].display == "Cyto, Jane"
    assert got.ordered_by[0].display == "Welby, Marcus"


@pytest.mark.parametrize("name", ["t02_rich", "t02_minimal"])
def test_a_document_round_trips_with_every_attachment(name: str):
    sent, entities = back(name)
    (got,) = [e for e in entities if isinstance(e, Document)]
    keep = {"status", "doc_status", "created", "date", "description"}
    assert got.model_dump(include=keep) == sent.model_dump(include=keep) or name == "t02_minimal"
    assert got.identifiers[0].value == sent.identifiers[0].value
    assert [base64.b64decode(a.data or "") for a in got.content] == [
        base64.b64decode(a.data or "") for a in sent.content
    ]
    assert [a.url for a in got.content] == [a.url for a in sent.content]
    assert [a.content_type.split(";")[0] for a in got.content] == [  # type: ignore[union-attr]
        a.content_type.split(";")[0]
        for a in sent.content  # type: ignore[union-attr]
    ]


def test_an_sn_comparator_range_and_ratio_go_out_as_sn():
    for value, expected in [
        ({"quantity": {"value": "10", "comparator": "<"}}, "<^10"),
        ({"range": {"low": {"value": "1"}, "high": {"value": "5"}}}, "^1^-^5"),
        ({"ratio": {"numerator": {"value": "1"}, "denominator": {"value": "128"}}}, "^1^:^128"),
    ]:
        obs = rich_result().model_copy(
            update={"value": ObservationValue.model_validate({"type": "SN", **value})}
        )
        raw = render_hl7v2_event(event(K.RESULT_REPORTED, obs, 40), OPTIONS)
        msg = parse(raw)
        assert (msg["OBX-2"], msg.raw("OBX-5")) == ("SN", expected)


@pytest.mark.parametrize(
    ("entity", "location"),
    [
        (minimal_result().model_copy(update={"code": None}), "OBX-3"),
        (minimal_result().model_copy(update={"patient": None}), "PID-3"),
        (
            minimal_result().model_copy(
                update={
                    "value": ObservationValue(
                        type="ED", attachment=Attachment(content_type="application/pdf")
                    )
                }
            ),
            "OBX-5",
        ),
        (
            minimal_result().model_copy(
                update={
                    "value": ObservationValue(type="ED", attachment=Attachment(data="@@not base64"))
                }
            ),
            "OBX-5",
        ),
        (minimal_document().model_copy(update={"content": []}), "OBX-5"),
        (minimal_document().model_copy(update={"type": None}), "TXA-2"),
        (minimal_document().model_copy(update={"identifiers": []}), "TXA-12"),
    ],
)
def test_what_cannot_be_rendered_is_refused_naming_the_field(entity, location: str):
    kind = K.DOCUMENT_REPORTED if isinstance(entity, Document) else K.RESULT_REPORTED
    with pytest.raises(MappingError) as caught:
        render_hl7v2_event(event(kind, entity, 41), OPTIONS)
    assert caught.value.location == location


# ---------------------------------------------- TXA-12 for a document without an identifier

RECORD_ID = "3cbcef21-4d9d-4dd5-a9f6-4d2a213b375c"


def _txa_12(doc: Document, number: int) -> tuple[bytes, str]:
    raw = render_hl7v2_event(event(K.DOCUMENT_REPORTED, doc, number), Hl7v2OutboundOptions())
    txa = next(s for s in raw.decode().split("\r") if s.startswith("TXA|"))
    return raw, txa.split("|")[12]


def test_a_document_without_identifier_is_numbered_by_its_record_id_every_time():
    # a FHIR DocumentReference with only a resource id (Synthea): no masterIdentifier
    doc = minimal_document().model_copy(update={"identifiers": [], "id": RECORD_ID})
    raw, number = _txa_12(doc, 42)
    assert strict_errors(raw) == []
    assert number == f"{RECORD_ID}^CAREHUB"
    # another event about the same document (sent again, amended) carries the same number
    amended = doc.model_copy(update={"doc_status": "amended"})
    assert _txa_12(amended, 43)[1] == number
    # and it reads back as the document's identifier
    (got,) = [e.entity for e in map_message(parse(raw), context()) if e.kind is K.DOCUMENT_REPORTED]
    assert got.identifiers[0].value == RECORD_ID


def test_a_document_identifier_wins_over_the_record_id():
    doc = minimal_document().model_copy(update={"id": RECORD_ID})
    assert _txa_12(doc, 44)[1] == "DOC-1^GHH-DOC"


def test_long_text_lines_and_real_attachments_are_strictly_valid():
    """OBX-5 TX lines longer than 199 characters and ED data of any real size are valid
    HL7 v2 (TX, 65536): the strict check must not refuse them (hl7apy reads OBX-5 as ST)."""
    line = "Patient has a history of " + "concussion with no loss of consciousness, " * 8
    doc = minimal_document().model_copy(
        update={
            "content": [
                Attachment(
                    content_type="text/plain",
                    data=base64.b64encode(f"Note\n{line}\nEnd".encode()).decode(),
                ),
                Attachment(
                    content_type="application/pdf", data=base64.b64encode(b"%PDF" * 200).decode()
                ),
            ]
        }
    )
    raw, _ = _txa_12(doc, 45)
    assert len(line) > 199
    assert strict_errors(raw) == []
    (got,) = [e.entity for e in map_message(parse(raw), context()) if e.kind is K.DOCUMENT_REPORTED]
    assert base64.b64decode(got.content[0].data or "").decode() == f"Note\n{line}\nEnd"
    assert base64.b64decode(got.content[1].data or "") == b"%PDF" * 200


def test_a_result_goes_out_under_its_order_numbers_and_reads_back_to_them():
    raw = render_hl7v2_event(EVENTS["r01_result_rich"](), OPTIONS)
    msg = parse(raw)
    assert (msg.get("OBR-2"), msg.get("OBR-3")) == ("PL-1", "FL-1")
    assert (msg.get("OBR-2.2"), msg.get("OBR-3.2")) == ("EHR", "LAB")
    assert strict_errors(raw) == []
    sent, entities = back("r01_result_rich")
    (got,) = [e for e in entities if isinstance(e, Observation)]
    assert got.filler_number is not None and got.placer_number is not None
    assert (got.filler_number.value, got.placer_number.value) == ("FL-1", "PL-1")
    # the receiver composes the result identifier from the filler number, not from MSH-10:
    # a correction resent under the same order updates that record
    assert sent.identifiers and got.identifiers[0].value == "FL-1|2093-3|1"


def test_an_oru_read_in_keeps_the_order_numbers_on_each_result():
    message = (
        "MSH|^~\\&|LIS|LAB|EHR|HOSP|20240701120000||ORU^R01^ORU_R01|C-2|P|2.5.1\r"
        "PID|1||MRN-7^^^HOSP^MR||Doe^Jane\r"
        "ORC|RE|PL-9^EHR|FL-9^LAB\r"
        "OBR|1|||24331-1^Lipid panel^LN\r"
        "OBX|1|NM|2093-3^Chol^LN||200|mg/dL^^UCUM|||||F\r"
    )
    events = map_message(parse(message.encode()), context())
    (obs,) = [e.entity for e in events if isinstance(e.entity, Observation)]
    assert obs.placer_number is not None and obs.placer_number.value == "PL-9"
    assert obs.filler_number is not None and obs.filler_number.value == "FL-9"


def test_from_v2_6_the_result_identifier_goes_out_in_obx_21():
    obs = rich_result()
    for version, expected in [("2.5.1", None), ("2.6", "FL-1|2093-3")]:
        options = Hl7v2OutboundOptions(control_id="RT-2", version=version)
        raw = render_hl7v2_event(event(K.RESULT_REPORTED, obs, 41), options)
        msg = parse(raw)
        assert msg.get("OBX-21") == expected
        assert strict_errors(raw) == []
        if expected:
            (got,) = [
                e.entity for e in map_message(msg, context()) if isinstance(e.entity, Observation)
            ]
            assert got.identifiers[0].value == expected
            assert got.identifiers[0].system == "LAB-OBS"


def test_an_entered_in_error_result_goes_out_as_obx_11_d_and_reads_back():
    obs = rich_result().model_copy(update={"status": ResultStatus.ENTERED_IN_ERROR})
    msg = parse(render_hl7v2_event(event(K.RESULT_REPORTED, obs, 42), OPTIONS))
    assert msg.get("OBX-11") == "D"  # deletes the OBX record; W would say "wrong patient"
    (got,) = [e.entity for e in map_message(msg, context()) if isinstance(e.entity, Observation)]
    assert got.status is ResultStatus.ENTERED_IN_ERROR
