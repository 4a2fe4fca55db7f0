"""The shared corpus for the HL7 v2 tests, located by path (never copied into the repo)."""

from __future__ import annotations

from tests.corpus import corpus_dir

corpus_root = corpus_dir


HL7_DIR = corpus_root() / "hl7v2"
HL7_FILES = sorted(p for p in HL7_DIR.iterdir() if p.is_file())


def normalise(data: bytes) -> bytes:
    """What a faithful render gives back: BOM dropped, CRLF/LF → CR, blank lines dropped,
    one CR kept after the last segment when anything followed it."""
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    lines = data.split(b"\r")
    last = max(i for i, line in enumerate(lines) if line.strip())
    kept = [line for line in lines[: last + 1] if line.strip()]
    return b"\r".join(kept) + (b"\r" if last < len(lines) - 1 else b"")
