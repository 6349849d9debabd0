"""Row 1: one hop through the proxy, paced. HOPE vs raw pyzmq vs Redis pub/sub, same run.

HOPE: ``hope-pub`` (a Service: envelope build, encode, outbox write, send) → the real proxy
process (``services/proxy.py``) → ``hope-sub`` (a Service: receive, decode, validate, dedupe,
dispatch, consumer journal). Raw: PUB → ``zmq.proxy`` process → SUB with pre-built bytes of the
size of HOPE's encoded envelope. Redis: PUBLISH → redis-server → SUBSCRIBE over loopback TCP.
The three alternate within each round, so drift on a shared machine hits all of them alike.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hope import codec
from hope.bench.common import latency_runs, latency_us, ratio
from hope.bench.harness import Harness, latencies, read_triples
from hope.bench.peers import signal_payload
from hope.bench.redis_server import RedisServer, RedisUnavailable
from hope.envelope import new_event

# hope-pub's SIGNALs are market data here (the authority table: docs/SECURITY.md)
HOP_TOML = """
[market_clock]
publishers = ["scanner", "bench-pub"]
"""
SYSTEMS = ("hope", "hope_noauth", "raw_zmq", "redis")  # hope_noauth: [bus] authenticate = false


def hope_message_size() -> int:
    """Bytes of the encoded, stamped SIGNAL envelope ``hope-pub`` sends."""
    env = new_event("SIGNAL", signal_payload("EVXBTC", 123_456, time.time(),
                                             t0=time.monotonic_ns()), source="bench-pub")
    env.publisher, env.epoch, env.seq, env.tseq = "bench-pub", "0123456789ab", 123_456, 123_456
    return len(codec.encode(env))


def _finish(h: Harness, out: str, warmup: int, count: int, sender: str, receiver: str,
            done: str, send_timeout: float) -> dict[str, Any]:
    h.wait_exit(sender, send_timeout)
    h.drain(out, warmup + count, idle_s=1.0, limit_s=10.0)
    h.stop(receiver)
    samples, counts = latencies(read_triples(out), warmup, count)
    sent = json.loads(Path(done).read_text()) if Path(done).exists() else {}
    if not samples:
        raise RuntimeError(f"{h.name}: nothing received\n{h.tail(receiver)}\n{h.tail(sender)}")
    # one receiver: every copy it read is a delivery (1.0 unless something was doubled)
    return {**latency_us(samples), **counts, "send_rate": round(sent.get("rate", 0.0)),
            "deliveries_per_event": round((counts["received"] + counts["duplicates"])
                                          / max(1, count), 3)}


def _sender_args(rate: float, count: int, warmup: int, done: str) -> list[str]:
    return ["--rate", str(rate), "--count", str(count), "--warmup", str(warmup), "--done", done]


def run_hope(rate: float, count: int, warmup: int, env: dict[str, str] | None = None,
             authenticate: bool = True) -> dict[str, Any]:
    with Harness("hop-hope", HOP_TOML, env=env, authenticate=authenticate) as h:
        h.procs.proxy()
        h.wait_log("proxy", "proxy_started")
        out, ready, done = h.path("sub.lines"), h.path("sub.ready"), h.path("pub.done")
        h.peer("sub", "hope-sub", "--out", out, "--ready", ready)
        h.wait_file(ready, 30, "sub")
        h.peer("pub", "hope-pub", *_sender_args(rate, count, warmup, done))
        return _finish(h, out, warmup, count, "pub", "sub", done, 60 + (warmup + count) / rate)


def run_raw(rate: float, count: int, warmup: int, size: int) -> dict[str, Any]:
    with Harness("hop-raw") as h:
        xsub, xpub = h.ipc("in.sock"), h.ipc("out.sock")
        h.peer("proxy", "raw-proxy", "--xsub", xsub, "--xpub", xpub, "--ready", h.path("p.rdy"))
        h.wait_file(h.path("p.rdy"), 30, "proxy")
        out, ready, done = h.path("sub.lines"), h.path("sub.ready"), h.path("pub.done")
        h.peer("sub", "raw-sub", "--xpub", xpub, "--out", out, "--ready", ready)
        h.wait_file(ready, 30, "sub")
        h.peer("pub", "raw-pub", "--xsub", xsub, "--size", str(size),
               *_sender_args(rate, count, warmup, done))
        return _finish(h, out, warmup, count, "pub", "sub", done, 60 + (warmup + count) / rate)


def run_redis(server: RedisServer, rate: float, count: int, warmup: int, size: int
              ) -> dict[str, Any]:
    with Harness("hop-redis") as h:
        port = str(server.port)
        out, ready, done = h.path("sub.lines"), h.path("sub.ready"), h.path("pub.done")
        h.peer("sub", "redis-sub", "--port", port, "--out", out, "--ready", ready)
        h.wait_file(ready, 30, "sub")
        h.peer("pub", "redis-pub", "--port", port, "--size", str(size),
               *_sender_args(rate, count, warmup, done))
        return _finish(h, out, warmup, count, "pub", "sub", done, 60 + (warmup + count) / rate)


def measure(rounds: int = 3, rate: float = 5000.0, seconds: float = 3.0,
            warmup_s: float = 0.5, redis: bool = True, log: Any = print) -> dict[str, Any]:
    """Run ``rounds`` rounds of HOPE, raw pyzmq and Redis; summaries and ratios to raw."""
    count, warmup = int(rate * seconds), int(rate * warmup_s)
    size = hope_message_size()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
    server: RedisServer | None = None
    redis_error = None
    if redis:
        try:
            server = RedisServer()
            server.start()
        except RedisUnavailable as exc:
            redis_error = str(exc)
            log(f"  redis peer unavailable: {exc}")
    try:
        for r in range(rounds):
            runs["hope"].append(run_hope(rate, count, warmup))
            runs["hope_noauth"].append(run_hope(rate, count, warmup, authenticate=False))
            runs["raw_zmq"].append(run_raw(rate, count, warmup, size))
            if server:
                runs["redis"].append(run_redis(server, rate, count, warmup, size))
            log(f"  hop round {r + 1}/{rounds}: " + "; ".join(
                f"{s} p50 {v[-1]['p50']:.0f} p99 {v[-1]['p99']:.0f} µs lost {v[-1]['lost']}"
                for s, v in runs.items() if v))
    finally:
        if server:
            server.stop()
    out: dict[str, Any] = {"rate": rate, "messages_per_run": count, "warmup": warmup,
                           "message_bytes": size, "rounds": rounds, "redis_error": redis_error}
    for system, rs in runs.items():
        if rs:
            out[system] = {**latency_runs(rs), "lost": sum(r["lost"] for r in rs),
                           "duplicates": sum(r["duplicates"] for r in rs),
                           "send_rate": [r["send_rate"] for r in rs],
                           "deliveries_per_event": max(r["deliveries_per_event"] for r in rs),
                           "runs": rs}
    for pct in ("p50", "p99", "p99.9"):
        base = [r[pct] for r in runs["raw_zmq"]]
        out.setdefault("ratio_to_noauth", {})[pct] = ratio(
            [r[pct] for r in runs["hope"]], [r[pct] for r in runs["hope_noauth"]])
        out.setdefault("ratio_to_raw", {})[pct] = ratio([r[pct] for r in runs["hope"]], base)
        if runs["redis"]:
            out.setdefault("ratio_to_redis", {})[pct] = ratio(
                [r[pct] for r in runs["hope"]], [r[pct] for r in runs["redis"]])
    return out
