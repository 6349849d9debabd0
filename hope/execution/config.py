"""The ``[execution]`` config section: paper venue, circuit breaker, order timing, durability."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section
from hope.envelope import SYMBOL_RE
from hope.venue.config import BinanceVenueConfig

EXCHANGES = ("paper", "binance")


@register_section("execution")
@dataclass
class ExecutionConfig:
    exchange: str = "paper"            # "paper" (the default) or "binance" ([execution.binance])
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
    # The executor's own limits (hope/execution/limits.py), enforced whatever a DECISION says.
    # Empty or 0 = derived from [decision], so every genuine decision passes:
    max_position_size: dict[str, float] = field(default_factory=dict)   # [decision] position_size
    max_symbol_exposure: dict[str, float] = field(default_factory=dict)  # ... max_symbol_exposure
    max_total_exposure: dict[str, float] = field(default_factory=dict)  # size x max open positions
    max_open_positions: int = 0                                          # ... max_open_positions
    allowed_symbols: list[str] = field(default_factory=list)  # any symbol with a sized quote
    binance: BinanceVenueConfig = field(default_factory=BinanceVenueConfig)

    def validate(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"exchange: must be \"paper\" or \"binance\", got {self.exchange!r}")
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
        for name in ("max_position_size", "max_symbol_exposure", "max_total_exposure"):
            for quote, value in getattr(self, name).items():
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ValueError(f"{name}.{quote}: must be a number > 0, got {value!r}")
        if self.max_open_positions < 0:
            raise ValueError("max_open_positions: must be >= 0 (0: [decision]'s)")
        for i, symbol in enumerate(self.allowed_symbols):
            if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
                raise ValueError(f"allowed_symbols[{i}]: must be 2-20 characters of A-Z 0-9")
        if self.ledger_retention_s < self.max_order_delay_s:
            # a forgotten decision redelivered later must be old enough to be EXPIRED
            raise ValueError("ledger_retention_s: must be >= max_order_delay_s")
