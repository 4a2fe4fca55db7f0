"""Fault points for the fault-injection suite (``tests/fault``): kill the process here.

``CAREHUB_FAULT_AT=<point>`` makes the first pass through ``fault_point("<point>")`` send
SIGKILL to the own process; ``CAREHUB_FAULT_AT=<point>:<n>`` waits for the n-th pass. The
variable is read once, at import, so an unset variable costs one comparison per call.

Points: ``before_store``, ``after_store``, ``after_publish`` (sent to the broker, confirm
not yet in), ``after_confirm`` (confirmed, answer neither recorded nor sent) in the inbound
path; ``mid_delivery`` (the partner took it, the delivery not yet recorded) outbound.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "fault_point"]

ENV = "CAREHUB_FAULT_AT"


def _parse(spec: str | None) -> tuple[str | None, int]:
    if not spec:
        return None, 0
    name, _, count = spec.partition(":")
    return name.strip() or None, max(1, int(count)) if count.strip() else 1


_TARGET, _AFTER = _parse(os.environ.get(ENV))
_hits = 0


def fault_point(name: str) -> None:
    """SIGKILL this process when ``CAREHUB_FAULT_AT`` names ``name`` (on its n-th pass)."""
    if name != _TARGET:
        return
    global _hits  # noqa: PLW0603 - one counter per process, by design
    _hits += 1
    if _hits >= _AFTER:
        os.kill(os.getpid(), signal.SIGKILL)
