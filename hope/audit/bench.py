"""Writer throughput for ``scripts/bench``: durable signed writer vs plain JSONL append.

``measure(n)`` builds n PRICE envelopes once, then times (a) a plain ``json.dumps`` + append of
the same records with one fsync at the end, (b) the AuditWriter with the default config (group
commit fsyncs, hash chain, signed checkpoints, close = final fsync + seal), and (c) the cost of
one Ed25519 signature, which is why records are sealed by checkpoints rather than signed one by
one (per-record signing alone would cap the writer at the signs/s figure).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any

from hope.audit.canonical import GENESIS
from hope.audit.config import AuditConfig
from hope.audit.keys import init_keys
from hope.audit.merkle import MerkleTree
from hope.audit.writer import AuditWriter
from hope.envelope import Envelope, new_event
from hope.jsontext import canonical_bytes, dumps_function
from hope.paths import StatePaths


def _events(n: int) -> list[Envelope]:
    out = []
    for i in range(1, n + 1):
        env = new_event("PRICE", {"symbol": "EVXBTC", "price": 1e-5 * (1 + i % 97),
                                  "market_ts": 1.7e9 + i / 10}, source="scanner")
        env.publisher, env.epoch, env.seq, env.tseq = "scanner", "bench", i, i
        out.append(env)
    return out


def measure(n: int = 50_000, cfg: AuditConfig | None = None, chunks: int = 5) -> dict[str, Any]:
    """Return events/s for the durable signed writer and for a plain JSONL append.

    The two take turns over ``chunks`` slices of the records (plain, writer, plain, ...; the
    writer's file and group commits stay open across its turns), so a machine shared with other
    work slows both alike and their ratio holds still; each side's time sums its own turns."""
    events = _events(n)
    fsync_s = [0.0]

    def timed_fsync(fd: int) -> None:
        t = time.perf_counter()
        os.fsync(fd)
        fsync_s[0] += time.perf_counter() - t
    root = tempfile.mkdtemp(prefix="hope-bench-", dir="/tmp")
    try:
        state = StatePaths.at(os.path.join(root, "state"))
        signer, _ = init_keys(state.ensure().keys)
        step = -(-n // max(1, chunks))
        plain_s = writer_s = 0.0
        with open(os.path.join(root, "plain.jsonl"), "w") as fh:
            t0 = time.perf_counter()
            writer = AuditWriter(state, cfg or AuditConfig(), signer=signer, fsync=timed_fsync)
            writer_s += time.perf_counter() - t0
            for lo in range(0, n, step):
                part = events[lo:lo + step]
                t0 = time.perf_counter()
                for env in part:
                    fh.write(json.dumps(env.to_dict()) + "\n")
                t1 = time.perf_counter()
                for env in part:
                    writer.append(env)
                t2 = time.perf_counter()
                plain_s += t1 - t0
                writer_s += t2 - t1
            t0 = time.perf_counter()
            fh.flush()
            os.fsync(fh.fileno())
            t1 = time.perf_counter()
            writer.close()
            plain_s += t1 - t0
            writer_s += time.perf_counter() - t1

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
            "writer_us_per_record": round(writer_s / n * 1e6, 2),
            "plain_us_per_record": round(plain_s / n * 1e6, 2),
            "fsync_us_per_record": round(fsync_s[0] / n * 1e6, 2),
            "fsyncs_per_s_bound": round(1000 / writer.cfg.fsync_interval_ms),
            "target_events_per_s": 20_000,
            "ok": n / writer_s >= 20_000,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


# the record text as json.dumps writes it (what canonical_bytes reproduces, faster)
_JSON_DUMPS = dumps_function(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _best_us(fn: Any, n: int, passes: int = 3) -> float:
    """Microseconds per record of ``fn()`` (one pass over n records), best of ``passes``."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best / n * 1e6, 2)


def breakdown(n: int = 20_000) -> dict[str, float]:
    """µs per record of each step the writer takes to seal a record (see the module docstring)."""
    events = _events(n)
    recs = [dict(e.to_dict(), prev_hash=GENESIS, leaf=i) for i, e in enumerate(events)]
    texts = [canonical_bytes(r) for r in recs]
    raws = [hashlib.sha256(t).digest() for t in texts]

    def merkle() -> None:
        tree = MerkleTree()
        for raw in raws:
            tree.append(hashlib.sha256(b"\x00" + raw).digest())
        tree.root()

    def line() -> None:
        for t in texts:
            digest = hashlib.sha256(t).hexdigest()
            b"".join((t[:-1], b',"hash":"', digest.encode(), b'"}\n'))

    return {
        "to_dict": _best_us(lambda: [e.to_dict() for e in events], n),
        "canonical_json_dumps": _best_us(lambda: [_JSON_DUMPS(r).encode() for r in recs], n),
        "canonical_fast": _best_us(lambda: [canonical_bytes(r) for r in recs], n),
        "record_hash_and_line": _best_us(line, n),
        "merkle": _best_us(merkle, n),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
