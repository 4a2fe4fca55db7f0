"""Each parser's fuzz entry point runs as ``python -m …`` (docs/fuzzing.md) and holds its
property for a short run; the long runs are for people, not CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.corpus import corpus_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(module: str, *args: str, examples: int = 300) -> str:
    env = {**os.environ, "HYPOTHESIS_FUZZ_EXAMPLES": str(examples)}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_hl7v2_fuzz_entry_point():
    assert "raised nothing but ParseError" in run("adapters.hl7v2.fuzz")


def test_x12_fuzz_entry_point():
    seeds = sorted(str(p) for p in (corpus_dir() / "x12").glob("*.837"))[:3]
    if not seeds:
        pytest.fail("no X12 corpus seeds; set CAREHUB_CORPUS")
    assert "2000 inputs, property held" in run("adapters.x12.fuzz", "--runs", "2000", *seeds)


def test_fhir_fuzz_entry_point():
    assert "raised nothing but FhirError" in run("adapters.fhir.fuzz")


def test_fuzz_check_functions_catch_a_broken_property(monkeypatch: pytest.MonkeyPatch):
    """The check is not vacuous: an error other than FhirError escapes it."""
    from adapters.fhir import fuzz as fhir_fuzz

    def broken(raw: bytes):
        raise KeyError("boom")

    monkeypatch.setattr(fhir_fuzz, "parse_json", broken)
    with pytest.raises(KeyError):
        fhir_fuzz.check_one(b"{}")
