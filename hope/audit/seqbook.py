"""What the audit log holds of each publisher's sequence: one stream cursor per (publisher,
epoch), learned from records (on disk at start, appended since), GAPs and DUPLICATEs."""

from __future__ import annotations

import contextlib
from collections.abc import ItemsView
from typing import Any

from hope.bus.cursor import StreamCursor
from hope.envelope import Envelope

Key = tuple[str, str]  # (publisher, epoch)


def nested(lows: dict[Key, int]) -> dict[str, dict[str, int]]:
    """{(publisher, epoch): seq} as {publisher: {epoch: seq}}, zeros left out."""
    out: dict[str, dict[str, int]] = {}
    for (pub, epoch), seq in lows.items():
        if seq > 0:
            out.setdefault(pub, {})[epoch] = seq
    return out


class SeqBook:
    """Per (publisher, epoch): the contiguous low mark and the seqs held above it (O(holes))."""

    def __init__(self) -> None:
        self.streams: dict[Key, StreamCursor] = {}
        self.gaps: dict[Key, list[tuple[int, int]]] = {}  # ranges GAP records declared lost

    def track(self, publisher: str, epoch: str) -> StreamCursor:
        cur = self.streams.get((publisher, epoch))
        if cur is None:  # (not setdefault: that would build a cursor per event)
            cur = self.streams[(publisher, epoch)] = StreamCursor()
        return cur

    def learn(self, rec: dict[str, Any]) -> None:
        """Account for one record found in the log."""
        pub, epoch, seq = rec.get("publisher"), rec.get("epoch"), rec.get("seq")
        if isinstance(pub, str) and isinstance(epoch, str) and isinstance(seq, int) and seq > 0:
            self.track(pub, epoch).add(seq)
        p = rec.get("payload") or {}
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            if rec.get("event_type") == "DUPLICATE":
                self.track(p["publisher"], p["epoch"]).add(int(p["seq"]))
            elif rec.get("event_type") == "GAP":
                self.gap(p["publisher"], p["epoch"], int(p["from"]), int(p["to"]))

    def gap(self, publisher: str, epoch: str, first: int, last: int) -> None:
        """first..last declared lost: settled for the watermark, yet not held (one that turns
        up after all is written; only the id window dedupes it)."""
        self.track(publisher, epoch).cover(first, last)
        self.gaps.setdefault((publisher, epoch), []).append((first, last))

    def held(self, env: Envelope) -> bool:
        """Is ``env``'s (publisher, epoch, seq) already in the log (a resend, however old)?"""
        if not (env.publisher and env.epoch and env.seq > 0):
            return False
        key = (env.publisher, env.epoch)
        cur = self.streams.get(key)
        if cur is None or not cur.seen(env.seq):
            return False
        return not any(a <= env.seq <= b for a, b in self.gaps.get(key, ()))

    def resent(self, env: Envelope) -> dict[str, Any] | None:
        """An audited event published again under a new (epoch, seq) (the executor republishes
        an ORDER/FILL with its original event_id after a crash) is not written twice, but its
        seq must not become a hole: the DUPLICATE record's payload naming the seq and the event
        it repeats (the seq is then marked), or None when that (epoch, seq) is already held."""
        if not (env.publisher and env.epoch and env.seq > 0):
            return None
        cur = self.track(env.publisher, env.epoch)
        if cur.seen(env.seq):
            return None
        cur.add(env.seq)
        return {"publisher": env.publisher, "epoch": env.epoch, "seq": env.seq,
                "duplicate_of": env.event_id}

    def lows(self) -> dict[Key, int]:
        return {k: t.low for k, t in self.streams.items()}

    def holes(self) -> list[tuple[str, str, int, int]]:
        return [(p, e, a, b) for (p, e), t in sorted(self.streams.items()) for a, b in t.holes()]

    def items(self) -> ItemsView[Key, StreamCursor]:
        return self.streams.items()
