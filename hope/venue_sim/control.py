"""Control messages of the stream server (pure functions: no sockets).

Wire, as the venue documents it::

    -> {"method": "SUBSCRIBE", "params": ["evxbtc@aggTrade"], "id": 1}
    <- {"result": null, "id": 1}
    -> {"method": "LIST_SUBSCRIPTIONS", "id": 3}
    <- {"result": ["evxbtc@aggTrade"], "id": 3}
    -> {"method": "SET_PROPERTY", "params": ["combined", true], "id": 5}
    <- {"result": null, "id": 5}
    -> {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}
    <- {"result": true, "id": 2}
    -> not JSON
    <- {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}
    -> {"method": "PING", "id": 1}
    <- {"code": 2, "msg": "Invalid request: unknown variant `PING`, expected one of ..."}

Names in the URL (``/ws/<name>``, ``/stream?streams=...``) are taken as they are when made of
stream-name characters (ccxt's binance connects to ``/ws/<n>`` and the venue accepts it); such a
name that is no market stream simply never carries data.

``id``: a 64-bit signed integer, an alphanumeric string of at most 36 characters, or null.
Stream names: ``<symbol>@<type>`` or ``!<type>@arr``; a name of no known shape is refused with
``{"code": 2, "msg": "Invalid request: invalid stream"}``. A subscription that would pass the
per-connection stream limit is refused as a whole (code 2, the limit named).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INTERVALS = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
STREAM_NAME = re.compile(
    r"^(?:[A-Za-z0-9]{2,30}@(?:aggTrade|trade|bookTicker|miniTicker|ticker|avgPrice"
    r"|referencePrice|ticker_(?:1h|4h|1d)|kline_(?:" + _INTERVALS + r")"
    r"(?:@\+08:00)?|depth(?:5|10|20)?(?:@100ms|@1000ms)?)"
    r"|!(?:miniTicker|ticker|ticker_1h|ticker_4h|ticker_1d)@arr)$")
URL_STREAM_NAME = re.compile(r"^[A-Za-z0-9@_!.+:-]{1,100}$")
_ID_STRING = re.compile(r"^[A-Za-z0-9]{1,36}$")
INT64 = (-(2 ** 63), 2 ** 63 - 1)


@dataclass
class Subscriptions:
    """One connection's streams (in subscription order) and its ``combined`` property."""

    combined: bool
    max_streams: int = 1024
    streams: dict[str, None] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.streams)


@dataclass
class Outcome:
    reply: str                                  # the JSON text to send back
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def error(code: int, msg: str, **extra: Any) -> str:
    return _dump({"code": code, "msg": msg, **extra})


def valid_stream(name: object) -> bool:
    return isinstance(name, str) and bool(STREAM_NAME.match(name))


def valid_url_stream(name: str) -> bool:
    return bool(URL_STREAM_NAME.match(name))


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64[0] <= value <= INT64[1]
    return isinstance(value, str) and bool(_ID_STRING.match(value))


def _column(text: str) -> int:
    return len(text.rstrip()) or 1


def handle(text: str, subs: Subscriptions) -> Outcome:
    """Apply one control message to ``subs``; the reply and the streams added or removed."""
    try:
        msg = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return Outcome(error(3, f"Invalid JSON: expected value at line {line} column {col}"))
    if not isinstance(msg, dict):
        return Outcome(error(2, f"Invalid request: expected an object at line 1 column "
                                f"{_column(text)}"))
    if "method" not in msg:
        return Outcome(error(2, f"Invalid request: missing field `method` at line 1 column "
                                f"{_column(text)}"))
    if "id" not in msg or not _valid_id(msg["id"]):
        return Outcome(error(2, "Invalid request: request ID must be an unsigned integer"))
    method, req_id = msg["method"], msg["id"]
    if method not in METHODS:
        variants = ", ".join(f"`{m}`" for m in METHODS)
        return Outcome(error(2, f"Invalid request: unknown variant `{method}`, expected one "
                                f"of {variants} at line 1 column {_column(text)}"))
    params = msg.get("params", [])
    if method == "LIST_SUBSCRIPTIONS":
        return Outcome(_dump({"result": subs.names(), "id": req_id}))
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(method, params, req_id, subs)
    if not isinstance(params, list) or not all(valid_stream(p) for p in params):
        return Outcome(error(2, "Invalid request: invalid stream"))
    if method == "SUBSCRIBE":
        new = [p for p in dict.fromkeys(params) if p not in subs.streams]
        if len(subs.streams) + len(new) > subs.max_streams:
            return Outcome(error(2, f"Invalid request: too many streams; a connection may "
                                    f"listen to at most {subs.max_streams} streams"))
        subs.streams.update(dict.fromkeys(new))
        return Outcome(_dump({"result": None, "id": req_id}), added=new)
    gone = [p for p in dict.fromkeys(params) if p in subs.streams]
    for p in gone:
        del subs.streams[p]
    return Outcome(_dump({"result": None, "id": req_id}), removed=gone)


def _property(method: str, params: object, req_id: Any, subs: Subscriptions) -> Outcome:
    if not isinstance(params, list) or not params:
        return Outcome(error(2, "Invalid request: property name must be a string"))
    name = params[0]
    if not isinstance(name, str):
        return Outcome(error(2, "Invalid request: property name must be a string"))
    if name != "combined":
        return Outcome(error(0, "Unknown property", id=req_id))
    if method == "GET_PROPERTY":
        if len(params) > 1:
            return Outcome(error(2, "Invalid request: too many parameters"))
        return Outcome(_dump({"result": subs.combined, "id": req_id}))
    if len(params) != 2:
        return Outcome(error(2, "Invalid request: too many parameters" if len(params) > 2
                             else "Invalid request: missing property value"))
    if not isinstance(params[1], bool):
        return Outcome(error(1, "Invalid value type: expected Boolean"))
    subs.combined = params[1]
    return Outcome(_dump({"result": None, "id": req_id}))
