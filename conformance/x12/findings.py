"""X12 findings: ``hub.findings.Finding`` with the coordinates an acknowledgment needs.

``level`` says which code list ``format_code`` belongs to and which renderer reads it:

=============  =====================================  ==================
level          format_code                            rendered as
=============  =====================================  ==================
interchange    TA105 note code (``"001"``)            TA1
group          AK905 code (``"4"``) or none           999/997 AK9
transaction    IK502 code (``"3"``)                   999 IK5 / 997 AK5
segment        IK304 code (``"3"``)                   999 IK3 / 997 AK3
element        IK403 code (``"7"``)                   999 IK4 / 997 AK4
=============  =====================================  ==================

``location`` reads in the guides' terms: ``ISA13``, ``GS06``, ``ST02``, ``2300/CLM05-1``.
``text`` never carries element values (findings end up in logs and stores); the bad value
itself, when a 999 should echo it back (IK404), is in ``value`` — which ``as_dict`` leaves
out.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.findings import Finding, Report, Severity

__all__ = ["Level", "X12Finding", "error", "info", "warning", "x12_findings"]


class Level:
    INTERCHANGE = "interchange"
    GROUP = "group"
    TRANSACTION = "transaction"
    SEGMENT = "segment"
    ELEMENT = "element"


@dataclass(frozen=True, slots=True)
class X12Finding(Finding):
    """A finding placed in an interchange (indices are 0-based ordinals, not control numbers)."""

    level: str = Level.ELEMENT
    interchange: int = 0
    group: int | None = None
    transaction: int | None = None
    segment_id: str | None = None
    #: segment position in the transaction set, ST = 1 (IK302)
    position: int | None = None
    #: the guide's loop (``2300``) the segment is in
    loop_id: str | None = None
    #: LS01 of the bounded loop the segment is in (IK303), if any
    ls_id: str | None = None
    element: int | None = None
    component: int | None = None
    repetition: int | None = None
    #: data element reference number (IK402)
    data_element: str | None = None
    #: copy of the bad data (IK404); never put in ``text``
    value: str | None = None


def x12_findings(report: Report) -> list[X12Finding]:
    """The report's X12 findings (others, if any were merged in, are skipped)."""
    return [f for f in report.findings if isinstance(f, X12Finding)]


def error(level: str, code: str, text: str, format_code: str | None, **where: object) -> X12Finding:
    """An error-severity X12 finding (helper used by the checks)."""
    return X12Finding(Severity.ERROR, code, text, format_code=format_code, level=level, **where)  # type: ignore[arg-type]


def warning(level: str, code: str, text: str, **where: object) -> X12Finding:
    return X12Finding(Severity.WARNING, code, text, level=level, **where)  # type: ignore[arg-type]


def info(level: str, code: str, text: str, **where: object) -> X12Finding:
    return X12Finding(Severity.INFORMATION, code, text, level=level, **where)  # type: ignore[arg-type]
