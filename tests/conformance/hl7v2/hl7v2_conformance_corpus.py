"""The shared HL7 v2 corpus for the conformance tests, located by path."""

from __future__ import annotations

from tests.corpus import corpus_dir

corpus_root = corpus_dir


HL7_DIR = corpus_root() / "hl7v2"
HL7_FILES = sorted(p for p in HL7_DIR.iterdir() if p.is_file())
