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

    def validate(self) -> None:
        check_url("rest_url", self.rest_url, "https", "http")
        check_url("ws_api_url", self.ws_api_url, "wss", "ws")
        if self.secret_file and self.ed25519_key_file:
            raise ValueError("ed25519_key_file: give secret_file or ed25519_key_file, not both")
        if not 1 <= self.recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms: must be within [1, {MAX_RECV_WINDOW_MS}]")
        for name in ("request_timeout_s", "unknown_grace_s", "resolve_interval_s",
                     "reconcile_interval_s", "reconcile_retry_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
