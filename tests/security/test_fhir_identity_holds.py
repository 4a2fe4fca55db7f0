"""FHIR API writes go through the identity holds (issue 11, item 1, for the FHIR API), against
a running hub with a billing subscriber.

An identifier is not proof of identity: a Patient POSTed (or conditionally PUT) with Zoe's
MRN but another person's birth date and sex, or with identifiers naming two patients, is not
applied to Zoe — 409 with an OperationOutcome (no values; no id without ``r``), a review
opened as the sync engine opens for an event it holds, the body kept as a rejected message,
nothing published. A correction of one name (same birth date and sex) is still applied.

Each test asserts what must not happen: the stored records unchanged (same version),
nothing new delivered to billing, and the review and the kept message that must be there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.security.fhirkit import FhirScene, Reply, scoped_hub, tokens_for
from tests.waiting import eventually

MRN_SYSTEM = "urn:oid:1.2.3.4.88"
ZOE_MRN, ANN_MRN = "88001", "88002"

SCOPES = {
    "full": "system/*.cruds",
    "cu": "system/Patient.cu",
    "u": "system/Patient.u",
}


def person(
    mrns: list[str], family: str, given: str, birth: str, gender: str, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": m} for m in mrns],
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        "gender": gender,
        **extra,
    }


def zoe() -> dict[str, Any]:
    return person([ZOE_MRN], "Zimmerman", "Zoe", "1979-06-30", "female")


def ann() -> dict[str, Any]:
    return person([ANN_MRN], "Abernathy", "Ann", "1990-01-12", "female")


def stranger(mrns: list[str]) -> dict[str, Any]:
    """Another person altogether (birth date, sex, both names) under the given MRNs."""
    return person(mrns, "Quist", "Mallory", "2001-11-05", "male")


#: what of Zoe's and the stranger's facts must not appear in an answer
SECRETS = ("Zimmerman", "1979-06-30", "Quist", "Mallory", "2001-11-05")


@dataclass
class Scene(FhirScene):
    ids: dict[str, str]

    async def record(self, name: str) -> dict[str, Any]:
        found = await self.call("GET", f"Patient/{self.ids[name]}", "full")
        assert found.status == 200, found.body
        resource: dict[str, Any] = found.json
        return resource

    async def delivered(self) -> list[dict[str, Any]]:
        """Every Patient delivered to billing so far — after a barrier write by the full
        client has been delivered, so whatever an earlier request published is in too."""
        mrn = f"B-{uuid.uuid4().hex[:12]}"  # a new person each time, for the matching rules
        done = await self.call(
            "POST", "Patient", "full", person([mrn], f"Barrier{mrn}", mrn, "1950-01-01", "other")
        )
        assert done.status == 201, done.body

        def arrived() -> bool:
            return any(mrn in json.dumps(r.resource) for r in self.sink.requests)

        await eventually(arrived)
        return [
            r.resource
            for r in self.sink.requests
            if r.resource and "Barrier" not in json.dumps(r.resource)
        ]

    async def reviews(self) -> list[dict[str, Any]]:
        assert self.hub.store is not None
        return await self.hub.store.reviews()

    async def rejected(self) -> list[bytes]:
        assert self.hub.store is not None
        return [m.raw for m in await self.hub.store.list_messages(status="rejected")]


@pytest.fixture
async def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Scene]:
    async with scoped_hub(tmp_path, monkeypatch, SCOPES, "ih") as (hub, sink):
        s = Scene(hub, sink, tokens_for(SCOPES, "ih"), {})
        for name, body in (("zoe", zoe()), ("ann", ann())):
            made = await s.call("POST", "Patient", "full", body)
            assert made.status == 201, made.body
            s.ids[name] = made.json["id"]
        yield s


def no_values(reply: Reply, *ids: str) -> None:
    """An OperationOutcome, with nobody's facts and (without r) nobody's id in it."""
    assert reply.json["resourceType"] == "OperationOutcome"
    text = reply.body.decode()
    for secret in (*SECRETS, *ids):
        assert secret not in text, f"{secret} disclosed: {text[:300]}"
    for name in ("Location", "Content-Location", "ETag"):
        assert name not in reply.headers, reply.headers


async def unchanged(scene: Scene, before: dict[str, dict[str, Any]]) -> None:
    for name, was in before.items():
        now = await scene.record(name)
        assert now["meta"]["versionId"] == was["meta"]["versionId"], (name, now)
        assert now["name"] == was["name"] and now["birthDate"] == was["birthDate"]
    delivered = await scene.delivered()
    assert not any("Quist" in json.dumps(r) for r in delivered), delivered


async def test_create_with_zoes_mrn_and_another_persons_facts_is_held(scene: Scene):
    """The reviewer's case: a c+u client POSTs Zoe's MRN with another person's
    demographics; before, it was planned onto Zoe, applied, and pushed to billing."""
    before = {"zoe": await scene.record("zoe")}
    count = len(await scene.delivered())
    reply = await scene.call("POST", "Patient", "cu", stranger([ZOE_MRN]))
    assert reply.status == 409, reply.body
    issue = reply.json["issue"][0]
    assert issue["code"] == "conflict"
    assert "held for review" in issue["diagnostics"]
    assert "birth date" in issue["diagnostics"] and "sex" in issue["diagnostics"]
    no_values(reply, scene.ids["zoe"])
    await unchanged(scene, before)
    assert len(await scene.delivered()) == count  # nothing published
    (review,) = await scene.reviews()
    assert review["entity_type"] == "Patient" and review["record_id"] == scene.ids["zoe"]
    assert "FHIR write by client cu held" in review["rule"]
    assert "Quist" not in review["rule"] and "2001" not in review["rule"]
    assert await scene.rejected() == [json.dumps(stranger([ZOE_MRN])).encode()]
    assert scene.hub.store is not None
    audited = await scene.hub.store.audit_trail(action="create")
    assert [a.outcome for a in audited if a.actor == "cu"] == ["409"]


async def test_conditional_update_by_zoes_mrn_with_another_persons_facts_is_held(
    scene: Scene,
):
    before = {"zoe": await scene.record("zoe")}
    reply = await scene.call("PUT", f"Patient?identifier={ZOE_MRN}", "u", stranger([ZOE_MRN]))
    assert reply.status == 409, reply.body
    no_values(reply, scene.ids["zoe"])
    await unchanged(scene, before)
    assert [r["record_id"] for r in await scene.reviews()] == [scene.ids["zoe"]]


async def test_identifiers_naming_two_patients_are_held_not_applied_to_the_first(
    scene: Scene,
):
    before = {"zoe": await scene.record("zoe"), "ann": await scene.record("ann")}
    # Zoe's own facts, so only the two MRNs make it ambiguous
    both = person([ZOE_MRN, ANN_MRN], "Zimmerman", "Zoe", "1979-06-30", "female")
    both["telecom"] = [{"system": "phone", "value": "555-0100"}]
    reply = await scene.call("POST", "Patient", "cu", both)
    assert reply.status == 409, reply.body
    assert "several records" in reply.json["issue"][0]["diagnostics"]
    no_values(reply, scene.ids["zoe"], scene.ids["ann"])
    await unchanged(scene, before)
    assert not any("555-0100" in json.dumps(r) for r in await scene.delivered())
    (review,) = await scene.reviews()
    assert {review["record_id"], *review["candidates"]} == {scene.ids["zoe"], scene.ids["ann"]}


async def test_a_client_with_r_is_told_which_record(scene: Scene):
    reply = await scene.call("POST", "Patient", "full", stranger([ZOE_MRN]))
    assert reply.status == 409, reply.body
    assert f"Patient/{scene.ids['zoe']}" in reply.json["issue"][0]["diagnostics"]
    assert "Quist" not in reply.body.decode() and "1979" not in reply.body.decode()
    assert len(await scene.reviews()) == 1


async def test_a_transaction_with_a_held_entry_fails_whole(scene: Scene):
    before = {"zoe": await scene.record("zoe")}
    sent = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": person(["NEW-1"], "Newman", "Nia", "1988-03-03", "female"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": stranger([ZOE_MRN]), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    reply = await scene.call("POST", "", "cu", sent)
    assert reply.status == 409, reply.body
    assert "Bundle.entry[1]" in reply.body.decode()
    no_values(reply, scene.ids["zoe"])
    await unchanged(scene, before)
    assert (await scene.call("GET", "Patient?identifier=NEW-1", "full")).json["total"] == 0
    assert len(await scene.reviews()) == 1


async def test_a_one_name_correction_is_still_applied(scene: Scene):
    """Same birth date and sex, a new family name (a marriage): the same person."""
    before = await scene.record("zoe")
    fixed = person([ZOE_MRN], "Zimmerman-Lee", "Zoe", "1979-06-30", "female")
    reply = await scene.call("POST", "Patient", "cu", fixed)
    assert reply.status == 200, reply.body
    after = await scene.record("zoe")
    assert after["meta"]["versionId"] != before["meta"]["versionId"]
    assert after["name"][0]["family"] == "Zimmerman-Lee"
    assert any("Zimmerman-Lee" in json.dumps(r) for r in await scene.delivered())
    assert await scene.reviews() == []
