"""``carehub convert`` validates what it writes (strict out), as the deliverers do: an output
its format's validator refuses (the R4 models, hl7apy strict, the X12 guide tables) is an
error finding naming the field, never an output file, and the file fails (exit 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import carehub.app.files as files
from carehub.app.files import convert_item, read_items
from carehub.demo.traffic import adt_message, demo_patients
from hub.canonical import EventKind


def _adt_file(tmp_path: Path) -> Path:
    path = tmp_path / "a04.hl7"
    path.write_bytes(adt_message(demo_patients(1)[0], "CONV0001"))
    return path


def test_a_valid_conversion_writes_fhir_files(tmp_path: Path) -> None:
    (item,) = read_items(_adt_file(tmp_path))
    verdict = convert_item(item, "fhir")
    assert verdict.ok and [name for name, _ in verdict.outputs]


def test_a_resource_the_r4_models_refuse_is_an_error_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = files.to_fhir

    def broken(entity: Any, ctx: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        resource = real(entity, ctx, *args, **kwargs)
        resource["birthDate"] = "the fourth of July"  # not a FHIR date
        return resource

    monkeypatch.setattr(files, "to_fhir", broken)
    (item,) = read_items(_adt_file(tmp_path))
    verdict = convert_item(item, "fhir")
    assert not any(name.startswith("a04") and "Patient" in name for name, _ in verdict.outputs)
    assert any("birthDate" in (f.location or "") + f.text for f in verdict.report.errors)


def _bad_birth_date(message: bytes) -> bytes:
    lines = message.split(b"\r")
    for i, line in enumerate(lines):
        if line.startswith(b"PID|"):
            fields = line.split(b"|")
            fields[7] = b"19801345"
            lines[i] = b"|".join(fields)
    return b"\r".join(lines)


def test_hl7v2_output_is_checked_by_hl7apy_strict_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (item,) = read_items(_adt_file(tmp_path))
    good = convert_item(item, "hl7v2")
    assert good.ok and good.outputs
    real = files.render_hl7v2_event
    monkeypatch.setattr(files, "render_hl7v2_event", lambda e, o: _bad_birth_date(real(e, o)))
    verdict = convert_item(item, "hl7v2")
    assert not verdict.ok and verdict.outputs == []
    (error,) = verdict.report.errors
    assert error.location == "PID-7"
    assert "rendered hl7v2 is not valid, not written" in error.text
    assert "19801345" not in error.text
    printed = verdict.as_dict()["findings"]  # what --json prints
    assert [f.get("location") for f in printed if f["severity"] == "error"] == ["PID-7"]


def _837_file(tmp_path: Path) -> Path:
    from tests.mappings.x12.x12map_events import event, minimal_professional
    from tests.mappings.x12.x12map_support import options

    path = tmp_path / "claim.837"
    path.write_bytes(
        files.render_x12_event(event(EventKind.CLAIM_SUBMITTED, minimal_professional()), options())
    )
    return path


def test_x12_output_is_checked_by_the_guide_tables_naming_loop_and_element(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (item,) = read_items(_837_file(tmp_path))
    good = convert_item(item, "x12")
    assert good.ok and [n for n, _ in good.outputs if n.endswith("claim.submitted.x12")]
    real = files.render_x12_event
    monkeypatch.setattr(
        files, "render_x12_event", lambda e, o: real(e, o).replace(b"NM1*85*1*", b"NM1*85*7*")
    )
    verdict = convert_item(item, "x12")
    assert not verdict.ok
    assert not [n for n, _ in verdict.outputs if n.endswith("claim.submitted.x12")]
    assert [e.location for e in verdict.report.errors] == ["2010AA/NM102"]


def test_the_cli_fails_the_file_and_prints_the_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from carehub.cli import cli

    real = files.render_hl7v2_event
    monkeypatch.setattr(files, "render_hl7v2_event", lambda e, o: _bad_birth_date(real(e, o)))
    path = _adt_file(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", "--to", "hl7v2", "--out", str(out), str(path)])
    assert result.exit_code == 1, result.output
    assert "PID-7" in result.output and "not valid, not written" in result.output
    assert not out.exists() or not any(out.iterdir())
