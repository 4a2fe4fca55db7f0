"""The guide tables are data with a provenance, and the generated ones are reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from adapters.x12.guides import DATA_DIR, GuideRegistry, default_registry, load_guide
from adapters.x12.guides.compact import expand

REQUIRED = [
    ("837", "005010X222A1"),
    ("837", "005010X223A2"),
    ("835", "005010X221A1"),
    ("270", "005010X279A1"),
    ("271", "005010X279A1"),
    ("276", "005010X212"),
    ("277", "005010X212"),
    ("277", "005010X214"),
    ("999", "005010X231A1"),
] + [(ts, v) for ts in ("850", "855", "856", "810") for v in ("004010", "005010")]


@pytest.mark.parametrize("key", REQUIRED, ids=lambda k: f"{k[0]}-{k[1]}")
def test_the_brief_s_transaction_sets_have_tables(key: tuple[str, str]) -> None:
    found = default_registry().resolve(*key)
    assert found is not None and found.how == "exact"


def test_generated_tables_are_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    gen = pytest.importorskip("adapters.x12.guides.tools.gen_from_pyx12")
    gen.main(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written, "the generator wrote nothing"
    for name in written:
        committed = json.loads((DATA_DIR / name).read_text())
        assert committed["provenance"]["warning"].startswith("GENERATED")
        assert (tmp_path / name).read_text() == (DATA_DIR / name).read_text(), (
            f"{name} differs from the generator's output: it was edited by hand"
        )


@pytest.mark.parametrize("path", sorted(DATA_DIR.glob("*.*.yaml")), ids=lambda p: p.name)
def test_hand_written_tables_say_where_their_facts_come_from(path: Path) -> None:
    text = path.read_text()
    doc = yaml.safe_load(text)
    assert text.startswith("#") and doc["provenance"]["facts_from"]
    assert load_guide(path).transaction_set == str(doc["transaction_set"])


def test_compact_notation_expands_codes_composites_repeats_and_positions() -> None:
    layouts = {"NM1": {"elements": ["98", "1065", "1035"], "syntax": ["P0809"]}}
    doc = {
        "id": "T",
        "transaction_set": "999",
        "root": [
            "NM1 R 1 Name | R:IL,QC S:1 R",
            "HI S 1 | R(R:ABK,BK R N)x2 S ...",
            "REF S >1 = Same position | R:EA",
            {"loop 2000 S >1 Level": ["HL R 1 | R N R:20"]},
        ],
    }
    out = expand(doc, layouts)["root"]["children"]
    nm1, hi, ref, loop = out
    assert nm1["elements"][0] == {
        "ref": "NM101",
        "seq": 1,
        "usage": "R",
        "data_ele": "98",
        "codes": ["IL", "QC"],
    }
    assert nm1["syntax"] == ["P0809"]
    assert hi["elements"][0]["repeat"] == 2 and hi["open"] is True
    assert [c["usage"] for c in hi["elements"][0]["components"]] == ["R", "R", "N"]
    assert ref["max_use"] is None and ref["pos"] == hi["pos"]
    assert loop["loop"] == "2000" and loop["repeat"] is None and loop["name"] == "Level"


def test_aliases_are_declared_with_a_reason() -> None:
    found = default_registry().resolve("837", "005010X222A2")
    assert found is not None and found.how == "alias" and "X222A1" in found.note
    base = default_registry().resolve("850", "004010VICS")
    assert base is not None and base.how == "base" and base.guide.id == "004010"
    assert default_registry().resolve("837", "004010X098A1") is None


def test_a_site_registry_is_an_explicit_value(tmp_path: Path) -> None:
    (tmp_path / "005010.999.yaml").write_text(
        "# test\nprovenance: {facts_from: test}\nid: '005010'\ntransaction_set: '999'\n"
        "root:\n  - ST R 1 | R R\n  - SE R 1 | R R\n"
    )
    reg = GuideRegistry.from_directory(tmp_path)
    assert reg.keys == [("999", "005010")]
    assert reg.find("999", "005010X231") is not None  # base-version fallback
    assert default_registry().find("999", "005010") is None
