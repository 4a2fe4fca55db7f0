"""Versioning (meta, ETag, Location, vread, history, If-Match), conditional create and update,
read-your-writes, and reading state that arrived in another format."""

from __future__ import annotations

from typing import Any

from fhirapi_support import Api, load_json, running_api

from hub.canonical import Event, EventKind, Identifier, Patient, Provenance
from hub.envelope import Envelope
from tests.corpus import corpus_dir

PATIENT = load_json(corpus_dir() / "fhir" / "fhirr4__Patient-example.json")
MRN = "urn:oid:1.2.36.146.595.217.0.1|12345"


def patient(**changes: Any) -> dict[str, Any]:
    return {**PATIENT, **changes}


async def test_versions_etags_locations_vread_and_history(api: Api) -> None:
    resp = await api.put("Patient/example", patient())
    assert resp.status == 201
    v1 = await resp.json()
    assert v1["meta"]["versionId"] == "1" and v1["meta"]["lastUpdated"].endswith("Z")
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"].endswith("/fhir/Patient/example/_history/1")
    resp = await api.put("Patient/example", patient(birthDate="1975-01-01"))
    assert resp.status == 200 and resp.headers["ETag"] == 'W/"2"'

    old = await api.get("Patient/example/_history/1")
    assert old.status == 200 and (await old.json())["birthDate"] == PATIENT["birthDate"]
    assert old.headers["ETag"] == 'W/"1"'
    now = await api.get("Patient/example")
    assert (await now.json())["birthDate"] == "1975-01-01"
    assert now.headers["ETag"] == 'W/"2"'
    assert (await api.get("Patient/example/_history/3")).status == 404

    history = await (await api.get("Patient/example/_history")).json()
    assert history["type"] == "history" and history["total"] == 2
    versions = [e["resource"]["meta"]["versionId"] for e in history["entry"]]
    assert versions == ["2", "1"]  # newest first
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]


async def test_history_shows_the_delete_and_old_versions_stay_readable(api: Api) -> None:
    await api.put("Patient/example", patient())
    assert (await api.delete("Patient/example", **{"If-Match": 'W/"1"'})).status == 204
    history = await (await api.get("Patient/example/_history")).json()
    assert history["entry"][0]["request"]["method"] == "DELETE"
    assert "resource" not in history["entry"][0]
    assert (await api.get("Patient/example/_history/1")).status == 200
    assert (await api.get("Patient/example/_history/2")).status == 410
    search = await (await api.get("Patient?_id=example")).json()
    assert search["total"] == 0  # deleted resources are not found
    again = await api.put("Patient/example", patient())  # update after delete re-creates
    assert again.status == 201 and again.headers["ETag"] == 'W/"3"'


async def test_if_match_on_delete_must_be_current(api: Api) -> None:
    await api.put("Patient/example", patient())
    assert (await api.delete("Patient/example", **{"If-Match": 'W/"9"'})).status == 412
    assert (await api.get("Patient/example")).status == 200


async def test_conditional_create(api: Api) -> None:
    first = await api.post("Patient", patient(), **{"If-None-Exist": f"identifier={MRN}"})
    assert first.status == 201
    created = await first.json()
    again = await api.post(
        "Patient", patient(gender="female"), **{"If-None-Exist": f"identifier={MRN}"}
    )
    assert again.status == 200  # matched: nothing written
    assert (await again.json())["id"] == created["id"]
    current = await (await api.get(f"Patient/{created['id']}")).json()
    assert current["meta"]["versionId"] == "1" and current["gender"] == PATIENT["gender"]


async def test_conditional_create_with_several_matches_is_412(api: Api) -> None:
    await api.post("Patient", patient())
    await api.post(
        "Patient",
        {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "12345"}]},
    )
    resp = await api.post("Patient", patient(), **{"If-None-Exist": "identifier=12345"})
    assert resp.status == 412
    assert (await resp.json())["issue"][0]["code"] == "multiple-matches"


async def test_conditional_create_refuses_an_unsupported_parameter(api: Api) -> None:
    resp = await api.post("Patient", patient(), **{"If-None-Exist": "name=peter"})
    assert resp.status == 400


async def test_conditional_update(api: Api) -> None:
    body = {k: v for k, v in patient().items() if k != "id"}
    resp = await api.put(f"Patient?identifier={MRN}", body)
    assert resp.status == 201  # no match: created with a new id
    created = await resp.json()
    # a change the identity rules take as the same person (another birth date would be held
    # for review: tests/security/test_fhir_identity_holds.py)
    phone = [{"system": "phone", "value": "555-0101"}]
    resp = await api.put(f"Patient?identifier={MRN}", {**body, "telecom": phone})
    assert resp.status == 200
    updated = await resp.json()
    assert updated["id"] == created["id"] and updated["meta"]["versionId"] == "2"
    wrong = await api.put(f"Patient?identifier={MRN}", {**body, "id": "another"})
    assert wrong.status == 400


async def test_a_create_that_names_a_known_identifier_updates_that_record(api: Api) -> None:
    first = await (await api.post("Patient", patient())).json()
    resp = await api.post("Patient", patient(telecom=[{"system": "phone", "value": "555-0102"}]))
    assert resp.status == 200  # the hub's identity: the same MRN, the same facts: one patient
    assert (await resp.json())["id"] == first["id"]


async def test_prefer_return_minimal_and_outcome(api: Api) -> None:
    resp = await api.put("Patient/example", patient(), Prefer="return=minimal")
    assert resp.status == 201 and await resp.read() == b""
    assert resp.headers["Location"].endswith("/_history/1")
    resp = await api.put("Patient/example", patient(), Prefer="return=OperationOutcome")
    assert (await resp.json())["resourceType"] == "OperationOutcome"


async def test_a_patient_from_another_format_reads_as_fhir(api: Api) -> None:
    """State written by the sync engine from any inbound format (here an HL7 v2-shaped
    canonical event) is what the API serves."""
    entity = Patient(
        identifiers=[Identifier(value="MRN-77", system="HOSP-MRN", type="MR")],
        birth_date="1960-03-04",
    )
    event = Event(
        kind=EventKind.PATIENT_REGISTERED,
        entity=entity,
        provenance=Provenance(source_system="lab", format="hl7v2", message_key="ADT^A04"),
    )
    env = Envelope(source_system="lab", format="hl7v2", payload=event)
    await api.publish_ingress(env)
    bundle = await (await api.get("Patient?identifier=urn:carehub:id:HOSP-MRN|MRN-77")).json()
    assert bundle["total"] == 1
    found = bundle["entry"][0]["resource"]
    assert found["birthDate"] == "1960-03-04"
    assert found["identifier"][0]["system"] == "urn:carehub:id:HOSP-MRN"


async def test_202_when_the_sync_engine_has_not_applied_it_in_time(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path / 'h.db'}", sync=False, sync_wait=0.05) as api:
        resp = await api.post("Patient", patient())
        assert resp.status == 202  # stored and confirmed by the broker, not yet applied
        where = resp.headers["Content-Location"]
        assert "/fhir/Patient/" in where and "_history" not in where
        assert (await resp.json())["resourceType"] == "OperationOutcome"
        assert (await api.store.list_messages())[0].status == "accepted"
        assert (await api.get(where.split("/fhir/", 1)[1])).status == 404


async def test_racing_creates_of_one_new_patient_make_one_record(api: Api) -> None:
    import asyncio

    body = {"resourceType": "Patient", "identifier": [{"system": "urn:race", "value": "R-1"}]}
    answers = await asyncio.gather(*(api.post("Patient", body) for _ in range(6)))
    ids = {(await r.json())["id"] for r in answers}
    assert len(ids) == 1
    assert sorted(r.status for r in answers).count(201) >= 1
    assert await api.store.count_entities() == {"Patient": 1}


async def test_racing_creates_of_one_identifier_make_one_record_on_postgresql(
    pg_url: str,
) -> None:
    """The FHIR backend reserves a create's id through the hub's identity service: the
    store's insert-ignore lets the first reservation win, every racer takes its id."""
    import asyncio

    async with running_api(pg_url) as api:
        body = {"resourceType": "Patient", "identifier": [{"system": "urn:race", "value": "PG-1"}]}
        answers = await asyncio.gather(*(api.post("Patient", body) for _ in range(2)))
        assert {r.status for r in answers} <= {200, 201}
        ids = {(await r.json())["id"] for r in answers}
        assert len(ids) == 1
        assert await api.store.count_entities() == {"Patient": 1}


async def test_a_delete_that_lost_a_race_to_an_update_is_409(tmp_path: Any) -> None:
    """The delete is planned against version 1; an update is applied before the sync engine
    gets to the removal: the record is not removed and the answer is 409."""
    import asyncio

    from fhirapi_support import _sync_loop

    from hub.sync import SyncEngine
    from queues import events_exchange, sync_queue

    async with running_api(f"sqlite:///{tmp_path / 'h.db'}", sync=False) as api:
        engine = SyncEngine(
            api.store, api.transport, events_exchange=events_exchange(api.namespace)
        )

        def consuming() -> asyncio.Task[None]:
            return asyncio.create_task(_sync_loop(api.transport, sync_queue(api.namespace), engine))

        consumer = consuming()
        assert (await api.put("Patient/example", patient())).status == 201
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

        deleting = asyncio.create_task(api.delete("Patient/example"))
        while len(await api.store.list_messages()) < 2:
            await asyncio.sleep(0.01)  # the delete is confirmed and waits for the engine
        renamed = Patient(id="example", birth_date="1975-01-01")
        event = Event(
            kind=EventKind.PATIENT_UPDATED,
            entity=renamed,
            provenance=Provenance(source_system="lab", format="hl7v2"),
        )
        await engine.apply(Envelope(source_system="lab", format="hl7v2", payload=event))
        consumer = consuming()
        try:
            resp = await deleting
            assert resp.status == 409, await resp.text()
            assert (await api.get("Patient/example")).status == 200
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
