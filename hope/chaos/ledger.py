"""What was published (the injector's ledger, heartbeat high-water marks, the publishers' own
outboxes) and what was audited (every audit record, through the audit reader), read independently of each other."""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.audit.reader import LocalAuditReader
from hope.codec import decode_obj

_LEN = struct.Struct(">I")


@dataclass
class Ledger:
    """The injector's own record: ids it published, publishes refused, and whether it finished."""

    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id: line
    refused: int = 0
    done: bool = False
    bad_lines: int = 0


def read_ledger(path: Path) -> Ledger:
    led = Ledger()
    if not path.exists():
        return led
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            led.bad_lines += 1  # a torn last line if the injector was killed
            continue
        if "event_id" in row:
            led.published[row["event_id"]] = row
        elif "refused" in row:
            led.refused += 1
        elif "done" in row:
            led.done = True
    return led


def merge_marks(into: dict[str, dict[str, int]], marks: dict[str, dict[str, int]]) -> None:
    """Keep the highest seq per (publisher, epoch) across snapshots."""
    for pub, epochs in marks.items():
        mine = into.setdefault(pub, {})
        for epoch, seq in epochs.items():
            if isinstance(seq, int):
                mine[epoch] = max(mine.get(epoch, 0), seq)


def read_heartbeat_marks(path: Path) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    """(marks, bus counters) from the injector's hwm file; empty when absent or torn."""
    try:
        data = json.loads(path.read_text())
        return data.get("marks", {}), data.get("bus", {})
    except (OSError, ValueError):
        return {}, {}


def scan_outboxes(outbox_dir: Path) -> dict[str, dict[str, int]]:
    """Highest seq per (publisher, epoch) found in the publishers' outbox files on disk.

    Outbox records are written before they are sent, so this sees the events a killed publisher
    sent after its last heartbeat. Segments are deleted only once acknowledged and old, which is
    why the runner scans periodically and merges."""
    marks: dict[str, dict[str, int]] = {}
    if not outbox_dir.exists():
        return marks
    for path in outbox_dir.glob("*/*.out"):
        publisher, epoch = path.parent.name, path.name.split(".")[0]
        try:
            data = path.read_bytes()
        except OSError:
            continue
        high, pos = 0, 0
        while pos + 4 <= len(data):
            (size,) = _LEN.unpack_from(data, pos)
            chunk = data[pos + 4: pos + 4 + size]
            if len(chunk) < size:
                break
            try:
                high = max(high, int(decode_obj(chunk)[0]))
            except Exception:
                break
            pos += 4 + size
        if high:
            epochs = marks.setdefault(publisher, {})
            epochs[epoch] = max(epochs.get(epoch, 0), high)
    return marks


@dataclass
class AuditScan:
    """Every record line of the audit log, read raw (so duplicates are visible)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    ids: Counter[str] = field(default_factory=Counter)
    seqs: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    bad_lines: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.ids.values() if n > 1)

    def by_type(self, event_type: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event_type") == event_type]


def scan_audit(events_dir: Path) -> AuditScan:
    """Every audit record, repeats included (a repeat is what this scan exists to find)."""
    scan = AuditScan()
    reader = LocalAuditReader(events_dir)
    for family in reader.families():
        for rec in reader.records(family, unique=False):
            if "event_id" not in rec:
                continue
            scan.records.append(rec)
            scan.ids[rec["event_id"]] += 1
            pub, epoch, seq = rec.get("publisher"), rec.get("epoch"), rec.get("seq")
            if pub and epoch and isinstance(seq, int) and seq > 0:
                scan.seqs.setdefault((pub, epoch), Counter())[seq] += 1
    scan.bad_lines = list(reader.warnings)
    return scan
