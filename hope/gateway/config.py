"""The ``[gateway]`` config section: the HTTP gateway for external signals and operator calls.

Importing this module also registers ``[telegram]`` (hope.notify.config): the notifier runs
inside the gateway service and the loader only imports the modules it lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import hope.notify.config  # noqa: F401  (registers [telegram])
from hope.config import register_section

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@register_section("gateway")
@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"        # never 0.0.0.0 unless you mean it
    port: int = 8780               # 0: any free port (tests); the bound port is in the heartbeat
    # tokens: one per scope (signals, read, control) in <state>/keys/gateway-<scope>.token,
    # created 0600 if missing; env HOPE_GATEWAY_TOKEN_<SCOPE> overrides (hope/gateway/auth.py)
    allow_http_resume: bool = False  # POST /v1/trading/resume; by default resume is CLI-only
    allowed_hosts: list[str] = field(default_factory=list)  # Host names besides loopback/host
    idempotency_window_s: float = 600.0  # same Idempotency-Key / signal_id: the first answer
    market_ts_window_s: float = 60.0   # SIGNAL market_ts within this of the market clock
    live_wall_window_s: float = 60.0   # on a live feed, also within this of the wall clock
    read_cache_s: float = 5.0          # /v1/report and /v1/events answers reused this long
    max_body_bytes: int = 16384    # bigger request bodies get 413
    rate_limit_per_s: float = 5.0  # per token: sustained requests per second ...
    rate_limit_burst: int = 20     # ... and how many may come at once
    default_strategy: str = "moonbot"  # SIGNAL strategy when the caller declares no "source"
    notify: bool = True            # run the Telegram notifier in this service ([telegram])

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")
        if self.max_body_bytes < 256:
            raise ValueError("max_body_bytes: must be >= 256")
        if self.rate_limit_per_s <= 0:
            raise ValueError("rate_limit_per_s: must be > 0")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst: must be >= 1")
        for name in ("idempotency_window_s", "market_ts_window_s", "live_wall_window_s",
                     "read_cache_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if not NAME_RE.match(self.default_strategy):
            raise ValueError("default_strategy: lower-case name of at most 32 characters")
