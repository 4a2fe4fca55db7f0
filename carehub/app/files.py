"""Files of messages for ``carehub validate`` and ``carehub convert``: which format a file
holds, the messages in it (with the line each starts on), their findings and conversions.

Each message is judged by the inbound format the hub runs on its ports (``Hl7v2Inbound``,
``X12Reader`` — the store-free part of ``X12Inbound`` — and, for FHIR files, which reach
the hub only over REST, ``FhirFileFormat``) through the pipeline's stages
(``hub.judge``), so a file validates as the hub would judge it. One difference, on
purpose: a message the hub does not map (an HL7 type or trigger it does not take, an
``UnsupportedMessage`` from a mapping) is valid here, with a "no mapping" note — the hub
refuses it, but nothing in it is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.hl7v2 import split_messages
from adapters.x12 import parse as parse_x12
from adapters.x12 import render as render_x12
from carehub.app.fhirfile import FhirFileFormat
from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Reader
from conformance.fhir import validate_fhir
from conformance.hl7v2 import ErrorCode, check_batch
from hub.canonical import Event
from hub.context import MapContext
from hub.errors import CarehubError, MappingError, UnsupportedMessage
from hub.findings import Finding, IssueType, Report
from hub.judge import Judged, Judgement, judge
from mappings.fhir import FhirMapContext, to_fhir
from mappings.hl7v2 import Hl7v2OutboundOptions, render_hl7v2_event
from mappings.vocab import load_vocabulary
from mappings.x12.outbound import OUTBOUND as X12_OUTBOUND
from mappings.x12.outbound import X12OutboundOptions, render_x12_event

__all__ = [
    "FileItem",
    "FileVerdict",
    "convert_item",
    "detect_format",
    "read_items",
    "validate_item",
]


@dataclass
class FileItem:
    """One message of a file: where it starts, its bytes, its format."""

    path: Path
    index: int
    line: int
    format: str
    raw: bytes


@dataclass
class FileVerdict:
    """What validating or converting one item of a file produced."""

    item: FileItem
    key: str | None = None
    control_id: str | None = None
    report: Report = field(default_factory=Report)
    events: list[Event] = field(default_factory=list)
    outputs: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.item.path),
            "line": self.item.line,
            "index": self.item.index,
            "format": self.item.format,
            "message": self.key,
            "control_id": self.control_id,
            "ok": self.ok,
            "findings": self.report.as_list(),
            "events": [e.kind.value for e in self.events],
            "outputs": [name for name, _ in self.outputs],
        }


def detect_format(data: bytes) -> str | None:
    """hl7v2 (MSH/FHS/BHS), x12 (ISA) or fhir (a JSON object), from the first bytes."""
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:3]
    if head in (b"MSH", b"FHS", b"BHS"):
        return "hl7v2"
    if head == b"ISA":
        return "x12"
    if head[:1] == b"{":
        return "fhir"
    return None


def read_items(path: Path) -> Iterator[FileItem]:
    """The messages in ``path``. Raises ``CarehubError`` for an unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror}") from exc
    fmt = detect_format(data)
    if fmt == "hl7v2":
        yield from _hl7_items(path, data)
    elif fmt == "fhir":
        yield FileItem(path, 1, 1, "fhir", data)
    elif fmt == "x12":
        yield from _x12_items(path, data)
    else:
        raise UnsupportedMessage(f"{path}:1: not HL7 v2 (MSH), X12 (ISA) or FHIR JSON")


def _hl7_items(path: Path, data: bytes) -> Iterator[FileItem]:
    envelope = check_batch(data)
    if envelope.findings:
        yield FileItem(path, 0, 1, "hl7v2-batch", data)
    offset = 0
    for index, raw in enumerate(split_messages(data), start=1):
        at = data.find(raw, offset)
        offset = at + len(raw) if at >= 0 else offset
        line = _line_of(data, at) if at >= 0 else 1
        yield FileItem(path, index, line, "hl7v2", raw)


def _x12_items(path: Path, data: bytes) -> Iterator[FileItem]:
    """One item per interchange, each with the line its ISA starts on."""
    try:
        doc = parse_x12(data)
    except CarehubError:
        yield FileItem(path, 1, 1, "x12", data)  # validate reports why
        return
    offset = 0
    for index, ic in enumerate(doc.interchanges, start=1):
        raw = render_x12(ic)
        at = data.find(raw[:106], offset)
        offset = at + 1 if at >= 0 else offset
        yield FileItem(path, index, _line_of(data, at) if at >= 0 else 1, "x12", raw)


def _line_of(data: bytes, offset: int) -> int:
    """1-based line of ``offset``, counting CR, LF and CRLF as one line end each."""
    head = data[:offset]
    return head.count(b"\n") + head.replace(b"\r\n", b"\n").count(b"\r") + 1


# --------------------------------------------------------------------------- validate


@dataclass(frozen=True)
class _Kind:
    """How one format's items are judged: the format, and which of its findings say only
    that the hub does not map the message."""

    format: Callable[[str], Judged[Any]]
    unmapped: Callable[[Finding], bool] = lambda _finding: False


def _hl7_unmapped(finding: Finding) -> bool:
    """MSH-9 names a type or trigger the hub does not take (table 0357: 200, 201)."""
    return finding.code == IssueType.NOT_SUPPORTED and finding.format_code in (
        ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        ErrorCode.UNSUPPORTED_EVENT_CODE,
    )


_KINDS: dict[str, _Kind] = {
    "hl7v2": _Kind(lambda _system: Hl7v2Inbound(), _hl7_unmapped),
    "x12": _Kind(lambda _system: X12Reader()),
    "fhir": _Kind(lambda system: FhirFileFormat(system=system)),
}


def validate_item(item: FileItem, *, system: str = "cli") -> FileVerdict:
    """Judge one item as the hub would; every problem becomes a finding, never an exception."""
    if item.format == "hl7v2-batch":
        return _validate_batch(item)
    kind = _KINDS.get(item.format)
    out = FileVerdict(item)
    if kind is None:
        out.report.error("not-supported", f"{item.format} files are not read yet")
        return out
    fmt = kind.format(system)
    ctx = MapContext(source_system=system, format=fmt.format, vocab=load_vocabulary())
    verdict = judge(fmt, item.raw, ctx)
    if verdict.identity is not None:
        out.key, out.control_id = verdict.identity.message_key, verdict.identity.control_id
    out.report = _with_notes(verdict, kind.unmapped, out.key)
    out.events = list(verdict.events)
    return out


def _with_notes(verdict: Judgement, unmapped: Callable[[Finding], bool], key: str | None) -> Report:
    """The hub's findings, with those that say only "not mapped" turned into notes."""
    report = Report()
    for f in verdict.report.findings:
        if f is verdict.unmapped:
            report.info(f.code, f"no mapping: {f.text}", f.location, f.format_code)
        elif unmapped(f):
            text = f"no mapping for {key}: well-formed, but the hub does not map it"
            report.info(f.code, text, f.location, f.format_code)
        else:
            report.findings.append(f)
    return report


def _validate_batch(item: FileItem) -> FileVerdict:
    """The file's FHS/BHS/BTS/FTS envelope, as one item of its own."""
    return FileVerdict(item, key="batch", report=check_batch(item.raw))


# --------------------------------------------------------------------------- convert


def convert_item(item: FileItem, target: str) -> FileVerdict:
    """Validate, then render every event of the item as ``target``."""
    out = validate_item(item)
    if not out.ok or not out.events:
        return out
    stem = f"{item.path.stem}-{item.index:04d}"
    for n, event in enumerate(out.events, start=1):
        try:
            name, data = _render(event, target)
        except UnsupportedMessage as exc:
            out.report.info("not-supported", f"{event.kind.value}: {exc.message}")
            continue
        except MappingError as exc:
            out.report.error("invalid", f"{event.kind.value}: {exc.message}", exc.location)
            continue
        out.outputs.append((f"{stem}-{n:02d}-{name}", data))
    return out


def _render(event: Event, target: str) -> tuple[str, bytes]:
    if target == "canonical":
        return f"{event.kind.value}.json", event.model_dump_json(
            indent=2, exclude_none=True
        ).encode()
    if target == "fhir":
        resource = to_fhir(event.entity, FhirMapContext(source="carehub"), event=event.kind)
        validate_fhir(resource)  # strict out: nothing leaves that the R4 models refuse
        return f"{resource['resourceType']}.json", json.dumps(resource, indent=2).encode()
    if target == "hl7v2":
        data = render_hl7v2_event(event, Hl7v2OutboundOptions(vocab=load_vocabulary()))
        return f"{event.kind.value}.hl7", data
    if target == "x12" and event.kind in X12_OUTBOUND:
        counter = iter(range(1, 1_000_000))
        options = X12OutboundOptions(
            sender_id="CAREHUB",
            receiver_id="RECEIVER",
            receiver_name="RECEIVER",
            submitter_contact="CAREHUB",
            submitter_phone="0000000000",
            next_control=lambda _kind: next(counter),
        )
        return f"{event.kind.value}.x12", render_x12_event(event, options)
    raise UnsupportedMessage(f"conversion to {target} is not available for {event.kind.value}")
