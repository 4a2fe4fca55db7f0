"""Hostile and broken FHIR requests to POST /fhir of a running hub: each gets its
OperationOutcome with the specific issue code and HTTP status, fast, and the body (up to the
size cap) is kept in the message log as a rejected message."""

from __future__ import annotations

import asyncio
import json
import time

from carehub.app.hub import Hub
from tests.hostile.hubkit import FHIR_TOKEN, MAX_BODY, MAX_ENTRIES, find_raw, post

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "HOSTILE-1"}],
    "name": [{"family": "Okonkwo", "given": ["Chidinma"]}],
}


def issue_of(body: bytes) -> dict:
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"][0]


async def test_bad_json_gets_400_structure_and_is_kept(hub: Hub):
    raw = b'{"resourceType": "Patient", "name": [{"family": "Okonkwo"'  # cut short
    async with asyncio.timeout(10):
        status, body, _ = await post(hub, "/fhir/Patient", raw, token=FHIR_TOKEN)
    assert status == 400
    issue = issue_of(body)
    assert issue["code"] == "structure" and issue["severity"] == "error"
    kept = await find_raw(hub, lambda m: m.raw == raw)
    assert kept.status == "rejected" and kept.format == "fhir"
    assert json.loads(kept.ack or b"{}")["issue"][0]["code"] == "structure"


async def test_deeply_nested_json_gets_400_not_a_crash(hub: Hub):
    raw = b'{"resourceType": "Patient", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with asyncio.timeout(10):
        status, body, _ = await post(hub, "/fhir/Patient", raw, token=FHIR_TOKEN)
    assert status == 400 and issue_of(body)["code"] == "structure"
    assert (await find_raw(hub, lambda m: m.raw == raw)).status == "rejected"


async def test_xml_with_a_doctype_is_refused_415_unparsed_and_kept(hub: Hub):
    """An XML body (here a billion-laughs DOCTYPE) never reaches an XML parser: 415
    not-supported, in milliseconds, whether declared as XML or sent as JSON."""
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b']>\n<Patient xmlns="http://hl7.org/fhir"><id value="&lol9;"/></Patient>'
    )
    for content_type in ("application/fhir+xml", "application/fhir+json"):
        started = time.monotonic()
        async with asyncio.timeout(10):
            status, body, _ = await post(
                hub, "/fhir/Patient", laughs, token=FHIR_TOKEN, content_type=content_type
            )
        assert time.monotonic() - started < 2
        assert status == 415 and issue_of(body)["code"] == "not-supported"
    kept = [m for m in await hub.store.list_messages(direction="in") if m.raw == laughs]  # type: ignore[union-attr]
    assert len(kept) == 2 and {m.status for m in kept} == {"rejected"}


async def test_too_many_bundle_entries_gets_413_too_costly_and_is_kept(hub: Hub):
    entries = [
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}}
        for _ in range(MAX_ENTRIES + 1)
    ]
    raw = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()
    async with asyncio.timeout(10):
        status, body, _ = await post(hub, "/fhir", raw, token=FHIR_TOKEN)
    assert status == 413
    issue = issue_of(body)
    assert issue["code"] == "too-costly"
    assert "Bundle.entry" in (issue.get("expression") or issue.get("location") or [])
    assert (await find_raw(hub, lambda m: m.raw == raw)).status == "rejected"
    assert await hub.store.count_entities() == {}  # type: ignore[union-attr]


async def test_a_body_over_the_cap_gets_413_too_long_and_its_head_is_kept(hub: Hub):
    raw = json.dumps({**PATIENT, "text": {"div": "x" * (2 * MAX_BODY)}}).encode()
    async with asyncio.timeout(10):
        status, body, _ = await post(hub, "/fhir/Patient", raw, token=FHIR_TOKEN)
    assert status == 413 and issue_of(body)["code"] == "too-long"
    kept = await find_raw(hub, lambda m: m.format == "fhir" and raw.startswith(m.raw[:64]))
    assert kept.status == "rejected" and 0 < kept.size <= MAX_BODY


async def test_a_resource_of_the_wrong_type_gets_400_invalid_and_is_kept(hub: Hub):
    raw = json.dumps({"resourceType": "Observation", "status": "final"}).encode()
    status, body, _ = await post(hub, "/fhir/Patient", raw, token=FHIR_TOKEN)
    assert status == 400 and issue_of(body)["code"] == "invalid"
    assert (await find_raw(hub, lambda m: m.raw == raw)).status == "rejected"
