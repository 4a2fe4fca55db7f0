"""File and batch structure (v2.x 2.10.3): ``[FHS [BHS {MSH…} BTS] FTS]``.

For ``carehub validate``: a broken envelope is an error of the file, whatever its messages
say — headers and trailers must nest, and BTS-1/FTS-1 must count what they close.
"""

from __future__ import annotations

import re

from adapters.hl7v2 import parse_batch
from hub.errors import ParseError
from hub.findings import Report

__all__ = ["check_batch"]

_ENVELOPE = re.compile(rb"^(FHS|BHS|BTS|FTS)(?![A-Za-z0-9])", re.M)
_ORDER = {"FHS": 0, "BHS": 1, "BTS": 3, "FTS": 4}
_PAIRS = (("FHS", "FTS"), ("BHS", "BTS"))


def check_batch(data: bytes) -> Report:
    """Findings about the file/batch envelope of ``data`` (empty for a plain file)."""
    report = Report()
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    found = [m.group(1).decode() for m in _ENVELOPE.finditer(text)]
    if not found:
        return report
    _check_nesting(found, report)
    try:
        batch = parse_batch(data)
    except ParseError as exc:
        report.error("structure", exc.message, exc.location, "100")
        return report
    for finding in batch.findings:
        if finding.location in ("BTS-1", "BTS", "FTS"):
            report.error(finding.code, finding.text, finding.location, "100")
    _check_fts_count(batch.fts.value(1) if batch.fts else None, batch.bhs is not None, report)
    return report


def _check_nesting(found: list[str], report: Report) -> None:
    order = [_ORDER[s] for s in found]
    if order != sorted(order) or len(set(found)) != len(found):
        report.error(
            "structure",
            f"batch segments out of order: {' '.join(found)} (expected FHS BHS … BTS FTS)",
            found[0],
            "100",
        )
    for head, tail in _PAIRS:
        if (head in found) != (tail in found):
            missing = tail if head in found else head
            report.error(
                "structure", f"{head}/{tail} do not pair: {missing} is missing", missing, "100"
            )


def _check_fts_count(declared: str | None, has_batch: bool, report: Report) -> None:
    if declared is None or not declared.strip():
        return
    batches = 1 if has_batch else 0
    if declared.strip() != str(batches):
        report.error(
            "value",
            f"FTS-1 says {declared.strip()} batches, the file has {batches}",
            "FTS-1",
            "100",
        )
