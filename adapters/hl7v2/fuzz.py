"""Fuzz entry point for the HL7 v2 parser.

The property the fuzzer checks: ``parse`` and ``split_messages`` never raise anything but
``ParseError`` on any input, and a ParseError is never the parser's own internal failure
(code 207); a message that parses renders and parses again to the same text.

Run longer than the test suite does (see docs/hl7v2.md)::

    HYPOTHESIS_FUZZ_EXAMPLES=200000 python -m adapters.hl7v2.fuzz
"""

from __future__ import annotations

import os
import sys

from hub.errors import ParseError

from .batch import parse_batch, split_messages
from .codec import parse

__all__ = ["check_one", "main"]


def check_one(data: bytes) -> None:
    """Run the parser over ``data``; raises AssertionError when the property is broken."""
    try:
        message = parse(data)
    except ParseError as exc:
        assert exc.code != "207", f"internal parser failure: {exc.__cause__!r}"
    else:
        again = parse(message.render())
        assert again.to_text() == message.to_text()
    for chunk in split_messages(data):
        try:
            parse(chunk)
        except ParseError as exc:
            assert exc.code != "207", f"internal parser failure: {exc.__cause__!r}"
    try:
        parse_batch(data)
    except ParseError as exc:
        assert exc.code != "207", f"internal parser failure: {exc.__cause__!r}"


def main(argv: list[str] | None = None) -> int:
    """Fuzz with hypothesis for HYPOTHESIS_FUZZ_EXAMPLES examples (default 20,000)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    examples = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "20000"))
    seeds = st.sampled_from(
        [
            b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||x^^^y~z\r",
            b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||8859/1\rPID|1||\\X41\\\r",
            b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\rBTS|1\r",
        ]
    )
    mutated = st.builds(
        lambda s, n, i: s[: i % (len(s) + 1)] + n + s[i % (len(s) + 1) :],
        seeds,
        st.binary(max_size=16),
        st.integers(0, 200),
    )
    inputs = st.one_of(st.binary(max_size=2048), mutated)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(inputs)
    def fuzz(data: bytes) -> None:
        check_one(data)

    fuzz()
    print(f"fuzzed {examples} inputs: parse raised nothing but ParseError")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
