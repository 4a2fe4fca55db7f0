"""Files of messages for ``carehub validate`` and ``carehub convert``: which format a file
holds, the messages in it (with the line each starts on), their findings and conversions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.hl7v2 import parse as parse_hl7
from adapters.hl7v2 import split_messages
from adapters.x12 import parse as parse_x12
from adapters.x12 import render as render_x12
from conformance.fhir import validate_fhir
from conformance.hl7v2 import check_batch, check_message
from conformance.x12 import check_interchange
from conformance.x12.verdict import judge
from hub.canonical import Event, Provenance
from hub.context import MapContext
from hub.errors import CarehubError, MappingError, UnsupportedMessage
from hub.findings import Report, Severity
from mappings.fhir import MapContext as FhirContext
from mappings.fhir import event_kind as fhir_event_kind
from mappings.fhir import from_fhir, to_fhir
from mappings.hl7v2 import INBOUND, OutboundOptions, map_message, render_event
from mappings.vocab import load_vocabulary
from mappings.x12 import map_transaction
from mappings.x12.outbound import OUTBOUND as X12_OUTBOUND
from mappings.x12.outbound import OutboundOptions as X12Options
from mappings.x12.outbound import render_event as render_x12_event

__all__ = ["FileItem", "Outcome", "convert_item", "detect_format", "read_items", "validate_item"]

TARGETS = ("canonical", "fhir", "hl7v2", "x12")


@dataclass
class FileItem:
    """One message of a file: where it starts, its bytes, its format."""

    path: Path
    index: int
    line: int
    format: str
    raw: bytes


@dataclass
class Outcome:
    """What validating or converting one item produced."""

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


def validate_item(item: FileItem, *, system: str = "cli") -> Outcome:
    """Parse, check and map one item; every problem becomes a finding, never an exception."""
    handler = _VALIDATORS.get(item.format)
    out = Outcome(item)
    if handler is None:
        out.report.error("not-supported", f"{item.format} files are not read yet")
        return out
    try:
        handler(item, out, system)
    except UnsupportedMessage as exc:
        out.report.info("not-supported", f"no mapping: {exc.message}", exc.location, exc.code)
    except CarehubError as exc:
        out.report.error("invalid", exc.message, exc.location, exc.code)
    return out


def _validate_hl7(item: FileItem, out: Outcome, system: str) -> None:
    msg = parse_hl7(item.raw)
    out.key, out.control_id = msg.message_type, msg.control_id
    out.report.extend(check_message(msg))
    if out.report.ok:
        ctx = MapContext(source_system=system, format="hl7v2", vocab=load_vocabulary())
        if out.key not in INBOUND and _trigger_key(out.key) not in INBOUND:
            out.report.info(
                "not-supported",
                f"no mapping for {out.key}: well-formed, but the hub does not map it",
                "MSH-9",
            )
            return
        out.events = map_message(msg, ctx)


def _trigger_key(key: str | None) -> str | None:
    return "^".join(key.split("^")[:2]) if key else None


def _validate_fhir(item: FileItem, out: Outcome, system: str) -> None:
    resource = _json(item)
    out.key = str(resource.get("resourceType"))
    out.control_id = resource.get("id")
    resources = _bundle_resources(resource) if out.key == "Bundle" else [("", resource)]
    ctx = FhirContext(source=system)
    for where, res in resources:
        try:
            validate_fhir(res)
            mapped = from_fhir(res, ctx)
        except UnsupportedMessage as exc:
            out.report.info("not-supported", f"no mapping: {exc.message}", where or None)
            continue
        except MappingError as exc:
            loc = ".".join(x for x in (where, exc.location) if x)
            out.report.error("invalid", exc.message, loc or None)
            continue
        for entity in mapped if isinstance(mapped, list) else [mapped]:
            kind = fhir_event_kind(str(res.get("resourceType")), entity)
            if kind is None:
                out.report.info(
                    "informational", f"{res['resourceType']}: no event to emit", where or None
                )
                continue
            out.events.append(
                Event(
                    kind=kind,
                    entity=entity,
                    provenance=Provenance(
                        source_system=system, format="fhir", message_key=str(res["resourceType"])
                    ),
                )
            )


def _validate_x12(item: FileItem, out: Outcome, system: str) -> None:
    """The interchange's envelope and sets checked; the accepted sets mapped."""
    ic = parse_x12(item.raw).interchanges[0]
    out.control_id = ic.isa.element(13)
    report = check_interchange(ic)
    verdict = judge(ic, report)
    out.report.extend(report)
    sets = [t for g in verdict.groups for t in g.transactions]
    out.key = ", ".join(dict.fromkeys(t.ts.id for t in sets)) or "ISA"
    if verdict.rejected:
        return
    ctx = MapContext(source_system=system, format="x12", vocab=load_vocabulary())
    for t in sets:
        if t.code not in ("A", "E"):
            continue
        try:
            out.events.extend(map_transaction(t.ts, ctx, envelope=ic))
        except UnsupportedMessage as exc:
            out.report.info(
                "not-supported", f"no mapping: {exc.message}", f"ST {t.ts.st.element(2)}"
            )


def _json(item: FileItem) -> dict[str, Any]:
    try:
        value = json.loads(item.raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", 1)
        raise MappingError(f"not valid JSON: {exc}", location=f"line {line}") from exc
    if not isinstance(value, dict) or "resourceType" not in value:
        raise MappingError("not a FHIR resource: no resourceType", location="resourceType")
    return value


def _bundle_resources(bundle: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            out.append((f"Bundle.entry[{i}].resource", resource))
    return out


def _validate_batch(item: FileItem, out: Outcome, system: str) -> None:
    """The file's FHS/BHS/BTS/FTS envelope, as one item of its own."""
    out.key = "batch"
    out.report.extend(check_batch(item.raw))


_VALIDATORS: dict[str, Callable[[FileItem, Outcome, str], None]] = {
    "hl7v2": _validate_hl7,
    "hl7v2-batch": _validate_batch,
    "x12": _validate_x12,
    "fhir": _validate_fhir,
}


# --------------------------------------------------------------------------- convert


def convert_item(item: FileItem, target: str) -> Outcome:
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
        resource = to_fhir(event.entity, FhirContext(source="carehub"))
        return f"{resource['resourceType']}.json", json.dumps(resource, indent=2).encode()
    if target == "hl7v2":
        data = render_event(event, OutboundOptions(vocab=load_vocabulary()))
        return f"{event.kind.value}.hl7", data
    if target == "x12" and event.kind in X12_OUTBOUND:
        counter = iter(range(1, 1_000_000))
        options = X12Options(
            sender_id="CAREHUB",
            receiver_id="RECEIVER",
            receiver_name="RECEIVER",
            submitter_contact="CAREHUB",
            submitter_phone="0000000000",
            next_control=lambda _kind: next(counter),
        )
        return f"{event.kind.value}.x12", render_x12_event(event, options)
    raise UnsupportedMessage(f"conversion to {target} is not available for {event.kind.value}")


def severity_label(sev: Severity) -> str:
    return {"fatal": "error", "error": "error", "warning": "warning"}.get(sev.value, "note")
