"""Issue 11, items 1 and 2: a shared identifier is not proof of identity, and a race never
splits one patient in two.

- Only ``matching.identifying`` identifiers link records by themselves; an SSN, a licence
  or a member id only corroborates; placeholder values never link.
- A link by an identifying identifier whose identity facts disagree (birth date, sex, or
  both names) is held for review, never applied; one name corrected on the same MRN is.
- A reservation of a patient's identifiers (a reference resolved first, in another worker)
  folds into the record the demographics link, in the same transaction.

End to end on RabbitMQ with SQLite and PostgreSQL (the ``site`` of ``test_sync``); the race
on PostgreSQL with two engines (two workers) and a deterministic interleaving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from carehub.app.hub import Hub
from carehub.demo.partners import FhirSink, MllpSink
from hub.canonical import (
    Encounter,
    EntityType,
    Event,
    EventKind,
    HumanName,
    Identifier,
    Patient,
    Provenance,
    Ref,
)
from hub.config import IdentifyingConfig, MatchingConfig, parse_config
from hub.envelope import Envelope
from hub.store import SqlStore
from hub.sync import IdentityService, SyncEngine
from hub.sync.identity import demographics
from hub.sync.linking import IdentifierPolicy, disagreement, is_placeholder
from queues import build_topology, events_exchange
from queues.memory import MemoryTransport
from tests.invariants import identity_violations
from tests.sync.test_sync import CONFIG, Site

SSN = "http://hl7.org/fhir/sid/us-ssn"


def a04(
    control: str,
    mrn: str,
    family: str,
    given: str,
    dob: str,
    sex: str,
    ssn: str = "",
    *,
    trigger: str = "A04",
    stamp: str = "20261128090000",
    cx5: str = "MR",
) -> bytes:
    """An ADT^A04/A08 with PID-3 (MRN, of type ``cx5``), PID-5, PID-7, PID-8 and PID-19
    (SSN)."""
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|{stamp}||ADT^{trigger}^ADT_A01|{control}|P|"
        f"2.5.1\rEVN|{trigger}|{stamp}\rPID|1||{mrn}^^^GOODHEALTH^{cx5}||{family}^{given}||{dob}|"
        f"{sex}{'|' * 11}{ssn}\rPV1|1|O\r"
    ).encode()


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "value",
    [
        "999-99-9999",
        "000-00-0000",
        "999999999",
        "123-45-6789",
        "123456789",
        "987654321",
        "0123456789",
        "078-05-1120",
        "UNKNOWN",
        "n/a",
        "XXXX",
        "",
        "0",
        "11111",
        "123456",
        "654321",
    ],
)
def test_placeholder_values_are_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "value", ["7700123", "123-45-6780", "A123456", "MBRID01234", "1111", "12345", "7"]
)
def test_real_values_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_an_ssn_the_ssa_never_issues_is_a_placeholder_in_the_ssn_namespace_only() -> None:
    assert is_placeholder("666-12-3456", SSN) and is_placeholder("123-00-4567", SSN)
    assert not is_placeholder("666123456", "GOODHEALTH")


def test_the_default_identifying_identifiers() -> None:
    policy = IdentifierPolicy()
    assert policy.identifying("GOODHEALTH", "MR") and policy.identifying("urn:oid:1.2.3", "PE")
    assert policy.identifying("urn:example:portal", None)  # an untyped FHIR identifier
    assert not policy.identifying(SSN, "SS") and not policy.identifying(SSN, None)
    assert not policy.identifying("GOODHEALTH", "DL") and not policy.identifying("ehr:dl", None)
    assert not policy.identifying("urn:carehub:x12:payer:P1", "MB")
    # configured: an enterprise MPI's namespace identifies whatever its type; types narrowed
    custom = IdentifierPolicy(IdentifyingConfig(types=["MR"], systems=["urn:oid:2.9.*"]))
    assert custom.identifying("urn:oid:2.9.1", "SS") and custom.identifying("HOSP", "MR")
    assert custom.identifying("HOSP", "PI")  # a type neither list names: by its namespace
    assert not custom.identifying("HOSP", "SS")


@pytest.mark.parametrize("vendor_type", ["MRN", "EPI", "U", "HC", "NH", "JHN", "mrn"])
def test_a_type_neither_list_names_is_judged_by_its_namespace(vendor_type: str) -> None:
    """A vendor's own CX-5 (``12345^^^HOSP^MRN``) is still the hospital's number: it links
    unless its namespace is a corroborating one."""
    policy = IdentifierPolicy()
    assert policy.identifying("HOSP", vendor_type)
    assert not policy.identifying(SSN, vendor_type)
    assert not policy.identifying("ehr:ssn", vendor_type)


@pytest.mark.parametrize("kind", ["SS", "DL", "PPN", "MA", "MC", "MB", "SN", "MI", "NI", "ss"])
def test_a_corroborating_type_never_identifies_in_any_namespace(kind: str) -> None:
    policy = IdentifierPolicy()
    assert not policy.identifying("HOSP", kind)
    # configured: an enterprise MPI's namespace, or the type itself, overrides
    assert IdentifierPolicy(IdentifyingConfig(systems=["HOSP"])).identifying("HOSP", kind)
    assert IdentifierPolicy(IdentifyingConfig(types=[kind])).identifying("HOSP", kind)


def test_config_matching_identifying_parses() -> None:
    cfg = parse_config(
        "matching:\n  identifying:\n    types: [MR]\n    systems: ['urn:oid:2.9.*']\n"
        "    corroborating_types: [SS]\n    corroborating_systems: ['*:ssn']\n"
    )
    assert cfg.matching.identifying.types == ["MR"]
    assert cfg.matching.identifying.systems == ["urn:oid:2.9.*"]
    assert cfg.matching.identifying.corroborating_types == ["SS"]
    assert cfg.matching.identifying.corroborating_systems == ["*:ssn"]
    default = MatchingConfig().identifying  # the default keeps SSNs, licences, members out
    assert {"SS", "DL", "MB"} <= set(default.corroborating_types)
    assert SSN in default.corroborating_systems


def _facts(family: str, given: str, dob: str = "1970-01-01", sex: str = "female") -> Any:
    return demographics(
        {"names": [{"family": family, "given": [given]}], "birth_date": dob, "sex": sex}
    )


def test_disagreement_is_birth_date_sex_or_both_names() -> None:
    ann = _facts("Alpha", "Ann")
    assert disagreement(ann, _facts("Alpha", "Anne")) is None  # a typo corrected
    assert disagreement(ann, _facts("Married", "Ann")) is None  # a new family name
    assert disagreement(ann, demographics({})) is None  # nothing to compare
    assert disagreement(ann, _facts("Alpha", "Ann", dob="1970")) is None  # less precise
    assert disagreement(ann, _facts("Alpha", "Ann", sex="unknown")) is None
    assert disagreement(ann, _facts("Alpha", "Ann", dob="1971-01-01")) == "birth date"
    assert disagreement(ann, _facts("Alpha", "Ann", sex="male")) == "sex"
    assert disagreement(ann, _facts("Beta", "Bob")) == "family and given name"


# --------------------------------------------------------------------------- end to end


async def test_two_registrations_sharing_a_placeholder_ssn_stay_two_patients(site: Site):
    """The issue's case: two A04, different MRNs, names, birth dates and sex, the same SSN
    999-99-9999. Two patients; billing's record of the first is not overwritten."""
    first = a04("S-1", "1001", "Alpha", "Ann", "19700101", "F", "999-99-9999")
    second = a04("S-2", "1002", "Beta", "Bob", "19650505", "M", "999-99-9999")
    assert await site.send("ehr", first) == "AA"
    await site.settle()
    assert await site.send("ehr", second) == "AA"
    await site.settle()
    patients = await site.patients()
    assert sorted(p["names"][0]["family"] for p in patients) == ["Alpha", "Beta"]
    # the SSN stays on both records, but is no link key
    for p in patients:
        assert any(i["value"] == "999-99-9999" for i in p["identifiers"])
        known = {k["namespace"] for k in await site.store.identifiers_of("Patient", p["id"])}
        assert SSN not in known
    assert await site.store.find_by_identifier("Patient", "999-99-9999") == []
    # billing holds two patients, the first still the first person
    billing = site.fhir.resources["Patient"]
    assert len(billing) == 2
    (ann,) = [r for t, r in billing.items() if t.endswith("|1001")]
    assert ann["name"][0]["family"] == "Alpha" and ann["birthDate"] == "1970-01-01"
    assert await site.store.reviews() == []


async def test_a_shared_real_ssn_with_other_demographics_is_two_patients_and_a_review(
    site: Site,
):
    """A real (not placeholder) SSN shared by two different people: not linked by it —
    the second is a new record, flagged and on the review list with the first."""
    assert (
        await site.send("ehr", a04("T-1", "2001", "Gamma", "Gina", "19800202", "F", "123-45-6780"))
        == "AA"
    )
    await site.settle()
    assert (
        await site.send("ehr", a04("T-2", "2002", "Delta", "Dan", "19900303", "M", "123-45-6780"))
        == "AA"
    )
    await site.settle()
    patients = await site.patients()
    assert len(patients) == 2
    (gina,) = [p for p in patients if p["names"][0]["family"] == "Gamma"]
    (dan,) = [p for p in patients if p["names"][0]["family"] == "Delta"]
    assert (dan.get("meta") or {}).get("pending_review")
    assert not (gina.get("meta") or {}).get("pending_review")
    (review,) = await site.store.reviews()
    assert review["record_id"] == dan["id"] and review["candidates"] == [gina["id"]]
    assert review["rule"] == "shares a non-identifying identifier"


async def test_an_update_on_the_same_mrn_correcting_one_name_is_applied(site: Site):
    assert await site.send("ehr", a04("U-1", "3001", "Epsilon", "Jon", "19750505", "M")) == "AA"
    await site.settle()
    fixed = a04(
        "U-2", "3001", "Epsilon", "John", "19750505", "M", trigger="A08", stamp="20261128091000"
    )
    assert await site.send("ehr", fixed) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    assert patient["names"][0]["given"] == ["John"]
    outcomes = [h["outcome"] for h in await site.store.sync_history("Patient", patient["id"])]
    assert outcomes[-1] == "applied"
    assert await site.store.reviews() == []


async def test_a_vendor_typed_mrn_correcting_one_name_updates_the_one_patient(site: Site):
    """``12345^^^GOODHEALTH^EPI`` (a vendor's CX-5, not table 0203's ``MR`` and not in the
    ``hl7_identifier_type`` vocabulary, which turns ``MRN`` into ``MR``): the A08 correcting
    one given name finds the patient by the MRN — one Patient, renamed."""
    first = a04("V-1", "12345", "Theta", "Tom", "19720202", "M", cx5="EPI")
    assert await site.send("ehr", first) == "AA"
    await site.settle()
    fixed = a04(
        "V-2", "12345", "Theta", "Thom", "19720202", "M",
        trigger="A08", stamp="20261128091000", cx5="EPI",
    )  # fmt: skip
    assert await site.send("ehr", fixed) == "AA"
    await site.settle()
    (patient,) = await site.patients()
    assert patient["names"][0]["given"] == ["Thom"]
    assert len(await site.store.find_by_identifier("Patient", "12345")) == 1
    assert len(site.fhir.resources["Patient"]) == 1
    assert await site.store.reviews() == []


async def test_an_update_on_the_same_mrn_naming_another_person_is_held_for_review(site: Site):
    """The MRN links, but birth date, sex and both names say another person: nothing
    applied, nothing learnt, nothing sent to billing or the lab; a review names the record
    and the event; the raw message stays in the message log."""
    assert await site.send("ehr", a04("W-1", "4001", "Zeta", "Zoe", "19600606", "F")) == "AA"
    await site.settle()
    (before,) = await site.patients()
    version = (await site.store.get_entity("Patient", before["id"])).version
    sent = (site.fhir.applied["Patient"], len(site.lab.received))
    encounters = await site.store.list_entities("Encounter")
    wrong = a04(
        "W-2", "4001", "Eta", "Ed", "19990909", "M", "123-45-6781",
        trigger="A08", stamp="20261128091000",
    )  # fmt: skip
    assert await site.send("ehr", wrong) == "AA"
    await site.settle()
    (after,) = await site.patients()
    assert (await site.store.get_entity("Patient", before["id"])).version == version
    assert after["names"] == before["names"] and after["birth_date"] == before["birth_date"]
    assert (site.fhir.applied["Patient"], len(site.lab.received)) == sent
    # the event's SSN was not learnt either
    assert await site.store.find_by_identifier("Patient", "123456781") == []
    assert await site.store.find_by_identifier("Patient", "123-45-6781") == []
    # the patient event and its encounter (PV1) are held, each with a review of the record
    reviews = await site.store.reviews()
    assert {r["record_id"] for r in reviews} == {before["id"]} and len(reviews) == 2
    assert all("held" in r["rule"] for r in reviews)
    assert any(
        r["rule"].endswith(
            "an identifying identifier links, birth date, sex, family and given name differ"
        )
        for r in reviews
    )
    assert await site.store.list_entities("Encounter") == encounters
    history = await site.store.sync_history("Patient", before["id"])
    assert [h["outcome"] for h in history[-2:]] == ["held", "held"]
    messages = await site.store.list_messages()
    assert any(m.control_id == "W-2" for m in messages)


# --------------------------------------------------------------------------- the race


def _patient_event(mrn: str, family: str = "Alpha", given: str = "Ann") -> Envelope:
    patient = Patient(
        identifiers=[Identifier(value=mrn, system="GOODHEALTH", type="MR", source="ehr")],
        names=[HumanName(family=family, given=[given])],
        birth_date="1970-01-01",
        sex="female",
    )
    return _envelope(EventKind.PATIENT_REGISTERED, patient)


def _encounter_event(mrn: str, visit: str) -> Envelope:
    ref = Ref(
        type=EntityType.PATIENT,
        identifiers=[Identifier(value=mrn, system="GOODHEALTH", type="MR", source="ehr")],
    )
    visit_id = Identifier(value=visit, system="GOODHEALTH-VN", type="VN", source="ehr")
    encounter = Encounter(identifiers=[visit_id], patient=ref)
    return _envelope(EventKind.ENCOUNTER_STARTED, encounter)


def _envelope(kind: EventKind, entity: Any) -> Envelope:
    return Envelope(
        source_system="ehr",
        format="hl7v2",
        payload=Event(
            kind=kind, entity=entity, provenance=Provenance(source_system="ehr", format="hl7v2")
        ),
    )


class _Interleaved(IdentityService):
    """The identity service of worker A: once a patient is identified, before its state is
    saved, ``between`` runs — another worker's whole transaction, committed."""

    def __init__(self) -> None:
        matching = MatchingConfig()
        super().__init__(matching.patient, matching.identifying)
        self.between: Callable[[], Awaitable[None]] | None = None

    async def identify(self, store: Any, etype: str, record: Any, source: str, **kw: Any) -> Any:
        found = await super().identify(store, etype, record, source, **kw)
        if etype == "Patient" and self.between is not None:
            between, self.between = self.between, None
            await between()
        return found


@pytest.fixture
async def two_workers(pg_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore, MemoryTransport]]:
    """Two stores (two workers' connection pools) on one PostgreSQL database."""
    a, b = await SqlStore.open(pg_url), await SqlStore.open(pg_url)
    transport = MemoryTransport()
    await transport.start(build_topology("race", {"billing": ["patient.*", "encounter.*"]}))
    try:
        yield a, b, transport
    finally:
        await transport.close()
        await a.close()
        await b.close()


async def _after_the_race(store: SqlStore, engine: SyncEngine) -> tuple[list[Any], Any]:
    """The next A08 by the new MRN (a rename): it must find the one patient."""
    await engine.apply(_patient_event("2000", family="Alpha-Renamed"))
    patients = [p for p in await store.list_entities("Patient") if not p.merged_into]
    (encounter,) = await store.list_entities("Encounter")
    return patients, encounter


@pytest.mark.postgres
async def test_a_reservation_made_while_a_duplicate_registration_links_folds_into_it(
    two_workers: tuple[SqlStore, SqlStore, MemoryTransport],
):
    """Worker A links a duplicate registration (same demographics, new MRN 2000) to the
    existing patient by the rules; before it saves, worker B applies the registration's
    encounter, whose reference reserves MRN 2000. The reservation joins the patient in A's
    transaction: one patient, MRN 2000 names it, the encounter points at it."""
    store_a, store_b, transport = two_workers
    exchange = events_exchange("race")
    worker_b = SyncEngine(store_b, transport, events_exchange=exchange)

    async def encounter_in_worker_b() -> None:
        await worker_b.apply(_encounter_event("2000", "V-1"))

    interleaved = _Interleaved()
    worker_a = SyncEngine(store_a, transport, events_exchange=exchange, identity=interleaved)
    await worker_a.apply(_patient_event("1000"))  # the existing patient
    interleaved.between = encounter_in_worker_b
    await worker_a.apply(_patient_event("2000"))  # the duplicate registration
    assert interleaved.between is None  # it ran between A's identification and its save
    (patient,) = [p for p in await store_a.list_entities("Patient")]
    assert await store_a.find_by_identifier("Patient", "2000") == [patient.id]
    assert await identity_violations(store_a) == []
    patients, encounter = await _after_the_race(store_a, worker_a)
    assert [p.id for p in patients] == [patient.id]
    assert encounter.data["patient"]["id"] == patient.id


@pytest.mark.postgres
async def test_a_reservation_made_before_a_duplicate_registration_folds_into_its_link(
    two_workers: tuple[SqlStore, SqlStore, MemoryTransport],
):
    """The other order: the encounter (worker B) reserved MRN 2000 first; the duplicate
    registration (worker A) then links to the existing patient by the rules, and the
    reservation — with the encounter pointing at it — joins that patient."""
    store_a, store_b, transport = two_workers
    exchange = events_exchange("race")
    worker_a = SyncEngine(store_a, transport, events_exchange=exchange)
    worker_b = SyncEngine(store_b, transport, events_exchange=exchange)
    await worker_a.apply(_patient_event("1000"))
    await worker_b.apply(_encounter_event("2000", "V-1"))
    await worker_a.apply(_patient_event("2000"))
    (patient,) = await store_a.list_entities("Patient")
    assert await store_a.find_by_identifier("Patient", "2000") == [patient.id]
    patients, encounter = await _after_the_race(store_a, worker_a)
    assert [p.id for p in patients] == [patient.id]
    assert encounter.data["patient"]["id"] == patient.id


async def test_fhir_creates_sharing_a_placeholder_ssn_stay_two_patients(site: Site):
    """The FHIR API plans ids with the same service: a create carrying another patient's
    placeholder SSN is not planned onto that patient."""

    def patient(family: str, given: str, dob: str, gender: str, mrn: str) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "identifier": [
                {"system": "urn:example:portal", "value": mrn},
                {"system": SSN, "value": "999-99-9999"},
            ],
            "name": [{"family": family, "given": [given]}],
            "birthDate": dob,
            "gender": gender,
        }

    headers = {"Authorization": "Bearer portal-token", "Content-Type": "application/fhir+json"}
    ids = []
    async with aiohttp.ClientSession() as http:
        for body in (
            patient("Iota", "Ida", "1955-05-05", "female", "P-1"),
            patient("Kappa", "Karl", "1988-08-08", "male", "P-2"),
        ):
            async with http.post(site.url("/fhir/Patient"), json=body, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
                ids.append((await resp.json())["id"])
    await site.settle()
    assert len(set(ids)) == 2
    patients = await site.patients()
    assert sorted(p["names"][0]["family"] for p in patients) == ["Iota", "Kappa"]


async def test_an_update_whose_identifiers_name_two_patients_is_held_for_review(
    db_url: str,
) -> None:
    """An A08 carrying the MRN of one patient and the MRN (another system's) of another:
    which record it is about is for a person to say — neither is changed, neither learns
    the other's MRN; the review names both."""
    store = await SqlStore.open(db_url)
    transport = MemoryTransport()
    await transport.start(build_topology("two", {"billing": ["patient.*"]}))
    try:
        engine = SyncEngine(store, transport, events_exchange=events_exchange("two"))
        await engine.apply(_patient_event("5001", family="Lambda", given="Lea"))
        other = _patient_event("B-9", family="Mu", given="Max")
        other.payload.entity.identifiers[0].system = "BILLING"
        await engine.apply(other)
        both = _patient_event("5001", family="Lambda", given="Lea")
        both.payload.entity.identifiers.append(
            Identifier(value="B-9", system="BILLING", type="MR", source="ehr")
        )
        assert await engine.apply(both) == []  # nothing published
        rows = {r.data["names"][0]["family"]: r for r in await store.list_entities("Patient")}
        assert {k: r.version for k, r in rows.items()} == {"Lambda": 1, "Mu": 1}
        assert await store.find_by_identifier("Patient", "B-9") == [rows["Mu"].id]
        (review,) = await store.reviews()
        named = sorted([review["record_id"], *review["candidates"]])
        assert named == sorted([rows["Lambda"].id, rows["Mu"].id])
        assert review["rule"].endswith("held: its identifying identifiers name several records")
        history = await store.sync_history("Patient", review["record_id"])
        assert history[-1]["outcome"] == "held"
    finally:
        await transport.close()
        await store.close()


# --------------------------------------------------------------------------- references


def _mrn(value: str) -> Identifier:
    return Identifier(value=value, system="GOODHEALTH", type="MR", source="ehr")


def _ssn(value: str) -> Identifier:
    return Identifier(value=value, system=SSN, type="SS", source="ehr")


def _person(family: str, given: str, dob: str, sex: str, *idents: Identifier) -> Envelope:
    patient = Patient(
        identifiers=list(idents),
        names=[HumanName(family=family, given=[given])],
        birth_date=dob,
        sex=sex,
    )
    return _envelope(EventKind.PATIENT_REGISTERED, patient)


def _visit(visit: str, *idents: Identifier) -> Envelope:
    ref = Ref(type=EntityType.PATIENT, identifiers=list(idents))
    visit_id = Identifier(value=visit, system="GOODHEALTH-VN", type="VN", source="ehr")
    return _envelope(EventKind.ENCOUNTER_STARTED, Encounter(identifiers=[visit_id], patient=ref))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[tuple[SqlStore, SyncEngine]]:
    """One sync engine on SQLite and PostgreSQL, publishing into memory."""
    store = await SqlStore.open(db_url)
    transport = MemoryTransport()
    await transport.start(build_topology("refs", {"billing": ["#"]}))
    try:
        yield store, SyncEngine(store, transport, events_exchange=events_exchange("refs"))
    finally:
        await transport.close()
        await store.close()


async def _encounter_patient(store: SqlStore, visit: str) -> str | None:
    (row,) = [
        e
        for e in await store.list_entities("Encounter")
        if e.data["identifiers"][0]["value"] == visit
    ]
    return row.data["patient"].get("id")


async def test_a_reference_by_an_unknown_mrn_never_falls_back_to_a_shared_ssn(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """Bob's encounter arrives before Bob (MRN 5002 unknown yet) carrying the SSN Ann has:
    it is not Ann's encounter — MRN 5002 is reserved, and Bob's registration becomes it."""
    store, sync = engine
    await sync.apply(
        _person("Alpha", "Ann", "1970-01-01", "female", _mrn("5001"), _ssn("123-45-6780"))
    )
    (ann,) = await store.find_by_identifier("Patient", "5001")
    await sync.apply(_visit("V-B", _mrn("5002"), _ssn("123-45-6780")))
    first = await _encounter_patient(store, "V-B")
    assert first and first != ann
    await sync.apply(
        _person("Beta", "Bob", "1965-05-05", "male", _mrn("5002"), _ssn("123-45-6780"))
    )
    (bob,) = await store.find_by_identifier("Patient", "5002")
    assert bob != ann and await _encounter_patient(store, "V-B") == bob
    assert await identity_violations(store) == []


async def test_a_reference_whose_other_identifiers_name_two_patients_is_left_unresolved(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """No identifying identifier, and the SSN and the licence name two different patients:
    neither is picked — the reference keeps its identifiers, no id."""
    store, sync = engine
    licence = Identifier(value="D1234567", system="urn:example:dl", type="DL", source="ehr")
    await sync.apply(
        _person("Alpha", "Ann", "1970-01-01", "female", _mrn("6001"), _ssn("123-45-6780"))
    )
    await sync.apply(_person("Gamma", "Carl", "1980-02-02", "male", _mrn("6002"), licence))
    await sync.apply(_visit("V-X", _ssn("123-45-6780"), licence))
    assert await _encounter_patient(store, "V-X") is None
    assert await identity_violations(store) == []


async def test_a_reservation_by_an_ssn_alone_does_not_join_a_registration_carrying_it(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """An encounter known only by an SSN reserved it; a registration (its own MRN, that
    SSN) is saved: the reservation is not adopted — an SSN names nobody by itself."""
    store, sync = engine
    await sync.apply(_visit("V-S", _ssn("123-45-6780")))
    reserved = await _encounter_patient(store, "V-S")
    assert reserved
    await sync.apply(
        _person("Alpha", "Ann", "1970-01-01", "female", _mrn("7001"), _ssn("123-45-6780"))
    )
    (ann,) = await store.find_by_identifier("Patient", "7001")
    assert await _encounter_patient(store, "V-S") == reserved != ann
    assert await identity_violations(store) == []


async def test_a_claim_party_folds_only_reservations_of_its_identifying_identifiers(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """A claim party with Ann's MRN, a second MRN and an SSN that earlier encounters
    reserved: it links to Ann (by the MRN); the MRN's reservation joins her, the SSN's
    stays apart."""
    store, sync = engine
    await sync.apply(_person("Alpha", "Ann", "1970-01-01", "female", _mrn("8001")))
    (ann,) = await store.find_by_identifier("Patient", "8001")
    await sync.apply(_visit("V-1", _ssn("123-45-6780")))
    await sync.apply(_visit("V-2", _mrn("8002")))
    by_ssn, by_mrn = [await _encounter_patient(store, v) for v in ("V-1", "V-2")]
    party = {
        "name": {"family": "Alpha", "given": ["Ann"]},
        "birth_date": "1970-01-01",
        "identifiers": [
            {"system": "GOODHEALTH", "type": "MR", "value": "8001"},
            {"system": "GOODHEALTH", "type": "MR", "value": "8002"},
            {"system": SSN, "type": "SS", "value": "123-45-6780"},
        ],
    }
    async with store.unit() as unit:
        assert await sync.identity.link_party(unit, party, "ehr") == [(by_mrn, ann)]
    assert party["ref"]["id"] == ann
    assert await store.find_by_identifier("Patient", "8002") == [ann]
    assert await store.find_by_identifier("Patient", "123-45-6780") == [by_ssn]


# --------------------------------------------------------------------------- merges


def _a40(survivor: Identifier, *prior: Identifier) -> Envelope:
    env = _person("Omega", "Olga", "1950-05-05", "female", survivor)
    retired = Ref(type=EntityType.PATIENT, identifiers=list(prior))
    payload = env.payload.model_copy(
        update={"kind": EventKind.PATIENT_MERGED, "replaces": [retired]}
    )
    return env.model_copy(update={"payload": payload})


async def _live(store: SqlStore) -> dict[str, Any]:
    return {
        r.data["names"][0]["family"]: r
        for r in await store.list_entities("Patient")
        if not r.merged_into
    }


async def test_a_merge_never_retires_a_patient_by_a_shared_ssn(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """An A40 whose MRG carries an MRN the hub never saw and the SSN Ann has: Ann is not
    retired — the MRN joins the survivor, the SSN stays Ann's."""
    store, sync = engine
    await sync.apply(
        _person("Alpha", "Ann", "1970-01-01", "female", _mrn("9001"), _ssn("123-45-6780"))
    )
    await sync.apply(_person("Omega", "Olga", "1950-05-05", "female", _mrn("9100")))
    await sync.apply(_a40(_mrn("9100"), _mrn("9002"), _ssn("123-45-6780")))
    live = await _live(store)
    assert set(live) == {"Alpha", "Omega"}
    assert await store.find_by_identifier("Patient", "9002") == [live["Omega"].id]
    assert await store.find_by_identifier("Patient", "123-45-6780") == [live["Alpha"].id]
    assert await identity_violations(store) == []


async def test_a_merge_never_links_a_placeholder_of_the_retired_record(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    store, sync = engine
    await sync.apply(_person("Alpha", "Ann", "1970-01-01", "female", _mrn("9201")))
    await sync.apply(_person("Omega", "Olga", "1950-05-05", "female", _mrn("9200")))
    await sync.apply(_a40(_mrn("9200"), _mrn("9201"), _ssn("999-99-9999")))
    live = await _live(store)
    assert set(live) == {"Omega"}  # Ann retired, by her MRN
    assert await store.find_by_identifier("Patient", "9201") == [live["Omega"].id]
    assert await store.find_by_identifier("Patient", "999-99-9999") == []
    assert await identity_violations(store) == []


async def test_a_merge_whose_prior_identifiers_name_two_patients_is_held_for_review(
    engine: tuple[SqlStore, SyncEngine],
) -> None:
    """The MRG's MRN names Ann, its billing number Bob: neither is retired, nothing moves
    or is published; a review names the survivor and both."""
    store, sync = engine
    billing = Identifier(value="B-7", system="BILLING", type="MR", source="ehr")
    await sync.apply(_person("Alpha", "Ann", "1970-01-01", "female", _mrn("9301")))
    await sync.apply(_person("Beta", "Bob", "1965-05-05", "male", billing))
    await sync.apply(_person("Omega", "Olga", "1950-05-05", "female", _mrn("9300")))
    before = {k: r.version for k, r in (await _live(store)).items()}
    assert await sync.apply(_a40(_mrn("9300"), _mrn("9301"), billing)) == []
    live = await _live(store)
    assert {k: r.version for k, r in live.items()} == before
    assert await store.find_by_identifier("Patient", "9301") == [live["Alpha"].id]
    assert await store.find_by_identifier("Patient", "B-7") == [live["Beta"].id]
    (review,) = await store.reviews()
    assert review["record_id"] == live["Omega"].id
    assert sorted(review["candidates"]) == sorted([live["Alpha"].id, live["Beta"].id])
    assert review["rule"].endswith("held: a merge's prior identifiers name several records")
    history = await store.sync_history("Patient", live["Omega"].id)
    assert history[-1]["outcome"] == "held"


# --------------------------------------------------------------------------- held messages


@pytest.fixture
async def site_all(
    amqp_url: str, namespace: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Site]:
    """The ``site`` of ``test_sync``, billing subscribed to every event kind."""
    monkeypatch.setenv("T_PORTAL", "portal-token")
    monkeypatch.setenv("T_CH", "ch-token")
    config = CONFIG.replace('["patient.*", "appointment.*"]', '["#"]')
    assert config != CONFIG
    async with FhirSink() as fhir, MllpSink() as lab:
        text = config.format(ns=namespace, fhir=fhir.base_url, lab=lab.port)
        cfg = parse_config(text).with_overrides(db_url=db_url, amqp_url=amqp_url)
        async with Hub(cfg) as hub:
            yield Site(hub, fhir, lab)


def a01(control: str, mrn: str, family: str, given: str, dob: str, sex: str, visit: str) -> bytes:
    """An ADT^A01 with PID, PV1 (visit number PV1-19) and one IN1 (plan, payer, member id)."""
    return (
        f"MSH|^~\\&|EPIC|GOODHEALTH|CAREHUB|HUB|20261128100000||ADT^A01^ADT_A01|{control}|P|2.5.1\r"
        f"EVN|A01|20261128100000\r"
        f"PID|1||{mrn}^^^GOODHEALTH^MR||{family}^{given}||{dob}|{sex}\r"
        f"PV1|1|I|W^1^1{'|' * 16}{visit}\r"
        f"IN1|1|PLAN-A^Plan A|PAYER-1^^^PAYERS|Acme Health{'|' * 32}{mrn}-M\r"
    ).encode()


async def test_the_encounter_and_coverage_of_a_held_patient_event_are_held_too(
    site_all: Site,
):
    """An A01 (PID, PV1, IN1) on an existing MRN naming another person: the patient event
    is held — and so are its encounter and coverage, whatever order the lanes apply them
    in: nothing saved on the existing patient, nothing delivered anywhere."""
    site = site_all
    first = a01("H-1", "4501", "Zeta", "Zoe", "19600606", "F", "VIS-1")
    assert await site.send("ehr", first) == "AA"
    await site.settle()
    (zoe,) = await site.patients()
    saved = {t: len(await site.store.list_entities(t)) for t in ("Encounter", "Coverage")}
    assert saved == {"Encounter": 1, "Coverage": 1}  # the message does make all three
    sent = (sum(site.fhir.applied.values()), len(site.lab.received))
    wrong = a01("H-2", "4501", "Eta", "Ed", "19990909", "M", "VIS-2")
    assert await site.send("ehr", wrong) == "AA"
    await site.settle()
    assert {t: len(await site.store.list_entities(t)) for t in saved} == saved
    assert (sum(site.fhir.applied.values()), len(site.lab.received)) == sent
    (after,) = await site.patients()
    assert after["names"] == zoe["names"]
    reviews = await site.store.reviews()
    assert len(reviews) == 3 and {r["record_id"] for r in reviews} == {zoe["id"]}
    assert all("held" in r["rule"] for r in reviews)
    assert await site.store.find_by_identifier("Encounter", "VIS-2") == []
