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
    "ack_condition",
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

#: 200–203: a message of a kind not taken; 205: a control id reused with other content on a
#: port that rejects reused control ids (``reused_control_id: reject``)
_REJECTING = frozenset({"200", "201", "202", "203", "205"})
_INTERNAL = frozenset({"206", "207"})
_PRIORITY = [
    AckOutcome.REJECTED,
    AckOutcome.INTERNAL_ERROR,
    AckOutcome.CONTENT_ERROR,
    AckOutcome.ACCEPTED,
]


def outcome_of_finding(finding: Finding) -> AckOutcome:
    """FATAL (the message could not be read) or an error 200–203/205 → rejected; 206/207 →
    internal error; any other error → content error; warnings and information → accepted
    (whatever their code: a reused control id processed as new is a 205 warning)."""
    if finding.severity == Severity.FATAL:
        return AckOutcome.REJECTED
    if not finding.is_error:
        return AckOutcome.ACCEPTED
    if finding.format_code in _REJECTING:
        return AckOutcome.REJECTED
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


def ack_condition(value: str | None) -> str | None:
    """MSH-15/MSH-16 as compared: stripped and upper-cased, ``None`` when empty or blank (a
    single space is empty, not a value)."""
    return (value or "").strip().upper() or None


def _condition_met(condition: str | None, success: bool) -> bool:
    """Table 0155: AL always, NE never, ER only on error, SU only on success. Empty or an
    unknown value is read as AL."""
    condition = ack_condition(condition) or "AL"
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

    Both empty or blank (``ack_condition``): original mode, one ACK. Otherwise enhanced mode
    (table 0155: AL always, NE never, ER on error/reject only, SU on success only; an empty
    one reads as AL):

    - the accept ack (CA/CE/CR) when MSH-15's condition holds for the commit result;
    - a committed message (CA): then the application ack (AA/AE) when MSH-16's condition
      holds for the processing result;
    - a message not committed (CR/CE) is not processed, so it has no application ack of
      its own — unless MSH-15 withheld the accept ack (NE, SU) and MSH-16 asks to hear of
      errors (AL, ER): then the application ack (AR/AE) is the one answer, so a sender that
      asked to hear of errors is never left without one.

    Never more than one accept ack, never more than two acks.
    """
    if ack_condition(accept_ack_type) is None and ack_condition(app_ack_type) is None:
        return (AckMode.ORIGINAL,)
    sends: list[AckMode] = []
    committed = ack_code(outcome, AckMode.ACCEPT) == AckCode.CA
    if _condition_met(accept_ack_type, committed):
        sends.append(AckMode.ACCEPT)
    if committed:
        applied = ack_code(outcome, AckMode.APPLICATION) == AckCode.AA
        if _condition_met(app_ack_type, applied):
            sends.append(AckMode.APPLICATION)
    elif not sends and _condition_met(app_ack_type, False):
        sends.append(AckMode.APPLICATION)
    return tuple(sends)
