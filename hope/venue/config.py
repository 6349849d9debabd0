"""The ``[execution.binance]`` table: where the live venue is, the key files, timing.

Nothing connects unless ``[execution] exchange = "binance"`` is set. Plain ``http://`` and
``ws://`` are refused except for 127.0.0.1 (the stand-in, ``hope venue-sim``): orders to a real
venue travel over TLS only. Key files default to ``<state>/keys/binance/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hope.feed.config import check_url

MAX_RECV_WINDOW_MS = 60_000  # the venue's maximum


@dataclass
class BinanceVenueConfig:
    rest_url: str = "https://api.binance.com"
    ws_api_url: str = "wss://ws-api.binance.com:443/ws-api/v3"
    api_key_file: str = ""        # empty: <state>/keys/binance/api_key (0600 or refuse to start)
    secret_file: str = ""         # empty: <state>/keys/binance/secret (HMAC-SHA256)
    ed25519_key_file: str = ""    # or an Ed25519 private key (PEM) instead of the HMAC secret
    recv_window_ms: int = 5000
    request_timeout_s: float = 5.0   # wall clock per REST request (below [bus] handler_timeout_s)
    unknown_grace_s: float = 120.0   # wall clock: -2013 NO_SUCH_ORDER tolerated this long
    resolve_interval_s: float = 1.0  # how often orders of unknown outcome are queried
    reconcile_interval_s: float = 300.0  # periodic reconciliation (wall clock)
    reconcile_retry_s: float = 30.0      # after a failed one, this soon again
    max_clock_offset_ms: float = 1000.0  # |venue - local| beyond this: breaker venue_guard open
    clock_refresh_s: float = 300.0   # clock-offset re-estimate (and at once after -1021)
    weight_share: float = 0.4        # of the IP's request weight per minute (the feed: 0.5)
    max_orders_per_day: int = 0      # HOPE's own cap on orders per UTC day (0: none)
    user_stream: bool = True         # the user data stream on ws_api_url (fills, gap checks)
    protective_stops: bool = True    # a STOP_LOSS_LIMIT below the stop-loss after each BUY
    stop_margin_pct: float = 1.0     # the venue's stop this far below HOPE's own stop-loss
    stop_limit_offset_pct: float = 1.0   # the stop's limit price this far below its stopPrice

    def validate(self) -> None:
        check_url("rest_url", self.rest_url, "https", "http")
        check_url("ws_api_url", self.ws_api_url, "wss", "ws")
        if self.secret_file and self.ed25519_key_file:
            raise ValueError("ed25519_key_file: give secret_file or ed25519_key_file, not both")
        if not 1 <= self.recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms: must be within [1, {MAX_RECV_WINDOW_MS}]")
        if not 0 < self.weight_share <= 1:
            raise ValueError("weight_share: must be in (0, 1]")
        if self.max_orders_per_day < 0:
            raise ValueError("max_orders_per_day: must be >= 0 (0: no cap)")
        for name in ("stop_margin_pct", "stop_limit_offset_pct"):
            if not 0 <= getattr(self, name) < 50:
                raise ValueError(f"{name}: must be in [0, 50)")
        for name in ("request_timeout_s", "unknown_grace_s", "resolve_interval_s",
                     "reconcile_interval_s", "reconcile_retry_s", "max_clock_offset_ms",
                     "clock_refresh_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
