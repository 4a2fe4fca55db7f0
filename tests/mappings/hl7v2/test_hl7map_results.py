"""ORU^R01 and MDM^T02 in: every OBX-2 value type, a value that is not its type (a finding
naming OBX-5, never a crash), ED Base64/Hex attachments, groups, and the corpus samples."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapters.hl7v2 import parse
from hub.canonical import (
    DiagnosticReport,
    Document,
    EventKind,
    Observation,
    ReportStatus,
    ResultStatus,
)
from hub.errors import MappingError
from mappings.hl7v2 import map_message
from mappings.hl7v2.oru import specimen_observation_findings
from tests.mappings.hl7v2.hl7map_support import HL7_CORPUS, context, load

HEAD = (
    "MSH|^~\\&|LIS|LAB|EHR|HOSP|20240701120000+0200||ORU^R01^ORU_R01|C-1|P|2.5.1\r"
    "PID|1||MRN-7^^^HOSP^MR||Doe^Jane||19800101|F\r"
    "PV1|1|O|||||||||||||||||V-9\r"
    "ORC|RE|PL-1^EHR|FL-1^LAB\r"
    "OBR|1|PL-1^EHR|FL-1^LAB|24331-1^Lipid panel^LN|||20240701081500+0200||||||||"
    "|DOC1^House^Greg||||||20240701110000+0200||CH|F\r"
)


def oru(*obx: str) -> list:
    return map_message(parse((HEAD + "".join(o + "\r" for o in obx)).encode()), context())


def one_result(obx: str) -> Observation:
    events = oru(obx)
    found = [e.entity for e in events if isinstance(e.entity, Observation)]
    assert len(found) == 1
    return found[0]


def test_nm_with_ucum_units_range_flags_and_status():
    obs = one_result(
        "OBX|1|NM|2093-3^Cholesterol^LN||212.5|mg/dL^milligram per deciliter^UCUM|"
        "100-199|H^High^HL70078|||F|||20240701090000+0200||T1^Tech^Tom|||20240701100000+0200"
    )
    assert obs.value is not None and obs.value.type == "NM"
    q = obs.value.quantity
    assert q is not None and q.value == Decimal("212.5")
    assert (q.unit, q.system, q.code) == (
        "milligram per deciliter",
        "http://unitsofmeasure.org",
        "mg/dL",
    )
    rr = obs.reference_range
    assert rr is not None and rr.low and rr.high and rr.text == "100-199"
    assert (rr.low.value, rr.high.value) == (Decimal(100), Decimal(199))
    assert [c.code for c in obs.interpretation] == ["H"]
    assert obs.interpretation[0].system.endswith("v3-ObservationInterpretation")  # type: ignore[union-attr]
    assert obs.status is ResultStatus.FINAL
    tz = timezone(timedelta(hours=2))
    assert obs.effective == datetime(2024, 7, 1, 9, 0, tzinfo=tz)
    assert obs.issued == datetime(2024, 7, 1, 10, 0, tzinfo=tz)
    assert obs.performers[0].display == "Tech, Tom"
    assert obs.code is not None and obs.code.code == "2093-3"


@pytest.mark.parametrize(
    ("value", "kind", "expect"),
    [
        ("<^10", "quantity", ("<", Decimal(10))),
        (">=^5.5", "quantity", (">=", Decimal("5.5"))),
        ("^182", "quantity", (None, Decimal(182))),
        ("^10^-^20", "range", (Decimal(10), Decimal(20))),
        ("^1^:^128", "ratio", (Decimal(1), Decimal(128))),
        ("^1^/^2", "ratio", (Decimal(1), Decimal(2))),
        ("^2^+", "text", "2+"),
        ("^1^+^0", "text", "1+0"),  # a zero second number is a number, not absent
    ],
)
def test_sn_structured_numeric_forms(value: str, kind: str, expect: object):
    obs = one_result(f"OBX|1|SN|5778-6^Color^LN||{value}|mg/dL^^UCUM|||||F")
    v = obs.value
    assert v is not None and v.type == "SN"
    if kind == "quantity":
        assert v.quantity is not None and (v.quantity.comparator, v.quantity.value) == expect
    elif kind == "range":
        assert v.range and v.range.low and v.range.high
        assert (v.range.low.value, v.range.high.value) == expect
        assert v.range.low.code == "mg/dL"
    elif kind == "ratio":
        assert v.ratio and v.ratio.numerator and v.ratio.denominator
        assert (v.ratio.numerator.value, v.ratio.denominator.value) == expect
    else:
        assert v.text == expect


@pytest.mark.parametrize("kind", ["CE", "CWE", "CNE"])
def test_coded_values(kind: str):
    obs = one_result(f"OBX|1|{kind}|600-7^Culture^LN||3092008^Staph aureus^SCT||||||P")
    assert obs.value is not None and obs.value.type == kind
    assert obs.value.coded is not None
    assert (obs.value.coded.code, obs.value.coded.system) == ("3092008", "http://snomed.info/sct")
    assert obs.status is ResultStatus.PRELIMINARY


def test_st_tx_ft_text_keeps_lines_and_decodes_escapes():
    st = one_result("OBX|1|ST|8251-1^Comment^LN||Hemolysed \\T\\ lipemic||||||F")
    assert st.value is not None and st.value.text == "Hemolysed & lipemic"
    tx = one_result("OBX|1|TX|11526-1^Path^LN||Line one~Line two^with a caret||||||F")
    assert tx.value is not None and tx.value.text == "Line one\nLine two^with a caret"
    ft = one_result("OBX|1|FT|11526-1^Path^LN||First\\.br\\Second||||||F")
    assert ft.value is not None and ft.value.text == "First\nSecond"


def test_dt_ts_dtm_and_tm():
    dt = one_result("OBX|1|DT|21112-8^Birth date^LN||20240315||||||F")
    assert dt.value is not None and dt.value.date_time == date(2024, 3, 15)
    ts = one_result("OBX|1|TS|21112-8^When^LN||202403151230||||||F")
    assert ts.value is not None
    assert ts.value.date_time == datetime(2024, 3, 15, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    dtm = one_result("OBX|1|DTM|21112-8^When^LN||20240315||||||F")
    assert dtm.value is not None and dtm.value.date_time == date(2024, 3, 15)
    tm = one_result("OBX|1|TM|21112-8^Time^LN||0930||||||F")
    assert tm.value is not None and tm.value.time == "09:30:00"


PDF = b"%PDF-1.4 fake \x00\xff bytes"


def test_ed_base64_and_hex_keep_the_original_bytes():
    b64 = base64.b64encode(PDF).decode()
    obs = one_result(f"OBX|1|ED|11526-1^Report^LN||LAB^AP^PDF^Base64^{b64}||||||F")
    att = obs.value.attachment  # type: ignore[union-attr]
    assert att is not None and att.content_type == "application/pdf"
    assert base64.b64decode(att.data or "") == PDF and att.size == len(PDF)
    assert att.original_encoding == "Base64"
    hexed = one_result(f"OBX|1|ED|11526-1^Report^LN||LAB^IM^JPEG^Hex^{PDF.hex().upper()}||||||F")
    att = hexed.value.attachment  # type: ignore[union-attr]
    assert att is not None and att.content_type == "image/jpeg"
    assert base64.b64decode(att.data or "") == PDF and att.original_encoding == "Hex"


def test_rp_reference_pointer_is_a_url_attachment():
    obs = one_result(
        "OBX|1|RP|18748-4^Image^LN||https://pacs.example/x?a=1\\T\\b=2^^IM^JPEG||||||F"
    )
    att = obs.value.attachment  # type: ignore[union-attr]
    assert att is not None and att.url == "https://pacs.example/x?a=1&b=2"
    assert att.content_type == "image/jpeg" and att.data is None


def test_na_numeric_array_is_kept_as_text():
    obs = one_result("OBX|1|NA|8867-4^Heart rate^LN||72^75^71||||||F")
    assert obs.value is not None and obs.value.text == "72, 75, 71"


@pytest.mark.parametrize(
    ("obx", "location"),
    [
        ("OBX|1|NM|2093-3^Chol^LN||high||||||F", "OBX-5"),
        ("OBX|1|NM|2093-3^Chol^LN||NaN||||||F", "OBX-5"),
        ("OBX|1|NM|2093-3^Chol^LN||Infinity||||||F", "OBX-5"),
        ("OBX|1|SN|2093-3^Chol^LN||^abc||||||F", "OBX-5"),
        ("OBX|1|DT|2093-3^Chol^LN||2024-03-15||||||F", "OBX-5"),
        ("OBX|1|TM|2093-3^Chol^LN||2599||||||F", "OBX-5"),
        ("OBX|1|NA|2093-3^Chol^LN||1^x||||||F", "OBX-5"),
        ("OBX|1|ED|2093-3^Chol^LN||LAB^AP^PDF^Base64^@@notbase64@@||||||F", "OBX-5.5"),
        ("OBX|1|ED|2093-3^Chol^LN||LAB^AP^PDF^Base64^QUJD*||||||F", "OBX-5.5"),
        ("OBX|1|ED|2093-3^Chol^LN||LAB^AP^PDF^Hex^XYZ||||||F", "OBX-5.5"),
        ("OBX|1|ED|2093-3^Chol^LN||LAB^AP^PDF^Uuencode^abc||||||F", "OBX-5.5"),
    ],
)
def test_a_value_that_is_not_its_type_is_a_finding_naming_obx5(obx: str, location: str):
    with pytest.raises(MappingError) as caught:
        oru(obx)
    assert caught.value.location == location
    assert caught.value.code in ("102", "103")
    # the value itself (PHI) is not quoted back
    assert "high" not in caught.value.message and "abc" not in caught.value.message


def test_several_obr_groups_each_report_references_its_own_results():
    message = (
        HEAD
        + "OBX|1|NM|2093-3^Chol^LN||200|mg/dL^^UCUM|||||F\r"
        + "NTE|1||fasting\r"
        + "OBX|2|NM|2571-8^Trig^LN||150|mg/dL^^UCUM|||||F\r"
        + "OBR|2|PL-2^EHR|FL-2^LAB|58410-2^CBC^LN|||20240701081500+0200"
        + "|" * 17
        + "HM|P\r"
        + "NTE|1||see comment\r"
        + "OBX|1|NM|718-7^Hgb^LN||13.1|g/dL^^UCUM|||||P\r"
    )
    events = map_message(parse(message.encode()), context())
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.RESULT_REPORTED) == 3
    assert kinds.count(EventKind.REPORT_ISSUED) == 2
    assert kinds[0] is EventKind.PATIENT_UPDATED
    reports = [e.entity for e in events if isinstance(e.entity, DiagnosticReport)]
    results = [e.entity for e in events if isinstance(e.entity, Observation)]
    first, second = reports
    assert first.filler_number and first.filler_number.value == "FL-1"
    assert first.status is ReportStatus.FINAL and second.status is ReportStatus.PRELIMINARY
    assert [r.identifiers[0].value for r in first.results] == [
        results[0].identifiers[0].value,
        results[1].identifiers[0].value,
    ]
    assert [r.identifiers[0].value for r in second.results] == [results[2].identifiers[0].value]
    assert results[0].notes == ["fasting"] and second.conclusion == "see comment"
    # every result and report names the PID patient and the PV1-19 visit
    for item in (*reports, *results):
        assert item.patient is not None and item.patient.identifiers[0].value == "MRN-7"
        assert item.encounter is not None and item.encounter.identifiers[0].value == "V-9"
    assert first.ordered_by[0].display == "House, Greg"
    assert first.category is not None and first.category.code == "CH"


def test_a_specimen_observation_is_not_a_patient_result():
    """ORU_R01 SPECIMEN group (SPM {OBX}): an OBX after an SPM describes the specimen until
    the next OBR/ORC/PID; it is never filed as the patient's result, and is warned of."""
    message = (
        HEAD
        + "OBX|1|NM|2093-3^Chol^LN||190|mg/dL^^UCUM|||||F\r"
        + "SPM|1|SP1||119297000^Blood^SCT\r"
        + "OBX|1|CWE|SPECCOND^Specimen condition^L||HEM^Hemolyzed^L||||||F\r"
        + "NTE|1||drawn above the IV line\r"
        + "OBR|2|PL-2^EHR|FL-2^LAB|718-7^Hgb^LN|||20240701081500+0200\r"
        + "OBX|1|NM|718-7^Hgb^LN||13.1|g/dL^^UCUM|||||F\r"
    )
    native = parse(message.encode())
    events = map_message(native, context())
    results = [e.entity for e in events if isinstance(e.entity, Observation)]
    assert [r.code.code for r in results if r.code] == ["2093-3", "718-7"]
    assert all(not r.notes for r in results)
    reports = [e.entity for e in events if isinstance(e.entity, DiagnosticReport)]
    assert reports[0].specimen is not None and reports[0].specimen.type is not None
    assert reports[0].specimen.type.code == "119297000"
    assert len(reports[0].results) == 1 and len(reports[1].results) == 1
    found = specimen_observation_findings(native).findings
    assert [(f.severity.value, f.location) for f in found] == [("warning", "OBX[2]")]
    assert "Hemolyzed" not in found[0].text  # no values in findings


def test_the_cli_verdict_names_the_specimen_observation():
    from pathlib import Path

    from carehub.app.files import FileItem, validate_item

    message = (
        HEAD
        + "SPM|1|SP1||119297000^Blood^SCT\r"
        + "OBX|1|CWE|SPECCOND^Specimen condition^L||HEM^Hemolyzed^L||||||F\r"
    )
    verdict = validate_item(FileItem(Path("x.hl7"), 1, 1, "hl7v2", message.encode()))
    assert verdict.ok
    assert [f.location for f in verdict.report.findings] == ["OBX"]
    assert not [e for e in verdict.events if isinstance(e.entity, Observation)]


def test_a_resent_correction_keeps_the_result_identifier():
    before = one_result("OBX|1|NM|2093-3^Chol^LN||200|mg/dL^^UCUM|||||F")
    after = one_result("OBX|1|NM|2093-3^Chol^LN||210|mg/dL^^UCUM|||||C")
    assert before.identifiers == after.identifiers
    assert after.status is ResultStatus.CORRECTED


def test_an_oru_without_pid_is_refused_naming_the_segment():
    with pytest.raises(MappingError) as caught:
        map_message(
            parse(b"MSH|^~\\&|L|L|E|E|20240701||ORU^R01|1|P|2.5.1\rOBX|1|ST|x||y\r"), context()
        )
    assert caught.value.location == "PID"


MDM = (
    "MSH|^~\\&|DICT|HOSP|EHR|HOSP|20240701120000||MDM^T02^MDM_T02|D-1|P|2.5.1\r"
    "EVN|T02|20240701120000\r"
    "PID|1||MRN-7^^^HOSP^MR||Doe^Jane||19800101|F\r"
    "PV1|1|I|||||||||||||||||V-9\r"
    "TXA|1|DS^Discharge summary|TX|20240701110000||20240701113000|||"
    "DOC1^House^Greg|||DOC-55^HOSP|||||LA||AV\r"
)


def test_mdm_t02_text_lines_become_one_text_attachment():
    message = (
        MDM + "OBX|1|TX|DS^Discharge^L||Line one||||||F\rOBX|2|TX|DS^Discharge^L||Line two||||||F\r"
    )
    events = map_message(parse(message.encode()), context())
    assert [e.kind for e in events] == [EventKind.PATIENT_UPDATED, EventKind.DOCUMENT_REPORTED]
    doc = events[1].entity
    assert isinstance(doc, Document)
    assert doc.identifiers[0].value == "DOC-55" and doc.identifiers[0].system == "HOSP"
    assert doc.type is not None and doc.type.code == "DS"
    assert doc.doc_status == "final" and doc.status == "current"
    assert doc.authors[0].display == "House, Greg"
    assert len(doc.content) == 1 and doc.content[0].content_type == "text/plain; charset=utf-8"
    assert base64.b64decode(doc.content[0].data or "").decode() == "Line one\nLine two"
    assert doc.encounter is not None and doc.encounter.identifiers[0].value == "V-9"


def test_mdm_ed_content_and_a_document_without_content():
    b64 = base64.b64encode(PDF).decode()
    message = MDM + f"OBX|1|ED|DS^Discharge^L||^AP^PDF^Base64^{b64}||||||F\r"
    doc = map_message(parse(message.encode()), context())[1].entity
    assert isinstance(doc, Document)
    assert doc.content[0].content_type == "application/pdf"
    assert base64.b64decode(doc.content[0].data or "") == PDF
    with pytest.raises(MappingError) as caught:
        map_message(parse((MDM + "OBX|1|HD|113014^DICOM^DCM||1.2.3||||||F\r").encode()), context())
    assert caught.value.location == "OBX-5"


@pytest.mark.parametrize(
    ("name", "results", "reports"),
    [
        ("fhirconverter__LAB-ORU-1.hl7", 10, 2),
        ("fhirconverter__ORU-R01-RMGEAD.hl7", 1, 1),
        ("fhirconverter__LRI_2.0-NG_CBC_Typ_Message.hl7", 28, 1),
        ("fhirconverter__ORU-R01-01.hl7", 3, 1),  # its 2 OBX after SPM: the specimen's
        ("lfhhl7__ORU-multiline-short-mixed.hl7", 4, 1),
    ],
)
def test_corpus_oru_samples_map(name: str, results: int, reports: int):
    events = map_message(load(HL7_CORPUS / name), context())
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.RESULT_REPORTED) == results
    assert kinds.count(EventKind.REPORT_ISSUED) == reports
    ids = [e.entity.identifiers[0].value for e in events if isinstance(e.entity, Observation)]
    assert len(set(ids)) == len(ids)  # every result its own record


def test_corpus_cbc_values():
    events = map_message(
        load(HL7_CORPUS / "fhirconverter__LRI_2.0-NG_CBC_Typ_Message.hl7"), context()
    )
    obs = [e.entity for e in events if isinstance(e.entity, Observation)]
    wbc = next(o for o in obs if o.code and o.code.code == "26464-8")
    assert wbc.value is not None and wbc.value.quantity is not None
    assert wbc.value.quantity.value == Decimal(105600) and wbc.value.quantity.code == "{cells}/uL"
    assert [c.code for c in wbc.interpretation] == ["HH"]
    rr = wbc.reference_range
    assert rr is not None and rr.low and rr.high and rr.high.value == Decimal(10800)
    aniso = next(o for o in obs if o.code and o.code.code == "38892-6")
    assert aniso.value is not None and aniso.value.coded is not None
    assert aniso.value.coded.code == "260348001"
    report = next(e.entity for e in events if isinstance(e.entity, DiagnosticReport))
    assert report.specimen is not None and report.specimen.type is not None
    assert report.specimen.type.code == "119297000"


@pytest.mark.parametrize("name", ["fhirconverter__MDM-T02-01.hl7", "fhirconverter__MDM-T02-03.hl7"])
def test_corpus_mdm_samples_map(name: str):
    events = map_message(load(HL7_CORPUS / name), context())
    doc = events[-1].entity
    assert isinstance(doc, Document) and doc.content and doc.identifiers


def test_corpus_mdm_text_document_keeps_every_line():
    events = map_message(load(HL7_CORPUS / "fhirconverter__MDM-T02-03.hl7"), context())
    doc = events[-1].entity
    assert isinstance(doc, Document)
    text = base64.b64decode(doc.content[0].data or "").decode()
    raw = (HL7_CORPUS / "fhirconverter__MDM-T02-03.hl7").read_bytes()
    obx_count = raw.count(b"\rOBX|") + raw.count(b"\nOBX|")
    assert len(text.split("\n")) == obx_count
    assert doc.doc_status == "preliminary"  # TXA-17 IP


@pytest.mark.parametrize(("trigger", "relation"), [("T10", "replaces"), ("T06", "appends")])
def test_an_mdm_replacement_or_addendum_names_its_parent_document(trigger: str, relation: str):
    from conformance.fhir import check_resource
    from conformance.hl7v2 import validate_strict
    from mappings.fhir import from_fhir, to_fhir
    from mappings.fhir.context import FhirMapContext
    from mappings.hl7v2 import Hl7v2OutboundOptions, render_hl7v2_event

    message = (
        MDM.replace("MDM^T02^MDM_T02", f"MDM^{trigger}^MDM_T02")
        .replace("EVN|T02", f"EVN|{trigger}")
        .replace("|||DOC-55^HOSP|||||LA", "|||DOC-56^HOSP|DOC-55^HOSP||||LA")
        + "OBX|1|TX|DS^Discharge^L||Corrected text||||||F\r"
    )
    events = map_message(parse(message.encode()), context())
    doc = events[1].entity
    assert isinstance(doc, Document)
    assert doc.identifiers[0].value == "DOC-56"
    assert [(r.value, r.system) for r in doc.related] == [("DOC-55", "HOSP")]
    assert doc.relation == relation
    ctx = FhirMapContext(source="ehr")
    resource = to_fhir(doc, ctx)
    assert check_resource(resource).ok, check_resource(resource).as_list()
    (link,) = resource["relatesTo"]
    assert link["code"] == relation and link["target"]["identifier"]["value"] == "DOC-55"
    again = from_fhir(resource, ctx)
    assert isinstance(again, Document) and again.relation == relation
    assert [r.value for r in again.related] == ["DOC-55"]
    raw = render_hl7v2_event(events[1], Hl7v2OutboundOptions(control_id="D-2"))
    assert validate_strict(raw).ok, validate_strict(raw).as_list()
    out = parse(raw)
    assert (out["MSH-9.2"], out["EVN-1"], out["TXA-13.1"]) == (trigger, trigger, "DOC-55")


def test_an_mdm_t02_has_no_parent_relation():
    events = map_message(
        parse((MDM + "OBX|1|TX|DS^Discharge^L||Line||||||F\r").encode()), context()
    )
    doc = events[1].entity
    assert isinstance(doc, Document) and doc.related == [] and doc.relation is None
