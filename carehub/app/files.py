"""Files of messages for ``carehub validate`` and ``carehub convert``: which format a file
holds, the messages in it (with the line each starts on), their findings and conversions.

Each message is judged by the inbound format the hub runs on its ports (``Hl7v2Inbound``,
``X12Reader`` — the store-free part of ``X12Inbound`` — and, for FHIR files, which reach
the hub only over REST, ``FhirFileFormat``) through the pipeline's stages
(``hub.judge``), so a file validates as the hub would judge it on a port configured with
the defaults: the same findings and the same verdict. A message the default port refuses
(an HL7 type or trigger the hub does not map: AR with ERR-3 200/201) is an error here too.

Each file is read on its own: a file that cannot be read (missing, a directory, no
permission, empty, no known format) is an item of its own (``FileItem.problem``) whose
verdict is an error naming the file, so the other files are still judged and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapters.hl7v2 import split_messages
from adapters.x12 import parse as parse_x12
from adapters.x12 import render as render_x12
from carehub.app.fhirfile import FhirFileFormat
from carehub.app.hl7v2 import Hl7v2Inbound
from carehub.app.x12 import X12Reader
from conformance.emitted import check_emitted
from conformance.hl7v2 import ack_code, check_batch, outcome_of
from hub.canonical import Event, PurchaseOrder, ShipNotice
from hub.context import MapContext
from hub.errors import CarehubError, MappingError, UnsupportedMessage
from hub.findings import IssueType, Report, Severity
from hub.judge import InboundOutcome, Judged, judge
from mappings.fhir import FhirMapContext, to_fhir
from mappings.fhir.supply import supply_deliveries_to_fhir, supply_requests_to_fhir
from mappings.hl7v2 import Hl7v2OutboundOptions, render_hl7v2_event
from mappings.vocab import load_vocabulary
from mappings.x12.outbound import OUTBOUND as X12_OUTBOUND
from mappings.x12.outbound import X12OutboundOptions, render_x12_event

__all__ = [
    "FileItem",
    "FileVerdict",
    "convert_item",
    "convert_verdict",
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
    #: why the file could not be read (then ``format`` is ``"file"`` and ``raw`` empty)
    problem: str | None = None


@dataclass
class FileVerdict:
    """What validating or converting one item of a file produced."""

    item: FileItem
    key: str | None = None
    control_id: str | None = None
    report: Report = field(default_factory=Report)
    events: list[Event] = field(default_factory=list)
    outputs: list[tuple[str, bytes]] = field(default_factory=list)
    #: how a port configured with the defaults would answer it (``None``: not judged)
    outcome: InboundOutcome | None = None
    #: for HL7 v2: the MSA-1 of the port's (original mode) acknowledgement
    answer: str | None = None

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
            "outcome": self.outcome.value if self.outcome is not None else None,
            "answer": self.answer,
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
    """The messages in ``path``. A file that cannot be read or holds no known format is one
    item with a ``problem`` (its verdict is an error naming the file): never an exception,
    so that one bad file among several does not hide the others' results."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield _problem(path, f"cannot read: {_os_reason(path, exc)}")
        return
    fmt = detect_format(data)
    if fmt == "hl7v2":
        yield from _hl7_items(path, data)
    elif fmt == "fhir":
        yield FileItem(path, 1, 1, "fhir", data)
    elif fmt == "x12":
        yield from _x12_items(path, data)
    elif not data.strip():
        yield _problem(path, "empty file: no message in it" if not data else "blank file")
    else:
        line = _line_of(data, len(data) - len(data.lstrip()))
        yield _problem(
            path, "not HL7 v2 (MSH, FHS or BHS), X12 (ISA) or FHIR JSON (an object)", line
        )


def _problem(path: Path, text: str, line: int = 1) -> FileItem:
    return FileItem(path, 0, line, "file", b"", problem=text)


def _os_reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be read, in words (a broken symlink says so)."""
    if path.is_symlink() and not path.exists():
        return "a broken symbolic link"
    if path.is_dir():
        return "a directory, not a file"
    return (exc.strerror or str(exc)).lower()


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


_FORMATS: dict[str, Callable[[str], Judged[Any]]] = {
    "hl7v2": lambda _system: Hl7v2Inbound(),
    "x12": lambda _system: X12Reader(),
    "fhir": lambda system: FhirFileFormat(system=system),
}


def validate_item(item: FileItem, *, system: str = "cli") -> FileVerdict:
    """Judge one item as a port with the defaults would; every problem becomes a finding,
    never an exception. The verdict's ``outcome`` is the port's; ``ok`` is true exactly when
    the port would accept the message (warnings and notes do not count)."""
    if item.problem is not None:
        out = FileVerdict(item, outcome=InboundOutcome.REJECTED)
        out.report.add(Severity.ERROR, IssueType.STRUCTURE, item.problem)
        return out
    if item.format == "hl7v2-batch":
        return _validate_batch(item)
    make = _FORMATS.get(item.format)
    out = FileVerdict(item)
    if make is None:
        out.report.error("not-supported", f"{item.format} files are not read yet")
        return out
    fmt = make(system)
    ctx = MapContext(source_system=system, format=fmt.format, vocab=load_vocabulary())
    verdict = judge(fmt, item.raw, ctx)
    if verdict.identity is not None:
        out.key, out.control_id = verdict.identity.message_key, verdict.identity.control_id
    out.report = verdict.report
    out.outcome = verdict.outcome
    if item.format == "hl7v2":
        out.answer = ack_code(outcome_of(verdict.report)).value
    out.events = list(verdict.events)
    return out


def _validate_batch(item: FileItem) -> FileVerdict:
    """The file's FHS/BHS/BTS/FTS envelope, as one item of its own."""
    report = check_batch(item.raw)
    outcome = InboundOutcome.ACCEPTED if report.ok else InboundOutcome.REJECTED
    return FileVerdict(item, key="batch", report=report, outcome=outcome)


# --------------------------------------------------------------------------- convert


def convert_item(item: FileItem, target: str) -> FileVerdict:
    """Validate, then render every event of the item as ``target`` and check each output
    with its format's validator (``conformance.emitted``): an output the validator refuses
    is not produced, and its findings are the item's errors (a mapping error: the file
    fails), each naming the element or field that is wrong."""
    return convert_verdict(validate_item(item), target)


def convert_verdict(validated: FileVerdict, target: str) -> FileVerdict:
    """:func:`convert_item` for an item already validated (``validate_item``): a copy of
    the verdict with the outputs (and their findings) added."""
    out = replace(validated, report=Report(list(validated.report.findings)), outputs=[])
    if not out.ok or not out.events:
        return out
    item = out.item
    stem = f"{item.path.stem}-{item.index:04d}"
    for n, event in enumerate(out.events, start=1):
        try:
            rendered = _render(event, target)
        except UnsupportedMessage as exc:
            out.report.info("not-supported", f"{event.kind.value}: {exc.message}")
            continue
        except MappingError as exc:
            out.report.error("invalid", f"{event.kind.value}: {exc.message}", exc.location)
            continue
        for name, data in rendered:
            checked = check_emitted(target, data)
            for f in checked.findings:
                verdict = "is not valid, not written: " if f.is_error else ""
                text = f"{event.kind.value}: rendered {target} {verdict}{f.text}"
                out.report.add(f.severity, f.code, text, f.location, f.format_code)
            if checked.ok:
                out.outputs.append((f"{stem}-{n:02d}-{name}", data))
    return out


def _render(event: Event, target: str) -> list[tuple[str, bytes]]:
    """The outputs of one event: (file name, bytes), usually one."""
    if target == "canonical":
        dumped = event.model_dump_json(indent=2, exclude_none=True).encode()
        return [(f"{event.kind.value}.json", dumped)]
    if target == "fhir":
        resources = _fhir_resources(event)
        several = len(resources) > 1
        return [
            (
                f"{r['resourceType']}{f'-{k:02d}' if several else ''}.json",
                json.dumps(r, indent=2).encode(),
            )
            for k, r in enumerate(resources, start=1)
        ]
    if target == "hl7v2":
        data = render_hl7v2_event(event, Hl7v2OutboundOptions(vocab=load_vocabulary()))
        return [(f"{event.kind.value}.hl7", data)]
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
        return [(f"{event.kind.value}.x12", render_x12_event(event, options))]
    raise UnsupportedMessage(f"conversion to {target} is not available for {event.kind.value}")


def _fhir_resources(event: Event) -> list[dict[str, Any]]:
    """R4 SupplyRequest and SupplyDelivery carry one item each: an order or a shipment of
    several lines is written as one resource per line; anything else is one resource."""
    ctx = FhirMapContext(source="carehub")
    entity = event.entity
    if isinstance(entity, PurchaseOrder) and len(entity.lines) > 1:
        return supply_requests_to_fhir(entity, ctx)
    if isinstance(entity, ShipNotice) and len(entity.items) > 1:
        return supply_deliveries_to_fhir(entity, ctx)
    return [to_fhir(entity, ctx, event=event.kind)]
