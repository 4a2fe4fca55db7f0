"""The shared HL7 v2 corpus for the conformance tests, located by path."""

from __future__ import annotations

import os
from pathlib import Path


def corpus_root() -> Path:
    """CAREHUB_CORPUS, else the ``shared/corpus`` folder found walking up from this file."""
    env = os.environ.get("CAREHUB_CORPUS")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "corpus"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("shared/corpus not found; set CAREHUB_CORPUS")


HL7_DIR = corpus_root() / "hl7v2"
HL7_FILES = sorted(p for p in HL7_DIR.iterdir() if p.is_file())
