"""Memory stays bounded while streaming a large file (tracemalloc on a ~50 MB stream)."""

from __future__ import annotations

import io
import tracemalloc

from adapters.x12.model import TransactionSet
from adapters.x12.reader import iter_events, iter_transaction_sets

HEADER = (
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240102*1200"
    "*^*00501*000000001*0*P*:~\nGS*HC*SUB*REC*20240102*1200*1*X*005010X222A1~\n"
)
CLAIM = (
    "ST*837*{n:04d}*005010X222A1~\nBHT*0019*00*{n}*20240102*1200*CH~\n"
    "NM1*41*2*CLINIC*****46*TGJ23~\nPER*IC*JANE*TE*5555552222~\n"
    "NM1*40*2*PAYER*****46*66783JJT~\nHL*1**20*1~\nNM1*85*2*CLINIC*****XX*1234567893~\n"
    "N3*1 MAIN ST~\nN4*TOWN*NY*100010000~\nREF*EI*123456789~\nHL*2*1*22*0~\n"
    "SBR*P*18*******CI~\nNM1*IL*1*DOE*JOHN****MI*ABC{n}~\nN3*2 SIDE ST~\n"
    "N4*TOWN*NY*10001~\nDMG*D8*19800101*M~\nNM1*PR*2*PAYER*****PI*12345~\n"
    "CLM*PCN{n}*100***11:B:1*Y*A*Y*Y~\nHI*ABK:J020~\nLX*1~\nSV1*HC:99213*100*UN*1***1~\n"
    "DTP*472*D8*20240102~\nNTE*ADD*{note}~\nSE*23*{n:04d}~\n"
)
#: long free text keeps the segment count (and the test's run time under tracemalloc)
#: down while the byte count is that of a large file
NOTE = "LONG CLINICAL NOTE TEXT " * 160
TRAILER = "GE*{count}*1~\nIEA*1*000000001~\n"


class GeneratedX12(io.RawIOBase):
    """A ~``target`` byte X12 file produced on the fly: nothing of it is held in memory."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.produced = 0
        self.sets = 0
        self.pending = HEADER.encode()
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while len(self.pending) < len(b) and not self.done:
            if self.produced < self.target:
                self.sets += 1
                self.pending += CLAIM.format(n=self.sets % 10000 or 1, note=NOTE).encode()
            else:
                self.pending += TRAILER.format(count=self.sets).encode()
                self.done = True
            self.produced = self.produced + len(CLAIM) + len(NOTE)
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def test_streaming_a_50_mb_file_keeps_peak_memory_to_a_few_mb() -> None:
    stream = io.BufferedReader(GeneratedX12(50_000_000), buffer_size=65536)
    tracemalloc.start()
    try:
        count = 0
        for ts in iter_transaction_sets(stream):
            count += 1
            assert ts.se is not None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 10_000
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_events_arrive_in_envelope_order() -> None:
    kinds = [type(ev).__name__ for ev in iter_events(io.BufferedReader(GeneratedX12(5000)))]
    assert kinds[:2] == ["InterchangeOpened", "GroupOpened"]
    assert kinds[-2:] == ["GroupClosed", "InterchangeClosed"]
    assert set(kinds[2:-2]) == {TransactionSet.__name__}
