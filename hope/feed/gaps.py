"""Every trade exactly once, in id order: per symbol, the last aggregate id and a hold for holes.

The venue numbers aggregate trades consecutively per symbol, so a hole is visible. A trade
after a hole is held (a frame may just be late: a reordered pair closes its hole in time and
costs no REST call); a hole still open after ``reorder_wait_s`` is due for a REST backfill.
While a symbol backfills its live trades are held too, up to ``max_buffered``; past that the
newest are dropped, which is safe: the backfill then simply runs on past the held ones. Ids at or
below the last one are duplicates (a rotation's overlap, a repeated frame) and are dropped.
Socket-free: the feed calls :meth:`GapTracker.offer` per live trade and :meth:`backfilled` per
REST page, and hands what they return to the strategies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.feed.messages import AggTrade

Hole = tuple[int, int | None]   # (first missing id, last missing id or None: up to the venue's now)


@dataclass
class SymbolGaps:
    symbol: str
    last: int | None = None                  # highest id handed on
    held: dict[int, AggTrade] = field(default_factory=dict)
    hole_since: float | None = None          # wall time the current hole was first seen
    backfilling: bool = False
    overflowed: bool = False                 # live trades past the hold were dropped
    catch_up: bool = False                   # backfill from last+1 whatever arrives (reconnect)
    resync: bool = False                     # given up: the next live trade restarts the count
    duplicates: int = 0
    reordered: int = 0                       # holes closed by late frames, no REST needed
    holes: int = 0
    backfilled: int = 0
    lost: int = 0                            # ids given up on (recorded as a gap)

    def hole(self) -> Hole | None:
        if self.last is None:
            return None
        if self.held:
            low = min(self.held)
            if low > self.last + 1:
                return (self.last + 1, low - 1)
        if self.overflowed or self.catch_up:
            return (self.last + 1, None)
        return None


class GapTracker:
    """The per-symbol sequences of one feed."""

    def __init__(self, reorder_wait_s: float = 0.5, max_buffered: int = 200_000) -> None:
        self.reorder_wait_s = reorder_wait_s
        self.max_buffered = max_buffered
        self.symbols: dict[str, SymbolGaps] = {}
        self.lost_ranges: list[tuple[str, int, int]] = []  # (symbol, first, last): to report
        self.waiting: set[str] = set()   # symbols with a hole (hole_since set): due() looks here

    def get(self, symbol: str) -> SymbolGaps:
        seq = self.symbols.get(symbol)
        if seq is None:
            seq = self.symbols[symbol] = SymbolGaps(symbol)
        return seq

    def set_last(self, symbol: str, last_id: int | None) -> None:
        """Start a symbol after ``last_id`` (the tape's last trade); None: at its first trade."""
        self.get(symbol).last = last_id

    def request_catch_up(self, symbol: str, now: float) -> None:
        """After a reconnect: trades may have been missed even if none arrives to show it."""
        seq = self.get(symbol)
        if seq.last is not None:
            seq.catch_up = True
            if seq.hole_since is None:
                seq.hole_since = now - self.reorder_wait_s
            self.waiting.add(symbol)

    def offer(self, trade: AggTrade, now: float) -> list[AggTrade]:
        """One live trade; returns the trades now ready, in id order (often just this one)."""
        seq = self.get(trade.symbol)
        if seq.last is None and not seq.backfilling:
            seq.last = trade.id
            return [trade]
        if seq.resync and not seq.backfilling and trade.id > seq.last + 1:
            self._lose(seq, seq.last + 1, trade.id - 1)
            seq.last = trade.id - 1
        seq.resync = False
        if (seq.last is not None and trade.id <= seq.last) or trade.id in seq.held:
            seq.duplicates += 1
            return []
        if seq.last is not None and trade.id == seq.last + 1 and not seq.backfilling:
            if seq.held:
                seq.reordered += 1
            seq.last = trade.id
            return [trade] + self._drain(seq)
        if len(seq.held) >= self.max_buffered:
            seq.overflowed = True
            return []
        seq.held[trade.id] = trade
        if seq.hole_since is None:
            seq.hole_since = now
            self.waiting.add(seq.symbol)
        return []

    def _drain(self, seq: SymbolGaps) -> list[AggTrade]:
        out = []
        held = seq.held
        while held and (nxt := held.pop(seq.last + 1, None)) is not None:
            out.append(nxt)
            seq.last = nxt.id
        if seq.hole() is None:
            seq.hole_since = None
        return out

    def due(self, now: float) -> list[tuple[str, Hole]]:
        """Holes that waited ``reorder_wait_s`` and are not being backfilled yet."""
        out = []
        for symbol in list(self.waiting):
            seq = self.symbols[symbol]
            if seq.hole_since is None:
                self.waiting.discard(symbol)
                continue
            if seq.backfilling:
                continue
            hole = seq.hole()
            if hole is None:
                seq.hole_since = None
                self.waiting.discard(symbol)
            elif now - seq.hole_since >= self.reorder_wait_s:
                out.append((seq.symbol, hole))
        return out

    def begin_backfill(self, symbol: str, *, warmup: bool = False) -> Hole | None:
        """Hold the symbol's live trades while REST fills in (or, ``warmup``, while its
        history is read: no hole is counted then)."""
        seq = self.get(symbol)
        seq.backfilling = True
        seq.holes += not warmup
        return seq.hole()

    def _lose(self, seq: SymbolGaps, first: int, last: int) -> None:
        seq.lost += last - first + 1
        self.lost_ranges.append((seq.symbol, first, last))

    def backfilled(self, symbol: str, rows: list[AggTrade], complete: bool) -> list[AggTrade]:
        """One REST page (ids ascending): the rows that close the hole, then the held trades.

        ``complete``: the page was short, so the venue had nothing newer when it answered; a
        catch-up or an overflowed hold is then closed.
        """
        seq = self.get(symbol)
        out: list[AggTrade] = []
        for row in rows:
            if seq.last is not None and row.id <= seq.last:
                continue
            if seq.last is not None and row.id != seq.last + 1:
                break  # the venue skipped ids: the hole stays, the next page asks again
            if seq.last is None:
                seq.last = row.id - 1
            live = seq.held.pop(row.id, None)  # a trade that did arrive live stays live
            out.append(live or row)
            seq.last = row.id
            seq.backfilled += live is None
        if complete:
            seq.catch_up = False
            seq.overflowed = False
        out.extend(self._drain(seq))
        return out

    def give_up(self, symbol: str) -> Hole | None:
        """Stop waiting for the current hole: record it lost and go on with the held trades."""
        seq = self.get(symbol)
        hole = seq.hole()
        if hole is not None and seq.held and min(seq.held) > hole[0]:
            self._lose(seq, hole[0], min(seq.held) - 1)
            seq.last = min(seq.held) - 1
        elif hole is not None:
            seq.resync = True  # nothing held to skip to: the next live trade marks the end
        seq.catch_up = False
        seq.overflowed = False
        return hole

    def end_backfill(self, symbol: str) -> list[AggTrade]:
        """The backfill is over; trades still held after the last id go out now if contiguous."""
        seq = self.get(symbol)
        seq.backfilling = False
        if seq.last is None and seq.held:  # a symbol with no history: it starts at its first
            seq.last = min(seq.held) - 1
        out = self._drain(seq)
        if seq.hole() is not None and seq.hole_since is None:
            seq.hole_since = 0.0  # a hole remains: due at once
            self.waiting.add(symbol)
        return out

    def totals(self) -> dict[str, int]:
        keys = ("duplicates", "reordered", "holes", "backfilled", "lost")
        out = dict.fromkeys(keys, 0)
        held = 0
        for seq in self.symbols.values():
            for k in keys:
                out[k] += getattr(seq, k)
            held += len(seq.held)
        out["held"] = held
        return out
