"""``$validate``: conformance and mapping findings as an OperationOutcome; nothing stored."""

from __future__ import annotations

from fhirapi_support import Api, load_json

from tests.corpus import corpus_dir


async def test_validate_reports_without_storing(api: Api) -> None:
    good = await api.post(
        "Patient/$validate", {"resourceType": "Patient", "birthDate": "1970-01-01"}
    )
    assert good.status == 200
    assert (await good.json())["issue"][0]["severity"] == "information"
    bad = await api.post(
        "Patient/$validate", {"resourceType": "Patient", "birthDate": "1970-13-01"}
    )
    assert bad.status == 200
    issue = (await bad.json())["issue"][0]
    assert issue["severity"] == "error" and issue["expression"] == ["Patient.birthDate"]
    assert await api.store.list_messages() == []
    assert await api.store.count_entities() == {}


async def test_validate_reports_what_the_hub_would_refuse(api: Api) -> None:
    claim = load_json(corpus_dir() / "fhir" / "fhirr4__Claim-100153.json")  # a preauthorization
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim}]}
    resp = await api.post("Claim/$validate", params)
    issue = (await resp.json())["issue"][0]
    assert issue["code"] == "not-supported" and issue["expression"] == ["Claim.use"]


async def test_other_operations_are_not_found(api: Api) -> None:
    resp = await api.post("Patient/$everything", {"resourceType": "Parameters"})
    assert resp.status == 404


async def test_validate_answers_exactly_what_a_write_would(api: Api) -> None:
    """``$validate`` and a create run the same checks (conformance, then the mapping): the
    same issues for the same resource — a conformance problem and a mapping refusal."""
    claim = load_json(corpus_dir() / "fhir" / "fhirr4__Claim-100153.json")  # a preauthorization
    for rtype, resource in [
        ("Patient", {"resourceType": "Patient", "name": [{"family": 5}]}),
        ("Claim", claim),
    ]:
        checked = await api.post(f"{rtype}/$validate", resource)
        written = await api.post(rtype, resource)
        assert written.status == 422
        assert (await checked.json())["issue"] == (await written.json())["issue"]
