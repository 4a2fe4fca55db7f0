"""The whole X12 corpus (and this folder's fixtures) through ``map_transaction``.

Every transaction set either maps, or raises ``UnsupportedMessage`` with a clear text and
a location; ``MappingError`` only where the data itself is wrong, listed below with the
reason; nothing else escapes. What each set maps to is a golden file per input
(``golden/in_<file>.json``, regenerable with CAREHUB_REGEN_GOLDEN=1, reviewed by eye).
The same test runs pyx12 on the input: clean, or exactly what ``x12map_pyx12`` lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from x12map_pyx12 import PYX12_KNOWN
from x12map_support import (
    check_golden,
    context,
    corpus_files,
    fixture_files,
    sets,
)

from hub.errors import MappingError, UnsupportedMessage
from mappings.x12 import inbound_key, map_transaction
from tests.golden import dump_events
from tests.x12_support import pyx12_says

#: file → (location, why the data cannot be mapped)
DATA_ERRORS: dict[str, tuple[str, str]] = {
    "lfhx12__835_005010X221A1_managed-care.835": ("BPR16", "BPR16 is 20002316: no 23rd month"),
    "pyx12__x12testdata_mult_isa_source.txt": ("BPR", "835 stubs (ST/SE only) have no BPR"),
}

FILES = corpus_files() + fixture_files()


def _outcome(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ts in sets(path):
        entry: dict[str, Any] = {"set": inbound_key(ts), "control": ts.control_number}
        try:
            entry["events"] = dump_events(map_transaction(ts, context()))
        except UnsupportedMessage as exc:
            assert exc.message and exc.location in ("ST01", "ST03"), exc
            entry["unsupported"] = str(exc)
        except MappingError as exc:
            expected = DATA_ERRORS.get(path.name)
            assert expected is not None, f"unexpected MappingError {exc}"
            assert exc.location == expected[0]
            entry["mapping_error"] = str(exc)
        out.append(entry)
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.name[:70] for p in FILES])
def test_every_set_maps_or_says_why(path: Path) -> None:
    expected, why = PYX12_KNOWN.get(path.name, ((), "pyx12-clean"))
    assert pyx12_says(path.read_bytes()) == expected, why
    check_golden(f"in_{path.name}.json", _outcome(path))


def test_every_known_pyx12_verdict_names_an_input() -> None:
    assert sorted(set(PYX12_KNOWN) - {p.name for p in FILES}) == []


def test_the_corpus_is_mostly_mapped() -> None:
    """A guard against a registry that quietly says 'unsupported' to everything."""
    mapped = unsupported = 0
    for path in corpus_files():
        for ts in sets(path):
            try:
                map_transaction(ts, context())
                mapped += 1
            except UnsupportedMessage:
                unsupported += 1
            except MappingError:
                pass
    assert mapped >= 50
    assert unsupported >= 25


def test_listed_data_errors_still_fail() -> None:
    """Each listed file really raises its MappingError (the list is not stale)."""
    by_name = {p.name: p for p in corpus_files()}
    for name, (location, _) in DATA_ERRORS.items():
        raised = []
        for ts in sets(by_name[name]):
            try:
                map_transaction(ts, context())
            except MappingError as exc:
                raised.append(exc.location)
            except UnsupportedMessage:
                pass
        assert location in raised, name
