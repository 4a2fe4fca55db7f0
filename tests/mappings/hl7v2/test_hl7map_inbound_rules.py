"""Inbound behaviour, one rule per test: registry and keys, identifiers and namespaces,
dates and errors, vocabulary overrides, trigger semantics, the credential expiry rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hl7map_support import FIXTURES, context, load

from adapters.hl7v2 import parse
from hub.canonical import (
    AdministrativeSex,
    AppointmentStatus,
    Credential,
    CredentialKind,
    EncounterStatus,
    EventKind,
)
from hub.errors import MappingError, UnsupportedMessage
from mappings.hl7v2 import INBOUND, map_message, message_key
from mappings.hl7v2.mfn import EXPIRY_WINDOW_DAYS, expiring
from mappings.vocab import load_vocabulary

K = EventKind


def seg(seg_id, fields):
    """A segment from {field number: raw text}."""
    top = max(fields)
    return "|".join([seg_id, *(fields.get(n, "") for n in range(1, top + 1))])


def adt(trigger="A04", structure="ADT_A01", pid="PID|1||111^^^HOSP^MR||DOE^JANE||19800101|F",
        pv1="PV1|1|O|CLINIC^101^A^HOSP||||||||||||||||V-1^^^HOSP^VN", msh7="20240102030405-0500",
        version="2.5.1", extra=()):  # fmt: skip
    msh9 = f"ADT^{trigger}^{structure}" if structure else f"ADT^{trigger}"
    lines = [f"MSH|^~\\&|REG|HOSP|HUB|CARE|{msh7}||{msh9}|C1|P|{version}", f"EVN|{trigger}|{msh7}"]
    lines += [pid] + ([pv1] if pv1 else []) + list(extra)
    return parse("\r".join(lines) + "\r")


# ------------------------------------------------------------------ registry and keys


def test_registry_covers_every_trigger_of_the_brief():
    # every ADT trigger of table 0003 from A01 to A62 but the A19 query (none of A56–A59
    # exists); issue 12 added all but the first eleven, S16 and P11
    wanted = {f"ADT^A{n:02d}" for n in [*range(1, 19), *range(20, 56), 60, 61, 62]}
    wanted |= {f"SIU^S{n}" for n in (12, 13, 14, 15, 16, 17, 26)}
    wanted |= {"DFT^P03", "DFT^P11", "MFN^M02"}
    wanted |= {"ORU^R01"} | {f"MDM^T{n}" for n in ("02", "04", "06", "08", "10")}
    wanted |= {"VXU^V04"}
    assert set(INBOUND) == wanted


@pytest.mark.parametrize("structure", ["ADT_A01", "ADT_A04", None])
def test_a04_maps_alike_whatever_structure_msh_9_3_names(structure):
    events = map_message(adt("A04", structure), context())
    assert [e.kind for e in events] == [K.PATIENT_REGISTERED, K.ENCOUNTER_STARTED]


def test_a08_in_adt_a01_structure_is_an_update():
    events = map_message(adt("A08", "ADT_A01"), context())
    assert [e.kind for e in events] == [K.PATIENT_UPDATED, K.ENCOUNTER_UPDATED]
    assert events[1].entity.status is EncounterStatus.UNKNOWN


def test_trigger_comes_from_evn_1_when_msh_9_2_is_empty():
    msg = parse(
        "MSH|^~\\&|REG|HOSP|HUB|CARE|19990102||ADT|C1|P|2.2\rEVN|A04|19990102\r"
        "PID|1||111^^^HOSP^MR||DOE^JANE\rPV1|1|O\r"
    )
    assert message_key(msg) == "ADT^A04"
    assert map_message(msg, context())[0].kind is K.PATIENT_REGISTERED


def test_structure_shaped_message_type_is_read_as_code_and_trigger():
    msg = parse("MSH|^~\\&|A|B|C|D|20240101||ADT_A31|C1|P|2.3\rPID|1||7^^^H^MR||X^Y\r")
    assert message_key(msg) == "ADT^A31"


@pytest.mark.parametrize(
    ("msh9", "code", "location"),
    [
        ("ADT^A99", "201", "MSH-9.2"),
        ("SIU^S99", "201", "MSH-9.2"),
        ("ORM^O01", "200", "MSH-9.1"),
        ("MDM^T01", "201", "MSH-9.2"),
        ("ACK", "200", "MSH-9.1"),
    ],
)
def test_unsupported_messages_say_which_code(msh9, code, location):
    msg = parse(f"MSH|^~\\&|A|B|C|D|20240101||{msh9}|C1|P|2.5.1\rPID|1||7^^^H^MR||X^Y\r")
    with pytest.raises(UnsupportedMessage) as info:
        map_message(msg, context())
    assert (info.value.code, info.value.location) == (code, location)


# ------------------------------------------------------------------ trigger semantics


def test_a04_without_a_visit_registers_the_patient_only():
    events = map_message(adt("A04", pv1="PV1|1|N"), context())
    assert [e.kind for e in events] == [K.PATIENT_REGISTERED]


def test_a04_visit_is_arrived_and_refers_to_the_patient():
    pat, enc = map_message(adt("A04"), context())
    assert enc.entity.status is EncounterStatus.ARRIVED
    assert enc.entity.patient.identifiers == pat.entity.identifiers
    assert enc.subject_identifiers == pat.entity.identifiers


def test_admit_without_pv1_is_a_mapping_error_naming_the_segment():
    with pytest.raises(MappingError) as info:
        map_message(adt("A01", pv1=None), context())
    assert info.value.location == "PV1"


def test_message_without_pid_is_a_mapping_error():
    msg = parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|C1|P|2.5.1\rEVN|A01|20240101\rPV1|1|I\r")
    with pytest.raises(MappingError, match="no PID"):
        map_message(msg, context())


def test_a40_needs_the_retired_identifiers():
    msg = adt("A40", "ADT_A39", pv1=None, extra=["MRG|"])
    with pytest.raises(MappingError) as info:
        map_message(msg, context())
    assert info.value.location == "MRG-1"


def test_a40_entity_is_the_survivor_and_replaces_the_mrg_patient():
    msg = adt("A40", "ADT_A39", pv1=None, extra=["MRG|222^^^HOSP^MR~333^^^OLD^MR||||||DOE^JAYNE"])
    (event,) = map_message(msg, context())
    assert [i.value for i in event.entity.identifiers] == ["111"]
    assert [(i.system, i.value) for i in event.replaces[0].identifiers] == [
        ("HOSP", "222"),
        ("OLD", "333"),
    ]
    assert event.replaces[0].display == "DOE, JAYNE"


@pytest.mark.parametrize(
    ("trigger", "sch25", "status"),
    [
        ("S12", "Pending", AppointmentStatus.PENDING),
        ("S12", "", AppointmentStatus.BOOKED),
        ("S14", "Waitlist", AppointmentStatus.WAITLIST),
        ("S15", "Booked", AppointmentStatus.CANCELLED),
        ("S26", "Booked", AppointmentStatus.NOSHOW),
        ("S17", "", AppointmentStatus.ENTERED_IN_ERROR),
    ],
)
def test_appointment_status_is_the_triggers_else_sch_25(trigger, sch25, status):
    sch = seg("SCH", {1: "P1", 2: "F1", 9: "30", 10: "min", 16: "1^DOC", 20: "1^DOC", 25: sch25})
    msg = parse(f"MSH|^~\\&|A|B|C|D|20240101||SIU^{trigger}|C1|P|2.5.1\r{sch}\rRGS|1\r")
    (event,) = map_message(msg, context())
    assert event.entity.status is status


@pytest.mark.parametrize(
    ("units", "minutes"), [("min", 45), ("H", 2700), ("s", 1), ("parsec", None)]
)
def test_appointment_duration_units(units, minutes):
    msg = parse(
        f"MSH|^~\\&|A|B|C|D|20240101||SIU^S12|C1|P|2.5.1\rSCH|P1||||||||45|{units}\rRGS|1\r"
    )
    assert map_message(msg, context())[0].entity.duration_minutes == minutes


def test_dft_needs_an_ft1():
    msg = parse(
        "MSH|^~\\&|A|B|C|D|20240101||DFT^P03|C1|P|2.5.1\rEVN|P03|20240101\rPID|1||7^^^H^MR||X^Y\r"
    )
    with pytest.raises(MappingError) as info:
        map_message(msg, context())
    assert info.value.location == "FT1"


# ------------------------------------------------------------------ identifiers


def test_cx_without_authority_takes_the_configured_namespace():
    (pat, _) = map_message(
        adt(pid="PID|1||111^^^^MR||DOE^JANE"), context(namespaces={"patient": "HOSP-MRN"})
    )
    assert pat.entity.identifiers[0].system == "HOSP-MRN"


def test_bare_ids_of_two_systems_never_collide():
    msg = adt(pid="PID|1||111||DOE^JANE")
    a = map_message(msg, context(source_system="ehr"))[0].entity.identifiers[0]
    b = map_message(msg, context(source_system="lab"))[0].entity.identifiers[0]
    assert a.value == b.value and a.key() != b.key()
    assert (a.source, b.source) == ("ehr", "lab")


def test_cx_universal_id_is_the_system_when_there_is_no_namespace():
    (pat, _) = map_message(
        adt(pid="PID|1||111^^^&2.16.840.1.113883.19.5&ISO^MR||DOE^JANE"), context()
    )
    assert pat.entity.identifiers[0].system == "2.16.840.1.113883.19.5"


def test_npi_is_normalised_whether_named_by_oid_or_type():
    pv1 = "PV1|1|I|||||111^A^B^^^^^^&2.16.840.1.113883.4.6&ISO|222^C^D^^^^^^^^^^NPI"
    _, enc = map_message(adt("A01", pv1=pv1), context())
    systems = {r.identifiers[0].system for r in enc.entity.attending + enc.entity.referring}
    assert systems == {"http://hl7.org/fhir/sid/us-npi"}


def test_ssn_in_pid_3_and_pid_19_is_one_identifier():
    (pat, _) = map_message(
        adt(pid="PID|1||111^^^HOSP^MR~999^^^SSA^SS||DOE^JANE|||||||||||||999"), context()
    )
    ssn = [i for i in pat.entity.identifiers if i.type == "SS"]
    assert [(i.system, i.value) for i in ssn] == [("http://hl7.org/fhir/sid/us-ssn", "999")]


# ------------------------------------------------------------------ dates and values


def test_invalid_date_names_the_field_and_value():
    with pytest.raises(MappingError) as info:
        map_message(adt(pid="PID|1||111^^^HOSP^MR||DOE^JANE||2023133|F"), context())
    assert str(info.value) == "PID-7: '2023133' is not a valid date"


def test_invalid_datetime_in_a_repeated_segment_names_its_occurrence():
    ft1 = "FT1|1|T1||20240101|20240101|CG|99213^Visit^CPT"
    bad = "FT1|2|T2||20241301|20240101|CG|99213^Visit^CPT"
    msg = parse(
        "MSH|^~\\&|A|B|C|D|20240101||DFT^P03|C1|P|2.5.1\rEVN|P03|20240101\r"
        f"PID|1||7^^^H^MR||X^Y\r{ft1}\r{bad}\r"
    )
    with pytest.raises(MappingError) as info:
        map_message(msg, context())
    assert info.value.location == "FT1[2]-4"


def test_bad_number_names_the_field():
    msg = parse(
        "MSH|^~\\&|A|B|C|D|20240101||DFT^P03|C1|P|2.5.1\rEVN|P03|20240101\r"
        "PID|1||7^^^H^MR||X^Y\rFT1|1|T1||20240101||CG|99213|||two\r"
    )
    with pytest.raises(MappingError, match="FT1-10: 'two' is not a number"):
        map_message(msg, context())


def test_values_without_an_offset_take_the_senders_from_msh_7():
    _, enc = map_message(adt(pv1=seg("PV1", {1: "1", 2: "O", 44: "20240102080000"})), context())
    start = enc.entity.period.start
    assert start == datetime(2024, 1, 2, 8, 0, tzinfo=timezone(timedelta(hours=-5)))


def test_values_stay_naive_when_the_sender_gives_no_offset_at_all():
    _, enc = map_message(
        adt(msh7="20240102030405", pv1=seg("PV1", {1: "1", 2: "O", 44: "20240102080000"})),
        context(),
    )
    assert enc.entity.period.start == datetime(2024, 1, 2, 8, 0)


def test_date_precision_is_kept_where_the_field_allows_dates():
    _, enc = map_message(adt(pv1=seg("PV1", {1: "1", 2: "O", 44: "20240102"})), context())
    assert enc.entity.period.start == date(2024, 1, 2)


def test_birth_date_is_the_day_as_written_not_shifted_by_its_offset():
    (pat, _) = map_message(adt(pid="PID|1||111^^^HOSP^MR||DOE^JANE||198808182330-0800"), context())
    assert pat.entity.birth_date == date(1988, 8, 18)


def test_escaped_delimiters_are_read_back():
    (pat, _) = map_message(adt(pid="PID|1||111^^^HOSP^MR||O\\S\\BRIEN^ANNE\\T\\MARIE"), context())
    assert pat.entity.names[0].family == "O^BRIEN"
    assert pat.entity.names[0].given == ["ANNE&MARIE"]


# ------------------------------------------------------------------ vocabulary


def test_a_site_override_changes_the_translation(tmp_path: Path):
    override = tmp_path / "sex.csv"
    override.write_text("code,target\nF,other\n")
    vocab = load_vocabulary({"hl7_administrative_sex": str(override)})
    (pat, _) = map_message(adt(), context(vocab=vocab))
    assert pat.entity.sex is AdministrativeSex.OTHER
    (pat, _) = map_message(adt(), context())
    assert pat.entity.sex is AdministrativeSex.FEMALE


def test_patient_class_goes_to_act_code_and_unknown_classes_stay_as_sent():
    _, enc = map_message(adt(pv1="PV1|1|E"), context())
    assert (enc.entity.patient_class.code, enc.entity.patient_class.system) == (
        "EMER",
        "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    )
    _, enc = map_message(adt(pv1="PV1|1|R"), context())
    assert enc.entity.patient_class.code == "R"
    assert enc.entity.patient_class.system == "http://terminology.hl7.org/CodeSystem/v2-0004"


def test_unknown_sex_code_is_left_out_rather_than_guessed():
    (pat, _) = map_message(adt(pid="PID|1||111^^^HOSP^MR||DOE^JANE||19800101|Z"), context())
    assert pat.entity.sex is None


# ------------------------------------------------------------------ provenance
# (event ids are the pipeline's to give: tests/hub/test_ids.py)


def test_events_carry_provenance():
    first = map_message(adt(), context())
    prov = first[0].provenance
    assert (prov.message_key, prov.control_id, prov.source_system, prov.source_port) == (
        "ADT^A04",
        "C1",
        "ehr",
        "mllp-in",
    )
    assert first[0].entity.meta.source == "ehr"
    assert first[0].entity.meta.field_sources["names"] == "ehr"


# ------------------------------------------------------------------ credentials


def _cred(expires):
    return Credential(kind=CredentialKind.LICENSE, code=None, number="L1", expires=expires)


@pytest.mark.parametrize(
    ("days", "flagged"),
    [(-1, True), (0, True), (EXPIRY_WINDOW_DAYS, True), (EXPIRY_WINDOW_DAYS + 1, False)],
)
def test_expiry_window_is_inclusive_and_counts_expired(days, flagged):
    today = date(2024, 6, 1)
    notes = expiring([_cred(today + timedelta(days=days)), _cred(None)], today)
    assert bool(notes) is flagged


def test_mfn_deactivation_and_expiring_credentials():
    events = map_message(load(FIXTURES / "mfn_m02_staff.hl7"), context())
    active, *alerts, gone = events
    assert active.entity.active and not gone.entity.active
    assert gone.kind is K.PRACTITIONER_DEACTIVATED
    whats = [a.note.split(" #")[0].split(" expire")[0] for a in alerts]
    assert whats == ["license SL IL", "registration DEA", "privilege ADM"]
    assert "expired on 2024-05-01 (31 days before the message)" in alerts[1].note
    assert all(a.entity == active.entity for a in alerts)
    npi = [i for i in active.entity.identifiers if i.type == "NPI"]
    assert [i.system for i in npi] == ["http://hl7.org/fhir/sid/us-npi"]


def test_mfn_deleted_record_with_an_expired_licence_raises_no_alert():
    text = (FIXTURES / "mfn_m02_staff.hl7").read_text().replace("MFE|MUP|", "MFE|MDL|")
    events = map_message(parse(text), context())
    assert [e.kind for e in events] == [K.PRACTITIONER_DEACTIVATED, K.PRACTITIONER_DEACTIVATED]


def test_a_context_without_vocabulary_still_uses_the_built_in_tables():
    from hub.context import MapContext

    (pat, enc) = map_message(adt(), MapContext(source_system="ehr", format="hl7v2"))
    assert pat.entity.sex is AdministrativeSex.FEMALE
    assert enc.entity.patient_class.code == "AMB"
