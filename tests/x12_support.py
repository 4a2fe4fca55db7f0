"""X12 test support shared by the codec, conformance, mapping and end-to-end tests: the
corpus (by path, never copied) and pyx12 as an independent validator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.corpus import corpus_dir

__all__ = [
    "Pyx12Result",
    "pytest_generate_tests",
    "pyx12_says",
    "run_pyx12",
    "x12_corpus_dir",
    "x12_dir",
    "x12_files",
]


def x12_corpus_dir() -> Path:
    return corpus_dir() / "x12"


def x12_files() -> list[Path]:
    directory = x12_corpus_dir()
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test asking for ``x12_file`` over the whole X12 corpus."""
    if "x12_file" in metafunc.fixturenames:
        files = x12_files()
        if not files:
            pytest.fail(f"no X12 corpus at {x12_corpus_dir()}; set CAREHUB_CORPUS")
        metafunc.parametrize("x12_file", files, ids=[p.name[:60] for p in files])


@pytest.fixture(scope="session")
def x12_dir() -> Path:
    directory = x12_corpus_dir()
    if not directory.is_dir():
        pytest.fail(f"no X12 corpus at {directory}; set CAREHUB_CORPUS")
    return directory


class Pyx12Result:
    """pyx12's verdict on one input: ``ok``, the error lines it logged, or what it raised."""

    def __init__(self, ok: bool | None, errors: list[str], raised: BaseException | None):
        self.ok, self.errors, self.raised = ok, errors, raised

    def __repr__(self) -> str:
        return f"Pyx12Result(ok={self.ok}, errors={self.errors[:3]}, raised={self.raised!r})"


def run_pyx12(data: bytes) -> Pyx12Result:
    """Validate ``data`` with pyx12's x12n_document (its 999 goes nowhere)."""
    import io
    import logging

    import pyx12.params
    import pyx12.x12n_document

    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                lines.append(record.getMessage())

    log = logging.getLogger("pyx12")
    handler = _Collect()
    log.addHandler(handler)
    old, log.propagate = log.propagate, False
    try:
        ok = pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(data.decode("latin-1")), io.StringIO(), None
        )
        return Pyx12Result(bool(ok), lines, None)
    except Exception as exc:  # pyx12's own failures are what some tests document
        return Pyx12Result(None, lines, exc)
    finally:
        log.removeHandler(handler)
        log.propagate = old


_LINE_PREFIX = re.compile(r"^Line:\d+ [A-Z0-9]+:\d+ - ")


def pyx12_says(data: bytes) -> tuple[str, ...]:
    """pyx12's verdict on ``data`` as plain, comparable text: ``()`` when it accepts the input
    and logs no error; otherwise ``"rejected"`` first when it rejects it, then its distinct
    error messages in order, without the line numbers. ``("not X12",)`` when it refuses to
    read the input, ``("no map for <guide>",)`` when it has no map for the guide."""
    result = run_pyx12(data)
    if result.raised is not None:
        found = re.search(r"Map not found.*vriic=(\S+)", str(result.raised))
        if found:
            return (f"no map for {found.group(1)}",)
        return (f"raised {type(result.raised).__name__}: {result.raised}",)
    if result.errors and "does not look like an X12 data file" in result.errors[0]:
        return ("not X12",)
    messages = [_LINE_PREFIX.sub("", e) for e in result.errors]
    verdict = [] if result.ok else ["rejected"]
    return tuple(verdict + list(dict.fromkeys(messages)))
