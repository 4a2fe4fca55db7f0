"""The watched inbox reads only regular files inside it (issue 11, item 5).

A link (to a secret file, to /proc/self/environ, to a folder), a FIFO, a hard link, a file
over ``max_file_bytes`` — each is refused unread: the handler never sees it, it is moved to
error/ as it is (the link as a link, its target untouched) with a finding naming the file and
the reason, and nothing of its content reaches a finding, a log line or an answer. Working
folders and the acks folder replaced by links are never written through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.x12.inbox import InboxFile, InboxResult, InboxWatcher, Outbox, OutboxRefused

SECRET = b"CAREHUB_TOKEN=sk-live-7f3a9c1e5b2d8f40\nISA*00*hunter2-secret-key~"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def __call__(self, file: InboxFile) -> InboxResult:
        data = await asyncio.to_thread(file.read)
        self.seen.append(data)
        return InboxResult(True, [(f"{file.name}.999", b"999")])


def _settle(p: Path) -> None:
    os.utime(p, (1, 1), follow_symlinks=False)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "tls.key"
    secret.write_bytes(SECRET)
    return secret


async def _watcher(tmp_path: Path, handler: Recorder, **kw: object) -> InboxWatcher:
    w = InboxWatcher(tmp_path / "in", handler, outbox=Outbox(tmp_path / "in" / "acks"), **kw)  # type: ignore[arg-type]
    await w.start()
    return w


def _error_files(w: InboxWatcher) -> dict[str, os.stat_result]:
    return {p.name: p.lstat() for p in w.errors.iterdir()}


def _findings(w: InboxWatcher, name: str) -> list[dict[str, str]]:
    return json.loads((w.errors / f"{name}.findings.json").read_text())


def _no_secret_anywhere(w: InboxWatcher, caplog: pytest.LogCaptureFixture) -> None:
    """No byte of the secret in the log, in a finding, an answer or the archive."""
    for marker in (b"sk-live", b"hunter2"):
        assert marker.decode() not in caplog.text
        for p in w.path.rglob("*"):
            if p.is_file() and not p.is_symlink():
                assert marker not in p.read_bytes(), p


async def test_a_link_to_a_secret_file_is_refused_unread_and_moved_as_a_link(
    tmp_path: Path, secret_file: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    link = w.path / "claims.x12"
    link.symlink_to(secret_file)
    _settle(link)
    await w.poll_once()
    await w.stop()
    assert handler.seen == [] and w.refused == 1
    moved = w.errors / "claims.x12"
    assert moved.is_symlink() and os.readlink(moved) == str(secret_file)
    assert secret_file.read_bytes() == SECRET  # the target is neither read, moved nor changed
    (finding,) = _findings(w, "claims.x12")
    assert finding["code"] == "refused" and "claims.x12" in finding["text"]
    assert "symbolic link" in finding["text"]
    assert "claims.x12 refused" in caplog.text and "symbolic link" in caplog.text
    assert not list(w.processing.iterdir())
    _no_secret_anywhere(w, caplog)


async def test_a_link_to_proc_self_environ_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    link = w.path / "environ.edi"
    link.symlink_to("/proc/self/environ")
    _settle(link)
    await w.poll_once()
    await w.stop()
    assert handler.seen == []
    assert (w.errors / "environ.edi").is_symlink()
    assert "symbolic link" in _findings(w, "environ.edi")[0]["text"]
    environ = Path("/proc/self/environ").read_bytes().split(b"\0")
    for entry in (e for e in environ if len(e) > 12):
        assert entry.decode(errors="replace") not in caplog.text


async def test_a_fifo_is_refused_without_blocking(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    fifo = w.path / "pipe.x12"
    os.mkfifo(fifo)
    _settle(fifo)
    async with asyncio.timeout(5):  # opening a FIFO for reading would wait for a writer
        await w.poll_once()
    await w.stop()
    assert handler.seen == []
    assert stat.S_ISFIFO((w.errors / "pipe.x12").lstat().st_mode)
    assert "is a FIFO" in _findings(w, "pipe.x12")[0]["text"]


async def test_a_link_to_a_folder_is_refused_and_the_folder_is_not_read(
    tmp_path: Path, secret_file: Path
):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    link = w.path / "sub"
    link.symlink_to(secret_file.parent, target_is_directory=True)
    _settle(link)
    await w.poll_once()
    await w.stop()
    assert handler.seen == []
    assert (w.errors / "sub").is_symlink()
    assert [p.name for p in secret_file.parent.iterdir()] == ["tls.key"]
    assert secret_file.read_bytes() == SECRET


async def test_a_real_folder_in_the_inbox_is_left_alone_and_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    (w.path / "partner-stuff").mkdir()
    (w.path / "partner-stuff" / "inner.x12").write_bytes(b"ISA")
    await w.poll_once()
    await w.poll_once()
    await w.stop()
    assert handler.seen == [] and (w.path / "partner-stuff" / "inner.x12").exists()
    assert caplog.text.count("partner-stuff is a folder") == 1
    assert "acks is a folder" not in caplog.text  # our own acks folder is not the partner's


async def test_a_hard_link_to_a_file_elsewhere_is_refused(tmp_path: Path, secret_file: Path):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    os.link(secret_file, w.path / "hard.x12")
    _settle(w.path / "hard.x12")
    await w.poll_once()
    await w.stop()
    assert handler.seen == []
    assert "2 hard links" in _findings(w, "hard.x12")[0]["text"]
    assert secret_file.read_bytes() == SECRET


async def test_a_file_over_max_file_bytes_is_refused_before_it_is_read(tmp_path: Path):
    handler = Recorder()
    w = await _watcher(tmp_path, handler, max_file_bytes=1000)
    (w.path / "big.x12").write_bytes(b"x" * 1001)
    (w.path / "fits.x12").write_bytes(b"x" * 1000)
    for name in ("big.x12", "fits.x12"):
        _settle(w.path / name)
    await w.poll_once()
    await w.stop()
    assert handler.seen == [b"x" * 1000]
    text = _findings(w, "big.x12")[0]["text"]
    assert "1001 bytes, over max_file_bytes (1000)" in text
    assert (w.errors / "big.x12").read_bytes() == b"x" * 1001  # kept whole, not truncated


async def test_a_file_that_grows_while_read_is_cut_at_the_cap_and_refused(tmp_path: Path):
    """The size is checked by fstat before reading and counted while reading: a file that
    grows after the check (a writer still holding it) is not read past the cap."""
    read: list[int] = []

    async def grows_then_reads(file: InboxFile) -> InboxResult:
        with open(file.path, "ab") as fh:  # the partner's writer, still appending
            fh.write(b"y" * 5000)
        try:
            file.read()
        finally:
            read.append(file._read)
        return InboxResult(True)

    w = InboxWatcher(tmp_path / "in", grows_then_reads, max_file_bytes=1000)
    await w.start()
    (w.path / "growing.x12").write_bytes(b"x" * 10)
    _settle(w.path / "growing.x12")
    await w.poll_once()
    await w.stop()
    assert read == [1001]  # stopped one byte past the cap, not at 5010
    assert "grew while read" in _findings(w, "growing.x12")[0]["text"]
    assert not list(w.archive.rglob("growing.x12"))


async def test_a_link_left_in_processing_after_a_crash_is_refused_too(
    tmp_path: Path, secret_file: Path
):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    (w.processing / "20260101T000000000000-left.x12").symlink_to(secret_file)
    await w.poll_once()
    await w.stop()
    assert handler.seen == [] and (w.errors / "left.x12").is_symlink()


async def test_a_working_folder_replaced_by_a_link_is_never_followed(
    tmp_path: Path, secret_file: Path
):
    """``.processing`` swapped for a link to a folder holding a key: the key is not read as
    a leftover, not moved; the link is renamed aside and a real folder made."""
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    w.processing.rmdir()
    w.processing.symlink_to(secret_file.parent, target_is_directory=True)
    (w.path / "ok.x12").write_bytes(b"ISA ok")
    _settle(w.path / "ok.x12")
    await w.poll_once()
    await w.stop()
    assert handler.seen == [b"ISA ok"]
    assert secret_file.read_bytes() == SECRET
    assert [p.name for p in secret_file.parent.iterdir()] == ["tls.key"]
    assert w.processing.is_dir() and not w.processing.is_symlink()
    assert [p for p in w.path.iterdir() if p.name.startswith(".processing.refused-")]


async def test_an_archive_day_planted_as_a_link_is_not_written_through(
    tmp_path: Path, secret_file: Path
):
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    day = w.archive / datetime.now(UTC).strftime("%Y-%m-%d")
    day.symlink_to(secret_file.parent, target_is_directory=True)
    (w.path / "ok.x12").write_bytes(b"ISA ok")
    _settle(w.path / "ok.x12")
    await w.poll_once()
    await w.stop()
    assert [p.name for p in secret_file.parent.iterdir()] == ["tls.key"]
    assert (day / "ok.x12").read_bytes() == b"ISA ok" and not day.is_symlink()


def test_the_outbox_never_writes_through_a_link_planted_in_it(tmp_path: Path, secret_file: Path):
    out = Outbox(tmp_path / "acks")
    out.write("first.999", b"one")
    (tmp_path / "acks" / "a.999").symlink_to(secret_file)  # at the name an answer will take
    out.write("a.999", b"answer")
    assert secret_file.read_bytes() == SECRET
    assert (tmp_path / "acks" / "a.999").read_bytes() == b"answer"
    assert not (tmp_path / "acks" / "a.999").is_symlink()


def test_an_outbox_folder_that_is_a_link_is_refused(tmp_path: Path, secret_file: Path):
    (tmp_path / "acks").symlink_to(secret_file.parent, target_is_directory=True)
    with pytest.raises(OutboxRefused):
        Outbox(tmp_path / "acks").write("a.999", b"answer")
    assert [p.name for p in secret_file.parent.iterdir()] == ["tls.key"]


async def test_an_acks_folder_swapped_for_a_link_loses_no_input(tmp_path: Path, secret_file: Path):
    """The answer is not written through the link; the file is archived and the finding
    says the answer was not written."""
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    (w.path / "acks").symlink_to(secret_file.parent, target_is_directory=True)
    (w.path / "ok.x12").write_bytes(b"ISA ok")
    _settle(w.path / "ok.x12")
    await w.poll_once()
    await w.stop()
    assert handler.seen == [b"ISA ok"]
    assert [p.name for p in secret_file.parent.iterdir()] == ["tls.key"]
    assert len(list(w.archive.rglob("ok.x12"))) == 1


def test_a_link_planted_at_the_outbox_temp_name_is_not_written_through(
    tmp_path: Path, secret_file: Path, monkeypatch: pytest.MonkeyPatch
):
    """The temp file is created new (O_CREAT|O_EXCL|O_NOFOLLOW): a link waiting at its name
    makes the write fail, it is never followed."""
    import uuid

    fixed = uuid.UUID(int=0xABCDEF12 << 96)
    monkeypatch.setattr("adapters.x12.inbox.uuid.uuid4", lambda: fixed)
    out = Outbox(tmp_path / "acks")
    (tmp_path / "acks").mkdir()
    (tmp_path / "acks" / f".a.999.{fixed.hex[:8]}.tmp").symlink_to(secret_file)
    with pytest.raises(FileExistsError):
        out.write("a.999", b"answer")
    assert secret_file.read_bytes() == SECRET


async def test_a_name_at_the_file_system_limit_is_still_claimed_and_handled(tmp_path: Path):
    """254 bytes of name leave no room for the claim stamp: the claimed name is cut (by
    bytes, on disk) rather than the claim failing on every poll."""
    handler = Recorder()
    w = await _watcher(tmp_path, handler)
    name = "é" * 125 + ".x12"
    assert len(os.fsencode(name)) == 254
    (w.path / name).write_bytes(b"ISA long")
    _settle(w.path / name)
    await w.poll_once()
    await w.stop()
    assert handler.seen == [b"ISA long"]
    assert not (w.path / name).exists() and not list(w.processing.iterdir())
