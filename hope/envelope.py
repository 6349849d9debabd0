"""The event envelope: one definition of every message that crosses the bus.

Fields follow CONVENTIONS.md: the spec's envelope (``schema_version``, ``event_type``, ``event_id``,
``correlation_id``, ``causation_id``, ``timestamp``, ``source``, ``payload``) plus the delivery
fields (``publisher``, ``epoch``, ``seq``) and ``tseq``, the per-event-type sequence a subscriber
that only listens to some types uses to find its own gaps (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from math import isfinite
from typing import Any

import msgspec

from hope.jsontext import dumps_function

SCHEMA_VERSION = "2.0"
SCHEMA_MAJOR = 2


class EventType(StrEnum):
    SIGNAL = "SIGNAL"
    DECISION = "DECISION"
    SHADOW_DECISION = "SHADOW_DECISION"
    ORDER = "ORDER"
    FILL = "FILL"
    CLOSE = "CLOSE"
    PRICE = "PRICE"
    HEARTBEAT = "HEARTBEAT"
    HEARTBEAT_SUMMARY = "HEARTBEAT_SUMMARY"
    HEALTH = "HEALTH"
    DEAD_LETTER = "DEAD_LETTER"
    RETRY = "RETRY"
    CONTROL = "CONTROL"
    TRADING_STATE = "TRADING_STATE"
    BREAKER = "BREAKER"
    REPLAY = "REPLAY"
    WATERMARK = "WATERMARK"
    GAP = "GAP"
    DUPLICATE = "DUPLICATE"
    ALERT = "ALERT"
    API_REQUEST = "API_REQUEST"
    FEED = "FEED"
    VENUE_REPLY = "VENUE_REPLY"        # a live venue's raw answer (keys and signatures never in it)
    RECONCILIATION = "RECONCILIATION"  # the executor's reconciliation report with the venue


# Ephemeral events are periodic state (heartbeats, watermarks) or recovery traffic: they carry
# seq = 0, skip the outbox and are never replayed. Losing one is harmless; the next supersedes it.
EPHEMERAL_TYPES = frozenset({EventType.HEARTBEAT, EventType.REPLAY, EventType.WATERMARK})

# Which payload field (or "source") names the topic key: SIGNAL.<symbol>, HEARTBEAT.<service>, ...
_TOPIC_KEY: dict[str, str] = {
    "SIGNAL": "symbol", "DECISION": "symbol", "SHADOW_DECISION": "symbol", "ORDER": "symbol",
    "FILL": "symbol", "CLOSE": "symbol", "PRICE": "symbol",
    "RETRY": "service", "CONTROL": "service", "REPLAY": "publisher", "HEALTH": "service",
    "BREAKER": "service", "TRADING_STATE": "service", "FEED": "symbol",
}


class EnvelopeError(ValueError):
    """A message that is not a valid HOPE envelope; ``where`` says which field or byte range."""

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class Envelope(msgspec.Struct, kw_only=True):
    """One event. Build with :func:`new_event`; never mutate after publishing."""

    schema_version: str = SCHEMA_VERSION
    event_type: str
    event_id: str
    correlation_id: str
    causation_id: str | None = None
    timestamp: str
    source: str
    payload: dict[str, Any]
    publisher: str | None = None
    epoch: str | None = None
    seq: int = 0
    tseq: int = 0

    @property
    def topic(self) -> str:
        return topic_for(self.event_type, self.payload, self.source)

    @property
    def ephemeral(self) -> bool:
        return self.event_type in EPHEMERAL_TYPES

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


def topic_for(event_type: str, payload: Mapping[str, Any], source: str) -> str:
    field = _TOPIC_KEY.get(event_type)
    key = payload.get(field) if field else None
    return f"{event_type}.{key if isinstance(key, str) and key else source}"


def utc_timestamp(now: datetime | None = None) -> str:
    """Wall-clock time as CONVENTIONS spells it: ``2026-02-02T15:00:00.123456Z``."""
    now = now.astimezone(UTC) if now else datetime.now(UTC)
    return now.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an envelope timestamp; raise EnvelopeError naming the field when it is malformed."""
    # fromisoformat is C-fast; the shape check keeps it to the one format CONVENTIONS allows.
    if not isinstance(text, str) or len(text) != 27 or text[10] != "T" or text[-1] != "Z" \
            or text[19] != ".":
        raise EnvelopeError(f"bad timestamp {text!r} (want 2026-02-02T15:00:00.123456Z)",
                            "timestamp")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise EnvelopeError(f"bad timestamp {text!r} ({exc})", "timestamp") from None


# json.dumps(x, sort_keys=True), the formula's text, without building an encoder per call
_ID_JSON = dumps_function(sort_keys=True)
# The same text for every valid payload, and it refuses NaN/inf: the hot path needs no separate
# recursive scan for non-finite numbers (it only runs to name the field once one is found).
_ID_JSON_STRICT = dumps_function(sort_keys=True, allow_nan=False)


def compute_event_id(event_type: str, correlation_id: str, timestamp: str, payload: Any) -> str:
    """The spec's content id: sha256 of type, correlation, time and the sorted-key JSON payload."""
    text = f"{event_type}:{correlation_id}:{timestamp}:{_ID_JSON(payload)}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _event_id_or_error(event_type: str, correlation_id: str, timestamp: str, payload: Any) -> str:
    """compute_event_id that also proves the payload JSON-compatible, finite and bounded."""
    try:
        text = _ID_JSON_STRICT(payload)
    except ValueError:  # NaN or inf somewhere: name the field
        _check_finite(payload, "payload")
        raise EnvelopeError("non-finite number", "payload") from None
    except RecursionError:  # far past MAX_DEPTH: the encoder hit the interpreter's limit
        raise EnvelopeError(f"nested deeper than {MAX_DEPTH} levels", "payload") from None
    except TypeError as exc:  # e.g. MessagePack bin (bytes): not JSON-compatible
        raise EnvelopeError(f"payload is not JSON-compatible ({exc})", "payload") from None
    data = text.encode()
    if _may_break_bounds(data):
        _check_finite(payload if type(payload) is dict else dict(payload), "payload")
    head = f"{event_type}:{correlation_id}:{timestamp}:".encode()
    return "sha256:" + hashlib.sha256(head + data).hexdigest()[:16]


# A JSON text with at most MAX_DEPTH brackets cannot nest deeper, and one without a run of 19
# digits holds no integer past 64 bits (float reprs never have one): only then is the exact,
# slower scan skipped. Brackets or digits inside strings only cause a needless scan. (C-speed
# byte operations: a regex for the digit run costs 5x more.)
_DIGITS_ONLY = bytes(ord("d") if 48 <= i <= 57 else 32 for i in range(256))
_LONG_RUN = b"d" * 19


def _may_break_bounds(data: bytes) -> bool:
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH or \
        _LONG_RUN in data.translate(_DIGITS_ONLY)


def new_correlation_id() -> str:
    return os.urandom(16).hex()  # 128 random bits, like uuid4, at a tenth of the cost


def new_event(
    event_type: str | EventType,
    payload: Mapping[str, Any],
    *,
    source: str,
    parent: Envelope | None = None,
    correlation_id: str | None = None,
    timestamp: str | None = None,
) -> Envelope:
    """Build a validated event. A ``parent`` lends its correlation id and becomes the causation."""
    event_type = str(event_type)
    body = dict(payload)
    corr = correlation_id or (parent.correlation_id if parent else new_correlation_id())
    ts = timestamp or utc_timestamp()
    event_id = _event_id_or_error(event_type, corr, ts, body)  # also refuses NaN/inf
    validate_payload(event_type, body, finite_checked=True)
    return Envelope(
        event_type=event_type,
        event_id=event_id,
        correlation_id=corr,
        causation_id=parent.event_id if parent else None,
        timestamp=ts,
        source=source,
        payload=body,
    )


# --- payload validation -------------------------------------------------------------------

_NUM = (int, float)
# Every symbol on the wire: what the data uses without the slash. No lower case, no Unicode, no
# control characters (they end up in topics, file names and terminals).
SYMBOL_RE = re.compile(r"[A-Z0-9]{2,20}")
# event type -> {field: (types, rule)}; rule is None, "pos" (> 0), "nonneg" (>= 0) or "symbol".
PAYLOAD_SCHEMAS: dict[str, dict[str, tuple[tuple[type, ...], str | None]]] = {
    "SIGNAL": {"symbol": ((str,), "symbol"), "strategy": ((str,), None), "price": (_NUM, "pos"),
               "market_ts": (_NUM, "pos")},
    "DECISION": {"symbol": ((str,), "symbol"), "action": ((str,), None), "confidence": (_NUM, "nonneg"),
                 "reasons": ((list,), None), "position_size": (_NUM, "nonneg"),
                 "targets": ((dict,), None), "config_hash": ((str,), None)},
    "ORDER": {"symbol": ((str,), "symbol"), "order_id": ((str,), None), "status": ((str,), None),
              "quantity": (_NUM, "nonneg")},
    "FILL": {"symbol": ((str,), "symbol"), "order_id": ((str,), None), "filled_qty": (_NUM, "pos"),
             "avg_price": (_NUM, "pos"), "commission": (_NUM, "nonneg"),
             "commission_asset": ((str,), None)},
    "CLOSE": {"symbol": ((str,), "symbol"), "order_id": ((str,), None), "entry_price": (_NUM, "pos"),
              "exit_price": (_NUM, "pos"), "quantity": (_NUM, "pos"), "pnl": (_NUM, None),
              "fees": (_NUM, "nonneg"), "reason": ((str,), None), "holding_s": (_NUM, "nonneg"),
              "quote": ((str,), None)},
    "PRICE": {"symbol": ((str,), "symbol"), "price": (_NUM, "pos"), "market_ts": (_NUM, "pos")},
    "HEARTBEAT": {"service": ((str,), None), "pid": ((int,), None)},
    "DEAD_LETTER": {"service": ((str,), None), "handler": ((str,), None), "error": ((str,), None),
                    "attempt": ((int,), "pos"), "event": ((dict,), None)},
    "RETRY": {"service": ((str,), None), "dlq_id": ((str,), None), "event": ((dict,), None)},
    "CONTROL": {"service": ((str,), None), "command": ((str,), None)},
    "REPLAY": {"publisher": ((str,), None), "epoch": ((str,), None), "from": ((int,), "pos"),
               "to": ((int,), "pos")},
    "GAP": {"publisher": ((str,), None), "epoch": ((str,), None), "from": ((int,), "pos"),
            "to": ((int,), "pos")},
    "FEED": {"kind": ((str,), None), "venue": ((str,), None)},
}
_ENUMS = {("DECISION", "action"): {"BUY", "SKIP"}, ("SHADOW_DECISION", "action"): {"BUY", "SKIP"},
          ("ORDER", "status"): {"NEW", "REJECTED", "EXPIRED", "UNKNOWN"},
          ("FEED", "kind"): {"connected", "reconnect", "id_gap", "backfilled", "stale", "rotated",
                             "symbols"}}


# MessagePack values JSON has no form for (bin, ext, the timestamp ext): the id's json.dumps
# refuses them; a subscriber that trusts the id must refuse them too.
_NOT_JSON = (bytes, bytearray, msgspec.msgpack.Ext, datetime)
_DEEP = (float, int, dict, list, *_NOT_JSON)  # what _find_non_finite must look into
# Bounds on what any payload may hold: real payloads nest 5 levels at most (a dead letter's
# embedded DECISION's reasons); integers are what every MessagePack and JSON reader can hold.
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1


def _find_non_finite(value: Any, path: str) -> tuple[str, Any] | None:
    """The path of the first NaN/inf, bytes, non-string key, integer outside 64 bits or
    container nested deeper than MAX_DEPTH, or None."""
    bad = _scan(value, 0)
    if bad is None:
        return None
    steps, what = bad
    return path + "".join(reversed(steps)), what


def _scan(value: Any, depth: int) -> tuple[list[str], Any] | None:
    """(path steps innermost first, what is wrong) or None. No string work on the happy path
    (this runs on every decode): numbers inside a container are judged in its loop, only
    containers and non-JSON values recurse, and the recursion is bounded by MAX_DEPTH."""
    t = type(value)
    if t is float:
        return None if isfinite(value) else ([], value)
    if t is int:
        return None if INT_MIN <= value <= INT_MAX else ([], _int_reason(value))
    if t in _NOT_JSON:
        return ([], f"{t.__name__} is not JSON-compatible")
    if depth >= MAX_DEPTH and t in (dict, list):
        return ([], f"nested deeper than {MAX_DEPTH} levels")
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return ([], f"non-string key {k!r}")
            tv = type(v)
            if tv is float:
                if not isfinite(v):
                    return ([f".{k}"], v)
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    return ([f".{k}"], _int_reason(v))
            elif tv in _DEEP:
                bad = _scan(v, depth + 1)
                if bad:
                    bad[0].append(f".{k}")
                    return bad
    elif t is list:
        for i, v in enumerate(value):
            tv = type(v)
            if tv is float:
                if not isfinite(v):
                    return ([f"[{i}]"], v)
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    return ([f"[{i}]"], _int_reason(v))
            elif tv in _DEEP:
                bad = _scan(v, depth + 1)
                if bad:
                    bad[0].append(f"[{i}]")
                    return bad
    return None


def _int_reason(value: int) -> str:
    return f"integer outside the 64-bit signed range ({len(str(abs(value)))} digits)"


def check_json_value(value: Any, where: str) -> None:
    """Raise EnvelopeError naming the path of the first value no payload may hold (NaN/inf,
    bytes, a non-string key, an integer outside 64 bits, nesting past MAX_DEPTH); for input
    that is not an envelope yet (the gateway's JSON bodies)."""
    _check_finite(value, where)


def _check_finite(value: Any, where: str) -> None:
    bad = _find_non_finite(value, where)
    if bad:
        path, what = bad
        reason = what if isinstance(what, str) else f"non-finite number {what!r}"
        raise EnvelopeError(reason, path if len(path) <= 120 else path[:117] + "...")


def validate_payload(event_type: str, payload: Mapping[str, Any], *,
                     finite_checked: bool = False) -> None:
    """Raise EnvelopeError naming ``payload.<field>`` when the payload breaks its type's schema."""
    if not isinstance(payload, Mapping):
        raise EnvelopeError("payload is not a map", "payload")
    if not finite_checked:
        _check_finite(payload if type(payload) is dict else dict(payload), "payload")
    for name, (types, rule) in PAYLOAD_SCHEMAS.get(event_type, {}).items():
        where = f"payload.{name}"
        if name not in payload:
            raise EnvelopeError(f"missing field for {event_type}", where)
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise EnvelopeError(f"expected {'/'.join(t.__name__ for t in types)}, "
                                f"got {type(value).__name__}", where)
        if rule == "symbol" and not SYMBOL_RE.fullmatch(value):
            raise EnvelopeError(f"must be 2-20 characters of A-Z 0-9, got {value[:40]!r}", where)
        if rule == "pos" and value <= 0:
            raise EnvelopeError(f"must be > 0, got {value!r}", where)
        if rule == "nonneg" and value < 0:
            raise EnvelopeError(f"must be >= 0, got {value!r}", where)
        allowed = _ENUMS.get((event_type, name))
        if allowed and value not in allowed:
            raise EnvelopeError(f"must be one of {sorted(allowed)}, got {value!r}", where)


def validate_envelope(env: Envelope, *, now: float | None = None, max_future_s: float = 0.0,
                      max_age_s: float = 0.0, check_id: bool = True) -> None:
    """Check what a typed decode cannot: timestamp (within a window of ``now`` when given), id
    (unless ``check_id`` is False: the payload is then still proven finite), payload rules."""
    if not env.event_type or not env.event_type.isupper():
        raise EnvelopeError(f"bad event_type {env.event_type!r}", "event_type")
    ts = parse_timestamp(env.timestamp).timestamp()
    if now is not None:
        if max_future_s and ts - now > max_future_s:
            raise EnvelopeError(f"{ts - now:.0f}s in the future", "timestamp")
        if max_age_s and now - ts > max_age_s:
            raise EnvelopeError(f"{now - ts:.0f}s in the past", "timestamp")
    if not isinstance(env.payload, dict):
        raise EnvelopeError("payload is not a map", "payload")
    if not check_id:
        validate_payload(env.event_type, env.payload)
        if not env.event_id.startswith("sha256:") or len(env.event_id) != 23:
            raise EnvelopeError(f"malformed event_id {env.event_id!r}", "event_id")
    else:
        expected = _event_id_or_error(env.event_type, env.correlation_id, env.timestamp,
                                      env.payload)
        validate_payload(env.event_type, env.payload, finite_checked=True)
        if env.event_id != expected:
            raise EnvelopeError(f"event_id {env.event_id} does not match content ({expected})",
                                "event_id")
    if env.seq < 0 or env.tseq < 0:
        raise EnvelopeError("negative sequence number", "seq")
