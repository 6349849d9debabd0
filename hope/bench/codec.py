"""Row 5: µs per envelope encode and decode: ``hope.codec`` (msgspec, typed decode) against the
plain ``msgpack`` package on the same envelope, plus HOPE's full receive-side check
(``codec.decode`` with verification: event id recomputed, timestamp and payload validated)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgpack

from hope import codec
from hope.bench.common import ratio, summary
from hope.bench.peers import signal_payload
from hope.envelope import Envelope, new_event


def sample() -> Envelope:
    env = new_event("SIGNAL", signal_payload("EVXBTC", 123_456, 1.7e9, t0=123_456_789),
                    source="scanner")
    env.publisher, env.epoch, env.seq, env.tseq = "scanner", "0123456789ab", 42, 42
    return env


def _us(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def measure(rounds: int = 3, n: int = 20_000, log: Any = print) -> dict[str, Any]:
    env = sample()
    body = codec.encode(env)
    as_dict = env.to_dict()
    packed = msgpack.packb(as_dict)
    assert msgpack.unpackb(body) == as_dict, "msgpack must read HOPE's frames"
    cases: dict[str, Callable[[], Any]] = {
        "hope_encode": lambda: codec.encode(env),
        "hope_decode_typed": lambda: codec.decode(body, verify=False),
        "hope_decode_verified": lambda: codec.decode(body),
        "msgpack_encode": lambda: msgpack.packb(env.to_dict()),
        "msgpack_decode": lambda: Envelope(**msgpack.unpackb(packed)),
        "build_event": lambda: new_event("SIGNAL", as_dict["payload"], source="scanner"),
    }
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for name, fn in cases.items():
            runs[name].append(round(_us(fn, n), 2))
        log(f"  codec round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}"
                                                           for k, v in runs.items()) + " µs")
    out: dict[str, Any] = {"bytes": len(body), "calls_per_run": n, "rounds": rounds,
                           **{k: summary(v) for k, v in runs.items()}}
    out["ratio_encode_to_msgpack"] = ratio(runs["hope_encode"], runs["msgpack_encode"])
    out["ratio_decode_to_msgpack"] = ratio(runs["hope_decode_typed"], runs["msgpack_decode"])
    return out
