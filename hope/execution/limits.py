"""The executor's own limits: what a BUY may be, whatever the DECISION says.

The decision engine decides; the executor still refuses any BUY a genuine decision could never
be (a forged or buggy DECISION can at worst do what a genuine one may): size per quote currency,
exposure per symbol and per quote, open positions, allowed symbols, sane targets. The limits come
from ``[execution]``; a limit left empty there is derived from ``[decision]``, so every decision
the engine can emit passes. Socket-free: :func:`check` is a pure function of the limits, the
DECISION payload and what is held.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from hope.envelope import SYMBOL_RE
from hope.trading.symbols import quote_of

TOLERANCE = 1e-9  # relative: float sums of sizes must not refuse an exact fit


class Held(NamedTuple):
    """One open position as the limits see it: its size in the quote currency."""
    symbol: str
    quote: str
    size: float


class Refusal(NamedTuple):
    """The limit a BUY breaks (a config key name) and the numbers that break it."""
    limit: str
    detail: str

    @property
    def reason(self) -> str:
        return f"limit {self.limit}: {self.detail}"


@dataclass(frozen=True)
class Limits:
    max_position_size: dict[str, float]      # quote currency: one BUY's size
    max_symbol_exposure: dict[str, float]    # quote currency: all positions in one symbol
    max_total_exposure: dict[str, float]     # quote currency: all positions in that quote
    max_open_positions: int
    allowed_symbols: frozenset[str] | None   # None: every well-formed symbol with a known quote
    blocked_symbols: frozenset[str]

    @classmethod
    def from_config(cls, execution: Any, decision: Any) -> Limits:
        """``[execution]``'s limits; each one left empty (``{}``, ``[]``, 0) from ``[decision]``."""
        sizes = dict(execution.max_position_size or decision.position_size)
        open_max = execution.max_open_positions or decision.max_open_positions
        total = dict(execution.max_total_exposure
                     or {q: v * open_max for q, v in sizes.items()})
        return cls(max_position_size=sizes,
                   max_symbol_exposure=dict(execution.max_symbol_exposure
                                            or decision.max_symbol_exposure),
                   max_total_exposure=total, max_open_positions=open_max,
                   allowed_symbols=frozenset(execution.allowed_symbols) or None,
                   blocked_symbols=frozenset(decision.blacklist))


def _over(value: float, limit: float) -> bool:
    return value > limit * (1 + TOLERANCE)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check(limits: Limits, payload: dict[str, Any], held: Iterable[Held]) -> Refusal | None:
    """Why this BUY must be refused before the exchange is touched, or None."""
    return (_symbol(limits, payload) or _size(limits, payload, list(held))
            or check_targets(payload))


def _symbol(limits: Limits, p: dict[str, Any]) -> Refusal | None:
    symbol = p.get("symbol")
    if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
        return Refusal("allowed_symbols", f"malformed symbol {str(symbol)[:40]!r}")
    if symbol in limits.blocked_symbols:
        return Refusal("allowed_symbols", f"{symbol} is on [decision] blacklist")
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        return Refusal("allowed_symbols", f"{symbol} is not in [execution] allowed_symbols")
    quote = quote_of(symbol)
    if quote is None or quote not in limits.max_position_size:
        return Refusal("max_position_size", f"no size limit for the quote of {symbol}")
    return None


def _size(limits: Limits, p: dict[str, Any], held: list[Held]) -> Refusal | None:
    symbol, size = p["symbol"], p.get("position_size")
    quote = quote_of(symbol) or "?"
    if not _number(size) or size <= 0:
        return Refusal("max_position_size", f"position_size {size!r} is not a number > 0")
    cap = limits.max_position_size[quote]
    if _over(size, cap):
        return Refusal("max_position_size", f"{size:g} {quote} > {cap:g} {quote}")
    if len(held) >= limits.max_open_positions:
        return Refusal("max_open_positions",
                       f"{len(held)} open (max {limits.max_open_positions})")
    in_symbol = sum(h.size for h in held if h.symbol == symbol)
    cap = limits.max_symbol_exposure.get(quote)
    if cap is None or _over(in_symbol + size, cap):
        return Refusal("max_symbol_exposure",
                       f"{symbol} {in_symbol:g}+{size:g} {quote} (max {cap if cap else 0:g})")
    in_quote = sum(h.size for h in held if h.quote == quote)
    cap = limits.max_total_exposure.get(quote)
    if cap is None or _over(in_quote + size, cap):
        return Refusal("max_total_exposure",
                       f"{in_quote:g}+{size:g} {quote} open (max {cap if cap else 0:g})")
    return None


def check_targets(p: dict[str, Any]) -> Refusal | None:
    """Targets present and sane: a timeout > 0, and take-profit above / stop-loss below the entry
    (as percentages, or as price levels around the decision's price)."""
    t = p.get("targets")
    if not isinstance(t, dict):
        return Refusal("targets", "targets missing")
    if not _number(t.get("timeout_s")) or t["timeout_s"] <= 0:
        return Refusal("targets", f"timeout_s {t.get('timeout_s')!r} is not a number > 0")
    for name, pct, level in (("take_profit", "take_profit_pct", "take_profit"),
                             ("stop_loss", "stop_loss_pct", "stop_loss")):
        if pct in t:
            value = t[pct]
            if not _number(value) or value <= 0 or (name == "stop_loss" and value >= 100):
                return Refusal("targets", f"{pct} {value!r} out of range")
        elif level in t:
            refusal = _level(name, t[level], p.get("price"))
            if refusal:
                return refusal
        else:
            return Refusal("targets", f"{name} missing ({pct} or {level})")
    return None


def _level(name: str, value: Any, entry: Any) -> Refusal | None:
    if not _number(entry) or entry <= 0:
        return Refusal("targets", f"{name} as a price level needs the decision's price")
    if not _number(value) or value <= 0:
        return Refusal("targets", f"{name} {value!r} is not a price > 0")
    if name == "take_profit" and value <= entry:
        return Refusal("targets", f"take_profit {value:g} not above the entry {entry:g}")
    if name == "stop_loss" and value >= entry:
        return Refusal("targets", f"stop_loss {value:g} not below the entry {entry:g}")
    return None
