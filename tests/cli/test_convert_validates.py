"""``carehub convert --to fhir`` validates what it writes (strict out), as the FHIR deliverer
does: a resource the R4 models refuse is an error finding, never an output file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import carehub.app.files as files
from carehub.app.files import convert_item, read_items
from carehub.demo.traffic import adt_message, demo_patients


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
