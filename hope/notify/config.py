"""The ``[telegram]`` config section: the Bot API notifier (disabled while no token is set)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section

NOTICE_KINDS = ("FILL", "CLOSE", "HEALTH", "TRADING_STATE", "ALERT")


@register_section("telegram")
@dataclass
class TelegramConfig:
    base_url: str = "https://api.telegram.org"  # tests and the demo point this at a local stand-in
    token: str = ""               # bot token; prefer env HOPE_TELEGRAM_TOKEN or token_file
    token_file: str = ""          # a file holding the token (keep it 0600, e.g. <state>/keys/)
    chat_id: str = ""
    notices: list[str] = field(default_factory=lambda: list(NOTICE_KINDS))
    min_interval_s: float = 1.0   # rate limit: one sendMessage per interval on average ...
    burst: int = 3                # ... with this many back to back before it kicks in
    flush_interval_s: float = 0.5  # how often deferred (batched) notices are looked at
    max_message_chars: int = 4000  # Telegram's limit is 4096 per message
    timeout_s: float = 5.0        # HTTP request timeout; kept under bus.handler_timeout_s

    def validate(self) -> None:
        unknown = sorted(set(self.notices) - set(NOTICE_KINDS))
        if unknown:
            raise ValueError(f"notices: unknown kinds {unknown} (known: {list(NOTICE_KINDS)})")
        for name in ("min_interval_s", "flush_interval_s", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.burst < 1:
            raise ValueError("burst: must be >= 1")
        if not 100 <= self.max_message_chars <= 4096:
            raise ValueError("max_message_chars: must be within [100, 4096]")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url: must start with http:// or https://")
