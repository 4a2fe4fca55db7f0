"""``conformance.emitted``: the one check of everything the hub emits. Valid renderings of
the hub's own mappings pass; a broken one fails with findings that name the element or
field (and never quote a patient's value); ``require_valid`` turns them into a permanent
``MappingError``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from carehub.app.files import convert_item, read_items
from conformance.emitted import (
    EmittedInvalid,
    _load_map,
    _pyx12,
    _safe_hl7_text,
    check_emitted,
    require_valid,
)
from hub.canonical import EventKind
from hub.errors import MappingError, PermanentError
from mappings.fhir import FhirMapContext, to_fhir
from mappings.hl7v2 import Hl7v2OutboundOptions, render_hl7v2_event
from mappings.vocab import load_vocabulary
from mappings.x12.outbound import render_x12_event
from tests.corpus import corpus_dir
from tests.mappings.hl7v2.hl7map_events import EVENTS
from tests.mappings.x12.x12map_events import event as x12_event
from tests.mappings.x12.x12map_events import rich_professional
from tests.mappings.x12.x12map_support import options as x12_options

# ----------------------------------------------------------------------------- fixtures


def _a04() -> bytes:
    return render_hl7v2_event(EVENTS["a04_rich"](), Hl7v2OutboundOptions(vocab=load_vocabulary()))


def _with_field(message: bytes, segment: bytes, number: int, value: bytes) -> bytes:
    lines = message.split(b"\r")
    for i, line in enumerate(lines):
        if line.startswith(segment + b"|"):
            fields = line.split(b"|")
            fields[number] = value
            lines[i] = b"|".join(fields)
            break
    return b"\r".join(lines)


def _837() -> bytes:
    return render_x12_event(
        x12_event(EventKind.CLAIM_SUBMITTED, rich_professional()), x12_options()
    )


def _claim() -> dict[str, Any]:
    return to_fhir(rich_professional(), FhirMapContext(source="test"))


# ----------------------------------------------------------------------------- FHIR


def test_a_mapped_claim_is_valid_fhir() -> None:
    report = check_emitted("fhir", _claim())
    assert report.ok, report.as_list()


def test_a_line_with_both_serviced_date_and_period_is_refused_at_the_line() -> None:
    """serviced[x] is a choice (the 837 RD8 defect): both on one line is invalid R4."""
    claim = _claim()
    line = next(i for i in claim["item"] if "servicedPeriod" in i)
    line["servicedDate"] = line["servicedPeriod"]["start"][:10]
    report = check_emitted("fhir", claim)
    (error,) = report.errors
    assert error.location == f"Claim.item[{claim['item'].index(line)}]"
    assert "servicedDate" in error.text and "servicedPeriod" in error.text


def test_json_bytes_are_read_and_checked_like_the_resource() -> None:
    claim = _claim()
    claim["created"] = "yesterday"
    errors = check_emitted("fhir", json.dumps(claim).encode()).errors
    assert [e.location for e in errors] == ["Claim.created"]
    assert "yesterday" not in errors[0].text
    assert check_emitted("fhir", b"{not json").errors[0].code == "structure"


def test_every_entry_of_a_bundle_is_checked_as_its_own_type() -> None:
    patient = to_fhir(EVENTS["a04_rich"]().entity, FhirMapContext(source="test"))
    good = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": patient}]}
    assert check_emitted("fhir", good).ok
    broken = copy.deepcopy(good)
    broken["entry"][0]["resource"]["birthDate"] = "the fourth of July"
    locations = [e.location for e in check_emitted("fhir", broken).errors]
    assert locations == ["Bundle.entry[0].resource.birthDate"]


# ----------------------------------------------------------------------------- HL7 v2


def test_a_rendered_a04_is_strictly_valid() -> None:
    report = check_emitted("hl7v2", _a04())
    assert report.ok, report.as_list()


def test_a_bad_date_is_placed_at_its_field_without_the_value() -> None:
    bad = _with_field(_a04(), b"PID", 7, b"19801345")
    (error,) = check_emitted("hl7v2", bad).errors
    assert error.location == "PID-7"
    assert "19801345" not in error.text and "date" in error.text


def test_a_component_over_its_length_is_placed_without_the_value() -> None:
    # hl7apy's MaxLengthReached quotes the component ("The value … exceed the max length"),
    # not the whole field: the text still loses it
    value = b"NAMESPACE-FAR-TOO-LONG-XYZ"  # CX.4 HD.1 is IS, 20 characters
    bad = _with_field(_a04(), b"PID", 3, b"MRN-1001^^^" + value + b"^MR")
    (error,) = check_emitted("hl7v2", bad).errors
    assert error.location == "PID-3"
    assert value.decode() not in error.text
    assert "longer than 20 characters" in error.text


_PHI = "SECRET"


@pytest.mark.parametrize(
    ("segment", "number", "value", "location", "says"),
    [
        # a component of PID-7 (TS.1) that is no date: hl7apy quotes the component
        (b"PID", 7, b"SECRETDOB^Y", "PID-7", "date"),
        # a subcomponent-deep date (XAD.13, the address validity range): quoted too
        (b"PID", 11, b"1 MAIN^^TOWN^ST^12345^^^^^^^^SECRETRANGE", "PID-11", "date"),
        # MSH-7 is checked like every other field (hl7apy fails there first)
        (b"MSH", 6, b"2024SECRET", "MSH-7", "date"),
        # a component over its length: "The value SECRET… exceed the max length"
        (b"PID", 5, b"SECRETFAMILY" * 20 + b"^JANE", "PID-5", "longer than"),
    ],
)
def test_hl7v2_findings_never_quote_the_value(
    segment: bytes, number: int, value: bytes, location: str, says: str
) -> None:
    """A finding's text is a fixed phrase with its location: hl7apy's exception text,
    which quotes the value (field, component or subcomponent), never passes through."""
    bad = _with_field(_a04(), segment, number, value)
    report = check_emitted("hl7v2", bad)
    assert report.errors, report.as_list()
    for finding in report.findings:
        assert _PHI not in finding.text, finding.text
        assert _PHI not in (finding.location or "")
    first = report.errors[0]
    assert first.location == location
    assert says in first.text
    with pytest.raises(EmittedInvalid) as raised:
        require_valid("hl7v2", bad)
    assert _PHI not in str(raised.value)


def test_hl7v2_table_and_length_warnings_never_quote_the_value() -> None:
    text = _safe_hl7_text("Value SECRETCODE not in table 0001 in element PID.PID_8")
    assert text == "value not in table 0001"
    assert _safe_hl7_text("Exceeded max length (20) of XPN.XPN_1") == (
        "longer than 20 characters (XPN.XPN_1)"
    )
    # any form not known is a fixed text, never hl7apy's
    assert _PHI not in _safe_hl7_text("ValueError: SECRET something new")


def test_a_segment_out_of_order_is_named() -> None:
    lines = _a04().split(b"\r")
    pid = next(i for i, line in enumerate(lines) if line.startswith(b"PID|"))
    lines.insert(1, lines.pop(pid))  # PID before EVN
    errors = check_emitted("hl7v2", b"\r".join(lines)).errors
    assert errors and errors[0].location in ("PID", "EVN")
    assert "out of order" in errors[0].text


# ----------------------------------------------------------------------------- X12


def test_a_rendered_837p_passes_our_tables_and_pyx12() -> None:
    report = check_emitted("x12", _837())
    assert report.ok, report.as_list()


def test_a_bad_code_is_named_by_loop_and_element() -> None:
    bad = _837().replace(b"NM1*85*2*", b"NM1*85*7*")
    errors = check_emitted("x12", bad).errors
    assert [e.location for e in errors] == ["2010AA/NM102"]


def test_pyx12_findings_name_the_element_and_never_the_data() -> None:
    """pyx12 is the second opinion where it has a map (837): its errors become findings."""
    bad = _837().replace(b"DMG*D8*", b"DMG*D8*2024")
    findings = _pyx12(bad).findings
    assert findings and all(f.is_error for f in findings)
    assert {f.location.split(" ")[0] for f in findings if f.location} == {"DMG02"}
    assert not any("2024" in f.text for f in findings), [f.text for f in findings]
    assert _pyx12(_837()).findings == []


def test_what_only_pyx12_sees_still_stops_the_interchange() -> None:
    """HL02 pointing at a level that is not there: our guide tables do not follow the HL
    tree, pyx12 does — check_emitted asks both."""
    data = _837()
    assert b"HL*2*1*22*" in data
    bad = data.replace(b"HL*2*1*22*", b"HL*2*5*22*", 1)
    errors = check_emitted("x12", bad).errors
    assert [(e.location, e.text) for e in errors] == [
        ("segment 14", "pyx12: HL parent is not a valid parent")
    ]


def test_pyx12_maps_are_parsed_once_and_its_loader_is_left_as_found() -> None:
    import pyx12.map_if

    loader = pyx12.map_if.load_map_file
    good, bad = _837(), _837().replace(b"HL*2*1*22*", b"HL*2*5*22*", 1)
    _pyx12(good)
    hits = _load_map.cache_info().hits
    assert _pyx12(bad).findings and _pyx12(good).findings == []  # nothing carried over
    assert _load_map.cache_info().hits > hits
    assert pyx12.map_if.load_map_file is loader


def test_an_unreadable_interchange_is_an_error_not_an_exception() -> None:
    errors = check_emitted("x12", b"ISA*00*broken").errors
    assert errors and errors[0].code == "structure"


# ----------------------------------------------------------------------------- canonical, others


def test_canonical_json_is_read_back_by_its_model() -> None:
    event = EVENTS["a04_rich"]()
    dumped = event.model_dump_json(exclude_none=True).encode()
    assert check_emitted("canonical", dumped).ok
    broken = json.loads(dumped)
    broken["kind"] = "patient.teleported"
    errors = check_emitted("canonical", json.dumps(broken)).errors
    assert errors and errors[0].location == "kind"


def test_an_unknown_target_is_never_a_silent_pass() -> None:
    assert not check_emitted("hl7v3", b"<xml/>").ok


def test_require_valid_raises_a_permanent_mapping_error_naming_the_fields() -> None:
    bad = _with_field(_a04(), b"PID", 7, b"19801345")
    with pytest.raises(EmittedInvalid) as raised:
        require_valid("hl7v2", bad)
    err = raised.value
    assert isinstance(err, MappingError) and isinstance(err, PermanentError)
    assert err.location == "PID-7" and err.target == "hl7v2"
    assert str(err).startswith("rendered HL7 v2 is not valid, not sent: PID-7: ")
    assert not err.report.ok
    assert require_valid("hl7v2", _a04()).ok


# ----------------------------------------------------------------------------- the 837 RD8 defect


def test_an_837_line_dated_with_a_range_converts_to_serviced_period_only() -> None:
    """The corpus 837 whose lines say DTP*472*RD8*20040201-20040207: each Claim.item has
    one serviced[x], the period, as sent (the golden test froze both once)."""
    path = corpus_dir() / "x12" / "lfhx12__837_005010X222A2_demo.drug.example10.3.837"
    raw = path.read_bytes()
    assert b"DTP*472*RD8*20040201-20040207" in raw
    claims = [
        json.loads(data)
        for item in read_items(path)
        for name, data in convert_item(item, "fhir").outputs
        if name.endswith("-Claim.json")
    ]
    assert claims
    for claim in claims:
        assert check_emitted("fhir", claim).ok
        for line in claim["item"]:
            serviced = sorted(k for k in line if k.startswith("serviced"))
            assert serviced == ["servicedPeriod"], line
            assert line["servicedPeriod"] == {"start": "2004-02-01", "end": "2004-02-07"}
