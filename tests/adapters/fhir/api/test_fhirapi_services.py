"""The API on the real services: RabbitMQ (publisher confirms) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fhirapi_support import Api, load_json, running_api

from queues import AmqpTransport
from tests.corpus import corpus_dir

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture
async def real_api(amqp_url: str, pg_url: str, namespace: str) -> AsyncIterator[Api]:
    # its queues are removed after the test by tests/conftest.py (_broker_cleanup)
    transport = AmqpTransport(amqp_url, connection_name=f"fhirapi-{namespace}")
    async with running_api(pg_url, transport, namespace=namespace) as api:
        yield api


async def test_create_read_search_on_rabbitmq_and_postgres(real_api: Api) -> None:
    patient = load_json(corpus_dir() / "fhir" / "fhirr4__Patient-example.json")
    resp = await real_api.post("Patient", patient)
    assert resp.status == 201  # confirmed by the broker, applied by the sync engine
    created = await resp.json()
    read = await real_api.get(f"Patient/{created['id']}")
    assert read.status == 200 and (await read.json())["birthDate"] == patient["birthDate"]
    bundle = await (
        await real_api.get("Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345")
    ).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [created["id"]]
    message = (await real_api.store.list_messages())[0]
    assert message.status == "accepted" and message.format == "fhir" and message.port == "fhir"
    assert message.raw == __import__("json").dumps(patient).encode()


async def test_a_transaction_on_rabbitmq_and_postgres(real_api: Api) -> None:
    bundle = load_json(corpus_dir() / "fhir" / "msanon__hospitalInformation1583281853074.json")
    resp = await real_api.post("", bundle)
    assert resp.status == 200
    answer = await resp.json()
    assert len(answer["entry"]) == 38
    assert await real_api.store.count_entities() == {"Location": 19, "Organization": 19}
    location = next(e for e in answer["entry"] if e["resource"]["resourceType"] == "Location")
    assert location["response"]["status"] == "201 Created"


async def test_delete_then_gone_on_postgres(real_api: Api) -> None:
    patient = {"resourceType": "Patient", "id": "pg1", "birthDate": "2001-02-03"}
    assert (await real_api.put("Patient/pg1", patient)).status == 201
    assert (await real_api.delete("Patient/pg1")).status == 204
    assert (await real_api.get("Patient/pg1")).status == 410
    trail = await real_api.store.audit_trail(subject="Patient/pg1")
    # the update's answer carried the resource: a read as well (docs/security.md)
    assert [a.action for a in reversed(trail)] == ["update", "read", "delete", "read"]
