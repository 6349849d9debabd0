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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec

from hope.jsonbounds import MAX_DEPTH, find_non_finite, may_break_bounds, scan
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


# "2026-02-02T15:00:00" -> its epoch second, for timestamps already parsed in their canonical
# form: events of one second share it, so the receive path parses each second once.
_EPOCH_SECONDS: dict[str, int] = {}
_MAX_SECONDS_CACHED = 4096


def timestamp_seconds(text: str) -> float:
    """``parse_timestamp(text).timestamp()`` (the same float, the same errors), faster."""
    if type(text) is str and len(text) == 27 and text.isascii():
        second = _EPOCH_SECONDS.get(text[:19])
        micros = text[20:26]
        if second is not None and text[19] == "." and text[26] == "Z" and micros.isdigit():
            return (second * 1_000_000 + int(micros)) / 1_000_000
    parsed = parse_timestamp(text)
    # cached only when the text is exactly what utc_timestamp writes for it: then any other
    # six ASCII digits after that prefix make a valid timestamp too
    if type(text) is str and text.isascii() \
            and parsed.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z" == text:
        if len(_EPOCH_SECONDS) >= _MAX_SECONDS_CACHED:
            _EPOCH_SECONDS.clear()
        _EPOCH_SECONDS[text[:19]] = int(parsed.replace(microsecond=0).timestamp())
    return parsed.timestamp()


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
    if may_break_bounds(data):
        _check_finite(payload if type(payload) is dict else dict(payload), "payload")
    head = f"{event_type}:{correlation_id}:{timestamp}:".encode()
    return "sha256:" + hashlib.sha256(head + data).hexdigest()[:16]


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


def check_json_value(value: Any, where: str) -> None:
    """Raise EnvelopeError naming the path of the first value no payload may hold (NaN/inf,
    bytes, a non-string key, an integer outside 64 bits, nesting past MAX_DEPTH); for input
    that is not an envelope yet (the gateway's JSON bodies)."""
    _check_finite(value, where)


def _check_finite(value: Any, where: str) -> None:
    bad = find_non_finite(value, where)
    if bad:
        path, what = bad
        reason = what if isinstance(what, str) else f"non-finite number {what!r}"
        raise EnvelopeError(reason, path if len(path) <= 120 else path[:117] + "...")


def validate_payload(event_type: str, payload: Mapping[str, Any], *,
                     finite_checked: bool = False) -> None:
    """Raise EnvelopeError naming ``payload.<field>`` when the payload breaks its type's schema."""
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise EnvelopeError("payload is not a map", "payload")
    if not finite_checked:
        plain = payload if type(payload) is dict else dict(payload)
        if scan(plain, 0) is not None:
            _check_finite(plain, "payload")
    for name, exact, rule, allowed in _CHECKS.get(event_type, ()):
        value = payload.get(name, _ABSENT)
        # exact types only (no bool, no subclass): anything else is judged by _explain_payload
        if type(value) not in exact or (rule is not None and not rule(value)) \
                or (allowed is not None and value not in allowed):
            _explain_payload(event_type, payload)
            return  # a subclass of an allowed type that keeps every rule


_ABSENT = object()
_RULES: dict[str | None, Callable[[Any], bool] | None] = {
    None: None, "pos": lambda v: v > 0, "nonneg": lambda v: v >= 0,
    "symbol": lambda v: SYMBOL_RE.fullmatch(v) is not None}
# event type -> ((field, exact types, rule, allowed values), ...): PAYLOAD_SCHEMAS and _ENUMS
# prepared for the happy path, which builds no strings
_CHECKS = {etype: tuple((name, frozenset(types), _RULES[rule], _ENUMS.get((etype, name)))
                        for name, (types, rule) in fields.items())
           for etype, fields in PAYLOAD_SCHEMAS.items()}


def _explain_payload(event_type: str, payload: Mapping[str, Any]) -> None:
    """The payload rules one by one: raise EnvelopeError for the first field that breaks one."""
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
    ts = timestamp_seconds(env.timestamp)
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
