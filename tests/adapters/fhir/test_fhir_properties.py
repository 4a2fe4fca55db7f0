"""Property tests for the FHIR JSON request path (the FHIR "codec"): a generated resource's
wire form survives parse → render byte for byte; arbitrary or corrupted bytes raise nothing
but FhirError (the wire's ParseError: a 400/413/415 answer); the checks and the inbound
mapping answer any resource-shaped JSON with findings or MappingError, never a crash."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.wire import dumps, parse_json
from adapters.fhir.fuzz import check_one
from conformance.fhir import check_resource
from hub.errors import MappingError
from mappings.fhir import FhirMapContext, from_fhir

TEXT = st.text(string.ascii_letters + string.digits + " .-'é漢", min_size=1, max_size=12)
DATE = st.dates().map(lambda d: d.isoformat())


@st.composite
def patients(draw: st.DrawFn) -> dict:
    """Patients as a partner sends them: identifiers, names, gender, birth date, telecom."""
    resource: dict = {"resourceType": "Patient"}
    if draw(st.booleans()):
        resource["id"] = draw(
            st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=64)
        )
    resource["identifier"] = draw(
        st.lists(
            st.fixed_dictionaries({"system": st.just("urn:oid:1.2.3.4"), "value": TEXT}),
            max_size=3,
        )
    )
    resource["name"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {"family": TEXT}, optional={"given": st.lists(TEXT, min_size=1, max_size=3)}
            ),
            min_size=1,
            max_size=2,
        )
    )
    if draw(st.booleans()):
        resource["gender"] = draw(st.sampled_from(["male", "female", "other", "unknown"]))
    if draw(st.booleans()):
        resource["birthDate"] = draw(DATE)
    if draw(st.booleans()):
        resource["telecom"] = [{"system": "phone", "value": draw(TEXT)}]
    return resource


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)


@given(patients())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_generated_resources_round_trip_byte_for_byte(resource: dict) -> None:
    wire = dumps(resource)
    parsed = parse_json(wire)
    assert parsed == resource
    assert dumps(parsed) == wire


@given(patients())
@settings(max_examples=50, suppress_health_check=list(HealthCheck), deadline=None)
def test_generated_patients_validate_and_map(resource: dict) -> None:
    """Well-formed generated Patients pass the checks and map to a canonical patient."""
    assert check_resource(resource).ok, check_resource(resource).as_list()
    entity = from_fhir(resource, FhirMapContext(source="ehr"))
    assert not isinstance(entity, list)


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_fhir_error(data: bytes) -> None:
    check_one(data)


@given(patients(), st.binary(min_size=1, max_size=8), st.integers(0, 2000))
def test_corrupted_resources_raise_only_fhir_error(resource: dict, noise: bytes, at: int) -> None:
    wire = dumps(resource)
    at %= len(wire) + 1
    check_one(wire[:at] + noise + wire[at:])


@given(st.sampled_from(["Patient", "Encounter", "Claim", "Bundle", "Nope"]), JSON)
@settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
def test_any_resource_shaped_json_gets_findings_or_a_mapping_error(kind: str, body) -> None:
    resource = {"resourceType": kind, **(body if isinstance(body, dict) else {"x": body})}
    resource["resourceType"] = kind
    report = check_resource(resource)
    if report.ok and kind != "Bundle":
        with contextlib.suppress(MappingError, ValueError):
            from_fhir(resource, FhirMapContext(source="ehr"))


def test_nan_and_infinity_are_not_json() -> None:
    for text in (b'{"a": NaN}', b'{"a": -Infinity}'):
        try:
            parse_json(text)
        except FhirError as exc:
            assert exc.status == 400 and exc.code == "structure"
        else:
            raise AssertionError(f"{text!r} was taken as JSON")
