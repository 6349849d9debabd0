"""Benchmark processes: ``python -m hope.bench.peers <mode> ...``.

Raw peers (``raw-*``, ``redis-*``) are the baselines: blocking sockets, pre-built bytes of the
size of the matching HOPE event, the message index and send stamp packed in the first 16 bytes.
HOPE peers (``hope-*``) are real services on the real runtime and bus (:mod:`hope.bench.hope_peers`).
Every sender paces with :class:`hope.bench.common.Pacer`; every receiver appends one line per
message (``<id> <sent_ns> <received_ns>`` or ``<correlation_id> <received_ns> <status>``),
flushed every 100 ms and on SIGTERM, which is how the orchestrator stops receivers.
``HOPE_BENCH_PROFILE=<dir>`` runs the peer under cProfile and dumps ``<dir>/<mode>-<pid>.prof``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hope.bench import live_peer
from hope.bench.baseline_peers import (
    HEADER,
    raw_proxy,
    raw_pub,
    raw_stage,
    raw_sub,
    redis_pub,
    redis_sub,
    resp_parse,
)
from hope.bench.hope_peers import run_peer, signal_payload

__all__ = ["HEADER", "resp_parse", "signal_payload"]


# --- entry ---------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hope.bench.peers")
    sub = p.add_subparsers(dest="mode", required=True)
    _raw_peers(sub)
    _redis_peers(sub)
    _hope_peers(sub)
    live_peer.add_arguments(sub)
    return p


def _sender_arguments(q: argparse.ArgumentParser) -> None:
    """What every peer that sends at a rate takes: the pace, the count, the warm-up."""
    q.add_argument("--rate", type=float, required=True)
    q.add_argument("--count", type=int, required=True)
    q.add_argument("--warmup", type=int, default=0)
    q.add_argument("--settle", type=float, default=0.3)
    q.add_argument("--done")


def _raw_peers(sub: argparse._SubParsersAction) -> None:
    """The raw pyzmq baseline: a bare proxy, a publisher, a subscriber, a pipeline stage."""
    q = sub.add_parser("raw-proxy")
    q.add_argument("--xsub", required=True)
    q.add_argument("--xpub", required=True)
    q.add_argument("--hwm", type=int, default=0)
    q.add_argument("--ready")
    q.add_argument("--curve", help="CurveZMQ with the certificates in this directory")
    for mode in ("raw-pub", "raw-sub", "raw-stage"):
        q = sub.add_parser(mode)
        q.add_argument("--xsub")
        q.add_argument("--xpub")
        q.add_argument("--hwm", type=int, default=0)
        q.add_argument("--topic", default="SIGNAL.EVXBTC")
        q.add_argument("--size", type=int, default=450)
        q.add_argument("--out")
        q.add_argument("--ready")
        q.add_argument("--in-topic", action="append", help="repeatable (raw-stage)")
        q.add_argument("--emit", action="append", help="TRIGGER=TOPIC:SIZE[,...] (raw-stage)")
        q.add_argument("--log", help="append every message received (raw-stage)")
        q.add_argument("--counts", help="messages received per type, JSON (raw-stage)")
        q.add_argument("--curve", help="CurveZMQ with the certificates in this directory")
        if mode == "raw-pub":
            q.add_argument("--pre-topic", help="send one message on this topic before each")
            q.add_argument("--pre-size", type=int, default=0)
            _sender_arguments(q)


def _redis_peers(sub: argparse._SubParsersAction) -> None:
    """The Redis pub/sub baseline: a publisher and a subscriber."""
    for mode in ("redis-pub", "redis-sub"):
        q = sub.add_parser(mode)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--topic", default="SIGNAL.EVXBTC")
        q.add_argument("--size", type=int, default=450)
        q.add_argument("--out")
        q.add_argument("--ready")
        if mode == "redis-pub":
            _sender_arguments(q)


def _hope_peers(sub: argparse._SubParsersAction) -> None:
    """HOPE's own bus clients: a publisher, a subscriber, a sink, a SIGNAL injector."""
    q = sub.add_parser("hope-pub")
    q.add_argument("--name", default="bench-pub")
    q.add_argument("--symbol", default="EVXBTC")
    _sender_arguments(q)
    for mode in ("hope-sub", "hope-sink"):
        q = sub.add_parser(mode)
        q.add_argument("--name", default="bench-sub" if mode == "hope-sub" else "bench-sink")
        q.add_argument("--prefix", default="SIGNAL")
        q.add_argument("--out", required=True)
        q.add_argument("--ready")
        q.add_argument("--deliveries", help="services' per-type bus counts, JSON (hope-sink)")
    q = sub.add_parser("hope-inject")
    q.add_argument("--name", default="bench-injector")
    q.add_argument("--out", required=True)
    q.add_argument("--ready-timeout", type=float, default=60.0)
    _sender_arguments(q)


RAW = {"raw-proxy": raw_proxy, "raw-pub": raw_pub, "raw-sub": raw_sub, "raw-stage": raw_stage,
       "redis-pub": redis_pub, "redis-sub": redis_sub}


def main(argv: list[str] | None = None) -> None:
    args, rest = parser().parse_known_args(argv)
    peer = live_peer.run_peer if args.mode == "hope-live" else run_peer
    run = (lambda: RAW[args.mode](args)) if args.mode in RAW else \
        (lambda: peer(args, rest))
    profile_dir = os.environ.get("HOPE_BENCH_PROFILE")
    if not profile_dir:
        run()
        return
    import cProfile
    prof = cProfile.Profile()
    try:
        prof.runcall(run)
    finally:
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        prof.dump_stats(f"{profile_dir}/{args.mode}-{os.getpid()}.prof")


if __name__ == "__main__":
    main(sys.argv[1:])
