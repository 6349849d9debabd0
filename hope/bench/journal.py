"""What consuming one PRICE costs in the dedupe/journal path, µs and heap, in-process.

PRICEs go through ``Runtime._dispatch`` of a runtime on an unstarted ZeroMQ bus whose real
consumer journal is open in a temp dir (no sockets), with one PRICE handler that stores a last
price, three ways: without middleware (``bare``: no dedupe, no journal), the handler not
declared idempotent (``per_event``: a record and a remembered id per event, one ``os.write``
each) and declared idempotent (``coverage``: ranges, one ``os.write`` per read batch, the bus's
flush called after every ``batch`` events as ``_on_readable`` does). The path's cost is a
mode's µs minus ``bare``'s; each figure the best of ``passes``, the modes taking turns.
``python -m hope.bench.journal [--n N] [--passes P]`` prints JSON (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hope import eager
from hope.bus.base import Sequencer
from hope.bus.consumed import ConsumerJournal
from hope.bus.cursor import Cursors
from hope.bus.reader import READ_BATCH
from hope.bus.zmq import ZmqBus
from hope.envelope import Envelope, new_event
from hope.runtime import Runtime, default_middleware
from hope.testing import make_config

MODES = ("bare", "per_event", "coverage")


def prices(n: int) -> list[Envelope]:
    """``n`` stamped PRICEs of one publisher, 400 symbols round-robin."""
    seq = Sequencer("scanner", "0123456789ab")
    out = []
    for i in range(n):
        env = seq.stamp(new_event("PRICE", {"symbol": f"S{i % 400}BTC", "price": 1.0 + i % 97,
                                            "market_ts": 1.7e9 + i}, source="scanner"))
        seq.commit(env)
        out.append(env)
    return out


def consumer(state_dir: Path, mode: str) -> Runtime:
    """The executor's runtime for ``mode`` (one of :data:`MODES`), its journal open."""
    config = make_config(state_dir, {"bus": {"authenticate": False}})
    bus = ZmqBus("executor", config, outbox=False)
    bus.cursors = Cursors(track_all=False)
    if mode != "bare":
        bus.journal = ConsumerJournal(state_dir / "consumed.log", bus.cursors)
        bus.journal.open()
    rt = Runtime("executor", config, bus, middleware=[] if mode == "bare"
                 else default_middleware(bus))
    last: dict[str, tuple[float, float]] = {}

    def on_price(env: Envelope) -> None:
        p = env.payload
        last[p["symbol"]] = (p["price"], p["market_ts"])

    rt.subscribe("PRICE", on_price, name="on_price", idempotent=mode == "coverage")
    return rt


def feed(rt: Runtime, envs: list[Envelope], batch: int) -> float:
    """µs per event: cursor, dispatch, and a journal flush after every ``batch`` events."""
    bus = rt.bus
    cursors, flush = bus.cursors, bus.flush_journal
    t0 = time.perf_counter()
    for i, env in enumerate(envs, 1):
        cursors.observe(cursors.key(env.publisher, env.epoch, env.event_type), env.tseq)
        eager.start(rt._dispatch(env))
        if i % batch == 0:
            flush()
    flush()
    return (time.perf_counter() - t0) / len(envs) * 1e6


def _run(mode: str, envs: list[Envelope], batch: int, heap: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hb-journal-", dir="/tmp") as tmp:
        rt = consumer(Path(tmp), mode)
        gc.collect()
        if heap:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] if heap else 0
        us = feed(rt, envs, batch)
        gc.collect()
        out: dict[str, Any] = {"us": us}
        if heap:
            out["heap_mb"] = round((tracemalloc.get_traced_memory()[0] - before) / 1e6, 2)
            tracemalloc.stop()
        journal = rt.bus.journal
        if journal is not None:
            out["ids_remembered"] = len(journal.done)
            out["journal_bytes"] = journal.path.stat().st_size
            journal.close()
        return out


def measure(n: int = 20_000, passes: int = 5, batches: tuple[int, ...] = (1, 8, READ_BATCH),
            heap_n: int = 100_000) -> dict[str, Any]:
    """Best-of-``passes`` µs per PRICE per mode and read-batch size; heap per ``heap_n``."""
    envs = prices(n)
    out: dict[str, Any] = {"n": n, "passes": passes, "by_batch": {}}
    for batch in batches:
        best = dict.fromkeys(MODES, float("inf"))
        last: dict[str, dict[str, Any]] = {}
        for _ in range(passes):
            for mode in MODES:
                last[mode] = _run(mode, envs, batch)
                best[mode] = min(best[mode], last[mode]["us"])
        out["by_batch"][batch] = {
            **{f"{m}_us": round(best[m], 2) for m in MODES},
            **{f"{m}_path_us": round(best[m] - best["bare"], 2) for m in MODES[1:]},
            **{f"{m}_journal_bytes": last[m]["journal_bytes"] for m in MODES[1:]}}
    many = prices(heap_n)
    out["heap"] = {"events": heap_n, **{m: {k: v for k, v in _run(m, many, READ_BATCH, True)
                                            .items() if k != "us"} for m in MODES[1:]}}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hope.bench.journal", description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="PRICEs per pass")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--heap-n", type=int, default=100_000, help="PRICEs for the heap figure")
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.n, args.passes, heap_n=args.heap_n), indent=1))


if __name__ == "__main__":
    main()
