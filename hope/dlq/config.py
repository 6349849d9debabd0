"""The ``[dlq]`` config section: retry policy of the dead-letter daemon (``dlq-retry``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section


@register_section("dlq")
@dataclass
class DlqConfig:
    # Retries after the first failure (dramatiq's meaning): a letter fails max_retries + 1 times
    # in all before it is parked.
    max_retries: int = 5
    min_backoff_s: float = 1.0        # delay before the first retry (before jitter)
    max_backoff_s: float = 300.0      # ceiling of the exponential delay
    jitter: bool = True               # "equal jitter": delay in [base/2, base]
    # Error types that no retry can fix: the letter is parked at once.
    non_retryable: list[str] = field(default_factory=lambda: [
        "EnvelopeError", "DecodeError", "ValidationError", "ConfigError"])
    # Trading events are parked instead of retried once the market clock has moved this far past
    # their payload market_ts: a late BUY is worse than none.
    max_market_age_s: float = 60.0
    trading_types: list[str] = field(default_factory=lambda: [
        "SIGNAL", "DECISION", "SHADOW_DECISION", "ORDER"])
    # The runtime publishes nothing when a retried handler succeeds, so a letter whose retry was
    # sent is marked done when no new DEAD_LETTER arrives for it within this window. It must
    # exceed bus.handler_timeout_s plus delivery latency.
    success_after_s: float = 30.0
    poll_interval_s: float = 0.5      # how often due letters are looked up
    keep_done_s: float = 86400.0      # done letters are deleted this long after they finished
    db_name: str = "dlq.sqlite3"      # file under <state>/dlq/

    def validate(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries: must be >= 0")
        if self.min_backoff_s <= 0:
            raise ValueError("min_backoff_s: must be > 0")
        if self.max_backoff_s < self.min_backoff_s:
            raise ValueError("max_backoff_s: must be >= min_backoff_s")
        if self.max_market_age_s <= 0:
            raise ValueError("max_market_age_s: must be > 0")
        if self.success_after_s <= 0:
            raise ValueError("success_after_s: must be > 0")
        if self.keep_done_s < 0:
            raise ValueError("keep_done_s: must be >= 0")
        if self.poll_interval_s <= 0:
            raise ValueError("poll_interval_s: must be > 0")
        if not self.db_name or "/" in self.db_name:
            raise ValueError("db_name: must be a plain file name")
