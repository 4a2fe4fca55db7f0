"""A watched inbox folder per partner, and the outbox we write answers and interchanges to.

Layout under the inbox folder::

    inbox/                 the partner drops files here (names starting with '.' or ending
                           in .tmp/.part are ignored until renamed)
    inbox/.processing/     a file is claimed by an atomic rename into here
    inbox/archive/DATE/    done
    inbox/error/           could not be processed; a .findings.json file says why

A claimed file stays in ``.processing`` until it is archived, so a crash never loses it: on
start the watcher finishes whatever is left there first. A file is handled at most once per
claim; handling the same interchange twice is harmless because the pipeline recognises the
interchange control number as a duplicate and repeats its original answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["InboxResult", "InboxWatcher", "Outbox"]

log = logging.getLogger("carehub.inbox")

_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")


@dataclass(frozen=True, slots=True)
class InboxResult:
    """What handling one file produced: success, answers to drop in the outbox, findings."""

    ok: bool
    answers: Sequence[tuple[str, bytes]] = ()
    findings: Sequence[dict[str, str]] = field(default_factory=list)


InboxHandler = Callable[[Path], Awaitable[InboxResult]]


class Outbox:
    """Writes files atomically: to a hidden temp name first, then renamed into place."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def write(self, name: str, data: bytes) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / name
        tmp = self.path / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return final


class InboxWatcher:
    """Polls ``path`` and hands each settled file to ``handler``, one at a time."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        handler: InboxHandler,
        *,
        outbox: Outbox | None = None,
        poll_seconds: float = 2.0,
        settle_seconds: float = 1.0,
    ):
        self.path = Path(path)
        self.handler = handler
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.processing = self.path / ".processing"
        self.archive = self.path / "archive"
        self.errors = self.path / "error"
        self.handled = 0
        #: a handler that keeps raising on the same file gets it moved to error/ after this
        self.max_failures = 5
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for d in (self.path, self.processing, self.archive, self.errors):
            d.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name=f"inbox:{self.path.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.poll_seconds)

    async def poll_once(self) -> int:
        """Finish leftovers from a crash, then claim and handle new files. Returns how many."""
        count = 0
        for leftover in sorted(self.processing.iterdir()):
            if leftover.is_file():
                await self._handle(leftover)
                count += 1
        for candidate in self._ready_files():
            claimed = self._claim(candidate)
            if claimed is not None:
                await self._handle(claimed)
                count += 1
        return count

    def _ready_files(self) -> list[Path]:
        now = time.time()
        ready = []
        for p in sorted(self.path.iterdir()):
            if not p.is_file() or p.name.startswith(".") or p.name.endswith(_IGNORED_SUFFIXES):
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - p.stat().st_mtime >= self.settle_seconds:
                    ready.append(p)
        return ready

    def _claim(self, path: Path) -> Path | None:
        """Atomically move ``path`` into .processing; None if another watcher got it."""
        target = self.processing / f"{_stamp()}-{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        return target

    async def _handle(self, claimed: Path) -> None:
        original = claimed.name.split("-", 1)[1] if "-" in claimed.name else claimed.name
        try:
            result = await self.handler(claimed)
        except Exception as exc:
            # transient trouble (store or broker down): leave it claimed, retry next poll
            failures = self._failures.get(claimed.name, 0) + 1
            self._failures[claimed.name] = failures
            log.warning(
                "inbox file %s not handled (%s), failure %d",
                claimed.name,
                type(exc).__name__,
                failures,
            )
            if failures < self.max_failures:
                return
            result = InboxResult(
                False,
                findings=[
                    {
                        "severity": "error",
                        "code": "exception",
                        "text": f"not handled after {failures} tries: {type(exc).__name__}",
                    }
                ],
            )
        self._failures.pop(claimed.name, None)
        if self.outbox is not None:
            for name, data in result.answers:
                self.outbox.write(name, data)
        self._finish(claimed, original, result)
        self.handled += 1

    def _finish(self, claimed: Path, original: str, result: InboxResult) -> None:
        if result.ok:
            day = self.archive / datetime.now(UTC).strftime("%Y-%m-%d")
            day.mkdir(parents=True, exist_ok=True)
            os.replace(claimed, _free_name(day / original))
            return
        target = _free_name(self.errors / original)
        os.replace(claimed, target)
        report = target.with_name(target.name + ".findings.json")
        report.write_text(json.dumps(list(result.findings), indent=2))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _free_name(path: Path) -> Path:
    """``path``, or ``path`` with a counter when the name is taken (never overwrite)."""
    if not path.exists():
        return path
    for i in range(1, 10_000):
        candidate = path.with_name(f"{path.stem}.{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}")
