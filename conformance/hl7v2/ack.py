"""Render HL7 acknowledgements (ACK: MSH, MSA, ERR) from a report of findings.

The ACK is built from the message it answers (python-hl7 ``create_ack`` style): sender and
receiver swapped, the same delimiters, version and character set, ``ACK^<trigger>^ACK``, a
new MSH-10, and MSA-2 echoing the original MSH-10 — also when the message failed to parse,
by reading its header leniently. Findings become ERR segments: from v2.5 one per finding
(ERR-2 location, ERR-3 table 0357 code, ERR-4 severity, ERR-8 text); before v2.5 as ERR-1
(ELD) repetitions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.hl7v2 import (
    DEFAULT_ENCODING,
    HL7_VERSIONS,
    EncodingChars,
    Message,
    Segment,
    escape,
    new_control_id,
    new_segment,
    parse_path,
    read_header,
    read_version,
)
from adapters.hl7v2.codec import header_encoding
from adapters.hl7v2.server import PeerInfo
from hub.errors import CarehubError, LimitExceeded
from hub.findings import Finding, Report, Severity

from .codes import ERROR_TEXT, AckMode, ErrorCode, ack_code, outcome_of

__all__ = [
    "FALLBACK_VERSION",
    "KNOWN_VERSIONS",
    "refuse_frame",
    "render_ack",
    "render_batch_ack",
    "report_for_error",
]

FALLBACK_VERSION = "2.5.1"
#: versions an ACK may carry; anything else is answered in FALLBACK_VERSION
KNOWN_VERSIONS = HL7_VERSIONS  # table 0104, as MSH-12.1 writes them
_PROCESSING_IDS = frozenset({"P", "T", "D"})
_MAX_ERR = 50
_MAX_TEXT = 200
#: FHIR issue type → table 0357, for findings that carry no HL7 code of their own
_ISSUE_TO_0357 = {
    "structure": ErrorCode.SEGMENT_SEQUENCE_ERROR,
    "required": ErrorCode.REQUIRED_FIELD_MISSING,
    "invalid": ErrorCode.DATA_TYPE_ERROR,
    "value": ErrorCode.DATA_TYPE_ERROR,
    "too-long": ErrorCode.DATA_TYPE_ERROR,
    "code-invalid": ErrorCode.TABLE_VALUE_NOT_FOUND,
    "not-supported": ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
    "not-found": ErrorCode.UNKNOWN_KEY,
    "duplicate": ErrorCode.DUPLICATE_KEY,
    "lock-error": ErrorCode.APPLICATION_RECORD_LOCKED,
}
_SEVERITY = {
    Severity.FATAL: "E",
    Severity.ERROR: "E",
    Severity.WARNING: "W",
    Severity.INFORMATION: "I",
}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _ack_version(header: Segment | None) -> str:
    version = read_version(header.value(12)) if header is not None else None
    return version if version in KNOWN_VERSIONS else FALLBACK_VERSION


def _error_code(finding: Finding) -> str:
    if finding.format_code and finding.format_code in ERROR_TEXT:
        return finding.format_code
    if finding.severity == Severity.FATAL:
        return ErrorCode.SEGMENT_SEQUENCE_ERROR
    default = ErrorCode.APPLICATION_INTERNAL_ERROR if finding.is_error else ErrorCode.ACCEPTED
    return _ISSUE_TO_0357.get(finding.code, default)


def render_ack(
    message: Message | None,
    raw: bytes,
    report: Report,
    *,
    mode: AckMode = AckMode.ORIGINAL,
    control_id: str | None = None,
    now: datetime | None = None,
    include_warnings: bool = False,
) -> bytes:
    """The ACK answering ``message`` (or, when it could not be parsed, the header read from
    ``raw``), with MSA-1 chosen from ``report`` for ``mode`` and ERR segments for its errors
    (and warnings when ``include_warnings``)."""
    header = message.msh if message is not None else read_header(raw)
    enc = _ack_encoding(header)
    version = _ack_version(header)
    ack = Message([new_segment("MSH", encoding=enc)], enc, codec=_codec(message))
    _fill_msh(ack, header, version, control_id or new_control_id(), now)
    _fill_msa(ack, header, report, mode, version)
    chosen = [f for f in report.findings if f.is_error or (include_warnings and _is_warning(f))]
    _fill_err(ack, chosen[:_MAX_ERR], version, enc)
    return ack.render()


def _ack_encoding(header: Segment | None) -> EncodingChars:
    """The original's delimiters, unless it left a role unused (then the defaults)."""
    if header is None:
        return DEFAULT_ENCODING
    enc = header.enc
    if not (enc.component and enc.repetition and enc.escape and enc.subcomponent):
        return DEFAULT_ENCODING
    return enc


def _codec(message: Message | None) -> str:
    return message.codec if message is not None else "utf-8"


def _is_warning(finding: Finding) -> bool:
    return finding.severity == Severity.WARNING


def _fill_msh(
    ack: Message, header: Segment | None, version: str, control_id: str, now: datetime | None
) -> None:
    """MSH-3..6 swapped from the original, MSH-7 now, MSH-9 ACK^<trigger>^ACK, MSH-10 new,
    MSH-11 and MSH-12 as the original's when usable, MSH-18 copied."""
    msh = ack.msh
    if header is not None:
        for ours, theirs in ((3, 5), (4, 6), (5, 3), (6, 4)):
            msh.set_field(ours, header.field(theirs))
    ack.set("MSH-7", (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))
    if _version_tuple(version) < (2, 2):
        # v2.1 definitions (hl7apy's at least) require TS.2, the degree of precision
        ack.set("MSH-7.2", "S")
    ack.set("MSH-9.1", "ACK")
    trigger = header.value(9, 1, 2) if header is not None else None
    if trigger:
        ack.set("MSH-9.2", trigger)
    if _version_tuple(version) >= (2, 3, 1):
        ack.set("MSH-9.3", "ACK")
    ack.set("MSH-10", control_id)
    processing = header.value(11) if header is not None else None
    ack.set("MSH-11", processing if processing in _PROCESSING_IDS else "P")
    ack.set("MSH-12", version)
    if header is not None and header.field(18):
        msh.set_field(18, header.field(18))


def _fill_msa(
    ack: Message, header: Segment | None, report: Report, mode: AckMode, version: str
) -> None:
    """MSA-1 from the outcome; MSA-2 the original MSH-10 as sent (empty only when it could
    not be read); MSA-3 the first error's text before v2.5, where ERR has no text field."""
    original_id = header.field(10) if header is not None else ""
    msa = ack.add_segment("MSA", ack_code(outcome_of(report), mode), original_id)
    errors = report.errors
    if errors and _version_tuple(version) < (2, 5):
        msa.set_field(3, escape(errors[0].text[:80], ack.encoding))


def _fill_err(ack: Message, findings: list[Finding], version: str, enc: EncodingChars) -> None:
    if not findings:
        return
    if _version_tuple(version) >= (2, 5):
        for finding in findings:
            ack.add_segment("ERR", *_err_fields(finding, enc))
    elif _version_tuple(version) >= (2, 2):
        ack.add_segment("ERR", enc.repetition.join(_eld(f, enc) for f in findings))
    else:
        # v2.1: ERR-1 is a plain ID, so only the codes
        ack.add_segment("ERR", enc.repetition.join(_error_code(f) for f in findings))


def _location(finding: Finding) -> tuple[str, ...] | None:
    """(segment, sequence, field, repetition, component, subcomponent) from a path location."""
    if not finding.location:
        return None
    try:
        path = parse_path(finding.location)
    except ValueError:
        return None
    parts = (
        path.segment,
        str(path.occurrence),
        path.field,
        path.repetition,
        path.component,
        path.subcomponent,
    )
    return tuple("" if p is None else str(p) for p in parts)


def _err_fields(finding: Finding, enc: EncodingChars) -> list[str]:
    """ERR-1 (empty), ERR-2 ERL, ERR-3 CWE code^text^HL70357, ERR-4 severity, ERR-8 text."""
    code = _error_code(finding)
    where = _location(finding)
    erl = enc.component.join(where).rstrip(enc.component) if where else ""
    cwe = enc.component.join((code, ERROR_TEXT[ErrorCode(code)], "HL70357"))
    text = escape(finding.text[:_MAX_TEXT], enc)
    return ["", erl, cwe, _SEVERITY[finding.severity], "", "", "", text]


def _eld(finding: Finding, enc: EncodingChars) -> str:
    """ERR-1 (ELD, before v2.5): segment^sequence^field^code&text&HL70357."""
    code = _error_code(finding)
    where = _location(finding) or ("", "", "")
    sub = enc.subcomponent
    coded = sub.join((code, ERROR_TEXT[ErrorCode(code)], "HL70357")) if sub else code
    return enc.component.join((*where[:3], coded))


def render_batch_ack(
    raw: bytes,
    acks: list[bytes],
    report: Report,
    *,
    control_id: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The answer to a batch (v2.x 2.10.3): ``BHS`` (sender and receiver swapped from the
    batch's BHS, else its FHS, else its first MSH; BHS-11 a new batch control id, BHS-12 the batch's
    BHS-11), the acknowledgement of each message in order, and ``BTS`` (BTS-1 the number of
    acknowledgements, BTS-2 one repetition per envelope finding of ``report``)."""
    header = _batch_header(raw)
    enc = header.enc if header is not None else DEFAULT_ENCODING
    bhs = new_segment("BHS", encoding=enc)
    if header is not None:
        for ours, theirs in ((3, 5), (4, 6), (5, 3), (6, 4)):
            bhs.set_field(ours, header.field(theirs))
    bhs.set_field(7, (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))
    bhs.set_field(11, escape(control_id or new_control_id(), enc))
    if header is not None and header.field(11):
        bhs.set_field(12, header.field(11))
    comments = [escape(f.text[:_MAX_TEXT], enc) for f in report.findings[:_MAX_ERR]]
    bts = [str(len(acks)), enc.repetition.join(comments)] if comments else [str(len(acks))]
    lines = [bhs.render(), *(a.decode("utf-8", "surrogateescape").rstrip("\r") for a in acks)]
    lines.append(enc.field.join(["BTS", *bts]))
    return ("\r".join(lines) + "\r").encode("utf-8", "surrogateescape")


def _batch_header(raw: bytes) -> Segment | None:
    """The batch's BHS (else its FHS, else its first MSH: the same fields 3-6), read
    leniently; None when it has none of them."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    for seg_id in (b"BHS", b"FHS"):
        at = raw.find(seg_id)
        while at > 0 and raw[at - 1 : at] not in (b"\r", b"\n"):
            at = raw.find(seg_id, at + 1)
        if at < 0:
            continue
        line = raw[at:].split(b"\r", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
        try:
            enc, _ = header_encoding(line, seg_id.decode())
        except CarehubError:
            continue
        return Segment.from_line(line, enc)
    return read_header(raw)


def report_for_error(error: CarehubError) -> Report:
    """A report for a message that could not be read at all (a ``ParseError`` or
    ``LimitExceeded``): one FATAL finding, so the answer is a reject (AR/CR)."""
    report = Report()
    code = error.code if error.code in {c.value for c in ErrorCode} else None
    if code is None:
        code = ErrorCode.DATA_TYPE_ERROR if isinstance(error, LimitExceeded) else "100"
    issue = "too-long" if isinstance(error, LimitExceeded) else "structure"
    report.add(Severity.FATAL, issue, error.message, error.location, str(code))
    return report


async def refuse_frame(head: bytes, error: CarehubError, peer: PeerInfo) -> bytes:
    """The ``refuse`` seam of ``MllpServer``: an AR for a frame refused before parsing,
    echoing MSH-10 from the frame's first bytes."""
    return render_ack(None, head, report_for_error(error))
