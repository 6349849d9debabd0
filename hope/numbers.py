"""Numbers formatted for their quantity: prices and sizes in significant digits, never a BTC
amount shown as ``0.00``; money with its currency; durations in the unit that reads best."""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def sig(x: Any, digits: int = 4) -> str:
    """``x`` rounded to ``digits`` significant digits, in positional notation with thousands
    separators and no trailing zeros: 0.0000152 -> ``0.0000152``, 1234.5 -> ``1,234`` (4),
    1234567 -> ``1,234,567`` (an integer part is never cut). Non-numbers read ``–``."""
    v = _finite(x)
    if v is None:
        return DASH
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    rounded = round(v, max(digits - 1 - magnitude, 0))
    if rounded and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.9996 -> 10.00
        magnitude += 1
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{rounded:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def price(x: Any) -> str:
    """A price: six significant digits (a BTC quote of 0.00001523 keeps its four)."""
    return sig(x, 6)


def size(x: Any) -> str:
    """A quantity in base or quote units: five significant digits."""
    return sig(x, 5)


def money(x: Any, quote: str = "") -> str:
    """A P&L or fee with its sign and currency: ``+0.00012340 BTC``, ``-1.2345 USDT``."""
    v = _finite(x)
    if v is None:
        return DASH
    text = sig(abs(v), 5)
    sign = "+" if v > 0 else "-" if v < 0 else ""
    return f"{sign}{text} {quote}".rstrip()


def pct(x: Any, digits: int = 1) -> str:
    """A ratio (0.25) as a percentage (``25.0%``)."""
    v = _finite(x)
    return DASH if v is None else f"{v * 100:.{digits}f}%"


def duration(seconds: Any) -> str:
    """``850 µs``, ``4.2 ms``, ``3.5 s``, ``12 min``, ``2.0 h``."""
    v = _finite(seconds)
    if v is None:
        return DASH
    a = abs(v)
    if a < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if a < 1:
        return f"{v * 1e3:.3g} ms"
    if a < 120:
        return f"{v:.3g} s"
    if a < 7200:
        return f"{v / 60:.0f} min"
    return f"{v / 3600:.1f} h"


def rate(per_s: Any) -> str:
    """Events per second: ``0.25/s``, ``12/s``, ``1,250/s``."""
    v = _finite(per_s)
    return DASH if v is None else f"{sig(v, 3) if v < 100 else f'{v:,.0f}'}/s"
