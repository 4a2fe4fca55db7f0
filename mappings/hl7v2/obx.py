"""OBX → Observation: the value by its type (OBX-2), units, reference range, flags, status.

Shared by ORU^R01 (results) and MDM^T02 (document content). The value of OBX-5 is read by
OBX-2 (v2.5.1 chapter 7.4.2.2, table 0125); a value that does not read as its type is a
``MappingError`` naming OBX-5 — the message is answered AE with that location. Errors never
quote the value: results are PHI.

=======  ==========================================================================
OBX-2    canonical ``ObservationValue``
=======  ==========================================================================
NM       ``quantity`` (value, OBX-6 unit; UCUM when OBX-6.3 says UCUM)
SN       ``quantity`` with comparator (``<^10``), ``range`` (``10^-^20``), ``ratio``
         (``1^:^128``, ``1^/^2``); ``2^+`` and other forms as ``text`` (``2+``)
CE CWE   ``coded`` (CWE.1-3, else the alternate CWE.4-6)
CNE CF
ST TX FT ``text``; repetitions joined by line breaks, escapes (``\\.br\\``) decoded
DT       ``date_time`` as a date
TS DTM   ``date_time`` keeping its precision (a date when no time was sent)
TM       ``time`` as ``HH:MM[:SS]``
ED       ``attachment``: ED.2/ED.3 → content type, ED.4 Base64/Hex/A → base64 data
RP       ``attachment`` with ``url`` RP.1 and RP.3/RP.4 as content type
NA MA    ``text`` (the numbers as sent, comma-separated)
ID IS    ``coded`` (the code alone)
other    ``text`` as sent (CX, XCN, XAD, XPN, HD, …)
=======  ==========================================================================
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from adapters.hl7v2 import Repetition, unescape
from hub.canonical import (
    Attachment,
    Coded,
    Identifier,
    ObservationValue,
    Quantity,
    Range,
    Ratio,
    ReferenceRange,
    ResultStatus,
)
from hub.errors import MappingError

from .datatypes import coded, coding_system
from .source import Hl7v2Source, Seg, rep_text

__all__ = [
    "INTERPRETATION_SYSTEM",
    "RESULT_STATUS",
    "UCUM",
    "absent_reason",
    "attachment_ed",
    "interpretation",
    "media_type",
    "observation_identifier",
    "observation_value",
    "reference_range",
    "result_status",
    "unit",
]

UCUM = "http://unitsofmeasure.org"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_UCUM_NAMES = frozenset({"UCUM", "UCUM_CS", "UCUMCS", UCUM.upper()})

#: HL7 table 0085 (OBX-11) → FHIR observation-status (V2-to-FHIR ConceptMap table-hl70085)
RESULT_STATUS: dict[str, ResultStatus] = {
    "F": ResultStatus.FINAL,
    "U": ResultStatus.FINAL,  # changed to final without retransmitting the results
    "C": ResultStatus.CORRECTED,
    "A": ResultStatus.AMENDED,
    "P": ResultStatus.PRELIMINARY,
    "R": ResultStatus.PRELIMINARY,  # entered, not verified
    "S": ResultStatus.PRELIMINARY,  # partial
    "I": ResultStatus.REGISTERED,  # specimen in lab, results pending
    "O": ResultStatus.REGISTERED,  # order detail, no result
    "X": ResultStatus.CANCELLED,  # result cannot be obtained
    "N": ResultStatus.CANCELLED,  # not asked
    "D": ResultStatus.ENTERED_IN_ERROR,  # deletes the OBX record
    "W": ResultStatus.ENTERED_IN_ERROR,  # posted to the wrong patient
}

_TEXT = frozenset({"ST", "TX", "FT"})
_CODED = frozenset({"CE", "CWE", "CNE", "CF"})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_TM = re.compile(r"(\d{2})(\d{2})?(\d{2}(\.\d{1,4})?)?([+-]\d{4})?")
_COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
_RANGE = re.compile(
    r"\s*(?P<low>[+-]?\d*\.?\d+)\s*(?:-|–|_|\.\.|to|TO)\s*(?P<high>[+-]?\d*\.?\d+)\s*"
)
_BOUND = re.compile(r"\s*(?P<op><=|>=|<|>|≤|≥)\s*(?P<num>[+-]?\d*\.?\d+)\s*")
#: ED.2 type of data (table 0191) → the MIME top-level type it means
_MEDIA = {
    "AP": "application",
    "APPLICATION": "application",
    "IM": "image",
    "IMAGE": "image",
    "AU": "audio",
    "AUDIO": "audio",
    "TEXT": "text",
    "TX": "text",
    "VIDEO": "video",
    "MULTIPART": "multipart",
}
#: ED.3 subtypes (table 0291) that say the whole media type on their own
_SUBTYPES = {
    "PDF": "application/pdf",
    "RTF": "application/rtf",
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "GIF": "image/gif",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "HTML": "text/html",
    "XML": "text/xml",
    "X-HL7-CDA-LEVEL-ONE": "application/x-hl7-cda-level-one+xml",
    "OCTET-STREAM": "application/octet-stream",
    "DICOM": "application/dicom",
}


def _bad(obx: Seg, what: str) -> MappingError:
    # the value itself is not quoted: a result is PHI, and errors reach logs
    return MappingError(f"OBX-5 is not {what}", code="102", location=obx.loc(5))


def _number(text: str | None, obx: Seg, what: str = "a number (OBX-2 NM)") -> Decimal | None:
    if text is None:
        return None
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise _bad(obx, what)
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise _bad(obx, what) from exc


def unit(src: Hl7v2Source, obx: Seg) -> Quantity:
    """OBX-6 (CWE): UCUM when OBX-6.3 names it (the code is then the UCUM code); else the
    unit as displayed (OBX-6.2, else OBX-6.1) and, when a coding system is named, its code."""
    rep = obx.first(6)
    code, text, system = rep_text(rep, 1), rep_text(rep, 2), rep_text(rep, 3)
    if code is None and text is None:
        return Quantity()
    if system and system.upper() in _UCUM_NAMES:
        return Quantity(unit=text or code, system=UCUM, code=code)
    uri = coding_system(src, system)
    return Quantity(unit=text or code, system=uri, code=code if uri else None)


def _quantity(value: Decimal | None, units: Quantity, comparator: str | None = None) -> Quantity:
    return units.model_copy(update={"value": value, "comparator": comparator})


def _text(obx: Seg) -> str | None:
    """Every repetition of OBX-5 whole (a TX line may hold a literal component separator),
    unescaped, joined by line breaks."""
    enc = obx.segment.enc
    lines = [unescape(r.raw, enc) for r in obx.segment.repetitions(5)]
    text = "\n".join(lines).strip("\n")
    return text if text.strip() else None


def _structured_numeric(rep: Repetition, obx: Seg, units: Quantity) -> ObservationValue:
    """SN: SN.1 comparator, SN.2 first number, SN.3 separator/suffix, SN.4 second number."""
    what = "a structured numeric (OBX-2 SN)"
    op, sep = rep_text(rep, 1) or "", rep_text(rep, 3) or ""
    first = _number(rep_text(rep, 2), obx, what)
    second = _number(rep_text(rep, 4), obx, what)
    if first is None and second is None:
        raise _bad(obx, what)
    if sep in (":", "/") and first is not None and second is not None:
        ratio = Ratio(
            numerator=_quantity(first, Quantity()), denominator=_quantity(second, Quantity())
        )
        return ObservationValue(type="SN", ratio=ratio)
    if sep == "-" and first is not None and second is not None:
        low, high = _quantity(first, units), _quantity(second, units)
        return ObservationValue(type="SN", range=Range(low=low, high=high))
    if not sep and second is None and op in ("", "=", *_COMPARATORS):
        comparator = _COMPARATORS.get(op)
        return ObservationValue(type="SN", quantity=_quantity(first, units, comparator))
    # 2+ (a grade), <>5, 1.2.3: no FHIR number form; carried as written
    parts = [
        op,
        str(first) if first is not None else "",
        sep,
        str(second) if second is not None else "",
    ]
    return ObservationValue(type="SN", text="".join(parts))


def _time(text: str, obx: Seg) -> str:
    match = _TM.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2] or 0) > 59:
        raise _bad(obx, "a time (OBX-2 TM)")
    seconds = match[3][:2] if match[3] else None
    return f"{match[1]}:{match[2] or '00'}" + (f":{seconds}" if seconds else ":00")


def media_type(kind: str | None, subtype: str | None) -> str | None:
    """ED.2 type of data (table 0191) and ED.3 subtype (table 0291) → a MIME type."""
    sub = (subtype or "").strip()
    if "/" in sub:
        return sub.lower()
    if sub.upper() in _SUBTYPES:
        return _SUBTYPES[sub.upper()]
    top = _MEDIA.get((kind or "").strip().upper())
    if top and sub:
        return f"{top}/{sub.lower()}"
    if top == "text":
        return "text/plain"
    if kind or sub:
        return "application/octet-stream"
    return None


def _decode(data: str, encoding: str, loc: str) -> bytes:
    """ED.5 by ED.4 (table 0299): Base64, Hex, A (ASCII text as is)."""
    name = encoding.strip().upper()
    compact = re.sub(r"\s+", "", data)
    try:
        if name == "BASE64":
            return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        if name == "HEX":
            return bytes.fromhex(compact)
    except (binascii.Error, ValueError) as exc:
        what = f"ED.5 is not valid {encoding.strip()}"
        raise MappingError(what, code="102", location=loc) from exc
    if name in ("A", ""):
        return data.encode("utf-8")
    raise MappingError(
        "ED.4 encoding is not one of Base64, Hex, A (table 0299)", code="103", location=loc
    )


def attachment_ed(rep: Repetition, loc: str) -> Attachment:
    """ED: ED.2/ED.3 → content type, ED.4 encoding, ED.5 data → the decoded bytes as
    base64 (the original encoding kept in ``original_encoding``)."""
    content_type = media_type(rep_text(rep, 2), rep_text(rep, 3))
    encoding = rep_text(rep, 4)
    raw = rep.get(5)
    if not raw or not raw.strip():
        return Attachment(content_type=content_type, original_encoding=encoding)
    data = _decode(raw, encoding or "A", f"{loc}.5")
    return Attachment(
        content_type=content_type or "application/octet-stream",
        data=base64.b64encode(data).decode("ascii"),
        size=len(data),
        original_encoding=encoding,
    )


def _reference_pointer(rep: Repetition, obx: Seg) -> ObservationValue:
    """RP: RP.1 pointer (a URL), RP.3 type of data, RP.4 subtype."""
    url = rep_text(rep, 1)
    if url is None:
        raise _bad(obx, "a reference pointer (OBX-2 RP)")
    att = Attachment(url=url, content_type=media_type(rep_text(rep, 3), rep_text(rep, 4)))
    return ObservationValue(type="RP", attachment=att)


def observation_value(src: Hl7v2Source, obx: Seg) -> ObservationValue | None:
    """OBX-5 read by OBX-2 (see the module table); None when OBX-5 is empty. An OBX-5
    without OBX-2 is read as ST (the value is kept, unambiguous as text)."""
    rep = obx.first(5)
    if rep is None:
        return None
    kind = (obx.text(2) or "ST").upper()
    if kind == "CE" or kind in _CODED:
        value = coded(src, rep)
        if value is None:
            raise _bad(obx, f"a coded value (OBX-2 {kind})")
        return ObservationValue(type=kind, coded=value)
    if kind in _TEXT:
        return ObservationValue(type=kind, text=_text(obx))
    if kind == "NM":
        return ObservationValue(
            type=kind, quantity=_quantity(_number(rep.raw, obx), unit(src, obx))
        )
    if kind == "SN":
        return _structured_numeric(rep, obx, unit(src, obx))
    if kind in ("DT", "TS", "DTM"):
        return ObservationValue(type=kind, date_time=_when(src, obx, kind))
    if kind == "TM":
        return ObservationValue(type=kind, time=_time(rep_text(rep) or "", obx))
    if kind == "ED":
        return ObservationValue(type=kind, attachment=attachment_ed(rep, obx.loc(5)))
    if kind == "RP":
        return _reference_pointer(rep, obx)
    if kind in ("NA", "MA"):
        numbers = [p for p in re.split(r"[\^~]", obx.segment.field(5)) if p]
        for part in numbers:
            _number(part, obx, f"a numeric array (OBX-2 {kind})")
        return ObservationValue(type=kind, text=", ".join(numbers))
    if kind in ("ID", "IS"):
        return ObservationValue(type=kind, coded=Coded(code=rep_text(rep)))
    return ObservationValue(type=kind, text=_text(obx))


def _when(src: Hl7v2Source, obx: Seg, kind: str) -> datetime | date | None:
    try:
        return src.date_of(obx, 5) if kind == "DT" else src.when_of(obx, 5)
    except MappingError:
        raise _bad(obx, f"a date/time (OBX-2 {kind})") from None  # the cause quotes the value


def reference_range(obx: Seg, units: Quantity) -> ReferenceRange | None:
    """OBX-7: ``3.5-5.0`` / ``4.3 to 6.2`` / ``70_105`` → low and high; ``<10`` → high,
    ``>60`` → low; always the text as sent."""
    text = obx.text(7)
    if text is None:
        return None
    found = ReferenceRange(text=text)
    if match := _RANGE.fullmatch(text):
        found.low = _quantity(Decimal(match["low"]), units)
        found.high = _quantity(Decimal(match["high"]), units)
    elif match := _BOUND.fullmatch(text):
        bound = _quantity(Decimal(match["num"]), units)
        if match["op"] in ("<", "<=", "≤"):
            found.high = bound
        else:
            found.low = bound
    return found


def interpretation(src: Hl7v2Source, obx: Seg) -> list[Coded]:
    """OBX-8 (table 0078) → v3 ObservationInterpretation codes (the same letters)."""
    out = []
    for rep in obx.reps(8):
        code = coded(src, rep)
        if code is None:
            continue
        if code.system in (None, "HL70078", "http://terminology.hl7.org/CodeSystem/v2-0078"):
            code = code.model_copy(update={"system": INTERPRETATION_SYSTEM})
        out.append(code)
    return out


def result_status(code: str | None) -> ResultStatus:
    """OBX-11 (table 0085) → observation status; unknown when absent or not in the table."""
    return RESULT_STATUS.get((code or "").strip().upper(), ResultStatus.UNKNOWN)


_DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
#: OBX-11 that says why an OBX has no value → FHIR data-absent-reason: X "results cannot be
#: obtained for this observation", N "not asked" (not sought though OBR-4 implies it)
_ABSENT_BY_STATUS = {
    "X": Coded(code="not-performed", system=_DATA_ABSENT, display="Not Performed"),
    "N": Coded(code="not-asked", system=_DATA_ABSENT, display="Not Asked"),
}


def absent_reason(status: str | None, value: ObservationValue | None) -> Coded | None:
    """Why a result has no value, when OBX-11 says so (X, N) and OBX-5 is empty; else
    none (a panel header without a value is not given a reason the sender did not state)."""
    if value is not None:
        return None
    found = _ABSENT_BY_STATUS.get((status or "").strip().upper())
    return found.model_copy() if found else None


def observation_identifier(
    src: Hl7v2Source, obx: Seg, order: str | None, seen: dict[str, int]
) -> Identifier:
    """OBX-21 (v2.6+) when sent; else one composed from the order (filler, else placer
    number, else MSH-10), OBX-3 code and OBX-4 sub-id, so a corrected result resent for the
    same order updates the same record. ``seen`` numbers repeats within one order."""
    sent = obx.first(21)
    value = rep_text(sent, 1)
    if value:
        return src.identifier(
            value, rep_text(sent, 2) or rep_text(sent, 3) or src.namespace("observation")
        )
    code = obx.text(3) or obx.text(3, 2) or "OBX"
    parts = [order or src.msh.text(10) or "", code]
    if sub := obx.text(4):
        parts.append(sub)
    key = "|".join(parts)
    seen[key] = seen.get(key, 0) + 1
    if seen[key] > 1:
        key = f"{key}|{seen[key]}"
    return src.identifier(key, src.namespace("observation"))
