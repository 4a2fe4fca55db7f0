"""A write scope must not read (issue 11, item 3), against a running hub with a subscriber.

SMART v2 letters: c create, r read, u update, d delete, s search. A create that lands on an
existing record (its identifier is known, or its If-None-Exist matches) changes that record
only with ``u`` and shows it only with ``r``; a conditional update that creates needs ``c``;
an answer never carries a resource the client may not read (no ``r``: no body, whatever
``Prefer`` asks); every answer that carries a resource is audited as a read too.
If-None-Exist is a search: it needs ``r`` or ``s``. Without ``r``, an answer about a record
that existed carries no id either (no Location, ETag, fullUrl, nor in a 409's text).

Each test asserts what must not happen: no body, no PHI in the answer, the stored record
unchanged (same version), nothing new delivered to the subscriber, and the audit rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.security.fhirkit import FhirScene, Reply, scoped_hub, tokens_for
from tests.waiting import eventually

SSN = "999-41-7733"
MRN = "77001"
VICTIM_NAME = "Okonkwo"
ATTACKER_NAME = "Mallory"
MRN_SYSTEM = "urn:oid:1.2.3.4.77"

SCOPES = {
    "full": "system/*.cruds",
    "c": "system/Patient.c",
    "u": "system/Patient.u",
    "cu": "system/Patient.cu",
    "cr": "system/Patient.cr",
    "ru": "system/Patient.ru",
    "cru": "system/Patient.cru",
    "cs": "system/Patient.cs",
    "cus": "system/Patient.cus",
    "role-c": "system/PractitionerRole.c",
}


@dataclass
class Scene(FhirScene):
    async def victim(self) -> dict[str, Any]:
        """The victim's record, as a full client reads it."""
        found = await self.call("GET", f"Patient?identifier={MRN}", "full")
        assert found.status == 200, found.body
        entries = found.json.get("entry", [])
        assert len(entries) == 1, found.json
        resource: dict[str, Any] = entries[0]["resource"]
        return resource

    async def audit(self, action: str) -> list[Any]:
        assert self.hub.store is not None
        return await self.hub.store.audit_trail(action=action)

    async def delivered_names(self) -> set[str]:
        """Every family name delivered to billing so far — after a barrier write by the full
        client has been delivered, so whatever an earlier request published is in too."""
        barrier = patient("B-" + str(len(self.sink.requests)), "Barrier")
        done = await self.call("POST", "Patient", "full", barrier)
        assert done.status == 201, done.body
        value = barrier["identifier"][0]["value"]

        def arrived() -> bool:
            return any(value in json.dumps(r.resource) for r in self.sink.requests)

        await eventually(arrived)
        return {
            name["family"]
            for r in self.sink.requests
            if r.resource
            for name in r.resource.get("name", [])
        }


def patient(mrn: str = MRN, family: str = ATTACKER_NAME, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
        "name": [{"family": family, "given": ["Eve"]}],
        **extra,
    }


def newcomer(mrn: str) -> dict[str, Any]:
    """A patient nobody knows yet."""
    return patient(mrn, "Newcomer")


def correction() -> dict[str, Any]:
    """The victim as the victim's own system would send them, with a new phone number: an
    update the matching rules take as the same person (a client with ``u`` may send it)."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN_SYSTEM, "value": MRN}],
        "name": [{"family": VICTIM_NAME, "given": ["Chidinma"]}],
        "gender": "female",
        "birthDate": "1985-02-14",
        "telecom": [{"system": "phone", "value": "555-0199"}],
    }


def victim_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": MRN_SYSTEM, "value": MRN},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN},
        ],
        "name": [{"family": VICTIM_NAME, "given": ["Chidinma"]}],
        "gender": "female",
        "birthDate": "1985-02-14",
        "telecom": [{"system": "phone", "value": "555-0147"}],
    }


@pytest.fixture
async def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Scene]:
    async with scoped_hub(tmp_path, monkeypatch, SCOPES, "ws") as (hub, sink):
        s = Scene(hub, sink, tokens_for(SCOPES, "ws"))
        made = await s.call("POST", "Patient", "full", victim_patient())
        assert made.status == 201, made.body
        yield s


def no_id(reply: Reply, rid: str) -> None:
    """The answer does not name the record ``rid``: no Location, ETag, Content-Location."""
    for name in ("Location", "Content-Location", "ETag"):
        assert rid not in reply.headers.get(name, ""), (name, reply.headers.get(name))
    assert "ETag" not in reply.headers and "Location" not in reply.headers, reply.headers
    assert rid not in reply.body.decode(errors="replace")


def no_phi(reply: Reply) -> None:
    """Nothing of the victim in the answer: not the SSN, the name, the phone."""
    text = reply.body.decode(errors="replace")
    for secret in (SSN, VICTIM_NAME, "555-0147", "1985-02-14"):
        assert secret not in text, f"{secret} disclosed: {text[:300]}"


async def unchanged(scene: Scene, before: dict[str, Any]) -> None:
    after = await scene.victim()
    assert after["meta"]["versionId"] == before["meta"]["versionId"], after
    assert after["name"] == before["name"]
    assert ATTACKER_NAME not in await scene.delivered_names()


# --------------------------------------------------------------------------- create


async def test_c_only_create_of_a_known_identifier_changes_nothing_and_discloses_nothing(
    scene: Scene,
):
    """The issue's case: system/Patient.c POSTs a Patient carrying the victim's MRN."""
    before = await scene.victim()
    reply = await scene.call("POST", "Patient", "c", patient())
    assert reply.status == 409, reply.body
    outcome = reply.json
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "conflict"
    assert "system/Patient.u" in outcome["issue"][0]["diagnostics"]
    no_phi(reply)
    assert before["id"] not in reply.body.decode()  # not even the victim's id without r
    await unchanged(scene, before)
    denied = [a for a in await scene.audit("create") if a.actor == "c"]
    assert [a.outcome for a in denied] == ["409"]
    # refused, and kept: the body as sent, with the answer given, in the message log
    assert scene.hub.store is not None
    kept = await scene.hub.store.list_messages(status="rejected")
    assert [k.raw for k in kept] == [json.dumps(patient()).encode()]
    assert b"system/Patient.u" in (kept[0].ack or b"")


async def test_c_only_create_of_the_same_person_under_a_new_mrn_changes_nothing(
    scene: Scene,
):
    """Another identifier, the victim's demographics: whether the matching rules link it to
    the victim or not, the victim's record is neither changed nor shown."""
    before = await scene.victim()
    twin = victim_patient()
    twin["identifier"] = [{"system": MRN_SYSTEM, "value": "NEW-TWIN"}]
    twin["name"][0]["given"] = ["Chidinma", ATTACKER_NAME]
    reply = await scene.call("POST", "Patient", "c", twin)
    assert reply.status in (201, 409), reply.body
    assert reply.body == b"" or reply.json["resourceType"] == "OperationOutcome"
    assert SSN not in reply.body.decode() and "555-0147" not in reply.body.decode()
    after = await scene.victim()
    assert after["meta"]["versionId"] == before["meta"]["versionId"]
    assert after["name"] == before["name"]


async def test_create_with_u_but_no_r_changes_the_record_and_answers_without_a_body(
    scene: Scene,
):
    before = await scene.victim()
    reply = await scene.call("POST", "Patient", "cu", correction(), Prefer="return=representation")
    assert reply.status == 200, reply.body
    assert reply.body == b""
    no_id(reply, before["id"])  # the answer is about the victim: not even the id without r
    after = await scene.victim()
    assert after["meta"]["versionId"] != before["meta"]["versionId"]
    assert not [a for a in await scene.audit("read") if a.actor == "cu"]
    # the audit trail still names the record that was changed
    creates = [a.subject for a in await scene.audit("create") if a.actor == "cu"]
    assert creates == [f"Patient/{before['id']}"]


async def test_create_with_cu_and_no_prefer_is_minimal_too(scene: Scene):
    """No Prefer at all (a representation by default): still no body without r."""
    reply = await scene.call("POST", "Patient", "cu", correction())
    assert reply.status == 200 and reply.body == b"", reply.body


async def test_create_with_r_but_no_u_changes_nothing(scene: Scene):
    before = await scene.victim()
    reply = await scene.call("POST", "Patient", "cr", patient())
    assert reply.status == 409, reply.body
    no_phi(reply)
    await unchanged(scene, before)


async def test_create_with_cru_shows_the_record_and_audits_the_read(scene: Scene):
    before = await scene.victim()
    reply = await scene.call("POST", "Patient", "cru", correction())
    assert reply.status == 200, reply.body
    assert reply.json["id"] == before["id"]
    reads = [a for a in await scene.audit("read") if a.actor == "cru"]
    assert [(a.subject, a.outcome) for a in reads] == [(f"Patient/{before['id']}", "200")]
    assert reads[0].peer == "127.0.0.1"
    # the same client asking for no body: nothing disclosed, no read recorded
    quiet = await scene.call("POST", "Patient", "cru", correction(), Prefer="return=minimal")
    assert quiet.status == 200 and quiet.body == b""
    assert len([a for a in await scene.audit("read") if a.actor == "cru"]) == 1


async def test_a_new_record_by_a_c_only_client_is_created_without_a_body(scene: Scene):
    reply = await scene.call("POST", "Patient", "c", newcomer("NEW-1"))
    assert reply.status == 201, reply.body
    assert reply.body == b""
    assert "/Patient/" in reply.headers["Location"]
    assert not [a for a in await scene.audit("read") if a.actor == "c"]


# --------------------------------------------------------------------------- If-None-Exist


@pytest.mark.parametrize(
    "condition", [f"identifier={MRN}", "family=Okonkwo&birthdate=1985-02-14", "family=Nobody"]
)
async def test_if_none_exist_without_r_or_s_is_403_and_writes_nothing(scene: Scene, condition: str):
    """A c-only client must not learn by If-None-Exist whether a person is in the hub, nor
    their id: the search is refused before it runs, whether it would match or not."""
    before = await scene.victim()
    reply = await scene.call("POST", "Patient", "c", patient(), **{"If-None-Exist": condition})
    assert reply.status == 403, reply.body
    assert reply.json["issue"][0]["code"] == "forbidden"
    assert "system/Patient.r" in reply.json["issue"][0]["diagnostics"]
    assert 'error="insufficient_scope"' in reply.headers["WWW-Authenticate"]
    assert "Location" not in reply.headers and "ETag" not in reply.headers
    no_phi(reply)
    assert before["id"] not in reply.body.decode()
    await unchanged(scene, before)
    denied = [(a.action, a.outcome) for a in await scene.audit("denied") if a.actor == "c"]
    assert denied == [("denied", "403")]
    assert not [a for a in await scene.audit("create") if a.actor == "c"]
    # refused, and kept: the body as sent, in the message log
    assert scene.hub.store is not None
    kept = await scene.hub.store.list_messages(status="rejected")
    assert [k.raw for k in kept] == [json.dumps(patient()).encode()]


async def test_if_none_exist_match_with_s_but_no_r_answers_without_body_or_id(scene: Scene):
    before = await scene.victim()
    reply = await scene.call(
        "POST", "Patient", "cs", patient(), **{"If-None-Exist": f"identifier={MRN}"}
    )
    assert reply.status == 200, reply.body
    assert reply.body == b""
    no_id(reply, before["id"])
    await unchanged(scene, before)
    assert not [a for a in await scene.audit("read") if a.actor == "cs"]


async def test_409_identifier_conflict_names_the_owner_only_with_r(scene: Scene):
    """An update of another id carrying the victim's MRN: 409; the victim's id only to a
    client that may read it."""
    before = await scene.victim()
    ghost = {**patient(), "id": "ghost-2"}
    blind = await scene.call("PUT", "Patient/ghost-2", "cu", ghost)
    assert blind.status == 409, blind.body
    assert "already belongs to another Patient" in blind.json["issue"][0]["diagnostics"]
    assert before["id"] not in blind.body.decode()
    seeing = await scene.call("PUT", "Patient/ghost-2", "full", ghost)
    assert seeing.status == 409, seeing.body
    assert f"Patient/{before['id']}" in seeing.json["issue"][0]["diagnostics"]
    await unchanged(scene, before)


async def test_if_none_exist_match_with_r_shows_the_record_and_audits_the_read(scene: Scene):
    before = await scene.victim()
    reply = await scene.call(
        "POST", "Patient", "cr", patient(), **{"If-None-Exist": f"identifier={MRN}"}
    )
    assert reply.status == 200, reply.body
    assert reply.json["id"] == before["id"]
    reads = [a for a in await scene.audit("read") if a.actor == "cr"]
    assert [a.subject for a in reads] == [f"Patient/{before['id']}"]


# --------------------------------------------------------------------------- conditional update


async def test_u_only_conditional_update_that_would_create_is_403(scene: Scene):
    reply = await scene.call("PUT", "Patient?identifier=NOBODY-9", "u", newcomer("NOBODY-9"))
    assert reply.status == 403, reply.body
    assert reply.json["issue"][0]["code"] == "forbidden"
    assert "system/Patient.c" in reply.json["issue"][0]["diagnostics"]
    nobody = await scene.call("GET", "Patient?identifier=NOBODY-9", "full")
    assert nobody.json.get("total") == 0, nobody.json
    denied = [a for a in await scene.audit("denied") if a.actor == "u"]
    assert [a.outcome for a in denied] == ["403"]


async def test_u_only_conditional_update_answers_without_fields_it_never_sent(scene: Scene):
    before = await scene.victim()
    body = {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": MRN}]}
    body["name"] = [{"family": VICTIM_NAME, "given": ["Chidinma", "A"]}]
    reply = await scene.call("PUT", f"Patient?identifier={MRN}", "u", body)
    assert reply.status == 200, reply.body
    assert reply.body == b""
    no_id(reply, before["id"])
    assert SSN not in reply.body.decode()
    after = await scene.victim()
    assert after["meta"]["versionId"] != before["meta"]["versionId"]


async def test_cu_conditional_update_that_creates_is_created_without_a_body(scene: Scene):
    reply = await scene.call("PUT", "Patient?identifier=NEW-2", "cu", newcomer("NEW-2"))
    assert reply.status == 201, reply.body
    assert reply.body == b""


async def test_ru_conditional_update_shows_the_record_and_audits_the_read(scene: Scene):
    before = await scene.victim()
    body = correction()
    reply = await scene.call("PUT", f"Patient?identifier={MRN}", "ru", body)
    assert reply.status == 200, reply.body
    assert reply.json["id"] == before["id"]
    reads = [a for a in await scene.audit("read") if a.actor == "ru"]
    assert [a.subject for a in reads] == [f"Patient/{before['id']}"]


async def test_update_by_id_that_would_create_needs_c(scene: Scene):
    reply = await scene.call("PUT", "Patient/ghost-1", "u", {**newcomer("G-1"), "id": "ghost-1"})
    assert reply.status == 403, reply.body
    assert (await scene.call("GET", "Patient/ghost-1", "full")).status == 404


# --------------------------------------------------------------------------- bundles


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "POST", "url": "Patient", **request}}


async def test_transaction_create_of_a_known_identifier_without_u_fails_whole(scene: Scene):
    before = await scene.victim()
    sent = bundle("transaction", post_entry(newcomer("NEW-3")), post_entry(patient()))
    reply = await scene.call("POST", "", "c", sent)
    assert reply.status == 409, reply.body
    assert "Bundle.entry[1]" in reply.body.decode()
    no_phi(reply)
    await unchanged(scene, before)
    assert (await scene.call("GET", "Patient?identifier=NEW-3", "full")).json["total"] == 0


async def test_transaction_entries_carry_no_resource_without_r(scene: Scene):
    before = await scene.victim()
    sent = bundle(
        "transaction",
        post_entry(newcomer("NEW-4")),
        post_entry(patient(), ifNoneExist=f"identifier={MRN}"),
        post_entry(correction()),
    )
    reply = await scene.call("POST", "", "cus", sent, Prefer="return=representation")
    assert reply.status == 200, reply.body
    entries = reply.json["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "200", "200"]
    assert all("resource" not in e for e in entries), entries
    assert "/Patient/" in entries[0]["fullUrl"]  # the new record: its own id
    for e in entries[1:]:  # the victim's record: no id, no location, no etag
        assert "fullUrl" not in e and "location" not in e["response"], e
        assert "etag" not in e["response"], e
    assert before["id"] not in reply.body.decode()
    no_phi(reply)
    assert not [a for a in await scene.audit("read") if a.actor == "cus"]


async def test_transaction_if_none_exist_without_r_or_s_fails_whole(scene: Scene):
    before = await scene.victim()
    sent = bundle(
        "transaction",
        post_entry(newcomer("NEW-9")),
        post_entry(patient(), ifNoneExist=f"identifier={MRN}"),
    )
    reply = await scene.call("POST", "", "cu", sent)
    assert reply.status == 403, reply.body
    assert "Bundle.entry[1]" in reply.body.decode()
    assert before["id"] not in reply.body.decode()
    assert (await scene.call("GET", "Patient?identifier=NEW-9", "full")).json["total"] == 0
    denied = [a.outcome for a in await scene.audit("denied") if a.actor == "cu"]
    assert denied == ["403", "403"]


async def test_transaction_entries_with_r_are_shown_and_each_audited_as_a_read(scene: Scene):
    before = await scene.victim()
    sent = bundle(
        "transaction",
        post_entry(newcomer("NEW-5")),
        post_entry(patient(), ifNoneExist=f"identifier={MRN}"),
    )
    reply = await scene.call("POST", "", "cr", sent)
    assert reply.status == 200, reply.body
    entries = reply.json["entry"]
    assert entries[1]["resource"]["id"] == before["id"]
    reads = {a.subject for a in await scene.audit("read") if a.actor == "cr"}
    assert reads == {f"Patient/{before['id']}", f"Patient/{entries[0]['resource']['id']}"}


async def test_batch_entries_follow_the_same_rules_each_on_its_own(scene: Scene):
    before = await scene.victim()
    sent = bundle(
        "batch",
        post_entry(newcomer("NEW-6")),
        post_entry(patient()),
        post_entry(patient(), ifNoneExist=f"identifier={MRN}"),
        {
            "resource": newcomer("NEW-7"),
            "request": {"method": "PUT", "url": "Patient?identifier=NEW-7"},
        },
    )
    reply = await scene.call("POST", "", "c", sent)
    assert reply.status == 200, reply.body
    entries = reply.json["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "409", "403", "403"]
    assert all("resource" not in e for e in entries), entries
    no_phi(reply)
    await unchanged(scene, before)


async def test_batch_of_a_u_only_client_creates_nothing_and_shows_nothing(scene: Scene):
    before = await scene.victim()
    sent = bundle(
        "batch",
        {
            "resource": newcomer("NEW-8"),
            "request": {"method": "PUT", "url": "Patient?identifier=NEW-8"},
        },
        {
            "resource": correction(),
            "request": {"method": "PUT", "url": f"Patient?identifier={MRN}"},
        },
    )
    reply = await scene.call("POST", "", "u", sent)
    assert reply.status == 200, reply.body
    entries = reply.json["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["403", "200"]
    assert entries[0]["response"]["outcome"]["issue"][0]["code"] == "forbidden"
    assert all("resource" not in e for e in entries), entries
    assert SSN not in reply.body.decode()
    nobody = await scene.call("GET", "Patient?identifier=NEW-8", "full")
    assert nobody.json["total"] == 0
    after = await scene.victim()
    assert after["meta"]["versionId"] != before["meta"]["versionId"]  # u may change it
    denied = [(a.action, a.outcome) for a in await scene.audit("denied") if a.actor == "u"]
    assert denied == [("denied", "403")]
    assert not [a for a in await scene.audit("read") if a.actor == "u"]


# --------------------------------------------------------------------------- PractitionerRole


def role(practitioner_id: str, code: str) -> dict[str, Any]:
    taxonomy = "http://nucc.org/provider-taxonomy"
    return {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": [{"coding": [{"system": taxonomy, "code": code}]}],
    }


async def test_a_role_is_created_with_c_until_one_exists_then_changing_it_needs_u(
    scene: Scene,
):
    """A PractitionerRole is part of its Practitioner: the practitioner's record exists, but
    while it has no role, writing one creates the PractitionerRole (c); once it has one,
    another POST would change it (u)."""
    doctor = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "name": [{"family": "Roberts"}],
    }
    made = await scene.call("POST", "Practitioner", "full", doctor)
    assert made.status == 201, made.body
    pid = made.json["id"]
    first = await scene.call("POST", "PractitionerRole", "role-c", role(pid, "208D00000X"))
    assert first.status in (200, 201) and first.body == b"", first.body
    second = await scene.call("POST", "PractitionerRole", "role-c", role(pid, "207Q00000X"))
    assert second.status == 409, second.body
    roles = await scene.call("GET", f"PractitionerRole/{pid}", "full")
    codes = [c["coding"][0]["code"] for c in roles.json["code"]]
    assert codes == ["208D00000X"]


async def test_batch_entries_with_r_are_shown_and_audited_as_reads(scene: Scene):
    before = await scene.victim()
    sent = bundle("batch", post_entry(patient(), ifNoneExist=f"identifier={MRN}"))
    reply = await scene.call("POST", "", "cr", sent)
    assert reply.status == 200, reply.body
    (entry,) = reply.json["entry"]
    assert entry["resource"]["id"] == before["id"]
    reads = [(a.subject, a.outcome) for a in await scene.audit("read") if a.actor == "cr"]
    assert reads == [(f"Patient/{before['id']}", "200")]
