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
    """hl7apy strict. hl7apy's parser stops at the first bad value with an exception that
    names neither segment nor field (and quotes the value): such a finding is placed here
    by reading each field on its own, and its text loses the value (placed or not)."""
    report = validate_strict(raw)
    if all(f.location for f in report.errors):
        return report
    placed = Report()
    for f in report.findings:
        if f.is_error and not f.location:
            found = _locate_hl7(raw.decode("utf-8", "replace"))
            if found is not None:
                placed.add(f.severity, f.code, found[1], found[0], f.format_code)
            else:  # not placed: still no value in its text
                placed.add(f.severity, f.code, _no_hl7_values(f.text, ""), None, f.format_code)
            continue
        placed.findings.append(f)
    return placed


def _locate_hl7(text: str) -> tuple[str, str] | None:
    """The first field hl7apy refuses at STRICT level, as (``PID-7``, what is wrong)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import get_message_info, parse_field

    try:
        encoding, _, version = get_message_info(text)
    except Exception:  # hl7apy raises many types for one meaning: unreadable
        return None
    for segment in text.replace("\n", "\r").split("\r"):
        fields = segment.split(encoding["FIELD"])
        seg_id = fields[0]
        if seg_id == "MSH" or seg_id.startswith("Z") or len(seg_id) != 3:
            continue  # MSH-1/MSH-2 are the separators; Z-segments have no definition
        for number, value in enumerate(fields[1:], start=1):
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
                    what = _no_hl7_values(str(exc), rep)
                    return f"{seg_id}-{number}", what or type(exc).__name__
    return None


#: hl7apy's messages that quote a value (a component's, not only the whole field's):
#: ``The value <value> exceed the max length: 20`` (MaxLengthReached), ``Invalid date
#: offset: <value>``
_HL7APY_VALUE = (
    (
        re.compile(r"The value .* exceed the max length: (\d+)", re.DOTALL),
        r"a value exceeds the max length \1",
    ),
    (re.compile(r"Invalid date offset: .*", re.DOTALL), "invalid date offset"),
)


def _no_hl7_values(text: str, field: str) -> str:
    """hl7apy's text without the value it quotes (it may be a patient's): the field's
    repetition replaced, then the message forms that quote one component of it."""
    text = text.replace(field, "the value") if field else text
    for pattern, replacement in _HL7APY_VALUE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())[:200]


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
