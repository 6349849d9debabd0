"""The ``[dashboard]`` config section: the operator's live dashboard (``dashboard`` program)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section


@register_section("dashboard")
@dataclass
class DashboardConfig:
    host: str = "127.0.0.1"          # never 0.0.0.0 unless you mean it
    port: int = 8790                 # 0: any free port (tests); the bound port is in the heartbeat
    allowed_hosts: list[str] = field(default_factory=list)  # Host names besides loopback/host
    # The page needs the gateway's read-scope token (<state>/keys/gateway-read.token, made by
    # `hope keys init`; env HOPE_GATEWAY_TOKEN_READ overrides). Control requests carry the
    # operator's control token, typed into the page, and are forwarded to the gateway.
    read_token_file: str = ""        # empty: <state>/keys/gateway-read.token
    gateway_url: str = ""            # empty: the gateway's own address from its heartbeat
    catch_up: bool = True            # at start, fold in the audit log's history
    max_prices_per_symbol: int = 20000
    max_markers: int = 5000          # per symbol and kind
    max_trades: int = 5000
    latency_samples: int = 5000      # per stage
    remember_events: int = 200000    # event ids kept to drop repeats (history vs live)
    recent: int = 50                 # dead letters and alerts listed
    feed_points: int = 600           # feed lag history
    feed_stale_s: float = 30.0       # a symbol with no trade for this long is listed stale
    rate_window_s: float = 10.0      # events/s per topic over this much of each publisher's beats
    down_after_s: float = 5.0        # a service with no heartbeat for this long shows DOWN
    replay_items: int = 20000        # pushed updates kept for Last-Event-ID catch-up
    keepalive_s: float = 15.0        # SSE comment line when nothing happened
    max_request_bytes: int = 16384

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")
        for name in ("max_prices_per_symbol", "max_markers", "max_trades", "latency_samples",
                     "remember_events", "recent", "feed_points", "replay_items"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        for name in ("feed_stale_s", "down_after_s", "keepalive_s", "rate_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.max_request_bytes < 1024:
            raise ValueError("max_request_bytes: must be >= 1024")
        if self.gateway_url and not self.gateway_url.startswith(("http://", "https://")):
            raise ValueError("gateway_url: must start with http:// or https://")
