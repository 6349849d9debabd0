"""What the feed reports about itself: per connection, per symbol, and the wall-minus-trade lag.

Fed by the feed as things happen; :meth:`FeedHealth.snapshot` is the ``feed`` table of the
scanner's heartbeat (the health monitor turns it into ``hope_feed_*`` metrics, ``hope status``
prints it). Lag is wall time at arrival minus the venue's trade time ``T`` of live trades (not
backfilled ones) when the consumer takes them, so queueing in the scanner counts, as p50/p99
over the last ``LAG_SAMPLES`` trades.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

LAG_SAMPLES = 4096


@dataclass
class ConnectionHealth:
    index: int
    streams: int = 0
    state: str = "connecting"      # connecting, up, down, rotating
    since: float = 0.0             # wall time of the last state change
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    messages: int = 0
    pings: int = 0
    bad_frames: int = 0
    last_data: float = 0.0         # wall time of the last data frame


@dataclass
class SymbolHealth:
    last_trade_ms: int = 0         # venue time of the last trade handed on
    last_arrival: float = 0.0      # wall time it arrived
    stale: bool = False
    status: str = "TRADING"


@dataclass
class FeedHealth:
    connections: dict[int, ConnectionHealth] = field(default_factory=dict)
    symbols: dict[str, SymbolHealth] = field(default_factory=dict)
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))
    live: int = 0
    backfilled: int = 0
    warmup: int = 0
    up_since: float | None = None    # wall time some connection has been up since
    down_since: float | None = None  # wall time no connection has been up since

    def connection(self, index: int) -> ConnectionHealth:
        c = self.connections.get(index)
        if c is None:
            c = self.connections[index] = ConnectionHealth(index)
        return c

    def set_state(self, index: int, state: str, now: float) -> None:
        c = self.connection(index)
        c.state, c.since = state, now
        any_up = any(x.state in ("up", "rotating") for x in self.connections.values())
        if any_up:
            self.down_since = None
            if self.up_since is None:
                self.up_since = now
        elif self.down_since is None:
            self.down_since = now
            self.up_since = None

    def trade(self, symbol: str, ts_ms: int, backfilled: bool, now: float) -> None:
        s = self.symbols.get(symbol)
        if s is None:
            s = self.symbols[symbol] = SymbolHealth()
        s.last_trade_ms = ts_ms
        s.last_arrival = now
        s.stale = False
        if backfilled:
            self.backfilled += 1
        else:
            self.live += 1

    def handed_on(self, ts_ms: int, now: float) -> None:
        """A live trade reached the consumer: wall minus trade time, queueing included."""
        self.lags.append(now - ts_ms / 1000.0)

    def lag_quantiles(self) -> dict[str, float | None]:
        if not self.lags:
            return {"p50": None, "p99": None}
        xs = sorted(self.lags)
        return {"p50": round(xs[len(xs) // 2], 4),
                "p99": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 4)}

    def snapshot(self, now: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The heartbeat's ``feed`` table (JSON-compatible)."""
        conns = [{"index": c.index, "state": c.state, "streams": c.streams,
                  "connects": c.connects, "reconnects": c.reconnects, "rotations": c.rotations,
                  "messages": c.messages, "pings": c.pings, "bad_frames": c.bad_frames,
                  "data_age_s": round(now - c.last_data, 3) if c.last_data else None}
                 for c in self.connections.values()]
        syms = {name: {"last_trade_age_s": round(now - s.last_arrival, 3) if s.last_arrival
                       else None,
                       "lag_s": round(s.last_arrival - s.last_trade_ms / 1000.0, 4)
                       if s.last_trade_ms else None,
                       "stale": s.stale, "status": s.status}
                for name, s in self.symbols.items()}
        out: dict[str, Any] = {
            "connections": conns, "symbols": syms, "live_trades": self.live,
            "backfilled_trades": self.backfilled, "warmup_trades": self.warmup,
            "reconnects": sum(c.reconnects for c in self.connections.values()),
            "connections_up": sum(c.state in ("up", "rotating")
                                  for c in self.connections.values()),
            "down_s": round(now - self.down_since, 3) if self.down_since is not None else 0.0,
            "lag_s": self.lag_quantiles(),
        }
        out.update(extra or {})
        return out


def format_feed(service: str, feed: dict[str, Any], max_symbols: int = 10) -> list[str]:
    """Lines for ``hope status``: the connections, counters, lag and the stalest symbols."""
    lag = feed.get("lag_s") or {}
    out = [f"\nfeed ({service}): {feed.get('connections_up', 0)}/"
           f"{len(feed.get('connections') or [])} connections up, "
           f"{feed.get('symbols_count', 0)} symbols, live {feed.get('live_trades', 0)}, "
           f"backfilled {feed.get('backfilled_trades', 0)}, id gaps {feed.get('id_gaps', 0)}, "
           f"lost {feed.get('lost_trades', 0)}, reconnects {feed.get('reconnects', 0)}, "
           f"lag p50/p99 {lag.get('p50')}/{lag.get('p99')} s"]
    for c in feed.get("connections") or []:
        out.append(f"  connection {c.get('index')}: {c.get('state')}, {c.get('streams')} streams,"
                   f" reconnects {c.get('reconnects')}, rotations {c.get('rotations')}, "
                   f"last data {c.get('data_age_s')} s ago")
    syms = sorted((feed.get("symbols") or {}).items(),
                  key=lambda kv: -(kv[1].get("last_trade_age_s") or 0))
    for name, s in syms[:max_symbols]:
        out.append(f"  {name:<12} last trade {s.get('last_trade_age_s')} s ago, lag "
                   f"{s.get('lag_s')} s{' STALE' if s.get('stale') else ''}"
                   f"{'' if s.get('status') == 'TRADING' else ' ' + str(s.get('status'))}")
    return out
