"""HL7 acknowledgement vocabulary and the rules that pick an acknowledgement code.

Table 0008 (acknowledgment code), table 0155 (accept/application acknowledgment conditions)
and table 0357 (message error condition codes), and the decision "which outcome gets which
code" as a table, so it reads like the standard (v2.5 chapter 2.9).
"""

from __future__ import annotations

from enum import StrEnum

from hub.findings import Finding, Report, Severity

__all__ = [
    "ACK_CODES",
    "ERROR_TEXT",
    "AckCode",
    "AckMode",
    "ErrorCode",
    "AckOutcome",
    "ack_code",
    "acks_to_send",
    "outcome_of",
    "outcome_of_finding",
]


class ErrorCode(StrEnum):
    """HL7 table 0357, message error condition codes (ERR-3)."""

    ACCEPTED = "0"
    SEGMENT_SEQUENCE_ERROR = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE_ERROR = "102"
    TABLE_VALUE_NOT_FOUND = "103"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT_CODE = "201"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION_ID = "203"
    UNKNOWN_KEY = "204"
    DUPLICATE_KEY = "205"
    APPLICATION_RECORD_LOCKED = "206"
    APPLICATION_INTERNAL_ERROR = "207"


ERROR_TEXT = {
    ErrorCode.ACCEPTED: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class AckCode(StrEnum):
    """HL7 table 0008 (MSA-1)."""

    AA = "AA"
    AE = "AE"
    AR = "AR"
    CA = "CA"
    CE = "CE"
    CR = "CR"


class AckMode(StrEnum):
    """Which acknowledgement is being built: original mode, or one of the two of enhanced
    mode (the accept ack on receipt, the application ack after processing)."""

    ORIGINAL = "original"
    ACCEPT = "accept"
    APPLICATION = "application"


class AckOutcome(StrEnum):
    """What became of a received message, from the acknowledgement's point of view."""

    ACCEPTED = "accepted"
    CONTENT_ERROR = "content_error"
    REJECTED = "rejected"
    INTERNAL_ERROR = "internal_error"


#: outcome → (original mode MSA-1, accept ack MSA-1, application ack MSA-1)
ACK_CODES: dict[AckOutcome, tuple[AckCode, AckCode, AckCode]] = {
    # stored, checked and published: all fine
    AckOutcome.ACCEPTED: (AckCode.AA, AckCode.CA, AckCode.AA),
    # stored and kept, but the content breaks a rule (101, 102, 103, 204, 205, …)
    AckOutcome.CONTENT_ERROR: (AckCode.AE, AckCode.CA, AckCode.AE),
    # not taken: unparseable (100/102), or MSH-9/11/12 unacceptable (200–203)
    AckOutcome.REJECTED: (AckCode.AR, AckCode.CR, AckCode.AR),
    # not taken for reasons unrelated to the message (206/207: store or broker down)
    AckOutcome.INTERNAL_ERROR: (AckCode.AR, AckCode.CE, AckCode.AE),
}
_MODE_COLUMN = {AckMode.ORIGINAL: 0, AckMode.ACCEPT: 1, AckMode.APPLICATION: 2}

_REJECTING = frozenset({"200", "201", "202", "203"})
_INTERNAL = frozenset({"206", "207"})
_PRIORITY = [
    AckOutcome.REJECTED,
    AckOutcome.INTERNAL_ERROR,
    AckOutcome.CONTENT_ERROR,
    AckOutcome.ACCEPTED,
]


def outcome_of_finding(finding: Finding) -> AckOutcome:
    """FATAL (the message could not be read) or 200–203 → rejected; 206/207 → internal
    error; any other error → content error; warnings and information → accepted."""
    if finding.severity == Severity.FATAL or finding.format_code in _REJECTING:
        return AckOutcome.REJECTED
    if not finding.is_error:
        return AckOutcome.ACCEPTED
    if finding.format_code in _INTERNAL:
        return AckOutcome.INTERNAL_ERROR
    return AckOutcome.CONTENT_ERROR


def outcome_of(report: Report) -> AckOutcome:
    """The worst outcome among the report's findings (rejected > internal > content)."""
    seen = {outcome_of_finding(f) for f in report.findings}
    return next((o for o in _PRIORITY if o in seen), AckOutcome.ACCEPTED)


def ack_code(outcome: AckOutcome, mode: AckMode = AckMode.ORIGINAL) -> AckCode:
    """MSA-1 for ``outcome`` in ``mode`` (see ``ACK_CODES``)."""
    return ACK_CODES[outcome][_MODE_COLUMN[mode]]


def _condition_met(condition: str | None, success: bool) -> bool:
    """Table 0155: AL always, NE never, ER only on error, SU only on success. Empty or an
    unknown value is read as AL."""
    condition = (condition or "AL").strip().upper()
    if condition == "NE":
        return False
    if condition == "ER":
        return not success
    if condition == "SU":
        return success
    return True


def acks_to_send(
    accept_ack_type: str | None, app_ack_type: str | None, outcome: AckOutcome
) -> tuple[AckMode, ...]:
    """Which acknowledgements to send for a message with MSH-15 ``accept_ack_type`` and
    MSH-16 ``app_ack_type`` that ended in ``outcome``.

    Both empty: original mode, one ACK. Otherwise enhanced mode: an accept ack when MSH-15's
    condition holds for the commit result, then — only if the message was committed (CA) —
    an application ack when MSH-16's condition holds for the processing result.
    """
    if not (accept_ack_type or app_ack_type):
        return (AckMode.ORIGINAL,)
    sends: list[AckMode] = []
    committed = ack_code(outcome, AckMode.ACCEPT) == AckCode.CA
    if _condition_met(accept_ack_type, committed):
        sends.append(AckMode.ACCEPT)
    applied = ack_code(outcome, AckMode.APPLICATION) == AckCode.AA
    if committed and _condition_met(app_ack_type, applied):
        sends.append(AckMode.APPLICATION)
    return tuple(sends)
