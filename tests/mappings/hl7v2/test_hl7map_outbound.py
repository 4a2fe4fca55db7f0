"""Outbound: golden renderings, hl7apy STRICT validity of every rendering (rich and minimal
events, several versions), round trips through our own inbound mapping, and the rules
(identifier preference, control ids, refusals)."""

from __future__ import annotations

import pytest
from hl7map_events import AT, EVENTS, K, event, minimal_charge, minimal_patient, mrn, rich_patient
from hl7map_support import check_golden, context, strict_errors

from adapters.hl7v2 import parse
from hub.canonical import EntityType, Identifier, Ref
from hub.errors import MappingError, UnsupportedMessage
from mappings.hl7v2 import OUTBOUND, Hl7v2OutboundOptions, map_message, render_hl7v2_event

OPTIONS = Hl7v2OutboundOptions(
    sending_application="CAREHUB",
    sending_facility="GHH",
    receiving_application="BILLING",
    receiving_facility="GHH",
)
NAMES = sorted(EVENTS)


def render(name: str, **options) -> bytes:
    opts = OPTIONS if not options else Hl7v2OutboundOptions(**{**_base(), **options})
    return render_hl7v2_event(EVENTS[name](), opts)


def _base() -> dict:
    return {
        "sending_application": "CAREHUB",
        "sending_facility": "GHH",
        "receiving_application": "BILLING",
        "receiving_facility": "GHH",
    }


# ------------------------------------------------------------------ golden and strict


@pytest.mark.parametrize("name", NAMES)
def test_rendering_matches_golden(name):
    raw = render(name)
    assert strict_errors(raw) == []
    check_golden(f"out_{name}.hl7", raw.decode().replace("\r", "\n"))


@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6"])
@pytest.mark.parametrize("name", NAMES)
def test_every_rendering_is_strictly_valid(name, version):
    raw = render(name, version=version)
    assert parse(raw).version == version
    assert strict_errors(raw) == []


def test_every_outbound_kind_is_exercised():
    kinds = {EVENTS[n]().kind for n in NAMES}
    assert kinds == set(OUTBOUND)


# ------------------------------------------------------------------ round trip


def comparable(value):
    """A dumped entity without what inbound adds or cannot know: ids, meta, sources."""
    if isinstance(value, dict):
        drop = {"id", "meta", "source"}
        return {k: comparable(v) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def round_trip(name: str):
    original = EVENTS[name]()
    events = map_message(parse(render_hl7v2_event(original, OPTIONS)), context())
    return original, events


@pytest.mark.parametrize("name", ["a04_rich", "a04_minimal", "a08_rich", "a08_minimal"])
def test_patient_round_trips(name):
    original, (back,) = round_trip(name)
    assert back.kind is original.kind
    assert back.occurred_at == original.occurred_at
    assert comparable(back.entity.model_dump()) == comparable(original.entity.model_dump())


@pytest.mark.parametrize("name", ["a40_rich", "a40_minimal"])
def test_merge_round_trips_one_event_per_retired_patient(name):
    original, events = round_trip(name)
    assert [e.kind for e in events] == [K.PATIENT_MERGED] * len(original.replaces)
    survivor = comparable(original.entity.model_dump(exclude={"contacts"}))  # no NK1 in A39
    for back, retired in zip(events, original.replaces, strict=True):
        assert comparable(back.entity.model_dump(exclude={"contacts"})) == survivor
        assert comparable(back.replaces[0].model_dump()) == comparable(retired.model_dump())


@pytest.mark.parametrize(
    "name",
    ["s12_rich", "s12_minimal", "s13_rich", "s14_rich", "s14_minimal", "s15_rich", "s16_rich"],
)
def test_appointment_round_trips(name):
    original, (back,) = round_trip(name)
    assert back.kind is original.kind
    assert comparable(back.entity.model_dump()) == comparable(original.entity.model_dump())


def test_cancellation_without_a_reason_comes_back_with_the_triggers_meaning():
    original, (back,) = round_trip("s15_minimal")
    assert original.entity.cancellation_reason is None
    assert back.entity.cancellation_reason.code == "CANCELLED"
    rest = {"cancellation_reason"}
    assert comparable(back.entity.model_dump(exclude=rest)) == comparable(
        original.entity.model_dump(exclude=rest)
    )


@pytest.mark.parametrize("name", ["a47_rich", "a47_minimal"])
def test_identifier_change_round_trips(name):
    original, (back,) = round_trip(name)
    assert back.kind is K.PATIENT_IDENTIFIER_CHANGED
    assert parse(render(name)).get("MSH-9.3") == "ADT_A30"
    # ADT_A30 has no NK1: the contacts do not travel
    want = comparable(original.entity.model_dump(exclude={"contacts"}))
    assert comparable(back.entity.model_dump(exclude={"contacts"})) == want
    assert [comparable(r.model_dump()) for r in back.replaces] == [
        comparable(r.model_dump()) for r in original.replaces
    ]


def test_identifier_change_names_exactly_one_prior_patient():
    changed = EVENTS["a47_rich"]()
    for replaces in ([], [*changed.replaces, *changed.replaces]):
        with pytest.raises(MappingError) as info:
            render_hl7v2_event(changed.model_copy(update={"replaces": replaces}), OPTIONS)
        assert info.value.location == "MRG-1"


def test_discontinue_without_a_reason_says_discontinued():
    raw = render("s16_minimal")
    assert parse(raw).trigger_event == "S16"
    assert parse(raw).get("SCH-6") == "DISCONTINUED"
    (back,) = map_message(parse(raw), context())
    assert back.kind is K.APPOINTMENT_DISCONTINUED
    assert back.entity.status.value == "cancelled"


@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6"])
@pytest.mark.parametrize("name", ["p03_rich", "p03_minimal"])
def test_charges_render_as_p11_for_receivers_that_want_it(name, version):
    raw = render(name, charge_trigger="P11", version=version)
    msg = parse(raw)
    assert (msg.trigger_event, msg.get("MSH-9.3"), msg.get("EVN-1")) == ("P11", "DFT_P11", "P11")
    assert strict_errors(raw) == []
    (back, *_) = map_message(msg, context())
    (again, *_) = map_message(parse(render(name, version=version)), context())
    assert back.kind is K.CHARGE_POSTED
    assert comparable(back.entity.model_dump()) == comparable(again.entity.model_dump())


def test_an_unknown_charge_trigger_is_refused():
    with pytest.raises(MappingError) as info:
        render("p03_minimal", charge_trigger="P99")
    assert info.value.location == "MSH-9.2"


@pytest.mark.parametrize("name", ["p03_rich", "p03_minimal"])
def test_charge_round_trips(name):
    original, (back,) = round_trip(name)
    assert back.kind is K.CHARGE_POSTED
    want = comparable(original.entity.model_dump(exclude={"identifiers"}))
    got = comparable(back.entity.model_dump(exclude={"identifiers"}))
    # a charge's description falls back to its code's text, and FT1-6 defaults to CG
    want["description"] = want["description"] or original.entity.code.display
    want["transaction_type"] = want["transaction_type"] or "CG"
    assert got == want


# ------------------------------------------------------------------ rules


def test_identifiers_prefer_the_destinations_own():
    pat = rich_patient()
    pat.identifiers.append(Identifier(value="B-77", system="BILLMRN", type="MR", source="billing"))
    raw = render_hl7v2_event(
        event(K.PATIENT_UPDATED, pat, 20), Hl7v2OutboundOptions(destination="billing")
    )
    assert parse(raw).get("PID-3") == "B-77"
    assert parse(raw).raw("PID-3") == "B-77^^^BILLMRN^MR"


def test_identifiers_prefer_the_destinations_namespace_next():
    options = Hl7v2OutboundOptions(destination="billing", identifier_namespaces={"patient": "GHH"})
    raw = render_hl7v2_event(event(K.PATIENT_UPDATED, rich_patient(), 21), options)
    assert parse(raw).raw("PID-3") == "MRN-1001^^^GHH^MR"


def test_all_identifiers_go_when_none_is_preferred():
    raw = render_hl7v2_event(event(K.PATIENT_UPDATED, rich_patient(), 22), OPTIONS)
    assert len(parse(raw).repetitions("PID-3")) == 2


def test_control_id_is_the_callers():
    raw = render_hl7v2_event(EVENTS["a04_minimal"](), OPTIONS.with_control_id("ENV-42"))
    assert parse(raw).control_id == "ENV-42"


def test_control_id_defaults_to_a_stable_hash_of_the_event_id():
    first, again = render("a04_minimal"), render("a04_minimal")
    assert first == again
    control = parse(first).control_id
    assert len(control) == 20
    other = render_hl7v2_event(event(K.PATIENT_REGISTERED, minimal_patient(), 99), OPTIONS)
    assert parse(other).control_id != control


def test_control_id_longer_than_msh_10_allows_is_refused():
    with pytest.raises(MappingError) as info:
        render_hl7v2_event(EVENTS["a04_minimal"](), OPTIONS.with_control_id("X" * 21))
    assert info.value.location == "MSH-10"


def test_msh_carries_the_options_and_the_event_time():
    msg = parse(render("s12_minimal", version="2.5"))
    assert (msg.sending_application, msg.sending_facility) == ("CAREHUB", "GHH")
    assert (msg.receiving_application, msg.version) == ("BILLING", "2.5")
    assert msg.timestamp == "20240304091530-0600"
    assert msg.get("MSH-9.3") == "SIU_S12"


def test_rescheduling_can_render_as_s14_for_receivers_without_s13():
    assert parse(render("s13_rich")).trigger_event == "S13"
    assert parse(render("s13_rich", reschedule_trigger="S14")).trigger_event == "S14"


def test_delimiters_in_values_are_escaped():
    raw = render("a04_rich")
    nk1 = [s for s in parse(raw).segments if s.id == "NK1"][1]
    assert nk1.field(2) == "O\\S\\Neil \\T\\ Sons^Pat"


@pytest.mark.parametrize(
    ("entity", "location"),
    [
        (minimal_patient().model_copy(update={"identifiers": []}), "PID-3"),
        (minimal_patient().model_copy(update={"names": []}), "PID-5"),
    ],
)
def test_patient_without_what_adt_requires_is_refused(entity, location):
    with pytest.raises(MappingError) as info:
        render_hl7v2_event(event(K.PATIENT_REGISTERED, entity, 30), OPTIONS)
    assert info.value.location == location


@pytest.mark.parametrize(
    ("update", "location"),
    [({"code": None}, "FT1-7"), ({"service_date": None}, "FT1-4"), ({"patient": None}, "PID-3")],
)
def test_charge_without_what_dft_requires_is_refused(update, location):
    with pytest.raises(MappingError) as info:
        render_hl7v2_event(
            event(K.CHARGE_POSTED, minimal_charge().model_copy(update=update), 31), OPTIONS
        )
    assert info.value.location == location


def test_merge_without_a_retired_patient_is_refused():
    with pytest.raises(MappingError) as info:
        render_hl7v2_event(event(K.PATIENT_MERGED, minimal_patient(), 32), OPTIONS)
    assert info.value.location == "MRG-1"


def test_an_event_whose_entity_does_not_fit_is_refused():
    with pytest.raises(MappingError, match="carries a Charge"):
        render_hl7v2_event(event(K.PATIENT_UPDATED, minimal_charge(), 33), OPTIONS)


def test_kinds_without_hl7_rendering_are_unsupported():
    with pytest.raises(UnsupportedMessage) as info:
        render_hl7v2_event(event(K.COVERAGE_UPDATED, minimal_charge(), 34), OPTIONS)
    assert info.value.code == "200"


def test_appointment_patient_without_a_name_says_unknown():
    appt = EVENTS["s12_minimal"]().entity
    appt.patient = Ref(type=EntityType.PATIENT, identifiers=[mrn("MRN-3")])
    raw = render_hl7v2_event(event(K.APPOINTMENT_BOOKED, appt, 35), OPTIONS)
    assert parse(raw).raw("PID-5") == "^^^^^^U"
    assert strict_errors(raw) == []


def test_event_time_keeps_its_offset():
    assert AT.utcoffset() is not None
    assert parse(render("p03_minimal")).get("EVN-2") == "20240304091530-0600"


# ------------------------------------------------------------------ explicit null, per field

_A08_TELECOM = (
    "MSH|^~\\&|EHR|FAC|HUB|HUB|20240101120000||ADT^A08^ADT_A01|M1|P|2.5.1\r"
    "EVN|A08|20240101120000\r"
    "PID|1||555^^^H^MR||DOE^JANE||19800101|F|||||{pid13}|{pid14}|||||||||||{pid25}\r"
    "PV1|1|I\r"
)


def _cleared_by(pid13: str = "", pid14: str = "", pid25: str = "") -> list[str] | None:
    raw = _A08_TELECOM.format(pid13=pid13, pid14=pid14, pid25=pid25).encode()
    (patient_event, *_) = map_message(parse(raw), context())
    return patient_event.entity.meta.cleared


def test_each_pid_telecom_field_clears_only_its_own_numbers():
    """PID-13 ``""`` deletes the home/personal numbers, PID-14 ``""`` the work ones — not
    every telecom of the patient; PID-25 ``""`` the birth order, not the PID-24 flag."""
    assert _cleared_by(pid13='""') == ["telecom:home"]
    assert _cleared_by(pid14='""') == ["telecom:work"]
    assert _cleared_by(pid13='""', pid14='""') == ["telecom:home", "telecom:work"]
    assert _cleared_by(pid25='""') == ["multiple_birth:order"]


def _render_cleared(patient, cleared: list[str]) -> list[str]:
    from hub.canonical import EventKind, RecordMeta

    pat = patient.model_copy(update={"meta": RecordMeta(cleared=cleared)})
    data = render_hl7v2_event(event(EventKind.PATIENT_UPDATED, pat, 1), OPTIONS)
    (pid,) = [s for s in data.decode().split("\r") if s.startswith("PID|")]
    return (pid.split("|") + [""] * 30)[:30]


def test_outbound_writes_the_explicit_null_only_into_the_field_cleared():
    from hub.canonical import ContactPoint

    work = ContactPoint(system="phone", value="555-9999", use="work")
    patient = minimal_patient().model_copy(update={"telecom": [work]})
    pid = _render_cleared(patient, ["telecom:home"])
    assert pid[13] == '""' and "555-9999" in pid[14]
    pid = _render_cleared(minimal_patient(), ["telecom:work"])
    assert pid[13] == "" and pid[14] == '""'
    pid = _render_cleared(patient, ["telecom"])  # a whole clear: both fields
    assert pid[13] == '""' and "555-9999" in pid[14]
    pid = _render_cleared(minimal_patient(), ["telecom"])
    assert pid[13] == '""' and pid[14] == '""'
    pid = _render_cleared(minimal_patient(), ["multiple_birth:order"])
    assert pid[24] == "" and pid[25] == '""'
