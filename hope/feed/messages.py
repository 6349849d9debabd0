"""Binance's wire shapes, parsed: combined-stream frames and REST aggregate-trade rows.

A stream frame is ``{"stream": "evxbtc@aggTrade", "data": {"e": "aggTrade", "E": ms, "s":
"EVXBTC", "a": id, "p": "0.001", "q": "100", "f": first, "l": last, "T": ms, "m": bool, "M":
bool}}``; a REST row is the same ``data`` less ``e``, ``E`` and ``s``. Prices and quantities stay
the venue's strings (the tape keeps them exactly); the strategies get floats. Anything else on the
stream is a control answer (``{"result": ..., "id": n}``), an error (``{"code": n, "msg": ...}``)
or an event such as ``{"e": "serverShutdown"}``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import msgspec

_json = msgspec.json.Decoder()


class AggTrade(NamedTuple):
    symbol: str
    id: int            # the aggregate trade id ``a``: consecutive per symbol
    ts_ms: int         # trade time ``T``, ms
    price: str
    qty: str
    buyer_maker: bool  # ``m``: the taker sold
    backfilled: bool = False


class MessageError(ValueError):
    """A frame or row that is not what the venue documents; the text says which field."""


class Control(NamedTuple):
    """A non-trade frame: ``kind`` is ``result``, ``error`` or the event name (``e``)."""

    kind: str
    body: dict[str, Any]


def _trade(d: Any, symbol: str, backfilled: bool) -> AggTrade:
    try:
        a, t, p, q, m = d["a"], d["T"], d["p"], d["q"], d["m"]
    except (KeyError, TypeError) as exc:
        raise MessageError(f"aggTrade without field {exc}") from None
    if type(a) is not int or type(t) is not int or a < 0 or t <= 0:
        raise MessageError(f"aggTrade {symbol}: a={a!r}, T={t!r} must be positive integers")
    if type(m) is not bool or type(p) is not str or type(q) is not str:
        raise MessageError(f"aggTrade {symbol} {a}: p, q must be strings and m a boolean")
    try:
        fp, fq = float(p), float(q)
    except ValueError:
        raise MessageError(f"aggTrade {symbol} {a}: p={p!r}, q={q!r} not numbers") from None
    if not (fp > 0 and fq >= 0 and math.isfinite(fp) and math.isfinite(fq)):
        raise MessageError(f"aggTrade {symbol} {a}: price/quantity not positive finite")
    return AggTrade(symbol, a, t, p, q, m, backfilled)


def parse_frame(text: str | bytes) -> AggTrade | Control:
    """One WebSocket text frame of a combined stream; MessageError when malformed."""
    try:
        msg = _json.decode(text)
    except msgspec.DecodeError as exc:
        raise MessageError(f"not JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise MessageError(f"a JSON {type(msg).__name__}, not an object")
    data = msg.get("data")
    if isinstance(data, dict) and "stream" in msg:
        if data.get("e") == "aggTrade":
            sym = data.get("s")
            if not isinstance(sym, str) or not sym:
                raise MessageError("aggTrade without symbol s")
            return _trade(data, sym, False)
        return Control(str(data.get("e", "unknown")), data)
    if "result" in msg and "id" in msg:
        return Control("result", msg)
    if "code" in msg:
        return Control("error", msg)
    if "e" in msg:  # an event outside the combined wrapper (serverShutdown on some endpoints)
        return Control(str(msg["e"]), msg)
    raise MessageError(f"unknown frame with keys {sorted(msg)[:6]}")


def parse_rows(body: Any, symbol: str) -> list[AggTrade]:
    """The JSON list ``GET /api/v3/aggTrades`` answers, as backfilled trades in id order."""
    if not isinstance(body, list):
        raise MessageError(f"aggTrades answer is a {type(body).__name__}, not a list")
    rows = [_trade(d, symbol, True) for d in body]
    for prev, cur in zip(rows, rows[1:], strict=False):
        if cur.id <= prev.id:
            raise MessageError(f"aggTrades {symbol}: ids not increasing ({prev.id}, {cur.id})")
    return rows


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@aggTrade"
