"""Moonbot: external signals (a Moonbot instance or Telegram relay, over HTTP in the gateway).

The strategy sees no market data; :meth:`MoonbotStrategy.on_external` validates an external payload
into a SIGNAL payload (or raises :class:`ExternalSignalError` naming the field). The gateway's
``POST /v1/signals`` calls it; keeping the contract here, apart from HTTP, lets every other source
of external signals produce exactly the same SIGNAL payload.
"""

from __future__ import annotations

import math
from typing import Any

from hope.strategies.base import Signal, Strategy, signal_payload

_OPTIONAL_NUMBERS = ("buys_per_sec", "delta_pct", "window_s")


class ExternalSignalError(ValueError):
    """An external signal that must not become a SIGNAL; the message names the field."""


def _number(payload: dict[str, Any], key: str, *, positive: bool, default: float | None) -> float:
    value = payload.get(key, default)
    if value is None:
        raise ExternalSignalError(f"{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExternalSignalError(f"{key}: expected a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ExternalSignalError(f"{key}: must be a {'positive ' if positive else ''}"
                                  f"finite number, got {value!r}")
    return value


class MoonbotStrategy(Strategy):
    """Turns validated external payloads into SIGNAL payloads with ``strategy = "moonbot"``."""

    name = "moonbot"

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0

    def on_external(self, payload: dict[str, Any]) -> list[Signal]:
        """Validate ``{symbol, price, market_ts, [buys_per_sec, delta_pct, window_s, ...]}``."""
        try:
            if not isinstance(payload, dict):
                raise ExternalSignalError(f"payload: expected an object, got {type(payload).__name__}")
            symbol = payload.get("symbol")
            if not isinstance(symbol, str) or not symbol.strip():
                raise ExternalSignalError("symbol: missing or not a string")
            symbol = symbol.strip().upper().replace("/", "")
            price = _number(payload, "price", positive=True, default=None)
            market_ts = _number(payload, "market_ts", positive=True, default=None)
            extra = {k: _number(payload, k, positive=False, default=0.0)
                     for k in _OPTIONAL_NUMBERS}
        except ExternalSignalError:
            self.rejected += 1
            raise
        detail = {k: v for k, v in payload.items()
                  if k not in ("symbol", "price", "market_ts", "strategy", *_OPTIONAL_NUMBERS)
                  and isinstance(v, str | int | float | bool)}
        self.accepted += 1
        return [signal_payload(self.name, symbol, price, market_ts, **extra, **detail)]
