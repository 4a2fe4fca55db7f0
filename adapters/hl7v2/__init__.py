"""HL7 v2: the codec (bytes ↔ ``Message``), batches, and MLLP transport.

Wire ↔ native only: nothing here maps to the canonical model or decides acknowledgements
(that is ``mappings.hl7v2`` and ``conformance.hl7v2``).
"""

from .batch import Batch, parse_batch, split_messages
from .client import MllpClient, MllpSender
from .codec import Hl7v2Codec, parse, read_header, render
from .encoding import DEFAULT_ENCODING, EncodingChars, escape, find_unknown_escapes, unescape
from .header import rewrite_header
from .limits import DEFAULT_LIMITS, Limits
from .message import (
    HL7_VERSIONS,
    Message,
    Repetition,
    Segment,
    new_control_id,
    new_segment,
    read_version,
)
from .mllp import FrameDecoder, FrameTooLarge, FramingError, IncompleteFrame, frame
from .path import FieldPath, parse_path
from .server import Handler, MllpServer, PeerAllowList, PeerInfo, Refuser, server_ssl_context

__all__ = [
    "DEFAULT_ENCODING",
    "DEFAULT_LIMITS",
    "HL7_VERSIONS",
    "Batch",
    "EncodingChars",
    "FieldPath",
    "FrameDecoder",
    "FrameTooLarge",
    "FramingError",
    "Handler",
    "Hl7v2Codec",
    "IncompleteFrame",
    "Limits",
    "Message",
    "MllpClient",
    "MllpSender",
    "MllpServer",
    "PeerAllowList",
    "PeerInfo",
    "Refuser",
    "Repetition",
    "Segment",
    "escape",
    "find_unknown_escapes",
    "frame",
    "new_control_id",
    "new_segment",
    "parse",
    "parse_batch",
    "parse_path",
    "read_version",
    "read_header",
    "render",
    "rewrite_header",
    "server_ssl_context",
    "split_messages",
    "unescape",
]
