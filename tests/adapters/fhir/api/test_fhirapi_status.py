"""One test per status code the API answers, each with an OperationOutcome that says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhirapi_support import Api, auth, load_json, running_api, write_headers

from tests.corpus import corpus_dir

PATIENT = load_json(corpus_dir() / "fhir" / "fhirr4__Patient-example.json")


def patient(**changes: Any) -> dict[str, Any]:
    return {**PATIENT, **changes}


async def outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    body = await resp.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


async def test_400_for_a_body_that_is_not_json(api: Api) -> None:
    issue = await outcome(await api.post("Patient", b'{"resourceType": "Patient",'), 400)
    assert issue["code"] == "structure"
    assert "line 1" in issue["diagnostics"]


async def test_400_for_a_body_of_another_type(api: Api) -> None:
    issue = await outcome(await api.post("Patient", {"resourceType": "Practitioner"}), 400)
    assert issue["expression"] == ["resourceType"]


async def test_400_for_an_update_whose_body_id_differs(api: Api) -> None:
    issue = await outcome(await api.put("Patient/other", patient(id="example")), 400)
    assert issue["expression"] == ["Patient.id"]


async def test_401_without_a_token_and_with_a_wrong_one(api: Api) -> None:
    resp = await api.http.get("/fhir/Patient/example")
    issue = await outcome(resp, 401)
    assert issue["code"] == "login"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    resp = await api.http.get("/fhir/Patient/example", headers={"Authorization": "Bearer nope"})
    await outcome(resp, 401)


async def test_403_when_no_scope_covers_the_interaction(api: Api) -> None:
    issue = await outcome(await api.post("Patient", patient(), client="reader"), 403)
    assert issue["code"] == "forbidden"
    await outcome(await api.get("Encounter?status=finished", client="reader"), 403)


async def test_404_unknown_id_unknown_type_unknown_path(api: Api) -> None:
    issue = await outcome(await api.get("Patient/nobody"), 404)
    assert issue["code"] == "not-found"
    issue = await outcome(await api.get("Condition/1"), 404)  # a type not mapped
    assert issue["code"] == "not-supported"
    await outcome(await api.http.get("/fhir/Patient/1/extra/x", headers=auth()), 404)


async def test_405_for_a_method_or_interaction_not_offered(api: Api) -> None:
    resp = await api.http.patch("/fhir/Patient/example", data=b"[]", headers=write_headers())
    issue = await outcome(resp, 405)
    assert "PUT" in resp.headers["Allow"]
    assert issue["code"] == "not-supported"
    slot = load_json(corpus_dir() / "fhir" / "fhirr4__Slot-1.json")
    await outcome(await api.post("Slot", slot), 405)
    await outcome(await api.delete("PractitionerRole/x"), 405)


async def test_409_when_an_identifier_belongs_to_another_resource(api: Api) -> None:
    first = await api.post("Patient", patient())
    assert first.status == 201
    issue = await outcome(await api.put("Patient/someone-else", patient(id="someone-else")), 409)
    assert issue["code"] == "conflict"
    assert issue["expression"] == ["Patient.identifier"]


async def test_410_after_delete(api: Api) -> None:
    assert (await api.put("Patient/example", patient())).status == 201
    resp = await api.delete("Patient/example")
    assert resp.status == 204
    issue = await outcome(await api.get("Patient/example"), 410)
    assert issue["code"] == "deleted"
    assert (await api.delete("Patient/example")).status == 204  # idempotent
    await outcome(await api.delete("Patient/never"), 404)


async def test_412_when_if_match_is_not_the_current_version(api: Api) -> None:
    assert (await api.put("Patient/example", patient())).status == 201
    issue = await outcome(await api.put("Patient/example", patient(), **{"If-Match": 'W/"7"'}), 412)
    assert "If-Match" in issue["diagnostics"]
    resp = await api.put("Patient/example", patient(gender="female"), **{"If-Match": 'W/"1"'})
    assert resp.status == 200
    assert resp.headers["ETag"] == 'W/"2"'


async def test_413_for_a_body_over_the_size_limit(api: Api) -> None:
    big = patient(text={"status": "generated", "div": "<div>" + "x" * 600_000 + "</div>"})
    issue = await outcome(await api.post("Patient", big), 413)
    assert issue["code"] == "too-long"


async def test_413_for_a_bundle_over_the_entry_cap(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path / 'h.db'}", max_entries=3) as api:
        entry = {"request": {"method": "GET", "url": "Patient/x"}}
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry] * 4}
        issue = await outcome(await api.post("", bundle), 413)
        assert issue["expression"] == ["Bundle.entry"]


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "text/xml", "application/xml"])
async def test_415_for_xml_content_types(api: Api, content_type: str) -> None:
    resp = await api.http.post(
        "/fhir/Patient", data=b"<Patient/>", headers=auth(**{"Content-Type": content_type})
    )
    assert (await outcome(resp, 415))["code"] == "not-supported"


async def test_415_for_an_xml_body_with_a_doctype_never_parsed(api: Api) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>'
    )
    resp = await api.post("Patient", xxe)  # labelled JSON, but XML
    issue = await outcome(resp, 415)
    assert "root:" not in json.dumps(issue)
    # never parsed, but kept as sent: a rejected message with the answer given
    (kept,) = await api.store.list_messages()
    assert kept.raw == xxe and kept.status == "rejected" and b"root:" not in (kept.ack or b"")


async def test_415_for_another_content_type(api: Api) -> None:
    resp = await api.http.post(
        "/fhir/Patient", data=b"a=b", headers=auth(**{"Content-Type": "text/plain"})
    )
    await outcome(resp, 415)


async def test_422_names_the_element_path(api: Api) -> None:
    issue = await outcome(await api.post("Patient", patient(birthDate="1974-13-45")), 422)
    assert issue["expression"] == ["Patient.birthDate"]
    issue = await outcome(await api.post("Patient", patient(name=[{"family": 5}])), 422)
    assert issue["expression"] == ["Patient.name[0].family"]
    stored = await api.store.list_messages(status="error")
    assert len(stored) == 2  # content errors are kept in the message log, with findings
    assert stored[0].findings[0]["location"].startswith("Patient.")


async def test_503_with_retry_after_when_the_broker_cannot_confirm(api: Api) -> None:
    await api.transport.close()  # the broker is gone: nothing can be confirmed
    resp = await api.post("Patient", patient())
    issue = await outcome(resp, 503)
    assert issue["code"] == "transient"
    assert int(resp.headers["Retry-After"]) > 0


async def test_406_when_only_xml_is_acceptable(api: Api) -> None:
    await outcome(await api.get("Patient?_format=xml"), 406)
