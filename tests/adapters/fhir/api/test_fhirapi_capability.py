"""The CapabilityStatement tells the truth: it validates, lists exactly the served types, and
every interaction and search parameter it declares behaves as declared."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhirapi_support import Api

from mappings.fhir import FHIR_MAPPINGS


@pytest.fixture
async def capability(api: Api) -> dict[str, Any]:
    resp = await api.http.get("/fhir/metadata")
    assert resp.status == 200
    return await resp.json()


def resources(capability: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["type"]: r for r in capability["rest"][0]["resource"]}


async def test_it_validates_and_names_version_formats_and_security(
    capability: dict[str, Any],
) -> None:
    CapabilityStatement.model_validate(capability)
    assert capability["fhirVersion"] == "4.0.1"
    assert capability["format"] == ["json", "application/fhir+json"]
    rest = capability["rest"][0]
    assert "system/" in rest["security"]["description"]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}


async def test_it_lists_exactly_the_registry(capability: dict[str, Any]) -> None:
    assert set(resources(capability)) == set(FHIR_MAPPINGS)


async def test_declared_interactions_behave(api: Api, capability: dict[str, Any]) -> None:
    for rtype, declared in resources(capability).items():
        codes = {i["code"] for i in declared["interaction"]}
        create = await api.post(rtype, {"resourceType": rtype})
        assert (create.status == 405) == ("create" not in codes), rtype
        delete = await api.delete(f"{rtype}/nothing-here")
        assert delete.status == (404 if "delete" in codes else 405), rtype
        read = await api.get(f"{rtype}/nothing-here")
        assert read.status == 404 and "read" in codes


async def test_declared_search_parameters_are_applied(api: Api, capability: dict[str, Any]) -> None:
    samples = {"token": "x", "reference": "Patient/x", "date": "ge2020-01-01"}
    for rtype, declared in resources(capability).items():
        for param in declared.get("searchParam", []):
            value = samples[param["type"]]
            resp = await api.get(f"{rtype}?{param['name']}={value}", Prefer="handling=strict")
            assert resp.status == 200, (rtype, param["name"], await resp.text())
        resp = await api.get(f"{rtype}?undeclared=1", Prefer="handling=strict")
        assert resp.status == 400
