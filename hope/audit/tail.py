"""The unsealed tail at start: moved to quarantine, then checked against what comes back.

Records after the last checkpoint were never acknowledged by a WATERMARK, so their publishers
still hold them and send them again; only those copies are appended and sealed. The tail
itself is evidence: :func:`apply_cuts` moves it to ``quarantine/audit-tail-<family>.bin`` and
:class:`TailBook` compares every event that comes back with the quarantined copy (a difference
is alerted) and, after ``[audit] tail_confirm_s``, reports those that never came back (forged,
or lost with their publisher's outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hope.audit.archive import tidy
from hope.audit.checkpoints import CHECKPOINTS, CheckpointLog, SignedCheckpoint
from hope.audit.lines import BadLine, parse_record
from hope.audit.log import Manifest
from hope.audit.merkle_file import MERKLE_DIR, FileMerkleTree
from hope.audit.startup import StartPlan, plan_start, trusted_keys
from hope.envelope import Envelope
from hope.paths import StatePaths
from hope.tails import keep_tail

_COMPARED = ("event_type", "event_id", "correlation_id", "causation_id", "timestamp", "source",
             "payload")


def resume(state: StatePaths, cps: CheckpointLog, pinned: list[str],
           on_record: Callable[[dict[str, Any]], None],
           log: Any) -> tuple[Manifest, StartPlan, TailBook]:
    """Start-up: verify up to the last checkpoint (raises AuditStartError), cut the tail off."""
    manifest = Manifest.load(state.events, log)
    listed = {n for segs in manifest.families.values() for n in segs}
    for p in state.events.glob("*.jsonl"):  # a crash between creating and listing a segment
        if p.name not in listed and p.name != CHECKPOINTS and p.stat().st_size == 0:
            p.unlink()
    tidy(state.events, manifest, log)  # an archiving a crash interrupted
    plan = plan_start(state.events, manifest, cps, trusted_keys(state.keys, pinned), on_record,
                      FileMerkleTree(state.events / MERKLE_DIR))
    return manifest, plan, TailBook(apply_cuts(state.events, manifest, plan, state.quarantine,
                                               log))


def apply_cuts(events: Path, manifest: Manifest, plan: StartPlan, quarantine: Path,
               log: Any) -> list[tuple[str, bytes]]:
    """Cut every family back to its verified records; return the tail lines set aside."""
    for fam, cut in plan.cuts.items():
        segs = manifest.families[fam]
        i = segs.index(cut.segment)
        for seg in segs[i:]:
            path = events / seg
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            keep_tail(path, data, cut.offset if seg == cut.segment else 0, quarantine,
                      f"audit-tail-{fam}", f"audit: unsealed tail of {fam} from {cut.where}",
                      log)
        if len(segs) > i + 1:
            for seg in segs[i + 1:]:
                (events / seg).unlink(missing_ok=True)
            del segs[i + 1:]
            manifest.save()
    return plan.tail


class TailBook:
    """The quarantined tail's records by event id, until each is sent again or given up."""

    def __init__(self, tail: list[tuple[str, bytes]]) -> None:
        self.lines = len(tail)
        self.where: dict[str, str] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.unreadable = 0
        for where, raw in tail:
            try:
                rec = parse_record(raw)
                eid = rec["event_id"]
            except (BadLine, KeyError):
                self.unreadable += 1
                continue
            if isinstance(eid, str):
                self.pending[eid] = rec
                self.where[eid] = where

    def summary(self, latest: SignedCheckpoint | None) -> dict[str, Any]:
        families: dict[str, int] = {}
        for where in self.where.values():
            fam = where.split("/", 1)[1].split(".", 1)[0]
            families[fam] = families.get(fam, 0) + 1
        return {"records": len(self.pending), "unreadable_lines": self.unreadable,
                "families": families, "sealed_size": latest.checkpoint.size if latest else 0,
                "first": sorted(self.where.values())[:20],
                "evidence": sorted(f"quarantine/audit-tail-{f}.bin" for f in families)}

    def confirm(self, env: Envelope, stats: dict[str, int], log: Any) -> None:
        """``env`` arrived again: compare it with its quarantined copy."""
        old = self.pending.pop(env.event_id, None)
        if old is None:
            return
        new = env.to_dict()
        diff = [k for k in _COMPARED if old.get(k) != new.get(k)]
        if diff:
            stats["tail_mismatch"] += 1
            log.critical("audit: an event sent again differs from its quarantined copy",
                         event_id=env.event_id, where=self.where.get(env.event_id), fields=diff)
        else:
            stats["tail_confirmed"] += 1

    def give_up(self, stats: dict[str, int], log: Any) -> dict[str, Any]:
        """Report the tail records nobody sent again; forget them."""
        missing = sorted(self.pending)
        stats["tail_unconfirmed"] += len(missing)
        log.critical("audit: quarantined tail records were never sent again (forged, or lost "
                     "with their publisher)", count=len(missing), first=missing[:5])
        payload = {"count": len(missing), "event_ids": missing[:100],
                   "where": [self.where[e] for e in missing[:100]]}
        self.pending.clear()
        return payload
