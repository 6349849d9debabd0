"""The ``[gateway]`` config section: the HTTP gateway for external signals and operator calls.

Importing this module also registers ``[telegram]`` (hope.notify.config): the notifier runs
inside the gateway service and the loader only imports the modules it lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hope.notify.config  # noqa: F401  (registers [telegram])
from hope.config import register_section

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@register_section("gateway")
@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"        # never 0.0.0.0 unless you mean it
    port: int = 8780               # 0: any free port (tests); the bound port is in the heartbeat
    token_file: str = ""           # empty: <state>/keys/gateway.token (created 0600 if missing);
                                   # env HOPE_GATEWAY_TOKEN overrides both
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
        if not NAME_RE.match(self.default_strategy):
            raise ValueError("default_strategy: lower-case name of at most 32 characters")
