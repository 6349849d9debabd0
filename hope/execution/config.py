"""The ``[execution]`` config section: paper venue, circuit breaker, order timing, durability."""

from __future__ import annotations

from dataclasses import dataclass

from hope.config import register_section


@register_section("execution")
@dataclass
class ExecutionConfig:
    exchange: str = "paper"
    slippage_bps: float = 5.0          # paper fill = price * (1 ± slippage)
    commission_bps: float = 10.0       # taker fee on notional, charged in the quote currency
    max_order_delay_s: float = 30.0    # market clock: a BUY older than this becomes EXPIRED
    breaker_failures: int = 3          # consecutive failures/timeouts that open the breaker
    breaker_reset_s: float = 30.0      # wall clock: open → half-open
    breaker_publish_s: float = 30.0    # republish the breaker state so late subscribers learn it
    state_reload_s: float = 1.0        # re-read the trading state file (belt and braces to CONTROL)
    # durability: ledger and paper book are journals, fsynced at most this long after a write
    # (group commit; 0 = fsync every write). SIGKILL never loses anything either way.
    fsync_interval_ms: float = 20.0
    compact_every: int = 10_000        # ledger journal lines between snapshots (more if larger)
    ledger_retention_s: float = 3600.0  # market clock: finished orders forgotten after this

    def validate(self) -> None:
        if self.exchange != "paper":
            raise ValueError(f"exchange: only 'paper' is available, got {self.exchange!r}")
        for name in ("slippage_bps", "commission_bps"):
            if not 0 <= getattr(self, name) < 1000:
                raise ValueError(f"{name}: must be in [0, 1000)")
        for name in ("max_order_delay_s", "breaker_reset_s", "breaker_publish_s",
                     "state_reload_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.breaker_failures < 1:
            raise ValueError("breaker_failures: must be >= 1")
        if not 0 <= self.fsync_interval_ms <= 10_000:
            raise ValueError("fsync_interval_ms: must be in [0, 10000]")
        if self.compact_every < 1:
            raise ValueError("compact_every: must be >= 1")
        if self.ledger_retention_s < self.max_order_delay_s:
            # a forgotten decision redelivered later must be old enough to be EXPIRED
            raise ValueError("ledger_retention_s: must be >= max_order_delay_s")
