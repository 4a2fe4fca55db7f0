"""VocabularyTables tables as data: one CSV per table in this folder, overridable per site.

Each CSV has a header ``code,target[,display]``: ``code`` is the source code (for example an
HL7 table 0001 value), ``target`` the canonical code. A site override (config ``vocab:
{table: path}``) is a CSV of the same shape whose rows replace or add to the built-in ones.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from hub.errors import ConfigError

__all__ = ["Table", "VocabularyTables", "builtin_tables", "load_vocabulary"]

HERE = Path(__file__).parent


class Table:
    """One translation table, both ways."""

    def __init__(
        self, name: str, rows: Mapping[str, str], displays: Mapping[str, str] | None = None
    ):
        self.name = name
        self.rows = dict(rows)
        self.displays = dict(displays or {})
        self._reverse: dict[str, str] = {}
        for code, target in self.rows.items():
            self._reverse.setdefault(target, code)

    def translate(self, code: str | None) -> str | None:
        if code is None:
            return None
        hit = self.rows.get(code)
        return hit if hit is not None else self.rows.get(code.upper())

    def reverse(self, target: str | None) -> str | None:
        return None if target is None else self._reverse.get(target)

    def merged(self, other: Table) -> Table:
        return Table(self.name, {**self.rows, **other.rows}, {**self.displays, **other.displays})


class VocabularyTables:
    """All tables; unknown tables and codes translate to None."""

    def __init__(self, tables: Mapping[str, Table]):
        self.tables = dict(tables)

    def translate(self, table: str, code: str | None) -> str | None:
        t = self.tables.get(table)
        return t.translate(code) if t is not None else None

    def reverse(self, table: str, target: str | None) -> str | None:
        t = self.tables.get(table)
        return t.reverse(target) if t is not None else None

    def display(self, table: str, code: str | None) -> str | None:
        t = self.tables.get(table)
        return t.displays.get(code or "") if t is not None else None


def read_table(path: Path, name: str | None = None) -> Table:
    """Read one CSV table; errors name the file and the line."""
    rows: dict[str, str] = {}
    displays: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"code", "target"} <= set(reader.fieldnames):
                raise ConfigError(
                    f"{path}:1: a vocabulary table needs the header code,target[,display]"
                )
            for row in reader:
                code, target = (row.get("code") or "").strip(), (row.get("target") or "").strip()
                if not code:
                    raise ConfigError(f"{path}:{reader.line_num}: code is empty")
                rows[code] = target
                if row.get("display"):
                    displays[code] = row["display"].strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read vocabulary table: {exc.strerror}") from exc
    return Table(name or path.stem, rows, displays)


@cache
def builtin_tables() -> Mapping[str, Table]:
    """The packaged ``code,target`` tables. (The ``fhir_*`` tables have shapes of their own
    and are read by ``mappings.fhir.vocab``.)"""
    return {p.stem: read_table(p) for p in sorted(HERE.glob("*.csv")) if _is_code_table(p)}


def _is_code_table(path: Path) -> bool:
    with path.open(encoding="utf-8") as fh:
        header = {h.strip() for h in fh.readline().split(",")}
    return {"code", "target"} <= header


def load_vocabulary(overrides: Mapping[str, str] | None = None) -> VocabularyTables:
    """The built-in tables with the site's overrides applied."""
    tables = dict(builtin_tables())
    for name, path in (overrides or {}).items():
        override = read_table(Path(path), name)
        tables[name] = tables[name].merged(override) if name in tables else override
    return VocabularyTables(tables)
