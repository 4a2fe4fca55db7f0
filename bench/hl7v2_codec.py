"""HL7 v2 parsing rates: this codec against python-hl7 and hl7apy on the same messages.

    python -m bench.hl7v2_codec [seconds]      # default: the corpus ADT messages, 2 s each

Each contender parses every message and reads MSH-10, PID-3 and PID-5 (hl7apy: MSH-10 only,
because its groups move PID around per structure). The figure is messages per second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.hl7v2 import parse, split_messages
from bench.corpus import corpus_dir

__all__ = ["adt_corpus", "codec_rates"]


def _corpus_dir() -> Path:
    return corpus_dir() / "hl7v2"


def adt_corpus() -> list[Path]:
    """The corpus files holding ADT messages."""
    return sorted(p for p in _corpus_dir().iterdir() if "ADT" in p.name)


def _messages(paths: Sequence[Path]) -> list[bytes]:
    found = [m for p in paths for m in split_messages(p.read_bytes())]
    return [m for m in found if b"|ADT^" in m.split(b"\r", 1)[0].split(b"\n", 1)[0]]


def _ours(data: bytes) -> object:
    message = parse(data)
    return message.control_id, message.get("PID-3"), message.get("PID-5")


def _python_hl7(text: str) -> object:
    import hl7

    message = hl7.parse(text)
    pid = message.segment("PID")
    return message.segment("MSH")[10], pid[3], pid[5]


def _hl7apy(text: str) -> object:
    from hl7apy.parser import parse_message

    return parse_message(text).msh.msh_10.value


def _rate(fn: Callable[[Any], object], inputs: Sequence[Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for item in inputs:
            fn(item)
        count += len(inputs)
    return count / elapsed


def codec_rates(paths: Sequence[Path], seconds: float = 2.0) -> dict[str, float]:
    """Messages/s for ``carehub``, ``python-hl7`` and ``hl7apy`` over the ADT messages in
    ``paths`` (each parser gets the same messages, as it wants them: bytes or CR text)."""
    raw = _messages(paths)
    if not raw:
        raise ValueError("no ADT messages in the given files")
    texts = [parse(m).to_text() for m in raw]
    return {
        "messages": float(len(raw)),
        "carehub": _rate(_ours, raw, seconds),
        "python-hl7": _rate(_python_hl7, texts, seconds),
        "hl7apy": _rate(_hl7apy, texts, seconds),
    }


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 2.0
    rates = codec_rates(adt_corpus(), seconds)
    print(f"{int(rates.pop('messages'))} ADT messages from the corpus, {seconds:g} s each")
    for name, rate in rates.items():
        print(f"  {name:12s} {rate:10,.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
