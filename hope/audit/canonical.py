"""Canonical JSON, record hashes and the event-type → file-family map of CONVENTIONS."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from hope.envelope import Envelope
from hope.jsontext import NOT_PLAIN, SORTED_ENCODE, canonical_bytes, dumps_function, fix_dict

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
    (the writer's records built as dicts: its own, and any waiting for their file; the same
    bytes from the faster encoder; readers and verifiers recompute them with json.dumps, so any
    difference would show as a hash mismatch). Events take :func:`seal_event`."""
    text = canonical_bytes(record)  # hashed, then reused for the line
    raw = _sha256(text).digest()
    digest = raw.hex()
    # (concatenating 33 bytes beats copying a hashed 0x00 prefix)
    return (digest, b"".join((text[:-1], b',"hash":"', digest.encode(), b'"}\n')),
            _sha256(b"\x00" + raw).digest())


class _Record(msgspec.Struct, gc=False):
    """An envelope as its audit record (what ``Envelope.to_dict()`` plus the three fields the
    writer adds holds), for the sorted encoder: no dict built, no keys sorted per record."""

    causation_id: str | None
    correlation_id: str
    epoch: str | None
    event_id: str
    event_type: str
    leaf: int
    payload: dict[str, Any]
    prev_hash: str
    principal: str | None
    publisher: str | None
    schema_version: str
    seq: int
    source: str
    timestamp: str
    tseq: int


_STR_OR_NONE = frozenset((str, type(None)))
if set(_Record.__struct_fields__) != {*Envelope.__struct_fields__, "principal", "prev_hash",
                                      "leaf"}:  # a field the record would silently leave out
    raise ImportError("hope.audit.canonical._Record: not Envelope's fields + the writer's three")


def event_text(env: Envelope, principal: str | None, prev_hash: str, leaf: int) -> bytes:
    """The canonical text of the record ``dict(env.to_dict(), principal=..., prev_hash=...,
    leaf=...)`` (:func:`canonical_bytes`' bytes) without building the dict or sorting its keys
    (the writer's hot path). A field of another type than an envelope decoded off the bus
    holds takes the dict path."""
    seq, tseq, cause, pub, epoch = env.seq, env.tseq, env.causation_id, env.publisher, env.epoch
    eid, etype, corr, ts, src, ver = (env.event_id, env.event_type, env.correlation_id,
                                      env.timestamp, env.source, env.schema_version)
    payload = env.payload
    try:
        # (principal, prev_hash and leaf are the writer's: the publisher or None, a hash, an int)
        if not (type(seq) is int and type(tseq) is int and type(eid) is str
                and type(etype) is str and type(corr) is str and type(ts) is str
                and type(src) is str and type(ver) is str and type(cause) in _STR_OR_NONE
                and type(pub) in _STR_OR_NONE and type(epoch) in _STR_OR_NONE
                and type(payload) is dict):
            raise TypeError("not the types of a decoded envelope")
        fixed = fix_dict(payload)
        return SORTED_ENCODE(_Record(cause, corr, epoch, eid, etype, leaf,
                                     payload if fixed is None else fixed, prev_hash, principal,
                                     pub, ver, seq, src, ts, tseq))
    except NOT_PLAIN:
        rec = env.to_dict()
        rec["principal"], rec["prev_hash"], rec["leaf"] = principal, prev_hash, leaf
        return canonical_bytes(rec)


def seal_event(env: Envelope, principal: str | None, prev_hash: str, leaf: int,
               into: bytearray) -> tuple[str, bytes]:
    """Append the JSONL line of :func:`event_text`'s record to ``into``; return (its hash, its
    Merkle leaf hash): :func:`seal_leaf`'s results, the line written in place (no copies of
    it; nothing is appended when the record cannot be written)."""
    text = event_text(env, principal, prev_hash, leaf)
    raw = _sha256(text).digest()
    digest = raw.hex()
    into += text
    del into[-1]  # the closing brace: "hash" goes last
    into += b',"hash":"%s"}\n' % digest.encode()
    return digest, _sha256(b"\x00" + raw).digest()


def seal(record: dict[str, Any]) -> tuple[str, bytes]:
    """Hash ``record`` (which must not hold ``hash``) and return (hash, the JSONL line bytes).

    The line is the canonical text with ``hash`` appended as the last key: one serialisation per
    record instead of two. Readers parse it as ordinary JSON; key order carries no meaning.
    """
    text = _CANONICAL(record)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest, (text[:-1] + ',"hash":"' + digest + '"}\n').encode()
