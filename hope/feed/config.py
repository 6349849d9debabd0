"""The ``[scanner.binance]`` table: where the live feed connects and how it paces itself.

The defaults point at Binance spot's public endpoints, but nothing connects unless
``[scanner] source = "binance"`` is set explicitly. Plain ``ws://`` and ``http://`` are refused
except for 127.0.0.1 (the stand-in exchange, ``hope venue-sim``): market data from a real venue
travels over TLS only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Binance's documented limits, which the defaults stay under.
MAX_STREAMS_PER_CONNECTION = 1024
MAX_CONTROL_PER_S = 5.0
MAX_CONNECTS_PER_5MIN = 300
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def check_url(name: str, url: str, secure: str, plain: str) -> None:
    """Raise ValueError naming ``name`` unless ``url`` is ``secure://`` or loopback ``plain://``."""
    parts = urlsplit(url)
    if parts.scheme not in (secure, plain) or not parts.hostname:
        raise ValueError(f"{name}: {url!r} is not a {secure}:// URL")
    if parts.scheme == plain and parts.hostname != "127.0.0.1":
        raise ValueError(f"{name}: plain {plain}:// is refused except for 127.0.0.1 "
                         f"(use {secure}://)")
    if parts.query or parts.fragment:
        raise ValueError(f"{name}: a base URL without query or fragment is expected")


@dataclass
class BinanceConfig:
    ws_url: str = "wss://stream.binance.com:9443"   # HOPE connects to <ws_url>/stream?streams=
    rest_url: str = "https://api.binance.com"      # HOPE calls <rest_url>/api/v3/...
    symbols: list[str] = field(default_factory=list)  # explicit list, or:
    quote: str = ""                   # every TRADING symbol quoted in this asset
    streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    control_per_s: float = 4.0        # SUBSCRIBE/UNSUBSCRIBE/LIST pace (venue drops above 5/s)
    connects_per_5min: int = 200      # our share of the venue's 300 attempts per 5 min per IP
    backoff_initial_s: float = 0.5    # reconnect backoff: doubles up to the max, full jitter
    backoff_max_s: float = 30.0
    stale_connection_s: float = 60.0  # no data for this long while subscribed: reconnect
    stale_symbol_s: float = 300.0     # a symbol without trades this long is reported stale
    rotate_after_s: float = 23.5 * 3600  # make-before-break well before the venue's 24 h cut
    reorder_wait_s: float = 0.5       # an id gap waits this long for late frames, then backfills
    max_backfill_s: float = 120.0     # wall time one backfill may take; the rest becomes a gap
    max_buffered: int = 200_000       # live trades held per symbol while it backfills
    weight_share: float = 0.5         # share of the venue's REQUEST_WEIGHT per minute we use
    warmup_s: float = 3600.0          # history fed to the strategies at a first start
    symbols_refresh_s: float = 3600.0  # exchangeInfo re-read: listings, delistings, BREAK
    flush_s: float = 0.25             # tape flush interval (one gzip member per file per flush)
    fsync_s: float = 5.0              # tape fsync interval
    tape_max_age_days: float = 30.0   # tape files older than this are deleted
    tape_max_bytes: int = 20 << 30    # disk budget of the tape; oldest files go first
    tape_alert_share: float = 0.8     # ALERT when the tape reaches this share of the budget
    down_alert_s: float = 30.0        # ALERT when no connection has been up for this long
    request_timeout_s: float = 10.0

    def validate(self) -> None:
        check_url("ws_url", self.ws_url, "wss", "ws")
        check_url("rest_url", self.rest_url, "https", "http")
        if self.symbols and self.quote:
            raise ValueError("symbols: give symbols or quote, not both")
        for s in self.symbols:
            if not _SYMBOL.match(s):
                raise ValueError(f"symbols: {s!r} is not an upper-case symbol like EVXBTC")
        if self.quote and not _SYMBOL.match(self.quote):
            raise ValueError(f"quote: {self.quote!r} is not an upper-case asset like BTC")
        if not 1 <= self.streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"streams_per_connection: must be within [1, "
                             f"{MAX_STREAMS_PER_CONNECTION}]")
        if not 0 < self.control_per_s < MAX_CONTROL_PER_S:
            raise ValueError(f"control_per_s: must be > 0 and < {MAX_CONTROL_PER_S:g}")
        if not 1 <= self.connects_per_5min <= MAX_CONNECTS_PER_5MIN:
            raise ValueError(f"connects_per_5min: must be within [1, {MAX_CONNECTS_PER_5MIN}]")
        if not 0 < self.weight_share <= 1:
            raise ValueError("weight_share: must be within (0, 1]")
        if not 0 < self.tape_alert_share < 1:
            raise ValueError("tape_alert_share: must be within (0, 1)")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s: must be >= backoff_initial_s")
        if not 0 < self.rotate_after_s < 24 * 3600:
            raise ValueError("rotate_after_s: must be > 0 and below the venue's 24 h")
        for name in ("backoff_initial_s", "stale_connection_s", "stale_symbol_s", "flush_s",
                     "fsync_s", "max_backfill_s", "symbols_refresh_s", "request_timeout_s",
                     "down_alert_s", "max_buffered", "tape_max_bytes", "tape_max_age_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
        for name in ("reorder_wait_s", "warmup_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")
