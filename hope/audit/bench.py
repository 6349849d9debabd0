"""Writer throughput for ``scripts/bench``: durable signed writer vs plain JSONL append.

``measure(n)`` builds n PRICE envelopes once, then times (a) a plain ``json.dumps`` + append of
the same records with one fsync at the end, (b) the AuditWriter with the default config (group
commit fsyncs, hash chain, signed checkpoints, close = final fsync + seal) as the service runs
it (read batches, the group commit's fsync in a worker thread), (b') the same with every fsync
inline (blocking the appends), and (c) the cost of one Ed25519 signature, which is why records are sealed by checkpoints rather than signed one by
one (per-record signing alone would cap the writer at the signs/s figure).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, event_text
from hope.audit.config import AuditConfig
from hope.audit.keys import init_keys
from hope.audit.merkle_file import FileMerkleTree
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


READ_BATCH = 256  # events the service takes from one socket read before the loop runs again


class _Timed:
    """One side of the comparison: seconds spent in its own turns, fsync seconds inside them."""

    def __init__(self) -> None:
        self.s = 0.0
        self.fsync_s = 0.0

    def fsync(self, fd: int) -> None:  # may run in the writer's fsync thread
        t = time.perf_counter()
        os.fsync(fd)
        self.fsync_s += time.perf_counter() - t


async def _service_turn(writer: AuditWriter, part: list[Envelope], inflight: list[Any]) -> None:
    """Appends as the service makes them: a read batch at a time, the group commit's fsync in
    a worker thread meanwhile (``tick_off_loop``, one at a time); the turn ends when the fsync
    it started is done, so only fsync time overlapping its own appends goes uncounted."""
    for lo in range(0, len(part), READ_BATCH):
        for env in part[lo:lo + READ_BATCH]:
            writer.append(env)
        if not inflight or inflight[0].done():
            inflight[:] = [asyncio.ensure_future(writer.tick_off_loop())]
        await asyncio.sleep(0)
    if inflight:
        await inflight[0]


def measure(n: int = 50_000, cfg: AuditConfig | None = None, chunks: int = 5) -> dict[str, Any]:
    """Events/s of the durable signed writer, as the service runs it (fsync off the loop) and
    with every fsync inline, and of a plain JSONL append of the same records.

    The three take turns over ``chunks`` slices of the records (plain, writer, inline writer,
    plain, ...; each writer's files and group commits stay open across its turns), so a machine
    shared with other work slows them alike and their ratios hold still; each side's time sums
    its own turns, its start-up and its close (final fsync and checkpoint)."""
    return asyncio.run(_measure(n, cfg or AuditConfig(), chunks))


async def _measure(n: int, cfg: AuditConfig, chunks: int) -> dict[str, Any]:
    events = _events(n)
    root = tempfile.mkdtemp(prefix="hope-bench-", dir="/tmp")
    try:
        plain, svc, inline = _Timed(), _Timed(), _Timed()
        writers = {}
        for name, side in (("svc", svc), ("inline", inline)):
            state = StatePaths.at(os.path.join(root, name))
            signer, _ = init_keys(state.ensure().keys)
            t0 = time.perf_counter()
            writers[name] = AuditWriter(state, cfg, signer=signer, fsync=side.fsync)
            side.s += time.perf_counter() - t0
        writers["svc"].background_sync = True
        step, inflight = -(-n // max(1, chunks)), []
        with open(os.path.join(root, "plain.jsonl"), "w") as fh:
            for lo in range(0, n, step):
                part = events[lo:lo + step]
                t0 = time.perf_counter()
                for env in part:
                    fh.write(json.dumps(env.to_dict()) + "\n")
                t1 = time.perf_counter()
                await _service_turn(writers["svc"], part, inflight)
                t2 = time.perf_counter()
                for env in part:
                    writers["inline"].append(env)
                t3 = time.perf_counter()
                plain.s, svc.s, inline.s = plain.s + t1 - t0, svc.s + t2 - t1, inline.s + t3 - t2
            t0 = time.perf_counter()
            fh.flush()
            os.fsync(fh.fileno())
            plain.s += time.perf_counter() - t0
        for name, side in (("svc", svc), ("inline", inline)):
            t0 = time.perf_counter()
            writers[name].close()
            side.s += time.perf_counter() - t0
        sign_s = _sign_s(signer)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    w = writers["svc"]
    return {
        "events": n,
        "writer_events_per_s": round(n / svc.s),
        "writer_inline_fsync_events_per_s": round(n / inline.s),
        "plain_jsonl_events_per_s": round(n / plain.s),
        "ed25519_signs_per_s": round(1 / sign_s),
        "checkpoints": w.stats["checkpoints"],
        "writer_us_per_record": round(svc.s / n * 1e6, 2),
        "writer_inline_us_per_record": round(inline.s / n * 1e6, 2),
        "plain_us_per_record": round(plain.s / n * 1e6, 2),
        "fsync_us_per_record": round(svc.fsync_s / n * 1e6, 2),
        "inline_fsync_us_per_record": round(inline.fsync_s / n * 1e6, 2),
        "fsyncs_per_s_bound": round(1000 / w.cfg.fsync_interval_ms),
        "target_events_per_s": 20_000,
        "ok": n / svc.s >= 20_000,
    }


def _sign_s(signer: Any, k: int = 2000) -> float:
    """Seconds per Ed25519 signature (why records are sealed by checkpoints, not one by one)."""
    t0 = time.perf_counter()
    for i in range(k):
        signer.sign(b"note %d" % i)
    return (time.perf_counter() - t0) / k


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
    """µs per record of each step the writer takes to seal a record (see the module docstring):
    ``canonical_fast`` is its encoder (the record text from the envelope, no dict),
    ``canonical_from_dict`` the same text from a record dict (the writer's own records and
    the plain side's ``to_dict``), ``canonical_json_dumps`` json.dumps' (the reference)."""
    events = _events(n)
    recs = [dict(e.to_dict(), principal=None, prev_hash=GENESIS, leaf=i)
            for i, e in enumerate(events)]
    texts = [canonical_bytes(r) for r in recs]
    raws = [hashlib.sha256(t).digest() for t in texts]

    def merkle() -> None:  # the writer's tree: parents hashed on append, nodes written out
        root = tempfile.mkdtemp(prefix="hope-bench-merkle-", dir="/tmp")
        try:
            tree = FileMerkleTree(Path(root))
            tree.reserve(0)
            tree.finish()
            for i, raw in enumerate(raws, 1):
                tree.append(hashlib.sha256(b"\x00" + raw).digest())
                if i % 2000 == 0:
                    tree.flush()
            tree.root()
            tree.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def line() -> None:  # as seal_event: hash, the line in place, the Merkle leaf hash
        into = bytearray()
        for t in texts:
            raw = hashlib.sha256(t).digest()
            into += t
            del into[-1]
            into += b',"hash":"%s"}\n' % raw.hex().encode()
            hashlib.sha256(b"\x00" + raw).digest()

    return {
        "to_dict": _best_us(lambda: [e.to_dict() for e in events], n),
        "canonical_json_dumps": _best_us(lambda: [_JSON_DUMPS(r).encode() for r in recs], n),
        "canonical_fast": _best_us(lambda: [event_text(e, None, GENESIS, i)
                                            for i, e in enumerate(events)], n),
        "canonical_from_dict": _best_us(lambda: [canonical_bytes(r) for r in recs], n),
        "record_hash_and_line": _best_us(line, n),
        "merkle": _best_us(merkle, n),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
