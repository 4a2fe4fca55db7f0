"""The explicit null ``""`` never clears what says who a patient is: PID-5 (name), PID-7
(birth date), PID-8 (sex) and the identifiers (PID-2/3/4/19/20). On a liberal port it is a
warning naming the field, on a strict port the same text is an error; a ``""`` elsewhere in
PID (an address, a phone) is a clear and says nothing."""

from __future__ import annotations

import pytest

from adapters.hl7v2 import parse
from carehub.app.hl7v2 import Hl7v2Inbound
from conformance.hl7v2 import check_message
from hub.findings import Severity

A08 = (
    "MSH|^~\\&|EHR|HOSP|CAREHUB|HUB|20240101120000||ADT^A08^ADT_A01|N1|P|2.5.1\r"
    "EVN|A08|20240101120000\r"
    "PID|1||123^^^HOSP^MR||{pid5}||{pid7}|{pid8}|||{pid11}||{pid13}||||||{pid19}\r"
    "PV1|1|N\r"
)


def _a08(**fields: str) -> bytes:
    values = {"pid5": "DOE^JOHN", "pid7": "19800101", "pid8": "M", "pid11": "", "pid13": ""}
    values["pid19"] = ""
    values.update(fields)
    return A08.format(**values).encode()


def _pid_findings(raw: bytes, *, strict: bool = False) -> list[tuple[Severity, str, str]]:
    report = check_message(parse(raw), strict=strict)
    return [
        (f.severity, f.location or "", f.text)
        for f in report.findings
        if (f.location or "").startswith("PID")
    ]


@pytest.mark.parametrize(
    ("field", "number", "what"),
    [
        ("pid5", 5, "identity facts"),
        ("pid7", 7, "identity facts"),
        ("pid8", 8, "identity facts"),
        ("pid19", 19, "identifiers"),
    ],
)
def test_an_explicit_null_in_an_identity_field_is_a_warning_or_a_strict_error(
    field: str, number: int, what: str
) -> None:
    raw = _a08(**{field: '""'})
    [(severity, location, text)] = _pid_findings(raw)
    assert severity is Severity.WARNING and location == f"PID-{number}"
    assert text.startswith(f"explicit null in PID-{number} ignored: {what} are not cleared")
    assert _pid_findings(raw, strict=True) == [(Severity.ERROR, location, text)]


def test_every_identity_null_is_named_and_other_clears_say_nothing() -> None:
    raw = _a08(pid5='""', pid7='""', pid8='""', pid11='""', pid13='""')
    assert [loc for _, loc, _ in _pid_findings(raw)] == ["PID-5", "PID-7", "PID-8"]
    assert _pid_findings(_a08(pid11='""', pid13='""')) == []


def test_a_strict_port_answers_the_identity_null_with_an_error() -> None:
    raw = _a08(pid7='""')
    assert Hl7v2Inbound().check(Hl7v2Inbound().parse(raw)).ok
    strict = Hl7v2Inbound(strict=True)
    report = strict.check(strict.parse(raw))
    assert not report.ok
    assert [f.location for f in report.errors] == ["PID-7"]
