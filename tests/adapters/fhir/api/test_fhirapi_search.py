"""Search: identifier, _id, _lastUpdated, patient/subject, date with prefixes, status,
_count paging with self/next/previous links and total; the date-range rules themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from fhirapi_support import Api

from adapters.fhir.api import date_range


def appt(
    i: int, start: str, end: str, status: str = "booked", patient: str = "p1"
) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": f"a{i}",
        "status": status,
        "identifier": [{"system": "urn:sched", "value": f"A{i}"}],
        "start": start,
        "end": end,
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }


@pytest.fixture
async def appointments(api: Api) -> Api:
    rows = [
        appt(1, "2024-05-01T09:00:00Z", "2024-05-01T09:30:00Z"),
        appt(2, "2024-05-02T09:00:00Z", "2024-05-02T09:30:00Z", status="cancelled"),
        appt(3, "2024-06-10T14:00:00Z", "2024-06-10T15:00:00Z", patient="p2"),
        appt(4, "2023-12-31T23:30:00Z", "2024-01-01T00:30:00Z"),
    ]
    for row in rows:
        assert (await api.put(f"Appointment/{row['id']}", row)).status == 201
    return api


async def ids(api: Api, query: str) -> list[str]:
    resp = await api.get(f"Appointment?{query}")
    assert resp.status == 200, await resp.text()
    bundle = await resp.json()
    assert bundle["total"] == len(bundle["entry"]) or "_count" in query
    return sorted(e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match")


async def test_identifier_and_id(appointments: Api) -> None:
    assert await ids(appointments, "identifier=urn:sched|A2") == ["a2"]
    assert await ids(appointments, "identifier=A3") == ["a3"]
    assert await ids(appointments, "identifier=urn:other|A3") == []
    assert await ids(appointments, "_id=a1,a4") == ["a1", "a4"]


async def test_patient_and_status(appointments: Api) -> None:
    assert await ids(appointments, "patient=p2") == ["a3"]
    assert await ids(appointments, "patient=Patient/p1&status=cancelled") == ["a2"]
    assert await ids(appointments, "status=booked,cancelled&patient=p1") == ["a1", "a2", "a4"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=2024-05-01", ["a1"]),
        ("date=2024-05", ["a1", "a2"]),
        ("date=ge2024-05-02", ["a2", "a3"]),
        ("date=gt2024-05-02", ["a3"]),
        ("date=lt2024-05-01", ["a4"]),
        ("date=le2024-05-01", ["a1", "a4"]),
        ("date=ne2024-05", ["a3", "a4"]),
        ("date=ge2024-01-01&date=lt2024-06", ["a1", "a2"]),  # date is Appointment.start
        ("date=sa2024-05-01T09:30:00Z", ["a2", "a3"]),
        ("date=eb2024-01-01", ["a4"]),
        ("date=eb2023-12-31", []),
    ],
)
async def test_date_prefixes(appointments: Api, query: str, expected: list[str]) -> None:
    assert await ids(appointments, query) == expected


async def test_last_updated(appointments: Api) -> None:
    assert await ids(appointments, "_lastUpdated=ge2000-01-01") == ["a1", "a2", "a3", "a4"]
    assert await ids(appointments, "_lastUpdated=lt2000-01-01") == []
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await appointments.put(
        "Appointment/a3", appt(3, "2024-06-11T14:00:00Z", "2024-06-11T15:00:00Z")
    )
    assert "a3" in await ids(appointments, f"_lastUpdated=ge{now}")


async def test_encounter_subject_and_period(api: Api) -> None:
    enc = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p9"},
        "period": {"start": "2024-02-01T08:00:00Z", "end": "2024-02-03T08:00:00Z"},
    }
    assert (await api.put("Encounter/e1", enc)).status == 201
    for query, hit in [
        ("subject=Patient/p9", True),
        ("patient=p9&date=2024-02-02", False),  # eq: the period is not inside that day
        ("date=ge2024-02-02&date=le2024-02-02", True),
        ("date=2024-02", True),
        ("status=finished", True),
        ("patient=p8", False),
    ]:
        bundle = await (await api.get(f"Encounter?{query}")).json()
        assert bundle["total"] == (1 if hit else 0), query


async def test_paging_links_and_total(appointments: Api) -> None:
    first = await (await appointments.get("Appointment?_count=3")).json()
    assert first["total"] == 4 and len(first["entry"]) == 3
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert set(links) == {"self", "next"}
    path = urlsplit(links["next"])
    second = await (await appointments.get(f"Appointment?{path.query}")).json()
    assert len(second["entry"]) == 1
    links2 = {link["relation"]: link["url"] for link in second["link"]}
    assert set(links2) == {"self", "previous"}
    seen = [e["resource"]["id"] for e in first["entry"] + second["entry"]]
    assert sorted(seen) == ["a1", "a2", "a3", "a4"]


async def test_unknown_parameters_are_reported_or_refused(appointments: Api) -> None:
    bundle = await (await appointments.get("Appointment?name=x&status=booked")).json()
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "name" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert "name" not in bundle["link"][0]["url"]
    strict = await appointments.get("Appointment?name=x", Prefer="handling=strict")
    assert strict.status == 400


async def test_bad_values_are_400(appointments: Api) -> None:
    assert (await appointments.get("Appointment?date=yesterday")).status == 400
    assert (await appointments.get("Appointment?_count=-1")).status == 400


async def test_post_search(appointments: Api) -> None:
    resp = await appointments.http.post(
        "/fhir/Appointment/_search",
        data={"patient": "p2"},
        headers={"Authorization": appointments.http_auth},
    )
    assert resp.status == 200
    assert (await resp.json())["total"] == 1


def test_date_ranges_follow_the_precision() -> None:
    assert date_range("2024") == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert date_range("2024-12") == (
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    start, end = date_range("2024-05-01T10:00:00+02:00")  # type: ignore[misc]
    assert start == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 1
    assert date_range("2024-02-30") is None and date_range("May") is None
