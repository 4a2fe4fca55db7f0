"""HL7 v2 conformance: structural checks as findings, and acknowledgements rendered from them.

``check_message`` (fast, every message) and ``validate_strict`` (hl7apy definitions, slow)
return ``hub.findings.Report``; ``render_ack`` turns a report into an ACK; ``codes`` holds the
table that says which outcome gets which MSA-1 and which acks enhanced mode sends.
"""

from .ack import FALLBACK_VERSION, refuse_frame, render_ack, render_batch_ack, report_for_error
from .batch import check_batch
from .checks import SUPPORTED_VERSIONS, check_message, scan_escapes
from .codes import (
    ACK_CODES,
    AckCode,
    AckMode,
    AckOutcome,
    ErrorCode,
    ack_code,
    acks_to_send,
    outcome_of,
)
from .handler import make_ack_handler
from .strict import EVENT_STRUCTURES, check_segment_order, validate_strict

__all__ = [
    "ACK_CODES",
    "EVENT_STRUCTURES",
    "FALLBACK_VERSION",
    "SUPPORTED_VERSIONS",
    "AckCode",
    "AckMode",
    "ErrorCode",
    "AckOutcome",
    "ack_code",
    "check_batch",
    "acks_to_send",
    "check_message",
    "check_segment_order",
    "make_ack_handler",
    "outcome_of",
    "refuse_frame",
    "render_ack",
    "render_batch_ack",
    "report_for_error",
    "scan_escapes",
    "validate_strict",
]
