"""Per-publisher sequence tracking: duplicates are dropped, holes become replay requests.

:class:`StreamCursor` is the one sequence tracker: bus subscribers use it through
:class:`Cursors`, the audit writer uses it directly for its durable watermark.

A subscriber to everything tracks ``seq`` per (publisher, epoch); one that listens to some event
types tracks ``tseq`` per (publisher, epoch, event type), so events of types it never subscribed to
are not mistaken for losses. Delivery may run ahead of a hole; the hole is filled through REPLAY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL = "*"  # stream key of the seq-mode cursor


@dataclass
class StreamCursor:
    """Contiguous low-water mark plus the numbers seen above it."""

    low: int = 0
    above: set[int] = field(default_factory=set)

    @property
    def high(self) -> int:
        return max(self.above) if self.above else self.low

    def seen(self, n: int) -> bool:
        return n <= self.low or n in self.above

    def add(self, n: int) -> bool:
        """Record ``n``; False when it was already seen (a duplicate)."""
        if n == self.low + 1 and not self.above:  # the common case: the next one, in order
            self.low = n
            return True
        if self.seen(n):
            return False
        self.above.add(n)
        self._advance()
        return True

    def cover(self, first: int, last: int) -> None:
        """Mark a closed range as settled (delivered, not ours, or reported missing)."""
        if last <= self.low:
            return
        if first <= self.low + 1:
            self.low = max(self.low, last)
            self.above = {n for n in self.above if n > self.low}
        else:
            self.above.update(range(first, last + 1))
        self._advance()

    def holes(self, upto: int | None = None) -> list[tuple[int, int]]:
        """Closed ranges in (low, upto] not seen yet (default ``upto``: the highest seen)."""
        top = self.high if upto is None else upto
        out: list[tuple[int, int]] = []
        expect = self.low + 1
        for n in sorted(self.above):
            if n > top:
                break
            if n > expect:
                out.append((expect, n - 1))
            expect = n + 1
        if expect <= top:
            out.append((expect, top))
        return out

    def _advance(self) -> None:
        while self.low + 1 in self.above:
            self.low += 1
            self.above.discard(self.low)


StreamKey = tuple[str, str, str]  # (publisher, epoch, event type or ALL)


class Cursors:
    """All stream cursors of one subscriber."""

    def __init__(self, track_all: bool) -> None:
        self.track_all = track_all
        self.streams: dict[StreamKey, StreamCursor] = {}

    def key(self, publisher: str, epoch: str, event_type: str) -> StreamKey:
        return (publisher, epoch, ALL if self.track_all else event_type)

    def number(self, seq: int, tseq: int) -> int:
        return seq if self.track_all else tseq

    def get(self, key: StreamKey) -> StreamCursor:
        cur = self.streams.get(key)
        if cur is None:
            cur = self.streams[key] = StreamCursor()
        return cur

    def observe(self, key: StreamKey, n: int) -> tuple[bool, list[tuple[int, int]]]:
        """Record ``n`` on a stream: (is_new, holes below it that need a replay)."""
        cur = self.get(key)
        if not cur.add(n):
            return False, []
        return True, cur.holes(n - 1) if n - 1 > cur.low else []

    def seed(self, key: StreamKey, low: int) -> None:
        """Start a stream at a known contiguous mark (restored from a journal or the audit log)."""
        self.get(key).cover(1, low) if low > 0 else None

    def lows(self) -> dict[str, dict[str, int]]:
        """{publisher: {epoch or epoch/type: low}} for heartbeats and diagnostics."""
        out: dict[str, dict[str, int]] = {}
        for (pub, epoch, kind), cur in self.streams.items():
            label = epoch if kind == ALL else f"{epoch}/{kind}"
            out.setdefault(pub, {})[label] = cur.low
        return out


class RecentCopies:
    """Frames seen lately, by the hash of their body: with several proxies each frame arrives
    once per proxy, and the copy is dropped before it is decoded. Two generations of at most
    ``size`` hashes each; a copy older than that is decoded and dropped by its stream cursor
    instead (a collision would be a lost event, which the cursor would then see as a hole)."""

    def __init__(self, size: int = 32_768) -> None:
        self.size = size
        self._new: set[int] = set()
        self._old: set[int] = set()

    def seen(self, body: bytes) -> bool:
        """True for a copy of a body :meth:`add` took."""
        h = hash(body)
        return h in self._new or h in self._old

    def add(self, body: bytes) -> None:
        """Remember an accepted body (decoded, authenticated): only then are its copies
        dropped unread, so a forged frame carrying a genuine body cannot shadow the genuine."""
        if len(self._new) >= self.size:
            self._old, self._new = self._new, set()
        self._new.add(hash(body))
