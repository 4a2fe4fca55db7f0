"""ORU^R01 / MDM^T02 out, read back by our own inbound mapping: what the canonical result,
report and document carry survives the round trip; what cannot be rendered is refused
naming the field."""

from __future__ import annotations

import base64

import pytest
from hl7map_events import EVENTS, K, event, minimal_document, minimal_result, rich_result
from hl7map_support import context

from adapters.hl7v2 import parse
from hub.canonical import Attachment, DiagnosticReport, Document, Observation, ObservationValue
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
