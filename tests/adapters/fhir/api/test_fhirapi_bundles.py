"""Transactions (all or nothing, urn:uuid references, processing order, conditional entries)
and batches (each entry on its own)."""

from __future__ import annotations

from typing import Any

from fhirapi_support import Api, load_json

from tests.corpus import corpus_dir

PRACTITIONERS = corpus_dir() / "fhir" / "msanon__practitionerInformation1583281853074.json"


def entry(resource: dict[str, Any] | None, method: str, url: str, **request: str) -> dict[str, Any]:
    out: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        out["resource"] = resource
    return out


def patient(mrn: str, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}], **more}


async def test_transaction_rewrites_urn_uuid_references(api: Api) -> None:
    bundle = load_json(PRACTITIONERS)
    resp = await api.post("", bundle)
    assert resp.status == 200
    answer = await resp.json()
    where = [e["response"]["location"].split("/_history")[0] for e in answer["entry"]]
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert len({w for w, k in zip(where, kinds, strict=True) if k == "Practitioner"}) == 19
    role_at = kinds.index("PractitionerRole")
    urn = bundle["entry"][role_at]["resource"]["practitioner"]["reference"]
    urls = [e["fullUrl"] for e in bundle["entry"]]
    practitioner_id = where[urls.index(urn)].split("/")[1]
    assert (
        where[role_at] == f"PractitionerRole/{practitioner_id}"
    )  # a role's id: its practitioner's
    roles = await (await api.get(f"PractitionerRole?practitioner={practitioner_id}")).json()
    assert roles["total"] == 1
    role = roles["entry"][0]["resource"]
    assert role["practitioner"]["reference"] == f"Practitioner/{practitioner_id}"
    assert role["code"][0]["coding"][0]["code"] == "208D00000X"


async def test_a_failing_entry_fails_the_whole_transaction(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(patient("1"), "POST", "Patient"),
            entry(patient("2", birthDate="1999-99-99"), "POST", "Patient"),
        ],
    }
    resp = await api.post("", bundle)
    assert resp.status == 422
    issue = (await resp.json())["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.Patient.birthDate"]
    assert await api.store.count_entities() == {}
    logged = await api.store.list_messages()
    assert [m.status for m in logged] == ["error"]  # one message, kept with its findings


async def test_transaction_order_and_mixed_interactions(api: Api) -> None:
    await api.put("Patient/old", {**patient("9"), "id": "old"})
    await api.put("Patient/keep", {**patient("8"), "id": "keep"})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(None, "GET", "Patient?identifier=urn:mrn|1"),
            entry(
                {**patient("8", gender="male"), "id": "keep"},
                "PUT",
                "Patient/keep",
                ifMatch='W/"1"',
            ),
            entry(patient("1"), "POST", "Patient", ifNoneExist="identifier=urn:mrn|1"),
            entry(None, "DELETE", "Patient/old"),
            entry(patient("7"), "PUT", "Patient?identifier=urn:mrn|7"),
        ],
    }
    resp = await api.post("", bundle)
    assert resp.status == 200, await resp.text()
    got = [e["response"]["status"] for e in (await resp.json())["entry"]]
    assert got == ["200 OK", "200 OK", "201 Created", "204 No Content", "201 Created"]
    search = (await resp.json())["entry"][0]["resource"]
    assert search["type"] == "searchset" and search["total"] == 1  # GETs run after the writes
    assert (await api.get("Patient/old")).status == 410
    assert (await (await api.get("Patient/keep")).json())["gender"] == "male"


async def test_a_transaction_with_a_stale_if_match_changes_nothing(api: Api) -> None:
    await api.put("Patient/keep", {**patient("8"), "id": "keep"})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(patient("5"), "POST", "Patient"),
            entry({**patient("8"), "id": "keep"}, "PUT", "Patient/keep", ifMatch='W/"4"'),
        ],
    }
    assert (await api.post("", bundle)).status == 412
    assert await api.store.count_entities() == {"Patient": 1}


async def test_two_entries_on_one_resource_are_refused(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry({**patient("1"), "id": "a"}, "PUT", "Patient/a"),
            entry(None, "DELETE", "Patient/a"),
        ],
    }
    assert (await api.post("", bundle)).status == 400


async def test_batch_entries_stand_alone(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            entry(patient("1"), "POST", "Patient"),
            entry(patient("2", birthDate="bad"), "POST", "Patient"),
            entry(None, "GET", "Patient/nope"),
            entry(None, "PATCH", "Patient/x"),
            entry({"resourceType": "Condition"}, "POST", "Condition"),  # a type not mapped
        ],
    }
    resp = await api.post("", bundle)
    assert resp.status == 200
    got = (await resp.json())["entry"]
    assert [e["response"]["status"].split()[0] for e in got] == ["201", "422", "404", "405", "404"]
    issue = got[1]["response"]["outcome"]["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.Patient.birthDate"]
    assert await api.store.count_entities() == {"Patient": 1}


async def test_only_transaction_and_batch_bundles_are_taken(api: Api) -> None:
    resp = await api.post("", {"resourceType": "Bundle", "type": "collection"})
    assert resp.status == 400
    assert (await resp.json())["issue"][0]["expression"] == ["Bundle.type"]
