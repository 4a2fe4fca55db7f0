"""Hostile files in the watched X12 inbox of a running hub: what is not a regular file of
its own, or is over ``max_file_bytes``, is refused unread — moved as it is to error/ with a
finding naming the file and the reason — and the files after it are still processed."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carehub.app.hub import Hub
from hub.config import parse_config
from tests.waiting import eventually

MAX_FILE = 4096
ISA = (
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    b"*240101*1200*^*00501*000000042*0*P*:~"
)


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Path]:
    folder = tmp_path / "inbox"
    cfg = parse_config(
        f"""
hub: {{namespace: inboxhostile}}
systems:
  clearinghouse:
    inbound:
      - {{type: x12-inbox, path: "{folder}", poll_seconds: 0.05, settle_seconds: 0,
         max_file_bytes: {MAX_FILE}}}
"""
    ).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    async with Hub(cfg):
        yield folder


def _finding(inbox: Path, name: str) -> str:
    (finding,) = json.loads((inbox / "error" / f"{name}.findings.json").read_text())
    assert finding["code"] == "refused"
    return str(finding["text"])


async def _refused(inbox: Path, name: str) -> str:
    await eventually((inbox / "error" / f"{name}.findings.json").exists, 5)
    return _finding(inbox, name)


async def _still_processing(inbox: Path) -> None:
    """A good-enough file dropped after the hostile one is still answered."""
    (inbox / "after.edi").write_bytes(ISA)
    await eventually((inbox / "error" / "after.edi").exists, 5)
    assert any((inbox / "acks").iterdir())


async def test_a_link_to_proc_self_environ_in_the_inbox_is_refused_unread(inbox: Path):
    (inbox / "environ.edi").symlink_to("/proc/self/environ")
    started = time.monotonic()
    text = await _refused(inbox, "environ.edi")
    assert text == "environ.edi is a symbolic link; only regular files are read"
    assert (inbox / "error" / "environ.edi").is_symlink()
    assert time.monotonic() - started < 5
    await _still_processing(inbox)


async def test_a_fifo_in_the_inbox_is_refused_without_blocking_the_watcher(inbox: Path):
    os.mkfifo(inbox / "pipe.edi")
    assert await _refused(inbox, "pipe.edi") == "pipe.edi is a FIFO; only regular files are read"
    assert stat.S_ISFIFO((inbox / "error" / "pipe.edi").lstat().st_mode)
    await _still_processing(inbox)


async def test_a_file_over_max_file_bytes_is_refused_before_it_is_read(inbox: Path):
    data = ISA + b"x" * MAX_FILE
    (inbox / ".big.part").write_bytes(data)
    os.replace(inbox / ".big.part", inbox / "big.edi")
    text = await _refused(inbox, "big.edi")
    assert text == f"big.edi is {len(data)} bytes, over max_file_bytes ({MAX_FILE})"
    assert (inbox / "error" / "big.edi").read_bytes() == data  # kept whole
    await _still_processing(inbox)
