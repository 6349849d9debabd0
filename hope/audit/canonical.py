"""Canonical JSON, record hashes and the event-type → file-family map of CONVENTIONS."""

from __future__ import annotations

import hashlib
from typing import Any

from hope.jsontext import canonical_bytes, dumps_function

_sha256 = hashlib.sha256
GENESIS = "0" * 64  # prev_hash of a family's first record

FAMILIES: dict[str, str] = {
    "SIGNAL": "signals", "DECISION": "decisions", "SHADOW_DECISION": "shadow_decisions",
    "ORDER": "orders", "FILL": "fills", "CLOSE": "closes", "PRICE": "prices",
    "DEAD_LETTER": "dlq",
}
DEFAULT_FAMILY = "system"  # everything else: GAP, HEARTBEAT_SUMMARY, HEALTH, CONTROL, ...
# The trading path in causal order: a signal, its decision, the order, its fill, the close.
TRADING_TYPES = ("SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE")


def family_for(event_type: str) -> str:
    return FAMILIES.get(event_type, DEFAULT_FAMILY)


TRADING_FAMILIES = tuple(family_for(t) for t in TRADING_TYPES)


# json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False): CONVENTIONS' text
_CANONICAL = dumps_function(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(record: dict[str, Any]) -> str:
    """The text that is hashed: sorted keys, no spaces, UTF-8 kept (``hash``/``sig`` excluded)."""
    return _CANONICAL({k: v for k, v in record.items() if k not in ("hash", "sig")})


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record).encode()).hexdigest()


def seal_leaf(record: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """:func:`seal` plus the record's Merkle leaf hash, SHA-256(0x00 || raw hash), in one go
    (the writer's hot path: the same bytes from the faster encoder; readers and verifiers
    recompute them with json.dumps, so any difference would show as a hash mismatch)."""
    text = canonical_bytes(record)  # hashed, then reused for the line
    raw = _sha256(text).digest()
    digest = raw.hex()
    # (concatenating 33 bytes beats copying a hashed 0x00 prefix)
    return (digest, b"".join((text[:-1], b',"hash":"', digest.encode(), b'"}\n')),
            _sha256(b"\x00" + raw).digest())


def seal(record: dict[str, Any]) -> tuple[str, bytes]:
    """Hash ``record`` (which must not hold ``hash``) and return (hash, the JSONL line bytes).

    The line is the canonical text with ``hash`` appended as the last key: one serialisation per
    record instead of two. Readers parse it as ordinary JSON; key order carries no meaning.
    """
    text = _CANONICAL(record)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest, (text[:-1] + ',"hash":"' + digest + '"}\n').encode()
