"""Structural checks of a parsed HL7 v2 message, as findings (v2.5 chapter 2.9.2).

What a receiver must look at before taking a message: MSH-9 (type and trigger, against what
the site supports), MSH-10, MSH-11 (processing id), MSH-12 (version), plus what the parser
noticed, escape sequences it could not read, and what the message carries beyond its
version's definitions (``shape``).

Liberal in: a departure from the standard that leaves the content unambiguous — MSH-11
empty or outside table 0103, MSH-12 spelt ``v2.5`` or ``251`` — is a *warning* that says
what was assumed. With ``strict=True`` (a port with ``reading: strict``) each is an error
with the same text. What the version does not define — fields, repetitions, components or
subcomponents past the definition, Z-segments (``shape``) — is what HL7 (v2.7.1 §2.6.2)
tells a receiver to ignore: a warning (information for a Z-segment) on every port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from adapters.hl7v2 import HL7_VERSIONS, Message, find_unknown_escapes
from hub.findings import Finding, Report, Severity

from .codes import ErrorCode
from .nulls import check_kept_nulls
from .shape import check_shape

__all__ = ["SUPPORTED_VERSIONS", "check_message", "scan_escapes"]

#: HL7 v2.1 to v2.8.x
SUPPORTED_VERSIONS = HL7_VERSIONS  # table 0104, as MSH-12.1 writes them
PROCESSING_IDS = frozenset({"P", "T", "D"})
_MAX_ESCAPE_FINDINGS = 20


def check_message(
    message: Message,
    *,
    supported: Mapping[str, Collection[str]] | None = None,
    versions: Collection[str] = SUPPORTED_VERSIONS,
    processing_ids: Collection[str] = PROCESSING_IDS,
    strict: bool = False,
) -> Report:
    """Check MSH and escapes. ``supported`` maps MSH-9.1 to the MSH-9.2 triggers taken
    (``{"ADT": {"A01", "A04"}, "SIU": {"*"}}``); without it type and trigger are not judged.

    A missing MSH-9.1, MSH-10 or MSH-12 is FATAL (the message cannot be routed or
    answered properly: reject); an unsupported type, trigger or version is an error with
    its table 0357 code (200, 201, 203: also a reject). The departures (module docstring)
    are warnings, or errors when ``strict``: MSH-11 empty (101: AE), outside the processing
    ids taken (202: a reject), MSH-12 misspelt (203: a reject). Shape findings stay
    warnings (information for a Z-segment) whatever ``strict`` says.
    """
    report = Report(list(message.findings))
    departures: list[Finding] = []
    _check_required(message, report)
    _check_values(message, report, departures, versions, processing_ids)
    if supported is not None:
        _check_supported(message, report, supported)
    departures.extend(check_kept_nulls(message))  # "" in PID identity fields: kept
    for finding in departures:
        severity = Severity.ERROR if strict else Severity.WARNING
        report.add(severity, finding.code, finding.text, finding.location, finding.format_code)
    # what a version does not define is ignored by a receiver (v2.7.1 2.6.2): never an
    # error, on a strict port neither
    report.findings.extend(check_shape(message))
    report.extend(scan_escapes(message))
    return report


def _departure(departures: list[Finding], code: str, text: str, where: str, hl7: str) -> None:
    departures.append(Finding(Severity.WARNING, code, text, where, hl7))


def _check_required(message: Message, report: Report) -> None:
    for path in ("MSH-9", "MSH-10", "MSH-12"):
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
    message: Message,
    report: Report,
    departures: list[Finding],
    versions: Collection[str],
    processing_ids: Collection[str],
) -> None:
    processing = message.processing_id
    taken = ", ".join(sorted(processing_ids))
    if processing is None or not processing.strip():
        _departure(
            departures,
            "required",
            "MSH-11 (processing id) is empty: read as P (production)",
            "MSH-11",
            ErrorCode.REQUIRED_FIELD_MISSING,
        )
    elif processing not in processing_ids:
        _departure(
            departures,
            "not-supported",
            f"MSH-11 processing id {processing!r} is not one of {taken} (table 0103): "
            "read as P (production)",
            "MSH-11",
            ErrorCode.UNSUPPORTED_PROCESSING_ID,
        )
    version, written = message.version, message.get("MSH-12")
    if version is not None and version not in versions:
        report.error(
            "not-supported",
            f"version {written!r} is not supported",
            "MSH-12",
            ErrorCode.UNSUPPORTED_VERSION_ID,
        )
    elif version is not None and written != version:
        _departure(
            departures,
            "value",
            f"MSH-12 {written!r} is not how table 0104 writes a version: read as {version}",
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
