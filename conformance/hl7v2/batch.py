"""File and batch envelopes (v2.x 2.10.3): ``[FHS] {[BHS] {MSH…} [BTS]} [FTS]``.

Liberal in: an envelope that does not nest or count as the standard says — a BHS without
its BTS or a BTS without its BHS, an FHS without its FTS or the reverse, headers out of
order, BTS-1 or FTS-1 counting something else than what they close — leaves every message
in it unambiguous, so each problem is a *warning* naming the envelope segment and its line,
and every message is still read. ``strict=True`` (a port with ``reading: strict``) makes
them errors with the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.findings import Report, Severity

from .codes import ErrorCode

__all__ = ["check_batch"]

_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")


@dataclass
class _Batch:
    line: int
    messages: int = 0


@dataclass
class _Scan:
    """What the envelope lines of a file say, in order."""

    findings: list[tuple[str, str]] = field(default_factory=list)
    batch: _Batch | None = None
    batches: int = 0
    loose: int = 0  # messages outside any batch
    file_open: int | None = None  # the line of the FHS
    file_closed: bool = False
    seen_fhs: bool = False

    def say(self, location: str, text: str) -> None:
        self.findings.append((location, text))


def check_batch(data: bytes, *, strict: bool = False) -> Report:
    """Findings about the file/batch envelope of ``data`` (empty for a plain file):
    warnings, or errors when ``strict``."""
    report = Report()
    text = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n")
    if not any(line[:3] in (b"FHS", b"BHS", b"BTS", b"FTS") for line in lines):
        return report
    scan = _Scan()
    for number, raw in enumerate(lines, 1):
        seg_id = raw[:3].decode("ascii", "replace")
        if seg_id in _ENVELOPE and (len(raw) == 3 or not chr(raw[3]).isalnum()):
            _envelope(scan, seg_id, raw.decode("utf-8", "replace"), number)
        elif seg_id == "MSH":
            if scan.file_closed:
                scan.say("FTS", f"line {number}: a message after the FTS that closed the file")
            if scan.batch is not None:
                scan.batch.messages += 1
            else:
                scan.loose += 1
    _close_file(scan)
    severity = Severity.ERROR if strict else Severity.WARNING
    for where, said in scan.findings:
        report.add(severity, "structure", said, where, ErrorCode.SEGMENT_SEQUENCE_ERROR)
    return report


def _field(line: str, number: int) -> str:
    if len(line) < 4:
        return ""
    parts = line.split(line[3])
    value = parts[number] if number < len(parts) else ""
    return value.split("^", 1)[0].strip()


def _envelope(scan: _Scan, seg_id: str, line: str, number: int) -> None:
    if seg_id == "FHS":
        if scan.seen_fhs or scan.batches or scan.batch is not None or scan.loose:
            scan.say("FHS", f"line {number}: FHS is not the first line of the file")
        scan.seen_fhs, scan.file_open = True, number
    elif seg_id == "BHS":
        if scan.batch is not None:
            scan.say("BTS", f"line {number}: the batch opened at line {scan.batch.line} has no BTS")
            _end_batch(scan)
        scan.batch = _Batch(number)
    elif seg_id == "BTS":
        if scan.batch is None:
            scan.say("BHS", f"line {number}: BTS closes no batch (its BHS is missing)")
            scan.batches += 1
        else:
            _count("BTS-1", _field(line, 1), scan.batch.messages, "messages", number, scan)
            _end_batch(scan)
    elif seg_id == "FTS":
        if scan.batch is not None:
            scan.say("BTS", f"line {number}: the batch opened at line {scan.batch.line} has no BTS")
            _end_batch(scan)
        if not scan.seen_fhs:
            scan.say("FHS", f"line {number}: FTS closes no file (its FHS is missing)")
        if scan.file_closed:
            scan.say("FTS", f"line {number}: a second FTS")
        declared = _field(line, 1)
        if not (scan.loose and not scan.batches and declared in ("0", "1")):
            # messages without a BHS are one batch or none: either count is right
            _count("FTS-1", declared, scan.batches, "batches", number, scan)
        scan.file_closed = True


def _end_batch(scan: _Scan) -> None:
    scan.batch = None
    scan.batches += 1


def _count(where: str, declared: str, actual: int, what: str, number: int, scan: _Scan) -> None:
    if declared and declared != str(actual):
        scan.say(where, f"line {number}: {where} says {declared} {what}, there are {actual}")


def _close_file(scan: _Scan) -> None:
    if scan.batch is not None:
        scan.say("BTS", f"the batch opened at line {scan.batch.line} has no BTS")
        _end_batch(scan)
    if scan.seen_fhs and not scan.file_closed:
        scan.say("FTS", f"the file opened at line {scan.file_open} has no FTS")
