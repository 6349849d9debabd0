"""Seen sequence numbers of one (publisher, epoch): what the durable watermark is made of."""

from __future__ import annotations


class SeqTrack:
    """Seen sequence numbers of one (publisher, epoch): a contiguous prefix plus stragglers."""

    __slots__ = ("contig", "above")

    def __init__(self) -> None:
        self.contig = 0
        self.above: set[int] = set()

    def mark(self, seq: int) -> None:
        if seq <= self.contig:
            return
        self.above.add(seq)
        while self.contig + 1 in self.above:
            self.contig += 1
            self.above.discard(self.contig)

    def mark_range(self, first: int, last: int) -> None:
        if last <= self.contig:
            return
        if first <= self.contig + 1:
            self.contig = last
            self.above = {s for s in self.above if s > last}
            while self.contig + 1 in self.above:
                self.contig += 1
                self.above.discard(self.contig)
        else:
            self.above.update(range(first, last + 1))

    def holes(self) -> list[tuple[int, int]]:
        out, expect = [], self.contig + 1
        for s in sorted(self.above):
            if s > expect:
                out.append((expect, s - 1))
            expect = s + 1
        return out
