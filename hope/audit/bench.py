"""Writer throughput for ``scripts/bench``: durable signed writer vs plain JSONL append.

``measure(n)`` builds n PRICE envelopes once, then times (a) a plain ``json.dumps`` + append of
the same records with one fsync at the end, (b) the AuditWriter with the default config (group
commit fsyncs, hash chain, signed checkpoints, close = final fsync + seal), and (c) the cost of
one Ed25519 signature, which is why records are sealed by checkpoints rather than signed one by
one (per-record signing alone would cap the writer at the signs/s figure).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any

from hope.audit.config import AuditConfig
from hope.audit.keys import init_keys
from hope.audit.writer import AuditWriter
from hope.envelope import Envelope, new_event
from hope.paths import StatePaths


def _events(n: int) -> list[Envelope]:
    out = []
    for i in range(1, n + 1):
        env = new_event("PRICE", {"symbol": "EVXBTC", "price": 1e-5 * (1 + i % 97),
                                  "market_ts": 1.7e9 + i / 10}, source="scanner")
        env.publisher, env.epoch, env.seq, env.tseq = "scanner", "bench", i, i
        out.append(env)
    return out


def measure(n: int = 50_000, cfg: AuditConfig | None = None) -> dict[str, Any]:
    """Return events/s for the durable signed writer and for a plain JSONL append."""
    events = _events(n)
    root = tempfile.mkdtemp(prefix="hope-bench-", dir="/tmp")
    try:
        plain = os.path.join(root, "plain.jsonl")
        t0 = time.perf_counter()
        with open(plain, "w") as fh:
            for env in events:
                fh.write(json.dumps(env.to_dict()) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        plain_s = time.perf_counter() - t0

        state = StatePaths.at(os.path.join(root, "state"))
        signer, _ = init_keys(state.ensure().keys)
        t0 = time.perf_counter()
        writer = AuditWriter(state, cfg or AuditConfig(), signer=signer)
        for env in events:
            writer.append(env)
        writer.close()
        writer_s = time.perf_counter() - t0

        k = 2000
        t0 = time.perf_counter()
        for i in range(k):
            signer.sign(b"note %d" % i)
        sign_s = (time.perf_counter() - t0) / k
        return {
            "events": n,
            "writer_events_per_s": round(n / writer_s),
            "plain_jsonl_events_per_s": round(n / plain_s),
            "ed25519_signs_per_s": round(1 / sign_s),
            "checkpoints": writer.stats["checkpoints"],
            "fsyncs_per_s_bound": round(1000 / writer.cfg.fsync_interval_ms),
            "target_events_per_s": 20_000,
            "ok": n / writer_s >= 20_000,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
