"""Strict out: one check for everything the hub emits, before it leaves.

Every resource a FHIR deliverer sends, every HL7 v2 message an MLLP deliverer sends, every
interchange an X12 outbox receives and every file ``carehub convert`` writes goes through
:func:`check_emitted` first, against the outside validator of its format:

* ``fhir`` — the fhir.resources R4B model of the resource type (``check_resource``), every
  entry of a Bundle included; locations are element paths (``Claim.item[0].servicedDate``,
  ``Bundle.entry[0].resource.birthDate``);
* ``hl7v2`` — hl7apy at STRICT level plus segment order and cardinality for the message
  structure (``validate_strict``); locations are ``PID-7`` style;
* ``x12`` — our implementation-guide tables (``check_interchange``: envelope, loops,
  segments, elements, codes) and, where pyx12 is installed and has a map for the guide
  (837P/837I/835/834/…), pyx12 as well; locations are ``2010AA/NM109`` style.

An output with an error finding is a mapping error of the hub, not the partner's fault:
:func:`require_valid` raises :class:`EmittedInvalid` (a ``MappingError``, so permanent: the
delivery is parked with the findings, ``carehub convert`` fails that file) carrying the
report. Warnings and notes do not stop an output. ``canonical`` (the hub's own event JSON)
is read back by its pydantic model, so what is written is what the hub reads.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import threading
from typing import Any

from adapters.x12 import parse as parse_x12
from conformance.fhir import check_resource
from conformance.hl7v2 import validate_strict
from conformance.x12 import check_interchange
from hub.errors import CarehubError, MappingError
from hub.findings import Finding, Report

__all__ = [
    "EMITTED_TARGETS",
    "EmittedInvalid",
    "check_emitted",
    "findings_text",
    "require_valid",
]

#: the targets :func:`check_emitted` knows
EMITTED_TARGETS = ("fhir", "hl7v2", "x12", "canonical")

#: error findings named in an :class:`EmittedInvalid` message; the report has them all
_NAMED = 5

_NAMES = {"fhir": "FHIR", "hl7v2": "HL7 v2", "x12": "X12", "canonical": "canonical"}


class EmittedInvalid(MappingError):
    """The hub rendered something its format's validator refuses: it is not sent."""

    def __init__(self, target: str, report: Report):
        errors = report.errors
        first = errors[0] if errors else None
        super().__init__(
            f"rendered {_NAMES.get(target, target)} is not valid, not sent: "
            f"{findings_text(errors)}",
            code=str(first.code) if first else None,
            location=first.location if first else None,
        )
        self.target = target
        self.report = report

    def __str__(self) -> str:
        # the message names every location already
        return self.message


def findings_text(findings: list[Finding]) -> str:
    """``PID-7: value does not match …; PV1-2: …`` for the first few, then a count."""
    parts = [f"{f.location}: {f.text}" if f.location else f.text for f in findings[:_NAMED]]
    if len(findings) > _NAMED:
        parts.append(f"{len(findings) - _NAMED} more")
    return "; ".join(parts) or "no findings"


def check_emitted(target: str, payload: Any) -> Report:
    """Findings for one output of the hub: a resource (dict, or its JSON bytes) for
    ``fhir``; the message bytes for ``hl7v2``; the interchange bytes for ``x12``.
    An unknown target is an error finding, never a silent pass."""
    if target == "fhir":
        return _check_fhir(payload)
    if target == "hl7v2":
        return _check_hl7v2(_bytes(payload))
    if target == "x12":
        return _check_x12(_bytes(payload))
    if target == "canonical":
        return _check_canonical(payload)
    report = Report()
    report.error("not-supported", f"no validator for emitted {target!r}")
    return report


def require_valid(target: str, payload: Any) -> Report:
    """:func:`check_emitted`, raising :class:`EmittedInvalid` when it finds an error;
    returns the report (its warnings) otherwise."""
    report = check_emitted(target, payload)
    if not report.ok:
        raise EmittedInvalid(target, report)
    return report


def _bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    raise TypeError(f"expected the rendered bytes, got {type(payload).__name__}")


# --------------------------------------------------------------------------- HL7 v2


def _check_hl7v2(raw: bytes) -> Report:
    """hl7apy strict. hl7apy's texts quote the value they refuse (a field's, a
    component's, a subcomponent's: it may be a patient's), so none passes through: each
    finding's text is a fixed phrase (:func:`_safe_hl7_text`). hl7apy's parser stops at the
    first bad value with an exception that names neither segment nor field: such a finding
    is placed here by reading each field on its own (MSH included)."""
    report = validate_strict(raw)
    placed = Report()
    for f in report.findings:
        if f.is_error and not f.location:
            found = _locate_hl7(raw.decode("utf-8", "replace"))
            if found is not None:
                placed.add(f.severity, f.code, found[1], found[0], f.format_code)
                continue
        placed.add(f.severity, f.code, _safe_hl7_text(f.text), f.location, f.format_code)
    return placed


def _locate_hl7(text: str) -> tuple[str, str] | None:
    """The first field hl7apy refuses at STRICT level, as (``PID-7``, what is wrong, in a
    fixed text)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import get_message_info, parse_field

    try:
        encoding, _, version = get_message_info(text)
    except Exception:  # hl7apy raises many types for one meaning: unreadable
        return None
    for segment in text.replace("\n", "\r").split("\r"):
        fields = segment.split(encoding["FIELD"])
        seg_id = fields[0]
        if seg_id.startswith("Z") or len(seg_id) != 3:
            continue  # Z-segments have no definition
        # MSH-1 is the field separator itself (so MSH-n is at n - 1); MSH-2 the others
        shift, first = (1, 2) if seg_id in ("MSH", "FHS", "BHS") else (0, 1)
        for index, value in enumerate(fields[first:], start=first):
            number = index + shift
            for rep in value.split(encoding["REPETITION"]):
                if not rep:
                    continue
                try:
                    parse_field(
                        rep,
                        name=f"{seg_id}_{number}",
                        version=version,
                        encoding_chars=encoding,
                        validation_level=VALIDATION_LEVEL.STRICT,
                    )
                except Exception as exc:  # as above: each is "this field is invalid"
                    return f"{seg_id}-{number}", _exception_text(exc)
    return None


#: hl7apy's ValueError texts (they quote the value first) → what is wrong, fixed
_HL7APY_VALUE_ERRORS = (
    ("valid date value", "not a valid date/time value"),
    ("valid NM value", "not a valid NM (numeric) value"),
    ("for a NM data", "not a valid NM (numeric) value"),
    ("valid SI value", "not a valid SI (sequence number) value"),
    ("for a SI data", "not a valid SI (sequence number) value"),
    ("for TN data", "not a valid TN (telephone number) value"),
)


def _exception_text(exc: Exception) -> str:
    """What an hl7apy exception means, in a fixed text: never its own text (it quotes)."""
    from hl7apy.exceptions import (
        ChildNotFound,
        ChildNotValid,
        InvalidDateOffset,
        InvalidMicrosecondsPrecision,
        MaxChildLimitReached,
        MaxLengthReached,
    )

    if isinstance(exc, MaxLengthReached):
        limit = getattr(exc, "limit", None)
        return f"longer than {limit} characters" if isinstance(limit, int) else "too long"
    if isinstance(exc, InvalidDateOffset):
        return "not a valid time zone offset"
    if isinstance(exc, InvalidMicrosecondsPrecision):
        return "not a valid fraction of a second"
    if isinstance(exc, MaxChildLimitReached):
        return "more repetitions or components than allowed"
    if isinstance(exc, (ChildNotFound, ChildNotValid)):
        return "not allowed here"
    if isinstance(exc, ValueError):
        message = str(exc)
        for marker, fixed in _HL7APY_VALUE_ERRORS:
            if marker in message:
                return fixed
        return "not a valid value for its data type"
    return f"refused by hl7apy ({type(exc).__name__})"


#: an element name as hl7apy writes it: ``PID``, ``PID_7``, ``PID.PID_7``, ``XPN.XPN_1``
_NAME = r"[A-Z][A-Z0-9]{1,2}(?:_\d+)?(?:\.[A-Z][A-Z0-9]{1,2}(?:_\d+)?)*"
#: hl7apy's texts (its Validator's report lines and parse exceptions) → fixed texts, the
#: names and numbers kept, any value dropped; a text of no known form is not passed on
_HL7APY_TEXTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"Missing required child ({_NAME})"), r"missing required child \1"),
    (re.compile(rf"Child limit exceeded ({_NAME})"), r"child limit exceeded \1"),
    (re.compile(r"Value .* not in table (\w+) in element .*", re.DOTALL), r"value not in table \1"),
    (
        re.compile(rf"Exceeded max length \((\d+)\) of ({_NAME})"),
        r"longer than \1 characters (\2)",
    ),
    (
        re.compile(rf"Datatype (\w+) is not correct for ({_NAME}) \(it must be (\w+)\)"),
        r"data type \1 is not correct for \2 (it must be \3)",
    ),
    (re.compile(r"Invalid children detected for .*", re.DOTALL), "children not allowed here"),
    (re.compile(r"(?:Invalid|Unknown) element found.*", re.DOTALL), "unknown element"),
    (
        re.compile(r"The value .* exceed the max length: (\d+)", re.DOTALL),
        r"longer than \1 characters",
    ),
    (
        re.compile(r".*valid date value.*|Invalid date offset.*", re.DOTALL),
        "not a valid date/time value",
    ),
)
#: texts of our own (strict.py, the structure checks): no value in them
_OWN_TEXTS = re.compile(
    r"^(?:[A-Z][A-Z0-9]{2} is (?:out of order or repeated|not allowed) in |"
    r"\w+ [\d.]+ is incomplete |no definitions for version |no structure known for |"
    r"a (?:TX|FT|ED) value is longer than )"
)


def _safe_hl7_text(text: str) -> str:
    """A finding text with no value of the message in it: hl7apy's known forms rewritten
    with their names and numbers only; our own texts as they are; anything else a fixed
    text naming hl7apy's exception type at most."""
    if _OWN_TEXTS.match(text):
        return text
    body = re.sub(r"^[A-Za-z]+: ", "", text) if re.match(r"^[A-Za-z]+: ", text) else text
    for pattern, replacement in _HL7APY_TEXTS:
        if pattern.fullmatch(body.strip()):
            return pattern.sub(replacement, body.strip())
    kind = re.match(r"^([A-Z][A-Za-z]+): ", text)
    return f"not valid at STRICT level ({kind[1]})" if kind else "not valid at STRICT level"


# --------------------------------------------------------------------------- canonical


def _check_canonical(payload: Any) -> Report:
    from pydantic import ValidationError

    from hub.canonical import Event

    report = Report()
    try:
        if isinstance(payload, (bytes, str)):
            Event.model_validate_json(payload)
        else:
            Event.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False)[:20]:
            where = ".".join(str(p) for p in err["loc"]) or None
            report.error("invalid", err["msg"], where)
    return report


# --------------------------------------------------------------------------- FHIR


def _check_fhir(payload: Any) -> Report:
    if isinstance(payload, (bytes, str)):
        import json

        try:
            payload = json.loads(payload)
        except ValueError as exc:
            report = Report()
            report.error("structure", f"not JSON: {exc.args[0]}")
            return report
    # a Bundle's model reads each entry's resource as its own type
    return check_resource(payload)


# --------------------------------------------------------------------------- X12


def _check_x12(data: bytes) -> Report:
    report = Report()
    try:
        doc = parse_x12(data)
    except CarehubError as exc:
        report.error("structure", f"not a readable interchange: {exc.message}", exc.location)
        return report
    for ic in doc.interchanges:
        report.extend(check_interchange(ic))
    if report.ok:
        report.extend(_pyx12(data))
    return report


#: pyx12 keeps its error lines in one process-wide logger: one run at a time
_PYX12_LOCK = threading.Lock()
#: ``Line:9 ELE:7 - (7) is not a valid code for Entity Type Qualifier (NM102) (7)``: the
#: segment's number in the interchange, SEG or ELE and pyx12's error code, the text
_PYX12_LINE = re.compile(r"^Line:(?P<line>\d+) (?P<kind>[A-Z]+):\S+ - (?P<text>.*)$")
#: an element reference in pyx12's text: ``(NM102)``, ``(CLM05-01)``
_PYX12_ELEMENT = re.compile(r"\(([A-Z][A-Z0-9]{1,2}\d{2}(?:-\d{1,2})?)\)")
#: a segment pyx12 quotes with its data: ``Segment N4X*PORTLAND*OR not found``
_PYX12_SEGMENT = re.compile(r"Segment ([A-Z][A-Z0-9]{1,2})\*.*? not found")
#: any other parenthesised or quoted text is a value of the interchange
_PYX12_VALUE = re.compile(
    r"\s*\((?![A-Z][A-Z0-9]{1,2}\d{2}(?:-\d{1,2})?\)|[A-Z][A-Z0-9]{1,2}\))[^)]*\)|\s*'[^']*'"
)


def _pyx12(data: bytes) -> Report:
    """pyx12's errors as findings, when pyx12 is installed and has a map for the guide
    (it has none for 270/271, 276/277, 850/855/856: our tables are the only oracle there)."""
    report = Report()
    try:
        import pyx12.map_if
        import pyx12.params
        import pyx12.x12n_document
    except ImportError:  # an optional second opinion
        return report
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                lines.append(record.getMessage())

    log = logging.getLogger("pyx12")
    handler = _Collect()
    with _PYX12_LOCK:
        log.addHandler(handler)
        old, log.propagate = log.propagate, False
        loader = pyx12.map_if.load_map_file
        pyx12.map_if.load_map_file = _cached_map  # see _cached_map
        try:
            pyx12.x12n_document.x12n_document(
                pyx12.params.params(), io.StringIO(data.decode("latin-1")), io.StringIO(), None
            )
        except Exception as exc:  # pyx12 raises for a guide it has no map for
            if "Map not found" not in str(exc):
                report.warning("informational", f"pyx12 could not check it: {type(exc).__name__}")
            return report
        finally:
            pyx12.map_if.load_map_file = loader
            log.removeHandler(handler)
            log.propagate = old
    for line in dict.fromkeys(lines):
        found = _PYX12_LINE.match(line)
        text = _no_values(found["text"] if found else line)
        element = _PYX12_ELEMENT.search(found["text"]) if found else None
        where = None
        if found is not None:
            where = f"segment {found['line']}"
            where = f"{element.group(1)} ({where})" if element else where
        report.error("invalid", f"pyx12: {text}", where)
    return report


@functools.lru_cache(maxsize=8)
def _load_map(map_file: str, map_path: str | None) -> Any:
    import pyx12.params
    from pyx12.map_if._loader import load_map_file  # the loader, not the patched name

    return load_map_file(map_file, pyx12.params.params(), map_path)


def _cached_map(map_file: str, param: Any, map_path: str | None = None) -> Any:
    """pyx12 parses its XML map again for every document (about a second for an 837, ~95%
    of its time); the map is read-only while a document is walked (the walker keeps the
    counts), so each is parsed once per process. Used only under ``_PYX12_LOCK``."""
    return _load_map(map_file, map_path)


def _no_values(text: str) -> str:
    """pyx12 quotes the offending data; a finding names the rule and the element, never
    the data (it may be a patient's)."""
    text = _PYX12_SEGMENT.sub(r"Segment \1 not found", text)
    return " ".join(_PYX12_VALUE.sub("", text).split())
