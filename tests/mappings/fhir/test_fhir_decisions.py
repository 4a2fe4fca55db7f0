"""The mapping decisions the docs promise: merges, patient class, Schedule/Slot, one item per
supply resource, claim kinds, ClaimResponse outcomes, event kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fhirmap_fixtures import RICH, appointment, encounter, practitioner, purchase_order, remittance

from conformance.fhir import validate_fhir
from hub.canonical import (
    AppointmentStatus,
    ClaimKind,
    ClaimStatus,
    Coded,
    EncounterStatus,
    EntityType,
    Event,
    EventKind,
    OrderLine,
    Patient,
    Provenance,
    Ref,
    Remittance,
    ShippedItem,
)
from hub.errors import MappingError
from mappings.fhir import (
    FhirMapContext,
    event_kind,
    from_fhir,
    merge_to_fhir,
    replaced_patients,
    to_fhir,
)
from mappings.fhir.appointment import schedule_to_fhir, slot_to_fhir
from mappings.fhir.supply import supply_deliveries_to_fhir, supply_requests_to_fhir

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


# --------------------------------------------------------------------------- merges


def _merge_event() -> Event:
    survivor = Patient(id="p-1", names=[], identifiers=[])
    return Event(
        kind=EventKind.PATIENT_MERGED,
        entity=survivor,
        provenance=Provenance(source_system="adt", format="hl7v2"),
        replaces=[Ref(type=EntityType.PATIENT, id="p-2")],
    )


def test_a_merge_writes_replaces_and_replaced_by_links(ctx: FhirMapContext) -> None:
    survivor, retired = merge_to_fhir(_merge_event(), ctx)
    assert survivor["link"] == [{"other": {"reference": "Patient/p-2"}, "type": "replaces"}]
    assert retired == {
        "resourceType": "Patient",
        "id": "p-2",
        "active": False,
        "link": [{"other": {"reference": "Patient/p-1"}, "type": "replaced-by"}],
    }
    validate_fhir(survivor)
    validate_fhir(retired)


def test_merge_links_read_back(ctx: FhirMapContext) -> None:
    survivor, retired = merge_to_fhir(_merge_event(), ctx)
    assert replaced_patients(survivor, ctx) == [Ref(type=EntityType.PATIENT, id="p-2")]
    back = from_fhir(retired, ctx)
    assert isinstance(back, Patient)
    assert back.merged_into == "p-1" and back.active is False


def test_merge_needs_a_merge_event(ctx: FhirMapContext) -> None:
    event = _merge_event().model_copy(update={"kind": EventKind.PATIENT_UPDATED})
    with pytest.raises(MappingError):
        merge_to_fhir(event, ctx)


# --------------------------------------------------------------------------- encounter class


@pytest.mark.parametrize(
    ("v2", "system", "code"),
    [
        ("I", ACT, "IMP"),
        ("O", ACT, "AMB"),
        ("E", ACT, "EMER"),
        ("P", ACT, "PRENC"),
        ("R", "http://terminology.hl7.org/CodeSystem/v2-0004", "R"),
    ],
)
def test_patient_class_from_hl7v2_is_written_as_the_guide_says(
    v2: str, system: str, code: str, ctx: FhirMapContext
) -> None:
    visit = encounter().model_copy(update={"patient_class": Coded(code=v2)})
    assert {k: v for k, v in to_fhir(visit, ctx)["class"].items() if k != "display"} == {
        "system": system,
        "code": code,
    }


def test_an_encounter_without_class_cannot_be_written(ctx: FhirMapContext) -> None:
    visit = encounter().model_copy(update={"patient_class": None})
    with pytest.raises(MappingError) as caught:
        to_fhir(visit, ctx)
    assert caught.value.location == "Encounter.class"


# --------------------------------------------------------------------------- Schedule / Slot


def test_schedule_and_slot_are_read_as_nothing_kept(ctx: FhirMapContext) -> None:
    assert from_fhir({"resourceType": "Slot", "status": "free"}, ctx) == []
    assert from_fhir({"resourceType": "Schedule"}, ctx) == []


@pytest.mark.parametrize(
    ("status", "slot"),
    [
        (AppointmentStatus.BOOKED, "busy"),
        (AppointmentStatus.PROPOSED, "busy-tentative"),
        (AppointmentStatus.CANCELLED, "free"),
        (AppointmentStatus.NOSHOW, "busy"),
    ],
)
def test_an_appointment_is_written_as_the_slot_it_occupies(
    status: AppointmentStatus, slot: str, ctx: FhirMapContext
) -> None:
    written = slot_to_fhir(appointment().model_copy(update={"status": status}), ctx)
    validate_fhir(written)
    assert written["status"] == slot
    schedule = schedule_to_fhir(practitioner(), ctx)
    validate_fhir(schedule)
    assert written["schedule"] == {"reference": f"Schedule/{schedule['id']}"}
    assert schedule["actor"][0]["reference"] == "Practitioner/dr-1"


def test_a_slot_needs_times(ctx: FhirMapContext) -> None:
    with pytest.raises(MappingError) as caught:
        slot_to_fhir(appointment().model_copy(update={"end": None}), ctx)
    assert caught.value.location == "Slot.schedule"


# --------------------------------------------------------------------------- supply


def test_a_multi_line_order_is_one_request_per_line(ctx: FhirMapContext) -> None:
    order = purchase_order()
    order = order.model_copy(
        update={
            "lines": [
                *order.lines,
                OrderLine(line_number="2", description="Gloves", quantity=Decimal(5)),
            ]
        }
    )
    with pytest.raises(MappingError) as caught:
        to_fhir(order, ctx)
    assert caught.value.location == "SupplyRequest.item[x]"
    written = supply_requests_to_fhir(order, ctx)
    assert len(written) == 2
    for resource in written:
        validate_fhir(resource)
    assert [r["identifier"][-1]["value"] for r in written] == ["PO-1001:1", "PO-1001:2"]
    assert written[1]["itemCodeableConcept"] == {"text": "Gloves"}


def test_a_multi_item_notice_is_one_delivery_per_item(ctx: FhirMapContext) -> None:
    notice = RICH["SupplyDelivery"]()
    notice = notice.model_copy(update={"items": [*notice.items, ShippedItem(quantity=Decimal(1))]})
    with pytest.raises(MappingError):
        to_fhir(notice, ctx)
    written = supply_deliveries_to_fhir(notice, ctx)
    assert len(written) == 2 and all(validate_fhir(r) is None for r in written)


def test_an_order_without_number_is_refused(ctx: FhirMapContext) -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir(
            {
                "resourceType": "SupplyRequest",
                "quantity": {"value": 1},
                "itemCodeableConcept": {"text": "x"},
            },
            ctx,
        )
    assert caught.value.location == "SupplyRequest.identifier"


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize(
    ("fhir_type", "kind", "written"),
    [
        ("oral", ClaimKind.DENTAL, "oral"),
        ("vision", ClaimKind.PROFESSIONAL, "professional"),
        ("institutional", ClaimKind.INSTITUTIONAL, "institutional"),
        ("pharmacy", ClaimKind.PHARMACY, "pharmacy"),
    ],
)
def test_claim_types_map_through_the_vocabulary(
    fhir_type: str, kind: ClaimKind, written: str, ctx: FhirMapContext
) -> None:
    resource = to_fhir(RICH["Claim"](), ctx)
    resource["type"] = {
        "coding": [{"system": resource["type"]["coding"][0]["system"], "code": fhir_type}]
    }
    claim = from_fhir(resource, ctx)
    assert claim.kind is kind  # type: ignore[union-attr]
    assert to_fhir(claim, ctx)["type"]["coding"][0]["code"] == written  # type: ignore[arg-type]


def test_an_unknown_claim_type_names_the_element(ctx: FhirMapContext) -> None:
    resource = to_fhir(RICH["Claim"](), ctx)
    resource["type"] = {"coding": [{"code": "space-travel"}]}
    with pytest.raises(MappingError) as caught:
        from_fhir(resource, ctx)
    assert caught.value.location == "Claim.type"


def test_a_queued_or_failed_claim_response_is_a_claim_status(ctx: FhirMapContext) -> None:
    resource = to_fhir(remittance(with_procedure=False), ctx)
    resource.update(
        outcome="error",
        disposition="Invalid member id",
        error=[{"code": {"coding": [{"code": "a002"}]}}],
    )
    status = from_fhir(resource, ctx)
    assert isinstance(status, ClaimStatus)
    assert status.accepted is False and status.message == "Invalid member id"
    assert status.status == Coded(code="a002")
    assert status.claim == Ref(type=EntityType.CLAIM, id="clm-1")
    assert status.patient is not None and status.patient.ref is not None
    back = to_fhir(status, ctx)  # the status keeps its patient: it is written again
    assert back["outcome"] == "error" and back["patient"] == resource["patient"]
    assert back["error"] == [{"code": {"coding": [{"code": "a002"}]}}]
    nobody = status.model_copy(update={"patient": None})
    with pytest.raises(MappingError) as caught:  # ClaimResponse.patient is 1..1
        to_fhir(nobody, ctx)
    assert caught.value.location == "ClaimResponse.patient"


def test_a_denial_travels_as_clp02(ctx: FhirMapContext) -> None:
    denied = remittance().model_copy(update={"status_code": None, "denied": True})
    back = from_fhir(to_fhir(denied, ctx, "ExplanationOfBenefit"), ctx)
    assert isinstance(back, Remittance) and back.denied and back.status_code == "4"


def test_created_is_the_time_of_writing(ctx: FhirMapContext) -> None:
    written = to_fhir(remittance(), ctx)
    assert written["created"] == "2024-05-01T12:00:00+00:00"


# --------------------------------------------------------------------------- event kinds


def test_appointment_events_follow_status_and_times() -> None:
    booked = appointment()
    moved = booked.model_copy(update={"start": booked.start + timedelta(hours=1)})  # type: ignore[operator]
    assert event_kind("Appointment", booked) is EventKind.APPOINTMENT_BOOKED
    assert event_kind("Appointment", moved, booked) is EventKind.APPOINTMENT_RESCHEDULED
    assert event_kind("Appointment", booked.model_copy(update={"comment": "x"}), booked) is (
        EventKind.APPOINTMENT_MODIFIED
    )
    for status, kind in [
        (AppointmentStatus.CANCELLED, EventKind.APPOINTMENT_CANCELLED),
        (AppointmentStatus.NOSHOW, EventKind.APPOINTMENT_NOSHOW),
        (AppointmentStatus.ENTERED_IN_ERROR, EventKind.APPOINTMENT_DELETED),
    ]:
        assert (
            event_kind("Appointment", booked.model_copy(update={"status": status}), booked) is kind
        )


def test_encounter_events_follow_status_then_location() -> None:
    visit = encounter()
    assert event_kind("Encounter", visit) is EventKind.ENCOUNTER_STARTED
    moved = visit.model_copy(update={"location": Ref(type=EntityType.LOCATION, id="loc-2")})
    assert event_kind("Encounter", moved, visit) is EventKind.ENCOUNTER_TRANSFERRED
    done = visit.model_copy(update={"status": EncounterStatus.FINISHED})
    assert event_kind("Encounter", done, visit) is EventKind.ENCOUNTER_FINISHED
    assert event_kind("Encounter", visit, visit) is EventKind.ENCOUNTER_UPDATED


def test_other_event_kinds() -> None:
    patient = RICH["Patient"]()
    assert event_kind("Patient", patient) is EventKind.PATIENT_REGISTERED
    assert event_kind("Patient", patient, patient) is EventKind.PATIENT_UPDATED
    assert event_kind("Practitioner", practitioner()) is EventKind.PRACTITIONER_DEACTIVATED
    assert event_kind("Claim", RICH["Claim"]()) is EventKind.CLAIM_SUBMITTED
    assert event_kind("ClaimResponse", remittance()) is EventKind.CLAIM_PAID
    denied = remittance().model_copy(update={"denied": True})
    assert event_kind("ExplanationOfBenefit", denied) is EventKind.CLAIM_DENIED
    assert event_kind("SupplyRequest", purchase_order()) is EventKind.SUPPLY_ORDER_PLACED
    assert event_kind("CoverageEligibilityRequest", RICH["CoverageEligibilityRequest"]()) is (
        EventKind.ELIGIBILITY_REQUESTED
    )
    assert event_kind("Slot", appointment()) is None


def test_naive_times_get_the_context_zone() -> None:
    from zoneinfo import ZoneInfo

    ctx = FhirMapContext(source="ehr", local_tz=ZoneInfo("America/New_York"))
    visit = appointment().model_copy(
        update={"start": datetime(2024, 5, 2, 9, 0), "end": datetime(2024, 5, 2, 9, 30, tzinfo=UTC)}
    )
    assert to_fhir(visit, ctx)["start"] == "2024-05-02T09:00:00-04:00"
