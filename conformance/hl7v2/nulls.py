"""The explicit null ``""`` (v2.5.1 chapter 2.5.3) where the hub does not take it as a
delete: the fields that say who a patient is.

``""`` asks the receiver to delete the value it holds. The hub honours that for what a
record *says* (an address, a phone, a marital status: ``mappings.hl7v2.segments``
``PID_CLEARS``), never for who the record *is*: PID-5 (name), PID-7 (birth date) and PID-8
(administrative sex) are the facts the identity rules compare before they link a message to
a patient — a record stripped of them can no longer tell another person's message from its
own, and every HL7 v2 rendering of it fails (PID-5 is required). Identifiers (PID-2/3/4/19/
20) leave a record by a merge or an unlink, not by an update. Such a ``""`` is ignored (the
held value is kept) with a warning naming the field; on a ``reading: strict`` port the same
text is an error.
"""

from __future__ import annotations

from adapters.hl7v2 import Message
from hub.findings import Finding, Severity

from .codes import ErrorCode

__all__ = ["IDENTITY_FACTS", "IDENTIFIER_FIELDS", "check_kept_nulls"]

#: PID fields naming the person: a ``""`` there is ignored, never a clear
IDENTITY_FACTS = {5: "name", 7: "birth date", 8: "sex"}
#: PID fields carrying identifiers: a ``""`` there is ignored, never a clear
IDENTIFIER_FIELDS = {
    2: "patient id",
    3: "identifier list",
    4: "alternate id",
    19: "SSN",
    20: "driver's licence",
}

_NULL = '""'


def check_kept_nulls(message: Message) -> list[Finding]:
    """A warning for each PID identity or identifier field that is the explicit null."""
    found: list[Finding] = []
    occurrence = 0
    for seg in message.segments:
        if seg.id != "PID":
            continue
        occurrence += 1
        label = "PID" if occurrence == 1 else f"PID[{occurrence}]"
        for number in sorted({**IDENTITY_FACTS, **IDENTIFIER_FIELDS}):
            if seg.field(number).strip() != _NULL:
                continue
            where = f"{label}-{number}"
            if number in IDENTITY_FACTS:
                why = "identity facts are not cleared by a feed"
                what = IDENTITY_FACTS[number]
            else:
                why = "identifiers are not cleared by a feed (a merge or unlink removes one)"
                what = IDENTIFIER_FIELDS[number]
            text = f"explicit null in {where} ignored: {why}; the {what} held is kept"
            found.append(Finding(Severity.WARNING, "value", text, where, ErrorCode.DATA_TYPE_ERROR))
    return found
