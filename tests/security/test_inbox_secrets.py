"""No secrets through the X12 inbox (issue 11, item 5), against a running hub.

A link in the inbox to a file holding tokens (as ``/proc/self/environ`` or a TLS key would)
is refused unread: nothing of it reaches the message log, the acks folder or the log. A
regular file of garbage that holds ``ISA`` followed by a token is read (the partner sent it,
it is kept as rejected) but its TA1 echoes nothing of it: only a nine-digit ISA13 could be.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import pytest

from carehub.app.hub import Hub
from hub.config import parse_config
from tests.waiting import eventually

TOKEN = "ISA" + secrets.token_hex(60)  # 123 characters: covers every fixed ISA position
ENVIRON = f"HOME=/root\0CAREHUB_API_TOKEN={TOKEN}\0PATH=/usr/bin\0".encode()


def _config(inbox: Path) -> str:
    return f"""
hub: {{namespace: inboxsec}}
systems:
  clearinghouse:
    inbound: [{{type: x12-inbox, path: "{inbox}", poll_seconds: 0.05, settle_seconds: 0}}]
"""


def _chunks(value: str, size: int = 8) -> list[str]:
    return [value[i : i + size] for i in range(3, len(value) - size, 4)]


def _leaks(text: str) -> list[str]:
    return [c for c in _chunks(TOKEN) if c in text]


async def _hub(tmp_path: Path, inbox: Path) -> Hub:
    cfg = parse_config(_config(inbox)).with_overrides(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    return Hub(cfg)


async def test_a_link_to_a_file_of_secrets_is_refused_and_nothing_of_it_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "environ"
    secret.write_bytes(ENVIRON)
    inbox = tmp_path / "inbox"
    async with await _hub(tmp_path, inbox) as hub:
        (inbox / "environ.edi").symlink_to(secret)
        await eventually((inbox / "error" / "environ.edi.findings.json").exists)
        assert hub.store is not None
        stored = await hub.store.list_messages(direction="in")
    assert stored == []  # not read, so not in the message log
    assert (inbox / "error" / "environ.edi").is_symlink()
    assert not (inbox / "acks").exists() or not any((inbox / "acks").iterdir())
    assert _leaks(caplog.text) == []
    assert secret.read_bytes() == ENVIRON


async def test_a_garbage_isa_holding_a_token_gets_a_ta1_that_echoes_none_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    inbox = tmp_path / "inbox"
    async with await _hub(tmp_path, inbox) as hub:
        inbox.mkdir(exist_ok=True)
        (inbox / ".garbage.part").write_bytes(ENVIRON)
        os.replace(inbox / ".garbage.part", inbox / "garbage.edi")
        acks = inbox / "acks"
        await eventually(lambda: acks.exists() and any(acks.iterdir()))
        assert hub.store is not None
        (stored,) = await hub.store.list_messages(direction="in")
    answers = [p.read_bytes() for p in acks.iterdir()]
    assert len(answers) == 1 and b"TA1" in answers[0]
    assert _leaks(answers[0].decode("latin-1")) == [], answers[0]
    assert b"UNKNOWN" in answers[0]
    assert stored.raw == ENVIRON and stored.status == "rejected"  # kept, nothing lost
    assert _leaks(caplog.text) == []
