"""Issue 12, item 4: every ADT trigger A01–A62, checked against the trigger table of
docs/hl7v2-mappings.md (the source of truth): the table and the code agree row by row, and a
message of each trigger maps — through ``map_message``, the registry the hub uses — to the
events, statuses and fields the table says; the mapped records render as FHIR that
fhir.resources validates, field by field. Also A60 allergies (IAM, IAR, AL1), the A23/A29
removals, the identifier changes, DFT^P11's per-group diagnoses and SIU^S16."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hl7map_support import context

from adapters.hl7v2 import parse
from conformance.fhir import validate_fhir
from hub.canonical import EventKind
from hub.errors import MappingError, UnsupportedMessage
from mappings.fhir import FhirMapContext, to_fhir
from mappings.hl7v2 import INBOUND, STRUCTURES, map_message
from mappings.hl7v2.adt import (
    ADT_EVENTS,
    ADT_IDENTIFIER_CHANGES,
    ADT_MERGES,
    ADT_REMOVALS,
    ADT_STORED,
    ADT_TRIGGERS,
)

K = EventKind
DOC = Path(__file__).resolve().parents[3] / "docs" / "hl7v2-mappings.md"
ROW = re.compile(r"^\| (A\d\d) \| ([^|]+) \| (ADT_A\d\d) \| ([^|]+) \| ([^|]+) \|$")
FHIR = FhirMapContext(source="hub")


def _table() -> dict[str, tuple[str, str, str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if m := ROW.match(line):
            rows[m[1]] = (m[2].strip(), m[3], m[4].strip(), m[5].strip())
    return rows


TABLE = _table()
TRIGGERS = sorted(TABLE)


def _kinds(events_text: str) -> list[EventKind]:
    """What the table's events column says a message with one IN1 emits."""
    if events_text.startswith("stored, acknowledged, routable"):
        return []
    kinds = [EventKind(k) for k in re.findall(r"`([a-z_.]+)`", events_text)]
    kinds = [k for k in kinds if k is not K.ALLERGY_REMOVED]  # the D-action alternative
    return [*kinds, K.COVERAGE_UPDATED] if "coverages" in events_text else kinds


PID = "PID|1||MRN-1001^^^GHH^MR||Rivera^Ana||19750214|F"
PV1 = (
    "PV1|1|I|4W^412^B^GHH||||1234567890^Chen^Wei^^^Dr^^^&2.16.840.1.113883.4.6&ISO^^^^NPI||"
    "2222222222^Okafor^Ngozi^^^Dr^^^&2.16.840.1.113883.4.6&ISO^^^^NPI|MED|||||||||"
    "V-2024-0042^^^GHH^VN"
)
MRG = "MRG|MRN-0999^^^GHH^MR||||||Rivera^Anna"
IN1 = "IN1|1|GOLD^Gold PPO^L|ACME^^^PAYERS^XX|Acme Health"
IAM = "IAM|1|FA^Food allergy^HL70127|1234^Peanut^L|SV^Severe^HL70128|Hives|A|ALG-7^GHH"


def message(trigger: str, *extra: str) -> bytes:
    structure = ADT_EVENTS[trigger][1]
    segs = [
        f"MSH|^~\\&|GHH-ADT|GHH|CAREHUB|HUB|20240312101500-0500||ADT^{trigger}^{structure}|"
        f"C-{trigger}|P|2.5.1",
        f"EVN|{trigger}|20240312101500-0500",
        PID,
    ]
    if trigger in ADT_MERGES or trigger in ADT_IDENTIFIER_CHANGES:
        segs.append(MRG)
    else:
        segs.append(PV1)
    if trigger == "A60":
        segs.append(IAM)
    segs += [IN1, *extra]
    return ("\r".join(segs) + "\r").encode()


# ------------------------------------------------------------------ table ↔ code


def test_the_table_lists_every_trigger_a01_to_a62_of_table_0003():
    from hl7apy.v2_5_1.tables import TABLES

    events = TABLES["HL70003"][1]
    adt = {e for e in events if re.fullmatch(r"A\d\d", e) and e <= "A62"} - {"A19"}
    assert set(TABLE) == adt == set(ADT_EVENTS)
    assert {f"ADT^{t}" for t in TABLE} <= set(INBOUND)
    assert "ADT^A19" not in INBOUND  # a query (QRY^A19), answered by ADR^A19


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_the_table_row_is_the_code(trigger):
    meaning, structure, events, status = TABLE[trigger]
    assert (meaning, structure) == ADT_EVENTS[trigger]
    assert STRUCTURES[f"ADT^{trigger}"] == structure
    stored = events.startswith("stored, acknowledged, routable")
    assert stored == (trigger in ADT_STORED)
    if trigger in ADT_TRIGGERS:
        spec = ADT_TRIGGERS[trigger]
        assert status == (spec.status.value if spec.encounter_kind else "–")
    else:
        assert status == "–"


def test_the_families_do_not_overlap():
    families = [set(ADT_TRIGGERS), ADT_MERGES, ADT_IDENTIFIER_CHANGES, set(ADT_REMOVALS)]
    families += [ADT_STORED, {"A60"}]
    assert sum(len(f) for f in families) == len(ADT_EVENTS)
    assert set().union(*families) == set(ADT_EVENTS)


# ------------------------------------------------------------------ each trigger mapped


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_trigger_maps_as_the_table_says(trigger):
    _, _, events_text, status = TABLE[trigger]
    events = map_message(parse(message(trigger)), context())
    assert [e.kind for e in events] == _kinds(events_text)
    for event in events:
        assert event.provenance.message_key == f"ADT^{trigger}"
        prior = ["MRN-0999"] if event.replaces else []  # a merge is about both
        assert [i.value for i in event.subject_identifiers] == ["MRN-1001", *prior]
        entity = event.entity
        if entity.entity_type.value == "Encounter":
            removed = event.kind is K.ENCOUNTER_REMOVED
            assert entity.status.value == ("entered-in-error" if removed else status)
            assert [i.value for i in entity.identifiers] == ["V-2024-0042"]
            assert entity.patient_class.code == "IMP"
            assert entity.location.identifiers[0].value == "4W/412/B"
            assert [r.identifiers[0].value for r in entity.attending] == ["1234567890"]
            assert [r.identifiers[0].value for r in entity.consulting] == ["2222222222"]
            assert [i.value for i in entity.patient.identifiers] == ["MRN-1001"]
        if entity.entity_type.value == "Patient":
            assert [i.value for i in entity.identifiers] == ["MRN-1001"]
            assert entity.names[0].family == "Rivera"
        if event.kind in (K.PATIENT_MERGED, K.PATIENT_IDENTIFIER_CHANGED):
            (prior,) = event.replaces
            assert [i.value for i in prior.identifiers] == ["MRN-0999"]
            assert prior.display == "Rivera, Anna"


@pytest.mark.parametrize("trigger", sorted(set(TABLE) - ADT_STORED))
def test_every_mapped_record_renders_as_valid_fhir_field_by_field(trigger):
    _, _, _, status = TABLE[trigger]
    for event in map_message(parse(message(trigger)), context()):
        written = to_fhir(event.entity, FHIR)
        validate_fhir(written)
        kind = written["resourceType"]
        if kind == "Encounter":
            removed = event.kind is K.ENCOUNTER_REMOVED
            assert written["status"] == ("entered-in-error" if removed else status)
            assert written["class"]["code"] == "IMP"
            assert written["identifier"][0]["value"] == "V-2024-0042"
            assert written["subject"]["identifier"]["value"] == "MRN-1001"
        elif kind == "Patient":
            assert written["identifier"][0]["value"] == "MRN-1001"
            assert written["name"][0]["family"] == "Rivera"
            assert written["birthDate"] == "1975-02-14"
        elif kind == "AllergyIntolerance":
            assert written["patient"]["identifier"]["value"] == "MRN-1001"
            assert written["code"]["coding"][0]["code"] == "1234"
            assert written["category"] == ["food"]
            assert written["reaction"][0]["severity"] == "severe"
        else:
            assert kind == "Coverage"
            assert written["beneficiary"]["identifier"]["value"] == "MRN-1001"


def test_a_stored_trigger_needs_nothing_but_msh():
    """A20 (bed status) has no PID at all: stored, acknowledged, no event and no error."""
    raw = (
        b"MSH|^~\\&|GHH-ADT|GHH|CAREHUB|HUB|20240312101500-0500||ADT^A20^ADT_A20|B-1|P|2.5.1\r"
        b"EVN|A20|20240312101500-0500\rNPU|4W^412^B^GHH|H\r"
    )
    assert map_message(parse(raw), context()) == []


def test_the_a19_query_is_refused_with_201():
    raw = message("A01").replace(b"ADT^A01^ADT_A01", b"ADT^A19^QRY_A19")
    with pytest.raises(UnsupportedMessage) as info:
        map_message(parse(raw), context())
    assert (info.value.code, info.value.location) == ("201", "MSH-9.2")


@pytest.mark.parametrize("trigger", ["A06", "A12", "A21", "A54"])
def test_an_encounter_trigger_without_pv1_names_the_missing_segment(trigger):
    raw = message(trigger).replace(PV1.encode() + b"\r", b"")
    with pytest.raises(MappingError) as info:
        map_message(parse(raw), context())
    assert info.value.location == "PV1"


def test_a07_takes_the_outpatient_class():
    raw = message("A07").replace(b"PV1|1|I|", b"PV1|1|O|")
    _, enc, _ = map_message(parse(raw), context())
    assert enc.kind is K.ENCOUNTER_CLASS_CHANGED and enc.entity.patient_class.code == "AMB"


# ------------------------------------------------------------------ removals


def test_a23_removes_the_visit_it_names_and_a29_the_person():
    pid, visit = map_message(parse(message("A23")), context())
    assert pid.kind is K.PATIENT_UPDATED  # the visit's removal is checked against its PID
    assert visit.kind is K.ENCOUNTER_REMOVED
    assert [i.value for i in visit.entity.identifiers] == ["V-2024-0042"]
    (person,) = map_message(parse(message("A29")), context())
    assert person.kind is K.PATIENT_REMOVED
    assert [i.value for i in person.entity.identifiers] == ["MRN-1001"]


def test_a23_without_a_visit_number_is_refused_at_pv1_19():
    raw = message("A23").replace(b"V-2024-0042^^^GHH^VN", b"")
    with pytest.raises(MappingError) as info:
        map_message(parse(raw), context())
    assert info.value.location == "PV1-19"


# ------------------------------------------------------------------ A60 allergies


def test_iam_with_its_iar_and_nte_maps_field_by_field():
    raw = message(
        "A60",
        "NTE|1||Observed at the clinic",
        "IAR|271807003^Skin rash^SCT|MO^Moderate^HL70128",
    ).replace(
        IAM.encode(),
        b"IAM|1|DA^Drug allergy^HL70127|70618^Penicillin^RXNORM|SV^Severe^HL70128|Hives|U|"
        b"ALG-7^GHH||AL^Allergy^HL70436||20190301||20200105083000-0500||||C^Confirmed^HL70438",
    )
    pid, event = map_message(parse(raw.replace(IN1.encode() + b"\r", b"")), context())
    assert pid.kind is K.PATIENT_UPDATED  # first: the allergies' subject
    assert event.kind is K.ALLERGY_UPDATED
    a = event.entity
    assert [(i.value, i.system) for i in a.identifiers] == [("ALG-7", "GHH")]
    assert (a.code.code, a.code.display) == ("70618", "Penicillin")
    assert a.category == ["medication"] and a.kind == "allergy"
    assert (a.clinical_status, a.verification_status) == ("active", "confirmed")
    assert str(a.onset) == "2019-03-01"
    assert a.recorded_at.isoformat() == "2020-01-05T08:30:00-05:00"
    assert [(r.severity, [m.display for m in r.manifestations]) for r in a.reactions] == [
        ("severe", ["Hives"]),
        ("moderate", ["Skin rash"]),
    ]
    assert a.note == "Observed at the clinic"
    assert [i.value for i in a.patient.identifiers] == ["MRN-1001"]
    written = to_fhir(a, FHIR)
    validate_fhir(written)
    assert written["clinicalStatus"]["coding"][0]["code"] == "active"
    assert written["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert written["type"] == "allergy" and written["onsetDateTime"] == "2019-03-01"
    assert [r["severity"] for r in written["reaction"]] == ["severe", "moderate"]
    assert written["note"] == [{"text": "Observed at the clinic"}]


def test_an_iam_deleted_at_the_source_is_a_removal():
    raw = message("A60").replace(b"|Hives|A|ALG-7", b"|Hives|D|ALG-7")
    _, event = map_message(parse(raw), context())
    assert event.kind is K.ALLERGY_REMOVED
    assert [i.value for i in event.entity.identifiers] == ["ALG-7"]


def test_an_erroneous_allergy_is_written_without_a_clinical_status():
    raw = message("A60").replace(IAM.encode(), IAM.encode() + b"||||||||||E")
    _, event = map_message(parse(raw), context())
    assert event.entity.verification_status == "entered-in-error"
    written = to_fhir(event.entity, FHIR)
    validate_fhir(written)
    assert "clinicalStatus" not in written  # FHIR ait-2


def test_al1_allergies_without_identifiers_get_a_stable_one():
    al1 = "AL1|1|DA^Drug allergy^HL70127|70618^Penicillin^RXNORM|MO|Rash~Itching|20190301"
    raw = message("A60").replace(IAM.encode(), al1.encode())
    _, event = map_message(parse(raw), context())
    again = map_message(parse(raw), context())[1]
    a = event.entity
    assert a.identifiers == again.entity.identifiers and len(a.identifiers) == 1
    assert "MRN-1001" in a.identifiers[0].value and "70618" in a.identifiers[0].value
    assert a.category == ["medication"] and str(a.onset) == "2019-03-01"
    assert [m.display for m in a.reactions[0].manifestations] == ["Rash", "Itching"]
    assert a.reactions[0].severity == "moderate"
    validate_fhir(to_fhir(a, FHIR))


def test_an_unknown_allergy_code_is_left_out_not_guessed():
    raw = message("A60").replace(b"FA^Food allergy", b"ZZ^Odd").replace(b"|SV^Severe", b"|XX")
    _, event = map_message(parse(raw), context())
    assert event.entity.category == [] and event.entity.reactions[0].severity is None


# ------------------------------------------------------------------ DFT^P11, SIU^S16


def _dft(trigger: str, body: list[str]) -> bytes:
    head = [
        f"MSH|^~\\&|GHH-BILL|GHH|CAREHUB|HUB|20240312101500-0500||DFT^{trigger}|D-1|P|2.5.1",
        f"EVN|{trigger}|20240312101500-0500",
        PID,
    ]
    return ("\r".join(head + body) + "\r").encode()


def test_p11_charges_take_the_diagnoses_of_their_own_financial_group():
    body = [
        "DG1|1||R07.9^Chest pain^I10|||F",
        "FT1|1|T-1||20240312|20240312|CG|71045^Xray chest^C4|||1|100&USD",
        "DG1|1||J34.89^Nasal congestion^I10|||F",
        "FT1|2|T-2||20240312|20240312|CG|92002^Eye exam^C4|||1|70&USD",
    ]
    first, second = map_message(parse(_dft("P11", body)), context())
    assert [d.code.code for d in first.entity.diagnoses] == ["J34.89"]
    assert [d.code.code for d in second.entity.diagnoses] == ["R07.9"]
    # P03 reads every DG1 as the message's (its structure has them before the FT1s)
    p03 = map_message(parse(_dft("P03", body)), context())
    assert [[d.code.code for d in e.entity.diagnoses] for e in p03] == [["R07.9", "J34.89"]] * 2


def test_s16_discontinues_with_the_event_reason():
    raw = (
        b"MSH|^~\\&|GHH|GHH|CAREHUB|HUB|20240701080000-0500||SIU^S16^SIU_S12|S-1|P|2.5.1\r"
        b"SCH|PL-1^SCHED|FL-1^CLINIC||||STOP^Course ended^L|||||^^^20240708140000-0500\r"
        b"PID|1||MRN-1001^^^GHH^MR||Rivera^Ana\rRGS|1\r"
    )
    (event,) = map_message(parse(raw), context())
    assert event.kind is K.APPOINTMENT_DISCONTINUED
    assert event.entity.status.value == "cancelled"
    assert event.entity.cancellation_reason.code == "STOP"
    written = to_fhir(event.entity, FHIR)
    validate_fhir(written)
    assert written["status"] == "cancelled"
    assert written["cancelationReason"]["coding"][0]["code"] == "STOP"


def test_a_fhir_encounter_on_leave_keeps_its_status_and_starts_a_leave():
    from mappings.fhir import event_kind, from_fhir

    (enc, _) = map_message(parse(message("A21")), context())
    written = to_fhir(enc.entity, FHIR)
    assert written["status"] == "onleave"
    back = from_fhir(written, FHIR)
    assert back.status.value == "onleave"
    before = back.model_copy(update={"status": back.status.__class__("in-progress")})
    assert event_kind("Encounter", back, before) is K.ENCOUNTER_LEAVE_STARTED
