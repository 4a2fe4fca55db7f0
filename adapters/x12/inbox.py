"""A watched inbox folder per partner, and the outbox we write answers and interchanges to.

Layout under the inbox folder::

    inbox/                 the partner drops files here (names starting with '.' or ending
                           in .tmp/.part are ignored until renamed)
    inbox/.processing/     a file is claimed by an atomic rename into here
    inbox/archive/DATE/    done
    inbox/error/           could not be processed, or refused; a .findings.json file says why

A claimed file stays in ``.processing`` until it is archived, so a crash never loses it: on
start the watcher finishes whatever is left there first. A file is handled at most once per
claim; handling the same interchange twice is harmless because the pipeline recognises the
interchange control number as a duplicate and repeats its original answer.

Only regular files inside the inbox are read (docs/security.md, "The X12 inbox"): every
folder is opened with ``O_NOFOLLOW`` and every file through its folder's descriptor, never by
a path that could be redirected. A symbolic link (to a file or a folder), a FIFO, a device,
a socket, a file with more than one hard link, or a file over ``max_file_bytes`` is refused
without being opened or read: it is moved — the link itself, never its target — to
``error/`` with a finding naming the file and the reason, and a log line that echoes no
content. A working folder (``.processing``, ``archive``, ``error``, a day of the archive)
found replaced by a link or a file is renamed aside (``.NAME.refused-STAMP``) and created
again, so a planted link is never written through.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "InboxFile",
    "InboxFileTooLarge",
    "InboxResult",
    "InboxWatcher",
    "Outbox",
    "OutboxRefused",
]

log = logging.getLogger("carehub.inbox")

_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")

#: the default cap on one inbox file (``max_file_bytes`` on the x12-inbox port)
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024

_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: a FIFO swapped in after the check must not hang the watcher on open
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class InboxResult:
    """What handling one file produced: success, answers to drop in the outbox, findings."""

    ok: bool
    answers: Sequence[tuple[str, bytes]] = ()
    findings: Sequence[dict[str, str]] = field(default_factory=list)


class InboxFileTooLarge(Exception):
    """The file grew past ``max_file_bytes`` while it was read."""


class OutboxRefused(OSError):
    """The outbox folder is a symbolic link or not a folder: nothing is written through it."""


class InboxFile:
    """A claimed inbox file, already opened and checked (a regular file, one link, inside the
    inbox, not over the cap). ``read`` never returns more than ``max_bytes`` in all: past
    that it raises ``InboxFileTooLarge`` (the file grew after it was checked)."""

    def __init__(self, name: str, path: Path, fd: int, size: int, max_bytes: int):
        #: the claimed name (``STAMP-original``) and where it is (for messages, not reopening)
        self.name = name
        self.path = path
        #: the size when it was opened
        self.size = size
        self.max_bytes = max_bytes
        self._fd = fd
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` < 0)."""
        if size >= 0:
            data = os.read(self._fd, min(size, self.max_bytes - self._read + 1))
            return self._count(data)
        parts: list[bytes] = []
        while True:
            chunk = os.read(self._fd, min(_CHUNK, self.max_bytes - self._read + 1))
            if not chunk:
                return b"".join(parts)
            parts.append(self._count(chunk))

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self.max_bytes:
            raise InboxFileTooLarge(f"more than max_file_bytes ({self.max_bytes} bytes)")
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


InboxHandler = Callable[[InboxFile], Awaitable[InboxResult]]


class _Refused(Exception):
    """Why a claimed file is not read (a finding: no content, only the kind of file)."""


class Outbox:
    """Writes files atomically: to a hidden temp name first, then renamed into place. The
    folder must be a real folder (a symbolic link in its place is refused, ``OutboxRefused``)
    and the temp file is created new (``O_CREAT|O_EXCL|O_NOFOLLOW``), so a link planted in
    the folder is never written through; the rename replaces a link at the final name, it
    does not follow it."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def write(self, name: str, data: bytes) -> Path:
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"not a file name: {name!r}")
        with contextlib.suppress(FileExistsError):  # a link in its place: refused just below
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            folder = os.open(self.path, _DIR_FLAGS)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise OutboxRefused(
                    exc.errno, f"outbox {self.path} is a symbolic link or not a folder"
                ) from exc
            raise
        try:
            tmp = f".{_short(name)}.{uuid.uuid4().hex[:8]}.tmp"
            _write_new(folder, tmp, data)
            os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            os.fsync(folder)
        finally:
            os.close(folder)
        return self.path / name


def _write_new(folder: int, name: str, data: bytes) -> None:
    """Create ``name`` in ``folder`` (it must not exist, not even as a link) and fsync it."""
    fd = os.open(name, _NEW_FILE_FLAGS, 0o666, dir_fd=folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Dirs:
    """The inbox's folders, opened without following links, for one poll."""

    root: int
    processing: int
    archive: int
    errors: int


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
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ):
        self.path = Path(path)
        self.handler = handler
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.max_file_bytes = max_file_bytes
        self.processing = self.path / ".processing"
        self.archive = self.path / "archive"
        self.errors = self.path / "error"
        self.handled = 0
        #: files refused unread (links, FIFOs, devices, hard links, over the cap)
        self.refused = 0
        #: a handler that keeps raising on the same file gets it moved to error/ after this
        self.max_failures = 5
        self._failures: dict[str, int] = {}
        self._noted: set[tuple[str, str]] = set()
        self._real: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._polling = asyncio.Lock()

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare)
        self._task = asyncio.create_task(self._run(), name=f"inbox:{self.path.name}")

    def _prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # the configured path is the operator's: resolved once; below it nothing is followed
        self._real = os.path.realpath(self.path)
        with self._open_dirs():
            pass

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except OSError as exc:  # the folder itself is gone or unusable: say so, go on
                log.error("inbox %s not polled: %s", self.path, exc.strerror or type(exc).__name__)
            await asyncio.sleep(self.poll_seconds)

    async def poll_once(self) -> int:
        """Finish leftovers from a crash, then claim and handle new files. Returns how many."""
        async with self._polling:  # one poll at a time (the loop's and a caller's)
            return await self._poll()

    async def _poll(self) -> int:
        count = 0
        with self._open_dirs() as dirs:
            for leftover in sorted(os.listdir(dirs.processing)):
                await self._handle(leftover, dirs)
                count += 1
            for candidate in self._ready_files(dirs):
                claimed = self._claim(candidate, dirs)
                if claimed is not None:
                    await self._handle(claimed, dirs)
                    count += 1
        return count

    @contextlib.contextmanager
    def _open_dirs(self) -> Iterator[_Dirs]:
        if self._real is None:
            self._real = os.path.realpath(self.path)
        root = os.open(self._real, _DIR_FLAGS)
        opened = [root]
        try:
            for name in (".processing", "archive", "error"):
                opened.append(_subdir(root, name, where=self.path))
            yield _Dirs(*opened)
        finally:
            for fd in opened:
                os.close(fd)

    def _ready_files(self, dirs: _Dirs) -> list[str]:
        """Names in the inbox that have settled: everything but hidden and partial names
        and folders — links, FIFOs and the like too, so that they are claimed and refused."""
        now = time.time()
        ready = []
        ours = {".processing", "archive", "error", self._outbox_name()}
        with os.scandir(dirs.root) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                name = entry.name
                if name.startswith(".") or name.endswith(_IGNORED_SUFFIXES) or name in ours:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):  # not looked into, not moved: said once
                    self._note(name, "is a folder; not read (only files are)")
                    continue
                if now - st.st_mtime >= self.settle_seconds:
                    ready.append(name)
        return ready

    def _outbox_name(self) -> str | None:
        """The acks folder's name when it is inside the inbox (it is no partner folder)."""
        if self.outbox is None or self._real is None:
            return None
        parent = os.path.realpath(self.outbox.path.parent)
        return self.outbox.path.name if parent == self._real else None

    def _note(self, name: str, why: str) -> None:
        """Say once that ``name`` is left where it is, and why."""
        if (name, why) not in self._noted:
            self._noted.add((name, why))
            log.warning("inbox %s: %s %s", self.path, name, why)

    def _claim(self, name: str, dirs: _Dirs) -> str | None:
        """Atomically move ``name`` into .processing; None if another watcher got it. A link
        is moved as a link: rename never follows it."""
        target = f"{_stamp()}-{_short(name)}"
        try:
            os.rename(name, target, src_dir_fd=dirs.root, dst_dir_fd=dirs.processing)
        except FileNotFoundError:
            return None
        except OSError as exc:  # said once; the other files are still taken
            self._note(name, f"cannot be claimed ({exc.strerror or type(exc).__name__})")
            return None
        return target

    def _open(self, claimed: str, dirs: _Dirs) -> InboxFile:
        """Open a claimed file for reading, or say why it is refused (without opening it
        when ``lstat`` already tells)."""
        st = os.stat(claimed, dir_fd=dirs.processing, follow_symlinks=False)
        _check_kind(st, self.max_file_bytes)
        try:
            fd = os.open(claimed, _READ_FLAGS, dir_fd=dirs.processing)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a link after the check
                raise _Refused("is a symbolic link; only regular files are read") from exc
            raise
        try:
            opened = os.fstat(fd)
            _check_kind(opened, self.max_file_bytes)
            folder = os.fstat(dirs.processing)
            if (opened.st_ino, opened.st_dev) != (st.st_ino, st.st_dev) or (
                opened.st_dev != folder.st_dev
            ):
                raise _Refused("changed while it was opened, or is not inside the inbox")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return InboxFile(
            claimed, self.processing / claimed, fd, opened.st_size, self.max_file_bytes
        )

    async def _handle(self, claimed: str, dirs: _Dirs) -> None:
        original = claimed.split("-", 1)[1] if "-" in claimed else claimed
        try:
            opened = self._open(claimed, dirs)
        except FileNotFoundError:
            return
        except _Refused as refused:
            self._refuse(claimed, original, str(refused), dirs)
            return
        except OSError as exc:  # unreadable to us (permissions): refused, not retried forever
            reason = f"cannot be opened ({exc.strerror or type(exc).__name__})"
            self._refuse(claimed, original, reason, dirs)
            return
        try:
            result = await self.handler(opened)
        except InboxFileTooLarge as exc:
            self._refuse(claimed, original, f"grew while read: {exc}", dirs)
            return
        except Exception as exc:
            # transient trouble (store or broker down): leave it claimed, retry next poll
            failures = self._failures.get(claimed, 0) + 1
            self._failures[claimed] = failures
            log.warning(
                "inbox file %s not handled (%s), failure %d",
                claimed,
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
        finally:
            opened.close()
        self._failures.pop(claimed, None)
        result = self._answer(original, result)
        self._finish(claimed, original, result, dirs)
        self.handled += 1

    def _answer(self, original: str, result: InboxResult) -> InboxResult:
        """Write the answers to the outbox; one that cannot be written is a finding (the
        input is kept either way — in the store and in archive/ or error/)."""
        if self.outbox is None:
            return result
        for name, data in result.answers:
            try:
                self.outbox.write(name, data)
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                log.error("inbox %s: answer to %s not written: %s", self.path, original, why)
                finding = {
                    "severity": "error",
                    "code": "outbox",
                    "text": f"answer not written: {why}",
                }
                result = InboxResult(result.ok, result.answers, [*result.findings, finding])
        return result

    def _refuse(self, claimed: str, original: str, why: str, dirs: _Dirs) -> None:
        """Move a file that is not read to error/ (a link as the link) with its finding."""
        self.refused += 1
        log.warning("inbox %s: %s refused, not read: %s", self.path, original, why)
        finding = {"severity": "error", "code": "refused", "text": f"{original} {why}"}
        self._finish(claimed, original, InboxResult(False, findings=[finding]), dirs)

    def _finish(self, claimed: str, original: str, result: InboxResult, dirs: _Dirs) -> None:
        if result.ok:
            day = _subdir(dirs.archive, datetime.now(UTC).strftime("%Y-%m-%d"), where=self.archive)
            try:
                target = _free_name(day, original)
                os.rename(claimed, target, src_dir_fd=dirs.processing, dst_dir_fd=day)
            finally:
                os.close(day)
            return
        target = _free_name(dirs.errors, original)
        os.rename(claimed, target, src_dir_fd=dirs.processing, dst_dir_fd=dirs.errors)
        report = _free_name(dirs.errors, target + ".findings.json")
        _write_new(dirs.errors, report, json.dumps(list(result.findings), indent=2).encode())


def _check_kind(st: os.stat_result, max_bytes: int) -> None:
    """Refuse what is not one regular file of at most ``max_bytes``."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        raise _Refused("is a symbolic link; only regular files are read")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "not a regular file"
        )
        raise _Refused(f"is {kind}; only regular files are read")
    if st.st_nlink > 1:
        raise _Refused(f"has {st.st_nlink} hard links; only a file of its own is read")
    if st.st_size > max_bytes:
        raise _Refused(f"is {st.st_size} bytes, over max_file_bytes ({max_bytes})")


def _subdir(parent: int, name: str, *, where: Path) -> int:
    """Open folder ``name`` under ``parent`` without following a link, creating it when
    missing; a link or file in its place is renamed aside first (never followed)."""
    for _ in range(3):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        aside = f".{name.lstrip('.')}.refused-{_stamp()}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)
            log.warning(
                "inbox folder %s/%s was a link or a file, not a folder: renamed to %s",
                where,
                name,
                aside,
            )
    raise OSError(errno.ELOOP, f"{where}/{name} keeps being replaced by a link")


def _short(name: str, limit: int = 200) -> str:
    """``name`` cut to ``limit`` bytes on disk, so a stamp can be put before it."""
    raw = os.fsencode(name)
    return name if len(raw) <= limit else os.fsdecode(raw[:limit])


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _free_name(folder: int, name: str) -> str:
    """``name``, or ``name`` with a counter when it is taken in ``folder`` (never overwrite;
    a dangling link counts as taken)."""
    if not _exists(folder, name):
        return name
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot and stem else (name, "")
    for i in range(1, 10_000):
        candidate = f"{stem}.{i}{suffix}"
        if not _exists(folder, candidate):
            return candidate
    return f"{name}.{uuid.uuid4().hex}"
