"""Memory and proof time of the audit writer at a large log (not part of the test suite).

``python -m hope.audit.bench_memory --records 1000000`` appends that many PRICE events to a
writer in a temp state dir (a read batch at a time, group commits and checkpoints as the
config says), then reports the process's resident memory (``VmRSS``/``VmHWM`` from
``/proc/self/status``) before and after, the same after a restart on that log (start-up
verifies every record), and the time of inclusion and consistency proofs from the writer's
tree. Only the public writer API is used, so the same script measures an older checkout.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import tempfile
import time
from typing import Any

from hope.audit.config import AuditConfig
from hope.audit.keys import init_keys
from hope.audit.writer import AuditWriter
from hope.envelope import new_event
from hope.paths import StatePaths


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _mib() -> dict[str, float]:
    gc.collect()
    return {"rss_mib": round(_status_kib("VmRSS") / 1024, 1),
            "hwm_mib": round(_status_kib("VmHWM") / 1024, 1)}


def _fill(w: AuditWriter, n: int) -> None:
    for i in range(1, n + 1):
        env = new_event("PRICE", {"symbol": "EVXBTC", "price": 1e-5 * (1 + i % 97),
                                  "market_ts": 1.7e9 + i / 10}, source="scanner")
        env.publisher, env.epoch, env.seq, env.tseq = "scanner", "mem", i, i
        w.append(env)
        if i % 256 == 0:
            w.tick()


def _proof_us(w: AuditWriter, samples: int = 2000) -> dict[str, float]:
    size, rng = w.tree.size, random.Random(1)
    idx = [rng.randrange(size) for _ in range(samples)]
    t0 = time.perf_counter()
    for i in idx:
        w.tree.inclusion_proof(i, size)
    t1 = time.perf_counter()
    for i in idx:
        w.tree.consistency_proof(max(1, i), size)
    t2 = time.perf_counter()
    w.tree.root(size)
    t3 = time.perf_counter()
    return {"inclusion_us": round((t1 - t0) / samples * 1e6, 1),
            "consistency_us": round((t2 - t1) / samples * 1e6, 1),
            "root_us": round((t3 - t2) * 1e6, 1)}


def measure(n: int) -> dict[str, Any]:
    root = tempfile.mkdtemp(prefix="hope-mem-", dir="/tmp")
    try:
        state = StatePaths.at(root).ensure()
        signer, _ = init_keys(state.keys)
        out: dict[str, Any] = {"records": n, "start": _mib()}
        w = AuditWriter(state, AuditConfig(), signer=signer)
        t0 = time.perf_counter()
        _fill(w, n)
        w.sync()
        w.checkpoint()
        w.sync()
        out["append_s"] = round(time.perf_counter() - t0, 1)
        out["after_append"] = _mib()
        out["proofs_live"] = _proof_us(w)
        w.close()
        del w
        gc.collect()
        out["after_close"] = _mib()
        t0 = time.perf_counter()
        w = AuditWriter(state, AuditConfig(), signer=signer)
        out["restart_s"] = round(time.perf_counter() - t0, 1)
        out["after_restart"] = _mib()
        out["proofs_after_restart"] = _proof_us(w)
        w.close()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    print(json.dumps(measure(ap.parse_args().records), indent=2))
