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
  ``shutdown_grace_s`` later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hope.venue_sim.market import AggTrade

KINDS = ("drop", "skip", "duplicate", "reorder", "stall", "bad_json", "shutdown")
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
        if self.to_id is not None and self.to_id < self.from_id:
            raise ValueError(f"fault {self.kind}: to_id {self.to_id} < from_id {self.from_id}")

    @property
    def last(self) -> int:
        return self.from_id if self.to_id is None else self.to_id

    def covers(self, symbol: str, a: int) -> bool:
        return (self.symbol is None or self.symbol == symbol) and self.from_id <= a <= self.last


# An action for the hub: ("send", trade) | ("bad_json", None) | ("drop", None)
#                        | ("shutdown", None) | ("stall", seconds)
Action = tuple[str, object]


class StreamFaults:
    """Turns each published trade into the frames and actions the faults call for."""

    def __init__(self, faults: Iterable[StreamFault] = ()) -> None:
        self.faults = list(faults)
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
                else:  # drop, shutdown
                    after.append((kind, None))
            else:
                continue
            self.fired.append((kind, symbol, trade.a))
        return before + sends + after
