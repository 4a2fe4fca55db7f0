"""The watched inbox: atomic claim, archive or error, nothing lost after a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

from adapters.x12.inbox import InboxFile, InboxResult, InboxWatcher, Outbox


class Recorder:
    def __init__(self, ok: bool = True, raise_times: int = 0):
        self.seen: list[bytes] = []
        self.ok = ok
        self.raise_times = raise_times

    async def __call__(self, file: InboxFile) -> InboxResult:
        if self.raise_times:
            self.raise_times -= 1
            raise ConnectionError("broker down")
        data = file.read()
        self.seen.append(data)
        findings = [] if self.ok else [{"severity": "error", "code": "024", "text": "bad"}]
        return InboxResult(self.ok, [(f"{file.name}.999", b"999 for " + data)], findings)


def _drop(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    os.utime(p, (1, 1))  # old enough to be settled
    return p


async def test_a_file_is_handled_once_archived_and_answered(tmp_path: Path):
    handler = Recorder()
    w = InboxWatcher(tmp_path / "in", handler, outbox=Outbox(tmp_path / "out"))
    await w.start()
    _drop(w.path, "a.x12", b"ISA...")
    assert await w.poll_once() == 1
    assert await w.poll_once() == 0
    await w.stop()
    assert handler.seen == [b"ISA..."]
    archived = list(w.archive.rglob("a.x12"))
    assert len(archived) == 1 and archived[0].read_bytes() == b"ISA..."
    assert (tmp_path / "out").iterdir()
    answers = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    assert len(answers) == 1 and answers[0].read_bytes() == b"999 for ISA..."


async def test_a_rejected_file_goes_to_error_with_its_findings(tmp_path: Path):
    w = InboxWatcher(tmp_path / "in", Recorder(ok=False))
    await w.start()
    _drop(w.path, "bad.x12", b"junk")
    await w.poll_once()
    await w.stop()
    assert (w.errors / "bad.x12").read_bytes() == b"junk"
    findings = json.loads((w.errors / "bad.x12.findings.json").read_text())
    assert findings[0]["code"] == "024"


async def test_files_being_written_are_left_alone(tmp_path: Path):
    handler = Recorder()
    w = InboxWatcher(tmp_path / "in", handler, settle_seconds=3600)
    await w.start()
    (w.path / "fresh.x12").write_bytes(b"new")  # modified just now: not settled yet
    _drop(w.path, "upload.x12.part", b"half")
    _drop(w.path, ".hidden", b"x")
    assert await w.poll_once() == 0
    await w.stop()
    assert handler.seen == []


async def test_a_crash_leaves_the_file_claimed_and_it_is_finished_on_restart(tmp_path: Path):
    inbox = tmp_path / "in"
    first = InboxWatcher(inbox, Recorder(raise_times=1))
    await first.start()
    _drop(inbox, "c.x12", b"claim me")
    await first.poll_once()  # the handler failed: the file must still be there, claimed
    await first.stop()
    assert [p.read_bytes() for p in first.processing.iterdir()] == [b"claim me"]
    handler = Recorder()
    second = InboxWatcher(inbox, handler)
    await second.start()
    assert await second.poll_once() == 1
    await second.stop()
    assert handler.seen == [b"claim me"]
    assert not any(second.processing.iterdir())


async def test_two_watchers_never_claim_the_same_file(tmp_path: Path):
    inbox = tmp_path / "in"
    a, b = Recorder(), Recorder()
    wa, wb = InboxWatcher(inbox, a), InboxWatcher(inbox, b)
    await wa.start()
    await wb.start()
    for i in range(20):
        _drop(inbox, f"f{i}.x12", str(i).encode())
    # interleave: each claim is an atomic rename, so the loser just skips the file
    with wa._open_dirs() as da, wb._open_dirs() as db:
        for name in wa._ready_files(da):
            for w, d in ((wa, da), (wb, db)):
                claimed = w._claim(name, d)
                if claimed is not None:
                    await w._handle(claimed, d)
    await wa.stop()
    await wb.stop()
    assert sorted(a.seen + b.seen) == sorted(str(i).encode() for i in range(20))


async def test_a_handler_that_keeps_failing_moves_the_file_to_error(tmp_path: Path):
    w = InboxWatcher(tmp_path / "in", Recorder(raise_times=99))
    w.max_failures = 3
    await w.start()
    _drop(w.path, "poison.x12", b"p")
    for _ in range(3):
        await w.poll_once()
    await w.stop()
    assert (w.errors / "poison.x12").exists()


def test_outbox_writes_atomically_and_never_leaves_temp_files(tmp_path: Path):
    out = Outbox(tmp_path / "out")
    out.write("a.999", b"one")
    out.write("a.999", b"two")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.999"]
    assert (tmp_path / "out" / "a.999").read_bytes() == b"two"
