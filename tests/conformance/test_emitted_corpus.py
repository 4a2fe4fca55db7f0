"""Every file of the shared corpus × every ``carehub convert --to`` target, every output
validated by its format's outside validator: 100%.

Each (file, target) is one test. The file is read and judged once (``validate_item``, as the
hub judges it) and converted by ``convert_verdict`` — the code ``carehub convert`` runs,
which itself checks each output (``conformance.emitted``). The test then:

* fails on any output the validator refused (a mapping defect: "rendered … is not valid");
* re-checks every output that was written, on its own (so a convert that stopped checking
  would still be caught here);
* accepts a refusal (a ``MappingError`` raised by a renderer because the source lacks what
  the target requires) only when its location is one of ``REFUSALS`` below, each with why
  it is right to refuse — any other refusal fails, naming file, location and text.

No network, no store; about a second per target on the whole corpus for FHIR and X12, a few
seconds for HL7 v2 (hl7apy strict).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import carehub.app.files as files
from carehub.app.files import FileVerdict, convert_verdict, read_items, validate_item
from conformance.emitted import check_emitted
from hub.errors import CarehubError
from hub.findings import Report
from tests.corpus import corpus_dir

#: what ``carehub convert --to`` offers (carehub/cli/files.py)
TARGETS = ("canonical", "fhir", "hl7v2", "x12")

#: refusals that are right: (target, location) → why. The source does not carry what the
#: target requires, and the renderer says so instead of inventing it.
REFUSALS = {
    ("hl7v2", "PID-3"): "a FHIR Patient with no identifier: PID-3 is required",
    ("fhir", "Coverage.payor"): "an IN1 without an insurer: Coverage.payor is 1..*",
    ("x12", "2010AA/NM109"): "a claim whose billing provider has no NPI: 5010 requires it",
    ("x12", "2100A/NM109"): "an eligibility check with no payer id: 270 2100A requires it",
    ("x12", "2300/CL103"): "an 837I without a patient status (convert has no default)",
    ("x12", "Claim.kind"): "pharmacy and dental claims: no 837P/837I for them",
    ("hl7v2", "OBX-3"): "an OBX with an empty OBX-3 (fhirconverter ORU-R01-01, lfhhl7 "
    "ORU-multiline-short-mixed): a result without a code, and OBX-3 is required",
    ("hl7v2", "OBX-5"): "an ED OBX-5 with no data (fhirconverter MDM-T02-01: "
    "^application^pdf^Base64^): a document content with neither data nor a URL",
}

#: (file, target) known to fail, each with its reason; strict: once fixed, each XPASSes and
#: fails until its line is removed here. Empty since the "defects" fixes of issue 12 (270 →
#: CoverageEligibilityRequest, 277/277CA patient → ClaimResponse.patient) landed.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


def _corpus_files() -> list[Path]:
    root = corpus_dir()
    return sorted(
        p
        for fmt in ("hl7v2", "x12", "fhir")
        if (root / fmt).is_dir()
        for p in (root / fmt).iterdir()
        if p.is_file()
    )


FILES = _corpus_files()


def _cases() -> list[object]:
    cases: list[object] = []
    for path in FILES:
        for target in TARGETS:
            marks = []
            reason = EXPECTED_FAILURES.get((path.name, target))
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cases.append(pytest.param(path, target, marks=marks, id=f"{target}-{path.name[:70]}"))
    return cases


@functools.cache
def _validated(path: Path) -> tuple[FileVerdict, ...] | str:
    """The file's items as the hub judges them, once per file for all targets."""
    try:
        return tuple(validate_item(item) for item in read_items(path))
    except CarehubError as exc:
        return str(exc)  # an unreadable file: nothing to convert (validate tests cover it)


@functools.cache
def _check(target: str, data: bytes) -> Report:
    """``check_emitted``, computed once per output: convert's own check and this test's
    re-check of what it wrote share it (hl7apy strict is the slow part of this test)."""
    return check_emitted(target, data)


@pytest.fixture(autouse=True)
def _shared_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "check_emitted", _check)


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 150, f"expected the shared corpus at {corpus_dir()}"
    assert set(EXPECTED_FAILURES) <= {(p.name, t) for p in FILES for t in TARGETS}


@pytest.mark.parametrize(("path", "target"), _cases())
def test_every_output_of_every_corpus_file_is_valid(path: Path, target: str) -> None:
    validated = _validated(path)
    if isinstance(validated, str):
        return
    problems: list[str] = []
    for verdict in validated:
        if not verdict.ok:
            continue  # refused input: the hub answers it, there is nothing to convert
        out = convert_verdict(verdict, target)
        where = f"{path.name}:{verdict.item.line}"
        for f in out.report.errors:
            if "is not valid, not written" in f.text:
                problems.append(f"{where}: INVALID {f.location}: {f.text}")
            elif (target, f.location) not in REFUSALS:
                problems.append(f"{where}: unexpected refusal {f.location}: {f.text}")
        for name, data in out.outputs:
            report = _check(target, data)
            problems += [f"{where}: {name}: {e.location}: {e.text}" for e in report.errors]
    assert not problems, "\n".join(problems)
