"""Redaction of log records that would quote what a client sent.

The hub's own log lines carry ids, counts and error classes, never content. Libraries are
not so careful: aiohttp's HTTP parser puts the offending request line or header into its
exception text (``Bad status line: b'GET /fhir/Patient?name=…&ssn=… HTTP/1.1 x'``) and logs
it with the traceback; its access log quotes the request line with its query string. A
``RedactingFilter`` on such a logger rewrites every record before any handler sees it:

- an attached exception keeps its class (and HTTP status, when it has one) and, for a fault
  of ours rather than a refused request, its stack frames — never its message, which is where
  the quoted input goes; a refused request (a 4xx error) is a warning, not an error;
- the message text loses query strings, credentials after ``Bearer``/``Basic``/``Digest``
  and the values of ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and
  ``Set-Cookie`` headers (``redact``).

What is left of a request is its method and its path without the query.
"""

from __future__ import annotations

import logging
import re
import traceback

__all__ = ["RedactingFilter", "redact", "redact_loggers"]

#: a query string: from ``?`` to the next space or quote
_QUERY = re.compile(r"\?[^\s'\"]*")
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|digest)\s+[^\s'\",]+")
_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie)(\s*[:=]\s*)[^\r\n'\"]*"
)

WITHHELD = "<redacted>"


def redact(text: str) -> str:
    """``text`` without query strings, credentials and authorization or cookie header
    values."""
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{WITHHELD}", text)
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)} {WITHHELD}", text)
    return _QUERY.sub(f"?{WITHHELD}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record of the logger it is attached to (see the module docstring);
    never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "carehub_redacted", False):
            return True
        text = redact(record.getMessage())
        if record.exc_info is not None and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            status = getattr(exc, "status", None) or getattr(exc, "code", None)
            summary = type(exc).__name__ + (f" {status}" if isinstance(status, int) else "")
            if isinstance(status, int) and 400 <= status < 500:
                # a refused request: where the parser stopped is in the (withheld) message;
                # the client's fault, not ours: at most a warning
                text += f": {summary} (request content not logged)"
                if record.levelno > logging.WARNING:
                    record.levelno, record.levelname = logging.WARNING, "WARNING"
            else:
                frames = "".join(traceback.format_tb(exc.__traceback__))
                text += (
                    f": {summary} (message not logged)\nTraceback (most recent call last):\n"
                    f"{frames}{type(exc).__name__}: (message not logged)"
                )
        record.msg = text
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.carehub_redacted = True
        return True


def redact_loggers(*names: str) -> None:
    """Attach one ``RedactingFilter`` to each named logger (once; idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
