"""Tape retention: files past the maximum age go, then the oldest until under the disk budget.

Files are named by UTC hour, so name order is age order across symbols. The files being written
(``keep``) are never deleted. The feed raises an ALERT when the tape reaches ``alert_share`` of
the budget, well before it is full, so an operator can widen the budget or archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_HOUR = re.compile(r"_(\d{4}-\d{2}-\d{2}T\d{2})Z\.csv\.gz$")


@dataclass
class TapeUsage:
    files: int = 0
    bytes: int = 0
    deleted: int = 0
    deleted_bytes: int = 0


def _hour_key(p: Path) -> str:
    m = _HOUR.search(p.name)
    return m.group(1) if m else ""


def prune(root: Path, *, max_age_s: float, max_bytes: int, now: float,
          keep: set[Path] | frozenset[Path] = frozenset()) -> TapeUsage:
    """Delete expired and over-budget tape files under ``root``; returns what is left."""
    oldest = datetime.fromtimestamp(now - max_age_s, UTC).strftime("%Y-%m-%dT%H")
    files = []
    for p in Path(root).glob("*/*.csv.gz"):
        try:
            files.append((_hour_key(p), p, p.stat().st_size))
        except FileNotFoundError:
            continue
    files.sort()
    usage = TapeUsage(files=len(files), bytes=sum(f[2] for f in files))
    for hour, p, size in files:
        expired = hour < oldest
        if not expired and usage.bytes <= max_bytes:
            break
        if p in keep:
            continue
        try:
            p.unlink()
        except FileNotFoundError:
            continue
        usage.files -= 1
        usage.bytes -= size
        usage.deleted += 1
        usage.deleted_bytes += size
    return usage
