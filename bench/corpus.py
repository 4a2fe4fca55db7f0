"""Where the shared corpus of real sample messages is: read by path, never copied.

``CAREHUB_CORPUS`` wins; else a ``shared/corpus`` folder next to (or above) the repository,
as in the workspace layout (``<repo>/../shared/corpus``); else the workspace's fixed place.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["corpus_dir"]

_REPO = Path(__file__).resolve().parent.parent
_WORKSPACE_CORPUS = Path("/work/shared/corpus")


def corpus_dir() -> Path:
    env = os.environ.get("CAREHUB_CORPUS")
    if env:
        return Path(env)
    for parent in [_REPO, *_REPO.parents]:
        candidate = parent / "shared" / "corpus"
        if candidate.is_dir():
            return candidate
    return _WORKSPACE_CORPUS
