"""HL7 v2: the codec (bytes ↔ ``Message``), batches, and MLLP transport.

Wire ↔ native only: nothing here maps to the canonical model or decides acknowledgements
(that is ``mappings.hl7v2`` and ``conformance.hl7v2``).
"""

from .batch import Batch, parse_batch, split_messages
from .codec import Hl7v2Codec, parse, read_header, render
from .encoding import DEFAULT_ENCODING, EncodingChars, escape, find_unknown_escapes, unescape
from .limits import DEFAULT_LIMITS, Limits
from .message import Message, Repetition, Segment, new_control_id, new_segment
from .path import FieldPath, parse_path

__all__ = [
    "DEFAULT_ENCODING",
    "DEFAULT_LIMITS",
    "Batch",
    "EncodingChars",
    "FieldPath",
    "Hl7v2Codec",
    "Limits",
    "Message",
    "Repetition",
    "Segment",
    "escape",
    "find_unknown_escapes",
    "new_control_id",
    "new_segment",
    "parse",
    "parse_batch",
    "parse_path",
    "read_header",
    "render",
    "split_messages",
    "unescape",
]
