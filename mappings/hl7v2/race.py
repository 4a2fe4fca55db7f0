"""PID-10 race and PID-22 ethnic group → CDC Race & Ethnicity codes (the code system US Core
binds its race and ethnicity extensions to, ``urn:oid:2.16.840.1.113883.6.238``; HL7 v2
coding system name ``CDCREC``).

A repetition's code (CWE.1, else the alternate CWE.4) is read as:

- a CDC code as sent (``2106-3``: ``NNNN-N``), whatever CWE.3 says — HL7 tables 0005 and
  0189 have used the CDC codes since v2.4;
- else a row of the ``hl7_race`` / ``hl7_ethnicity`` vocabulary table (older feeds' letters:
  ``W`` White, ``B`` Black or African American, ``H`` Hispanic or Latino, ``N`` not …;
  ``U`` unknown → ``UNK`` of v3-NullFlavor);
- else kept as sent (its code and system) and written to FHIR as text only, with a warning
  naming the field (``race_ethnicity_findings``).

The original text (CWE.2) is kept as the display; without one, the table's name for the code.
"""

from __future__ import annotations

import re

from adapters.hl7v2 import Message, Repetition
from hub.canonical import Coded
from hub.findings import Report
from mappings.vocab import builtin_tables

from .datatypes import coding_system
from .source import Hl7v2Source, rep_text

__all__ = [
    "CDC_RACE_ETHNICITY",
    "ETHNICITY_TABLE",
    "NULL_FLAVOR",
    "RACE_TABLE",
    "cdc_code",
    "race_coded",
    "race_ethnicity_findings",
]

CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
RACE_TABLE = "hl7_race"
ETHNICITY_TABLE = "hl7_ethnicity"
#: PID field → the table its codes go through and the HL7 table it is bound to
FIELDS = {10: (RACE_TABLE, "HL70005"), 22: (ETHNICITY_TABLE, "HL70189")}
_CDC = re.compile(r"[0-9]{4}-[0-9]")
_NULLS = frozenset({"UNK", "ASKU"})


def cdc_code(code: str | None) -> bool:
    """``code`` has the CDC Race & Ethnicity shape (``2106-3``)."""
    return bool(code) and _CDC.fullmatch(code or "") is not None


def _display(table: str, code: str) -> str | None:
    found = builtin_tables().get(table)
    return found.displays.get(code) if found is not None else None


def _code_of(rep: Repetition) -> tuple[str | None, str | None, str | None]:
    code, text, system = rep_text(rep, 1), rep_text(rep, 2), rep_text(rep, 3)
    if code is None and rep_text(rep, 4):
        code, text, system = rep_text(rep, 4), rep_text(rep, 5) or text, rep_text(rep, 6)
    if code == '""':  # an explicit null: nothing to map
        return None, None, None
    return code, text, system


def race_coded(src: Hl7v2Source, rep: Repetition, field: int) -> Coded | None:
    """One PID-10 / PID-22 repetition → Coded (see the module docstring)."""
    table, hl7_table = FIELDS[field]
    code, text, system = _code_of(rep)
    if code is None:
        return Coded(display=text) if text else None
    target = code if cdc_code(code) else src.lookup(table, code)
    if target is None:
        return Coded(code=code, system=coding_system(src, system or hl7_table), display=text)
    return Coded(
        code=target,
        system=NULL_FLAVOR if target in _NULLS else CDC_RACE_ETHNICITY,
        display=text or _display(table, target),
    )


def race_ethnicity_findings(message: Message) -> Report:
    """A warning for each PID-10 / PID-22 code that is neither a CDC code nor in the
    vocabulary table (kept, but written to FHIR as text only). No values in the text."""
    report = Report()
    counts = 0
    for seg in message.segments:
        if seg.id != "PID":
            continue
        counts += 1
        label = "PID" if counts == 1 else f"PID[{counts}]"
        for field, (table, _) in FIELDS.items():
            what = "race" if field == 10 else "ethnic group"
            for rep in seg.repetitions(field):
                code, _, _ = _code_of(rep)
                if code is None or cdc_code(code) or _known(table, code):
                    continue
                report.warning(
                    "code-invalid",
                    f"{what} code is neither a CDC Race & Ethnicity code nor in table "
                    f"{table}: kept as text only",
                    f"{label}-{field}",
                    "103",
                )
    return report


def _known(table: str, code: str) -> bool:
    found = builtin_tables().get(table)
    if found is None:
        return False
    return any(found.translate(c) for c in (code, code.upper(), code.capitalize()))
