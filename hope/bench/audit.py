"""Row 4: the audit writer's sustained events/s (durable group commit, hash chain, signed
checkpoints; as the service runs it, and with every fsync inline) against a plain JSONL append
of the same records: ``hope.audit.bench.measure``,
plus the cost per record of each sealing step (``hope.audit.bench.breakdown``)."""

from __future__ import annotations

from typing import Any

from hope.audit.bench import breakdown
from hope.audit.bench import measure as measure_once
from hope.bench.common import ratio, summary


def measure(rounds: int = 3, events: int = 50_000, log: Any = print) -> dict[str, Any]:
    runs = []
    for r in range(rounds):
        runs.append(measure_once(events))
        x = runs[-1]
        log(f"  audit round {r + 1}/{rounds}: writer {x['writer_events_per_s']:,}/s (fsync "
            f"inline {x['writer_inline_fsync_events_per_s']:,}/s), plain JSONL "
            f"{x['plain_jsonl_events_per_s']:,}/s")
    parts = breakdown(min(events, 20_000))
    log(f"  audit µs/record: {parts}")
    writer = [x["writer_events_per_s"] for x in runs]
    inline = [x["writer_inline_fsync_events_per_s"] for x in runs]
    plain = [x["plain_jsonl_events_per_s"] for x in runs]
    return {"events": events, "rounds": rounds, "writer_events_per_s": summary(writer),
            "plain_jsonl_events_per_s": summary(plain),
            "ed25519_signs_per_s": summary([x["ed25519_signs_per_s"] for x in runs]),
            "ratio_to_plain": ratio(writer, plain), "target_events_per_s": 20_000,
            "writer_inline_fsync_events_per_s": summary(inline),
            "inline_ratio_to_plain": ratio(inline, plain),
            "us_per_record": parts,
            "fsync_us_per_record": summary([x["fsync_us_per_record"] for x in runs]),
            "runs": runs}
