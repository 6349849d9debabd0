"""Stream fault knobs: what the stand-in does to the frames of the trades it publishes.

Each fault names aggregate ids (``from_id``..``to_id``, inclusive; one id for point faults)
and optionally a symbol (none: every symbol). They act when the trade is published, on every
connection carrying the symbol's stream, so a client that reconnects later finds the stream
past them (the trades stay available over REST):

- ``drop``: after sending trade ``from_id`` the connections are aborted (no close frame, as a
  network drop looks);
- ``skip``: trades in the range are never sent;
- ``duplicate``: each trade in the range is sent twice;
- ``reorder``: the trades of the range are held and sent in reverse order;
- ``stall``: from trade ``from_id`` on, the connections open at that moment get no data for
  ``seconds`` (pings go on; what was published meanwhile is not sent to them);
- ``bad_json``: a malformed text frame is sent just before trade ``from_id``;
- ``shutdown``: after trade ``from_id`` every connection gets ``serverShutdown`` and is closed
  ``shutdown_grace_s`` later;
- ``outage``: after trade ``from_id`` the whole venue is unreachable for ``seconds``: every
  connection is aborted, new connections and REST requests get 503 (the market goes on, so the
  trades of the outage are there to backfill afterwards).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hope.venue_sim.market import AggTrade

KINDS = ("drop", "skip", "duplicate", "reorder", "stall", "bad_json", "shutdown", "outage")
BAD_JSON = '{"e":"aggTrade","E":'  # a truncated frame: what a broken proxy or encoder sends


@dataclass(frozen=True)
class StreamFault:
    kind: str
    from_id: int
    to_id: int | None = None
    symbol: str | None = None
    seconds: float = 0.0       # stall: how long; 0 = for the rest of the connection's life

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.kind == "outage" and self.seconds <= 0:
            raise ValueError("fault outage: seconds must be > 0")
        if self.to_id is not None and self.to_id < self.from_id:
            raise ValueError(f"fault {self.kind}: to_id {self.to_id} < from_id {self.from_id}")

    @property
    def last(self) -> int:
        return self.from_id if self.to_id is None else self.to_id

    def covers(self, symbol: str, a: int) -> bool:
        return (self.symbol is None or self.symbol == symbol) and self.from_id <= a <= self.last


# An action for the publisher: ("send", trade) | ("bad_json", None) | ("drop", _)
#                              | ("shutdown", _) | ("stall", seconds) | ("outage", seconds)
Action = tuple[str, object]


class Outage:
    """The venue unreachable until a moment (monotonic clock), shared by streams and REST."""

    def __init__(self, mono: Callable[[], float] = time.monotonic) -> None:
        self.mono = mono
        self.until = 0.0
        self.on_start: list[Callable[[], None]] = []   # e.g. the WebSocket API cuts its users

    def start(self, seconds: float) -> None:
        self.until = max(self.until, self.mono() + seconds)
        for hook in list(self.on_start):
            hook()

    def active(self) -> bool:
        return self.mono() < self.until


class ClockSkew:
    """How far the venue's clock is off the stand-in's wall clock (a fault knob): ``/time``,
    the ``recvWindow`` check and order and trade times read it; the market does not."""

    def __init__(self, offset_ms: float = 0.0) -> None:
        self.offset_ms = offset_ms

    def now_ms(self, clock: Callable[[], float]) -> float:
        return clock() * 1000 + self.offset_ms


class StreamFaults:
    """Turns each published trade into the frames and actions the faults call for."""

    def __init__(self, faults: Iterable[StreamFault] = (),
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.faults = list(faults)
        self.log = log
        self._held: dict[str, list[AggTrade]] = {}
        self.fired: list[tuple[str, str, int]] = []   # (kind, symbol, id): for logs and tests

    def plan(self, symbol: str, trade: AggTrade) -> list[Action]:
        if not self.faults:
            return [("send", trade)]
        before: list[Action] = []
        after: list[Action] = []
        sends: list[Action] = [("send", trade)]
        for f in self.faults:
            if not f.covers(symbol, trade.a):
                continue
            kind = f.kind
            if kind == "skip":
                sends = []
            elif kind == "duplicate":
                sends = sends * 2
            elif kind == "reorder":
                held = self._held.setdefault(symbol, [])
                held.append(trade)
                sends = []
                if trade.a == f.last:
                    sends = [("send", t) for t in reversed(held)]
                    held.clear()
            elif trade.a == f.from_id:
                if kind == "bad_json":
                    before.append(("bad_json", None))
                elif kind == "stall":
                    before.append(("stall", f.seconds))
                    sends = []
                else:  # drop, shutdown, outage
                    after.append((kind, f.seconds))
            else:
                continue
            self.fired.append((kind, symbol, trade.a))
            if trade.a == f.from_id:
                self.log(f"fault {kind} on {symbol} at id {trade.a}"
                         + (f"..{f.last}" if f.last != f.from_id else ""))
        return before + sends + after
