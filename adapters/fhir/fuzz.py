"""Fuzz entry point for the FHIR JSON request path (the wire side of the FHIR API).

The property, for any bytes ``data``::

    parse_json(data) raises nothing but FhirError (a 400 or 415 answer), and when it
    returns, dumps(parse_json(data)) parses back to the same object — and, for a Bundle,
    parse_request_bundle raises nothing but FhirError (400/413).

``FhirError`` is the FHIR wire's ``ParseError``: it carries the HTTP status and the
OperationOutcome issue the request is answered with.

Run it::

    python -m adapters.fhir.fuzz                         # 20,000 hypothesis examples
    HYPOTHESIS_FUZZ_EXAMPLES=500000 python -m adapters.fhir.fuzz
    python -m adapters.fhir.fuzz --seconds 600           # batches of 2,000 for 10 minutes
    python -m adapters.fhir.fuzz --atheris [libFuzzer options…]   # when atheris is installed
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence

from adapters.fhir.api.bundle import parse_request_bundle
from adapters.fhir.api.errors import FhirError
from adapters.fhir.api.wire import dumps, parse_json

__all__ = ["check_one", "main"]

_STATUSES = frozenset({400, 413, 415})


def check_one(data: bytes) -> None:
    """Run the request path over ``data``; raises AssertionError when the property breaks."""
    try:
        resource = parse_json(data)
    except FhirError as exc:
        assert exc.status in _STATUSES, f"unexpected status {exc.status}"
        return
    again = parse_json(dumps(resource))
    assert again == resource, "dumps(parse(x)) does not parse back"
    if resource.get("resourceType") == "Bundle":
        try:
            parse_request_bundle(resource, max_entries=1000)
        except FhirError as exc:
            assert exc.status in _STATUSES, f"unexpected status {exc.status}"


_SEEDS = (
    b'{"resourceType":"Patient","name":[{"family":"Doe","given":["J"]}]}',
    b'{"resourceType":"Bundle","type":"transaction","entry":[{"resource":'
    b'{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}',
    b'\xef\xbb\xbf{"resourceType":"Encounter","status":"finished","period":{"start":"2024"}}',
    b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x "y">]><Patient/>',
)


def _hypothesis(examples: int, seconds: float | None) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=30,
    )
    resources = st.builds(
        lambda kind, body: dumps({"resourceType": kind, **body}),
        st.sampled_from(["Patient", "Bundle", "Claim", "", "X"]),
        st.dictionaries(st.sampled_from(["id", "type", "entry", "name", "meta"]), json_values),
    )
    mutated = st.builds(
        lambda s, n, i: s[: i % (len(s) + 1)] + n + s[i % (len(s) + 1) :],
        st.sampled_from(_SEEDS) | resources,
        st.binary(max_size=12),
        st.integers(0, 400),
    )
    inputs = st.one_of(st.binary(max_size=1024), resources, mutated)
    count = 0
    batch = examples if seconds is None else 2000

    @settings(
        max_examples=batch, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(inputs)
    def fuzz(data: bytes) -> None:
        nonlocal count
        count += 1
        check_one(data)

    if seconds is None:
        fuzz()
        return count
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:  # fresh random batches until the time is up
        fuzz()
    return count


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--atheris":
        # optional, not a dependency: imported by name so the adapter never needs it
        atheris = importlib.import_module("atheris")
        atheris.Setup([sys.argv[0], *args[1:]], check_one)
        atheris.Fuzz()
        return 0
    seconds = float(args[1]) if len(args) >= 2 and args[0] == "--seconds" else None
    examples = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "20000"))
    done = _hypothesis(examples, seconds)
    sys.stdout.write(f"fuzzed {done} inputs: the FHIR request path raised nothing but FhirError\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
