"""Structural checks of a parsed HL7 v2 message, as findings (v2.5 chapter 2.9.2).

What a receiver must look at before taking a message: MSH-9 (type and trigger, against what
the site supports), MSH-10, MSH-11 (processing id), MSH-12 (version), plus what the parser
noticed and escape sequences it could not read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from adapters.hl7v2 import Message, find_unknown_escapes
from hub.findings import Report, Severity

from .codes import ErrorCode

__all__ = ["SUPPORTED_VERSIONS", "check_message", "scan_escapes"]

#: HL7 v2.1 to v2.8.x
SUPPORTED_VERSIONS = frozenset(
    {
        "2.1",
        "2.2",
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
    }
)
PROCESSING_IDS = frozenset({"P", "T", "D"})
_MAX_ESCAPE_FINDINGS = 20


def check_message(
    message: Message,
    *,
    supported: Mapping[str, Collection[str]] | None = None,
    versions: Collection[str] = SUPPORTED_VERSIONS,
    processing_ids: Collection[str] = PROCESSING_IDS,
) -> Report:
    """Check MSH and escapes. ``supported`` maps MSH-9.1 to the MSH-9.2 triggers taken
    (``{"ADT": {"A01", "A04"}, "SIU": {"*"}}``); without it type and trigger are not judged.

    A missing MSH-9.1, MSH-10, MSH-11 or MSH-12 is FATAL (the message cannot be routed or
    answered properly: reject); an unsupported type, trigger, processing id or version is
    an error with its table 0357 code (200–203, also a reject).
    """
    report = Report(list(message.findings))
    _check_required(message, report)
    _check_values(message, report, versions, processing_ids)
    if supported is not None:
        _check_supported(message, report, supported)
    report.extend(scan_escapes(message))
    return report


def _check_required(message: Message, report: Report) -> None:
    for path in ("MSH-9", "MSH-10", "MSH-11", "MSH-12"):
        if message.get(path) is None:
            report.add(
                Severity.FATAL,
                "required",
                f"{path} is empty",
                path,
                ErrorCode.REQUIRED_FIELD_MISSING,
            )
    if message.message_code not in (None, "ACK") and message.trigger_event is None:
        report.error(
            "required",
            "MSH-9.2 (trigger event) is empty",
            "MSH-9.2",
            ErrorCode.REQUIRED_FIELD_MISSING,
        )


def _check_values(
    message: Message, report: Report, versions: Collection[str], processing_ids: Collection[str]
) -> None:
    processing = message.processing_id
    if processing is not None and processing not in processing_ids:
        report.error(
            "not-supported",
            f"processing id {processing!r} is not taken",
            "MSH-11",
            ErrorCode.UNSUPPORTED_PROCESSING_ID,
        )
    version = message.version
    if version is not None and version not in versions:
        report.error(
            "not-supported",
            f"version {version!r} is not supported",
            "MSH-12",
            ErrorCode.UNSUPPORTED_VERSION_ID,
        )


def _check_supported(
    message: Message, report: Report, supported: Mapping[str, Collection[str]]
) -> None:
    code, trigger = message.message_code, message.trigger_event
    if code is None:
        return
    if code not in supported:
        report.error(
            "not-supported",
            f"message type {code} is not supported",
            "MSH-9.1",
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        )
        return
    triggers = supported[code]
    if "*" not in triggers and (trigger or "") not in triggers:
        report.error(
            "not-supported",
            f"event {code}^{trigger} is not supported",
            "MSH-9.2",
            ErrorCode.UNSUPPORTED_EVENT_CODE,
        )


def scan_escapes(message: Message) -> Report:
    """A warning for each field holding an escape sequence the codec keeps literally."""
    report = Report()
    enc = message.encoding
    if not enc.escape:
        return report
    counts: dict[str, int] = {}
    for seg in message.segments:
        occurrence = counts[seg.id] = counts.get(seg.id, 0) + 1
        first = 3 if seg.is_header else 1
        for number in range(first, len(seg.fields)):
            text = seg.fields[number]
            if enc.escape not in text:
                continue
            unknown = find_unknown_escapes(text, enc)
            if unknown:
                where = seg.id if occurrence == 1 else f"{seg.id}[{occurrence}]"
                report.warning(
                    "value",
                    f"unknown escape sequence {unknown[0][:12]!r} kept as text",
                    f"{where}-{number}",
                )
                if len(report.findings) >= _MAX_ESCAPE_FINDINGS:
                    return report
    return report
