"""The native HL7 v2 model: ``Message`` made of ``Segment`` objects, split lazily.

Segments and fields are split when a message is parsed; repetitions, components and
subcomponents only when a value is read, so the hot path (MSH-10, PID-3, PID-5 of a large
ADT) costs a few ``str.find`` calls. A segment keeps its original text until it is changed,
which makes an unmodified segment render byte-identical.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from hub.errors import MappingError
from hub.findings import Finding

from .encoding import DEFAULT_ENCODING, EncodingChars, escape, unescape
from .path import FieldPath, parse_path

__all__ = [
    "HL7_VERSIONS",
    "Message",
    "Repetition",
    "Segment",
    "new_control_id",
    "new_segment",
    "read_version",
]

#: the HL7 v2 versions (table 0104) as MSH-12.1 writes them
HL7_VERSIONS = frozenset(
    {
        "2.1",
        "2.2",
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
    }
)
_COMPACT_VERSIONS = {v.replace(".", ""): v for v in HL7_VERSIONS}


def read_version(text: str | None) -> str | None:
    """MSH-12.1 as the table 0104 version it names: ``2.5.1`` as written; ``v2.5``,
    ``V2.5.1``, `` 2.5 ``, ``2.5.0``, ``251`` and ``2,5`` read as the version they spell
    (each a departure ``check_message`` reports). Anything else is returned stripped, as
    it is (an unknown version). None when empty."""
    if text is None:
        return None
    value = text.strip()
    if value in HL7_VERSIONS or not value:
        return value or None
    spelled = value.removeprefix("v").removeprefix("V").strip().replace(",", ".")
    if spelled in HL7_VERSIONS:
        return spelled
    if spelled.endswith(".0") and spelled[:-2] in HL7_VERSIONS:
        return spelled[:-2]
    return _COMPACT_VERSIONS.get(spelled, value)


def _nth(text: str, sep: str, n: int) -> str:
    """The ``n``-th (1-based) piece of ``text`` split on ``sep``, '' when there is none."""
    if not sep:
        return text if n == 1 else ""
    if n == 1:
        end = text.find(sep)
        return text if end < 0 else text[:end]
    parts = text.split(sep, n)
    return parts[n - 1] if len(parts) >= n else ""


def _replace_nth(text: str, sep: str, n: int, new: str) -> str:
    """``text`` with its ``n``-th piece on ``sep`` replaced, padding with empty pieces."""
    if not sep:
        if n != 1:
            raise ValueError("this message does not use that delimiter")
        return new
    parts = text.split(sep)
    if len(parts) < n:
        parts.extend([""] * (n - len(parts)))
    parts[n - 1] = new
    return sep.join(parts).rstrip(sep) if not new else sep.join(parts)


class Repetition:
    """One repetition of a field, split into components only when asked."""

    __slots__ = ("enc", "raw")

    def __init__(self, raw: str, enc: EncodingChars):
        self.raw = raw
        self.enc = enc

    def get(self, component: int = 1, subcomponent: int = 1) -> str | None:
        """The unescaped value of ``component.subcomponent``, None when empty."""
        enc = self.enc
        text = _nth(_nth(self.raw, enc.component, component), enc.subcomponent, subcomponent)
        return unescape(text, enc) if text else None

    def components(self) -> list[str]:
        """The raw (still escaped) components."""
        return self.raw.split(self.enc.component) if self.enc.component else [self.raw]

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"Repetition({self.raw!r})"


class Segment:
    """One segment. ``fields[n]`` is the raw text of field n (``fields[0]`` is the segment
    id); for MSH, FHS and BHS ``fields[1]`` is the field separator and ``fields[2]`` the
    encoding characters, so the index is the field number in every case."""

    __slots__ = ("_raw", "enc", "fields", "id")

    def __init__(self, fields: list[str], enc: EncodingChars, raw: str | None = None):
        self.id = fields[0]
        self.fields = fields
        self.enc = enc
        self._raw = raw

    @classmethod
    def from_line(cls, line: str, enc: EncodingChars) -> Segment:
        """Split one segment line on the field separator."""
        fs = enc.field
        if line.startswith(("MSH", "FHS", "BHS")):
            return cls([line[:3], fs, *line[4:].split(fs)], enc, line)
        return cls(line.split(fs), enc, line)

    @property
    def is_header(self) -> bool:
        return self.id in ("MSH", "FHS", "BHS")

    @property
    def modified(self) -> bool:
        return self._raw is None

    def field(self, number: int) -> str:
        """The raw text of field ``number`` (all repetitions), '' when absent."""
        fields = self.fields
        return fields[number] if number < len(fields) else ""

    def value(
        self, number: int, repetition: int = 1, component: int = 1, subcomponent: int = 1
    ) -> str | None:
        """The unescaped primitive at ``number(repetition).component.subcomponent``."""
        fields = self.fields
        if number >= len(fields):
            return None
        text = fields[number]
        if not text:
            return None
        if number <= 2 and self.is_header:
            return text  # MSH-1 and MSH-2 are the delimiters themselves
        enc = self.enc
        text = _nth(text, enc.repetition, repetition)
        text = _nth(text, enc.component, component)
        text = _nth(text, enc.subcomponent, subcomponent)
        if not text:
            return None
        return unescape(text, enc)

    def repetitions(self, number: int) -> list[Repetition]:
        """The repetitions of field ``number``; an empty field has none."""
        text = self.field(number)
        if not text:
            return []
        if number <= 2 and self.is_header:
            return [Repetition(text, EncodingChars(self.enc.field, "", "", "", "", ""))]
        enc = self.enc
        pieces = text.split(enc.repetition) if enc.repetition else [text]
        return [Repetition(piece, enc) for piece in pieces]

    def set_field(self, number: int, raw: str) -> None:
        """Replace the raw text of field ``number`` (already encoded), padding as needed."""
        if number < 1 or (number <= 2 and self.is_header):
            raise ValueError(f"{self.id}-{number} cannot be set")
        fields = self.fields
        if number >= len(fields):
            fields.extend([""] * (number + 1 - len(fields)))
        fields[number] = raw
        self._raw = None

    def render(self) -> str:
        """The segment as text (its original text when it was not changed)."""
        if self._raw is not None:
            return self._raw
        fields = self.fields
        if self.is_header:
            return fields[0] + fields[1] + fields[1].join(fields[2:])
        return self.enc.field.join(fields)

    def __repr__(self) -> str:
        return f"Segment({self.id}, {len(self.fields) - 1} fields)"


def new_segment(seg_id: str, *fields: str, encoding: EncodingChars = DEFAULT_ENCODING) -> Segment:
    """A new segment from raw (already encoded) field texts: ``new_segment("PID", "1", "",
    "123^^^HOSP^MR")`` is ``PID|1||123^^^HOSP^MR``. Use ``Message.set`` for plain values."""
    if len(seg_id) != 3 or not (seg_id.isascii() and seg_id.isalnum() and seg_id.isupper()):
        raise ValueError(f"not a segment id: {seg_id!r}")
    if seg_id in ("MSH", "FHS", "BHS"):
        head = [seg_id, encoding.field, encoding.msh2]
        return Segment([*head, *fields], encoding)
    return Segment([seg_id, *fields], encoding)


class Message:
    """One HL7 v2 message: its segments in order, its delimiters and the codec its bytes were
    decoded with (rendering encodes with it again)."""

    __slots__ = ("codec", "encoding", "final_terminator", "findings", "segments")

    def __init__(
        self,
        segments: list[Segment],
        encoding: EncodingChars = DEFAULT_ENCODING,
        *,
        codec: str = "utf-8",
        findings: list[Finding] | None = None,
        final_terminator: bool = True,
    ):
        self.segments = segments
        self.encoding = encoding
        self.codec = codec
        #: what parsing noticed without refusing the message (decoding, blank lines, …)
        self.findings: list[Finding] = findings if findings is not None else []
        #: whether the last segment was followed by a segment terminator
        self.final_terminator = final_terminator

    # ------------------------------------------------------------------ building

    @classmethod
    def create(
        cls,
        message_type: str,
        *,
        control_id: str | None = None,
        sending: tuple[str, str] = ("", ""),
        receiving: tuple[str, str] = ("", ""),
        version: str = "2.5.1",
        processing_id: str = "P",
        timestamp: datetime | None = None,
        encoding: EncodingChars = DEFAULT_ENCODING,
        charset: str | None = None,
    ) -> Message:
        """A new message with its MSH: ``Message.create("ADT^A04^ADT_A01", sending=("APP",
        "FAC"))``. ``message_type`` is MSH-9 as raw text; MSH-10 defaults to a fresh id."""
        when = (timestamp or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
        msh = new_segment("MSH", encoding=encoding)
        msg = cls([msh], encoding, codec="utf-8")
        msg.set("MSH-3", sending[0])
        msg.set("MSH-4", sending[1])
        msg.set("MSH-5", receiving[0])
        msg.set("MSH-6", receiving[1])
        msg.set("MSH-7", when)
        msh.set_field(9, message_type)
        msg.set("MSH-10", control_id or new_control_id())
        msg.set("MSH-11", processing_id)
        msg.set("MSH-12", version)
        if charset:
            msg.set("MSH-18", charset)
        return msg

    def append(self, segment: Segment) -> Segment:
        """Add ``segment`` (built with this message's delimiters) at the end."""
        if segment.enc != self.encoding:
            raise ValueError("segment was built with other delimiters than this message")
        self.segments.append(segment)
        return segment

    def add_segment(self, seg_id: str, *fields: str) -> Segment:
        """Append a new segment from raw field texts (see ``new_segment``)."""
        return self.append(new_segment(seg_id, *fields, encoding=self.encoding))

    # ------------------------------------------------------------------ finding segments

    def segment(self, seg_id: str, occurrence: int = 1) -> Segment | None:
        """The ``occurrence``-th (1-based) segment with id ``seg_id``."""
        for seg in self.segments:
            if seg.id == seg_id:
                occurrence -= 1
                if occurrence == 0:
                    return seg
        return None

    def segments_by_id(self, seg_id: str) -> Iterator[Segment]:
        """Every segment with id ``seg_id``, in order."""
        return (seg for seg in self.segments if seg.id == seg_id)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    # ------------------------------------------------------------------ reading values

    def _seg_for(self, path: FieldPath) -> Segment | None:
        if path.occurrence == 1 and path.segment == "MSH":
            return self.segments[0]
        return self.segment(path.segment, path.occurrence)

    def get(self, path: str, default: str | None = None) -> str | None:
        """The unescaped primitive at ``path`` (``PID-3(2).1``, ``OBX[2]-5``), or ``default``
        when it is empty. Omitted repetition/component/subcomponent mean the first."""
        p = parse_path(path)
        if p.field is None:
            raise ValueError(f"{path!r} names a segment, not a value")
        seg = self._seg_for(p)
        if seg is None:
            return default
        value = seg.value(p.field, p.repetition or 1, p.component or 1, p.subcomponent or 1)
        return default if value is None else value

    def __getitem__(self, path: str) -> str | None:
        return self.get(path)

    def raw(self, path: str) -> str | None:
        """The raw (escaped) text at exactly the level ``path`` names: ``PID-3`` is the whole
        field with every repetition, ``PID-3(2)`` one repetition, ``PID-5.1`` a component."""
        p = parse_path(path)
        seg = self._seg_for(p)
        if seg is None:
            return None
        if p.field is None:
            return seg.render()
        text = seg.field(p.field)
        enc = self.encoding
        if p.repetition is not None or p.component is not None:
            text = _nth(text, enc.repetition, p.repetition or 1)
        if p.component is not None:
            text = _nth(text, enc.component, p.component)
            if p.subcomponent is not None:
                text = _nth(text, enc.subcomponent, p.subcomponent)
        return text or None

    def repetitions(self, path: str) -> list[Repetition]:
        """The repetitions of the field at ``path`` (``PID-3``), each split on demand."""
        p = parse_path(path)
        seg = self._seg_for(p)
        if seg is None or p.field is None:
            return []
        return seg.repetitions(p.field)

    # ------------------------------------------------------------------ changing values

    def set(self, path: str, value: str) -> None:
        """Set the primitive at ``path`` to ``value`` (escaped here). Omitted parts mean the
        first, as when reading; a missing segment occurrence is appended."""
        self._check_encodable(value)
        p = parse_path(path)
        self._set(p, escape(value, self.encoding), leaf=True)

    def set_raw(self, path: str, raw: str) -> None:
        """Set the node ``path`` names exactly (as ``raw`` reads it) to already-encoded text."""
        self._check_encodable(raw)
        self._set(parse_path(path), raw, leaf=False)

    def _set(self, p: FieldPath, text: str, *, leaf: bool) -> None:
        if p.field is None:
            raise ValueError(f"{p} names a segment, not a value")
        seg = self._seg_for(p) or self._grow(p)
        enc = self.encoding
        rep, comp, sub = p.repetition, p.component, p.subcomponent
        if leaf:
            rep, comp, sub = rep or 1, comp or 1, sub or 1
        field_text = seg.field(p.field)
        if rep is None and comp is None:
            seg.set_field(p.field, text)
            return
        rep_text = _nth(field_text, enc.repetition, rep or 1)
        if comp is not None:
            comp_text = _nth(rep_text, enc.component, comp)
            if sub is not None:
                comp_text = _replace_nth(comp_text, enc.subcomponent, sub, text)
            else:
                comp_text = text
            rep_text = _replace_nth(rep_text, enc.component, comp, comp_text)
        else:
            rep_text = text
        seg.set_field(p.field, _replace_nth(field_text, enc.repetition, rep or 1, rep_text))

    def _grow(self, p: FieldPath) -> Segment:
        count = sum(1 for _ in self.segments_by_id(p.segment))
        if p.occurrence != count + 1:
            raise ValueError(f"{p}: segment occurrence {p.occurrence} does not exist")
        return self.add_segment(p.segment)

    def _check_encodable(self, value: str) -> None:
        try:
            value.encode(self.codec)
        except UnicodeEncodeError as exc:
            raise MappingError(f"value cannot be carried in {self.codec}") from exc
        if "\r" in value and not self.encoding.escape:
            raise MappingError("a line break cannot be carried without an escape character")

    # ------------------------------------------------------------------ MSH accessors

    @property
    def message_type(self) -> str | None:
        """``MSH-9.1^MSH-9.2`` (``ADT^A04``), or MSH-9.1 alone when there is no trigger."""
        code, trigger = self.get("MSH-9.1"), self.get("MSH-9.2")
        if code is None:
            return None
        return f"{code}^{trigger}" if trigger else code

    @property
    def message_code(self) -> str | None:
        """MSH-9.1."""
        return self.get("MSH-9.1")

    @property
    def trigger_event(self) -> str | None:
        """MSH-9.2."""
        return self.get("MSH-9.2")

    @property
    def message_structure(self) -> str | None:
        """MSH-9.3 (from v2.3.1)."""
        return self.get("MSH-9.3")

    @property
    def control_id(self) -> str | None:
        """MSH-10."""
        return self.get("MSH-10")

    @property
    def sending_application(self) -> str | None:
        """MSH-3.1."""
        return self.get("MSH-3")

    @property
    def sending_facility(self) -> str | None:
        """MSH-4.1."""
        return self.get("MSH-4")

    @property
    def receiving_application(self) -> str | None:
        """MSH-5.1."""
        return self.get("MSH-5")

    @property
    def receiving_facility(self) -> str | None:
        """MSH-6.1."""
        return self.get("MSH-6")

    @property
    def timestamp(self) -> str | None:
        """MSH-7.1 as sent."""
        return self.get("MSH-7")

    @property
    def processing_id(self) -> str | None:
        """MSH-11.1 (P, T, D)."""
        return self.get("MSH-11")

    @property
    def version(self) -> str | None:
        """MSH-12.1 as the version it names (``read_version``: ``v2.5`` is 2.5); the text
        as sent is ``msg.get("MSH-12")``."""
        return read_version(self.get("MSH-12"))

    @property
    def accept_ack_type(self) -> str | None:
        """MSH-15 (AL, NE, ER, SU)."""
        return self.get("MSH-15")

    @property
    def app_ack_type(self) -> str | None:
        """MSH-16 (AL, NE, ER, SU)."""
        return self.get("MSH-16")

    @property
    def charset(self) -> str | None:
        """MSH-18, first repetition."""
        return self.get("MSH-18")

    # ------------------------------------------------------------------ rendering

    def to_text(self) -> str:
        """The message as text, segments ended by CR."""
        text = "\r".join(seg.render() for seg in self.segments)
        return text + "\r" if self.final_terminator else text

    def render(self) -> bytes:
        """The message as bytes in its codec."""
        try:
            return self.to_text().encode(self.codec)
        except UnicodeEncodeError as exc:
            raise MappingError(f"message cannot be carried in {self.codec}") from exc

    def __repr__(self) -> str:
        return f"Message({self.message_type}, {len(self.segments)} segments)"


def new_control_id() -> str:
    """A fresh MSH-10: 20 hex characters, within the 20-character limit of v2.5."""
    return uuid.uuid4().hex[:20]
