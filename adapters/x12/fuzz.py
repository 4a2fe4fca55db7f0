"""Fuzz entry point for the X12 codec.

The property under test, for any bytes ``data``::

    parse(data) raises nothing but hub.errors.ParseError, and when it returns,
    render(parse(data)) == data and every transaction set builds its loop tree.

Run it three ways:

* with atheris (libFuzzer) when installed:
  ``python -m adapters.x12.fuzz --atheris [libFuzzer options…]``
* as a plain random mutator over seed files, no dependency:
  ``python -m adapters.x12.fuzz --runs 20000 ../shared/corpus/x12/*``
* from a test or another fuzzer: call ``fuzz_one(data)``; it raises ``AssertionError``
  when the property fails.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.x12.codec import parse, render
from hub.errors import ParseError

__all__ = ["fuzz_one", "main", "mutate"]


def fuzz_one(data: bytes) -> None:
    """Check the codec property on one input (see the module docstring)."""
    try:
        doc = parse(data)
    except ParseError:
        return
    if render(doc) != data:
        raise AssertionError("render(parse(x)) != x")
    for ts in doc.transaction_sets():
        tree = ts.tree()
        if sum(1 for _ in tree.root.walk()) != len(ts.segments):
            raise AssertionError("the loop tree lost or duplicated segments")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random edit: flip, insert, delete, duplicate a slice, or splice a separator."""
    buf = bytearray(data or b"ISA")
    pos = rng.randrange(len(buf))
    kind = rng.randrange(5)
    if kind == 0:
        buf[pos] = rng.randrange(256)
    elif kind == 1:
        buf.insert(pos, rng.choice(b"*~:^|\r\nISAGE0123"))
    elif kind == 2 and len(buf) > 1:
        del buf[pos]
    elif kind == 3:
        end = min(len(buf), pos + rng.randrange(1, 64))
        buf[pos:pos] = buf[pos:end]
    else:
        buf[pos:pos] = rng.choice([b"~", b"\r\n", b"ISA*", b"IEA*1*", b"GS*", b"SE*"])
    return bytes(buf)


def _random_runs(seeds: Sequence[bytes], runs: int, seed: int) -> int:
    rng = random.Random(seed)
    pool = list(seeds) or [b"ISA"]
    for _ in range(runs):
        data = rng.choice(pool)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        fuzz_one(data)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--atheris":
        # optional, not a dependency: imported by name so the codec never needs it
        atheris = importlib.import_module("atheris")
        atheris.Setup([sys.argv[0], *args[1:]], fuzz_one)
        atheris.Fuzz()
        return 0
    runs = 10000
    if len(args) >= 2 and args[0] == "--runs":
        runs, args = int(args[1]), args[2:]
    seeds = [Path(p).read_bytes() for p in args]
    done = _random_runs(seeds, runs, seed=0)
    sys.stdout.write(f"{done} inputs, property held\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
