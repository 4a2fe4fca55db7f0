"""X12 rates: parse + check + 999 against pyx12 on a 5,000-claim 837P, and streaming memory.

    python -m bench.x12_bench [--quick]

1. An 837P (005010X222A1) of 5,000 claims is built from a corpus claim: the corpus file's
   2300 loop is copied with fresh CLM01s, 100 claims per transaction set (the guide allows
   loop 2300 at most 100 times per subscriber), 50 sets in one functional group.
2. ``carehub``: parse, check against the guide table and render the 999; ``pyx12``:
   ``x12n_document`` validation of the same bytes, writing its own 999. Claims per second.
3. A ~100 MB file (the same sets repeated, renumbered) is streamed in a subprocess:
   ``iter_transaction_sets`` alone, and with every set checked; the child reports its
   tracemalloc peak and its own peak RSS (VmHWM), so the parent's memory does not count.

``x12_rates(quick)`` returns the figures as a dict (``python -m bench`` calls it).
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.x12 import counter_allocator, parse, parse_interchange
from bench.corpus import corpus_dir
from conformance.x12 import acknowledge
from hub.canonical import EventKind
from hub.context import MapContext
from mappings.x12 import map_transaction

__all__ = ["build_837p", "x12_rates"]

SOURCE = "lfhx12__837_005010X222A2_demo.autoaccident.837"
CLAIMS_PER_SET = 100


def _corpus_dir() -> Path:
    return corpus_dir() / "x12"


def build_837p(claims: int, control_start: int = 1) -> bytes:
    """An 837P (005010X222A1) with ``claims`` claims copied from the corpus claim."""
    source = (_corpus_dir() / SOURCE).read_bytes().decode("latin-1")
    ic = parse_interchange(source.replace("005010X222A2", "005010X222A1").encode("latin-1"))
    ts = ic.groups[0].transaction_sets[0]
    claim = ts.loop("2300")
    if claim is None:
        raise RuntimeError(f"{SOURCE} has no 2300 loop")
    claim_segments = list(claim.walk())
    first = ts.segments.index(claim_segments[0])
    head = "".join(s.render() for s in ts.segments[1:first])  # after ST, before the claim
    body = "".join(s.render() for s in claim_segments[1:])  # after CLM
    clm = claim_segments[0]
    d = clm.delimiters
    sets: list[str] = []
    for n in range((claims + CLAIMS_PER_SET - 1) // CLAIMS_PER_SET):
        count = min(CLAIMS_PER_SET, claims - n * CLAIMS_PER_SET)
        st02 = f"{control_start + n:04d}"
        text = [f"ST{d.element}837{d.element}{st02}{d.element}005010X222A1{d.segment}\n", head]
        for k in range(count):
            fresh = d.element.join(["CLM", f"PCN{n:04d}{k:03d}", *clm.elements[2:]])
            text += [fresh + d.segment + clm.after, body]
        segs = 1 + head.count(d.segment) + count * (1 + body.count(d.segment)) + 1
        text.append(f"SE{d.element}{segs}{d.element}{st02}{d.segment}\n")
        sets.append("".join(text))
    group = ic.groups[0]
    gs = group.gs.render().replace("005010X222A2", "005010X222A1")
    ge = f"GE{d.element}{len(sets)}{d.element}{group.control_number}{d.segment}\n"
    iea = ic.iea.render() if ic.iea else ""
    return (ic.isa.render() + gs + "".join(sets) + ge + iea).encode("latin-1")


def _ours(data: bytes) -> tuple[float, bool, int]:
    """Parse, check and 999, then map every set to canonical events (one claim.submitted
    per claim): the work the hub does per inbound 837 before publishing."""
    start = time.perf_counter()
    doc = parse(data)
    acks = [acknowledge(ic, counter_allocator()) for ic in doc.interchanges]
    ctx = MapContext(source_system="bench", format="x12")
    claims = sum(
        1
        for ic in doc.interchanges
        for ts in ic.transaction_sets()
        for event in map_transaction(ts, ctx, envelope=ic)
        if event.kind is EventKind.CLAIM_SUBMITTED
    )
    elapsed = time.perf_counter() - start
    return elapsed, all(a.accepted and a.ack_999 for a in acks), claims


def _hub_read_peak(data: bytes) -> float:
    """What the hub's X12 reader (parse, check, map into packed events: the pipeline's work
    before publishing) holds at its peak, per byte of the file (tracemalloc)."""
    import tracemalloc

    from carehub.app.x12 import X12Reader

    reader = X12Reader()
    tracemalloc.start()
    try:
        native = reader.parse(data)
        reader.check(native)
        reader.map(native, MapContext(source_system="bench", format="x12"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / len(data)


def _pyx12(data: bytes) -> tuple[float, bool]:
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").disabled = True
    start = time.perf_counter()
    ok = pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(data.decode("latin-1")), io.StringIO(), None
    )
    return time.perf_counter() - start, bool(ok)


_CHILD = r"""
import json, resource, sys, time, tracemalloc


def peak_rss_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss survives execve on Linux and
    # would report the (forked) parent's peak instead
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from adapters.x12.reader import iter_transaction_sets
from conformance.x12.check import check_transaction_set
path, check, traced = sys.argv[1], sys.argv[2] == "check", sys.argv[3] == "traced"
if traced:
    tracemalloc.start()
start = time.perf_counter()
sets = errors = 0
with open(path, "rb") as stream:
    for ts in iter_transaction_sets(stream):
        sets += 1
        if check:
            errors += sum(1 for f in check_transaction_set(ts) if f.is_error)
elapsed = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"sets": sets, "errors": errors, "seconds": elapsed,
                  "tracemalloc_peak_mb": peak / 1e6,
                  "peak_rss_mb": peak_rss_mb()}))
"""


def _stream_in_child(path: Path, check: bool, traced: bool = False) -> dict[str, Any]:
    """Stream ``path`` in a fresh interpreter; tracemalloc only when ``traced`` (it slows
    allocation several times, so rates come from untraced runs)."""
    repo = Path(__file__).resolve().parent.parent
    args = [str(path), "check" if check else "lex", "traced" if traced else "plain"]
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _big_file(directory: Path, megabytes: int) -> Path:
    """Repeat 5,000-claim interchanges (fresh ISA13s) until ``megabytes`` are written."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "big.x12"
    written, n = 0, 0
    with path.open("wb") as out:
        while written < megabytes * 1_000_000:
            n += 1
            chunk = build_837p(1000, control_start=n * 10).replace(
                b"*000000905*", f"*{n:09d}*".encode()
            )
            out.write(chunk)
            written += len(chunk)
    return path


def x12_rates(quick: bool = False) -> dict[str, Any]:
    """Claims/s (ours: parse + check + 999 + one claim.submitted event per claim; pyx12:
    validate + 999) and streaming memory."""
    claims = 500 if quick else 5000
    data = build_837p(claims)
    ours_s, ours_ok, events = _ours(data)
    pyx12_s, pyx12_ok = _pyx12(data)
    figures: dict[str, Any] = {
        "claims": claims,
        "file_mb": round(len(data) / 1e6, 2),
        "carehub_claims_per_s": round(claims / ours_s),
        "carehub_accepted": ours_ok,
        "carehub_claim_events": events,
        "pyx12_claims_per_s": round(claims / pyx12_s),
        "pyx12_accepted": pyx12_ok,
        "hub_read_traced_peak_per_byte": round(_hub_read_peak(data), 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        big = _big_file(Path(tmp), 10 if quick else 100)
        figures["stream_file_mb"] = round(big.stat().st_size / 1e6, 1)
        plain = _stream_in_child(big, check=False)
        traced = _stream_in_child(big, check=False, traced=True)
        figures["stream_sets"] = plain["sets"]
        figures["stream_lex_mb_per_s"] = round(figures["stream_file_mb"] / plain["seconds"], 1)
        figures["stream_lex_peak_rss_mb"] = round(plain["peak_rss_mb"], 1)
        figures["stream_lex_tracemalloc_peak_mb"] = round(traced["tracemalloc_peak_mb"], 2)
        # checking every set costs far more than reading: a fifth of the file is enough
        part = _big_file(Path(tmp) / "part", 2 if quick else 20)
        checked = _stream_in_child(part, check=True)
        figures["stream_check_file_mb"] = round(part.stat().st_size / 1e6, 1)
        figures["stream_check_mb_per_s"] = round(
            figures["stream_check_file_mb"] / checked["seconds"], 2
        )
        figures["stream_check_peak_rss_mb"] = round(checked["peak_rss_mb"], 1)
        figures["stream_check_errors"] = checked["errors"]
    return figures


if __name__ == "__main__":
    for key, value in x12_rates(quick="--quick" in sys.argv).items():
        sys.stdout.write(f"{key:>36}: {value}\n")
