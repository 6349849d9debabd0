"""Checks of a ``POST /v1/signals`` body before it may become a SIGNAL, without HTTP.

Bounded like the bus (nesting depth, 64-bit integers, finite numbers), symbols of
``[A-Z0-9]{2,20}`` after the usual normalisation (``evx/btc`` -> ``EVXBTC``), ids of a fixed
alphabet, and a ``market_ts`` within a window of the market clock (a signal stamped decades
ahead must not reach the engine, whose clock it could otherwise push).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from hope.envelope import MAX_DEPTH, SYMBOL_RE, EnvelopeError, check_json_value
from hope.gateway.config import NAME_RE

CORRELATION_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
IDS = "1-64 characters of A-Z a-z 0-9 _ . : -"


class SignalRefused(ValueError):
    """A body that must not become a SIGNAL: the HTTP status, message, detail and field."""

    def __init__(self, status: int, message: str, detail: str, field: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.message, self.detail, self.field = status, message, detail, field
        self.reason = reason or (f"invalid_{field}" if field else f"http_{status}")


@dataclass
class SignalBody:
    body: dict[str, Any]        # what the strategy sees (symbol normalised)
    source: str | None
    correlation_id: str | None
    signal_id: str | None


def _invalid(field: str, detail: str, reason: str | None = None) -> SignalRefused:
    return SignalRefused(422, "invalid signal", f"{field}: {detail}", field, reason)


def parse(raw: bytes) -> SignalBody:
    """The checked body; SignalRefused naming what is wrong."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise _invalid("body", f"nested deeper than {MAX_DEPTH} levels", "too_deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignalRefused(400, "body is not valid JSON", str(exc)) from None
    if not isinstance(body, dict):
        raise SignalRefused(400, "body must be a JSON object", f"got {type(body).__name__}")
    try:
        check_json_value(body, "body")
    except EnvelopeError as exc:
        field = exc.where.removeprefix("body.") or "body"
        reason = ("int_range" if "64-bit" in exc.reason else
                  "too_deep" if "nested" in exc.reason else None)
        raise _invalid(field, exc.reason, reason) from None
    body = dict(body)
    source, corr = body.pop("source", None), body.pop("correlation_id", None)
    if source is not None and (not isinstance(source, str) or not NAME_RE.match(source)):
        raise _invalid("source", "lower-case name of at most 32 characters "
                                 "(letters, digits, _ and -)")
    if corr is not None and (not isinstance(corr, str) or not CORRELATION_RE.match(corr)):
        raise _invalid("correlation_id", IDS)
    signal_id = body.get("signal_id")
    if signal_id is not None and (not isinstance(signal_id, str)
                                  or not CORRELATION_RE.match(signal_id)):
        raise _invalid("signal_id", IDS)
    symbol = body.get("symbol")
    if isinstance(symbol, str):
        symbol = body["symbol"] = symbol.strip().upper().replace("/", "")
        if not SYMBOL_RE.fullmatch(symbol):
            raise _invalid("symbol", "2-20 characters of A-Z 0-9 (a slash is dropped)",
                           "bad_symbol")
    return SignalBody(body, source, corr, signal_id)


def check_market_ts(body: dict[str, Any], market_now: float | None, window_s: float) -> None:
    """``market_ts`` within ``window_s`` of the market clock; SignalRefused otherwise (also when
    the clock is unknown: no PRICE heard yet means nothing to judge a signal's time by)."""
    ts = body.get("market_ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return  # the strategy names a missing or malformed market_ts
    if market_now is None:
        raise _invalid("market_ts", "no market clock yet (no PRICE heard); try again later",
                       "market_ts_window")
    if abs(ts - market_now) > window_s:
        raise _invalid("market_ts", f"{ts - market_now:+.0f}s from the market clock "
                                    f"{market_now:.3f} (max ±{window_s:g}s)", "market_ts_window")


def check_wall_ts(body: dict[str, Any], wall_now: float, window_s: float) -> None:
    """On a live feed, ``market_ts`` within ``window_s`` of the wall clock; SignalRefused
    otherwise (a live market's time is now, so a far-off stamp is a mistake or an attack)."""
    ts = body.get("market_ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return
    if abs(ts - wall_now) > window_s:
        raise _invalid("market_ts", f"{ts - wall_now:+.0f}s from the wall clock on a live feed "
                                    f"(max ±{window_s:g}s)", "market_ts_wall_window")
