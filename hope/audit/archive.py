"""Archiving sealed audit segments (gzip) and the events directory's disk budget.

A rotated segment (not a family's active one) whose every record a durable signed checkpoint
covers (its last record's ``leaf`` is below the checkpoint's size), last written more than
``archive_after_s`` ago, becomes ``<segment>.jsonl.gz``:

1. compress into ``.<name>.gz.tmp``, fsync, check it decompresses to the same bytes;
2. rename to ``<segment>.jsonl.gz``, fsync the directory;
3. the manifest names the ``.gz`` (rewritten atomically);
4. the plain file is removed.

A crash leaves the manifest naming either the plain file or the ``.gz``, and both are complete;
:func:`tidy` (start-up) removes the leftover of an interrupted step. Nothing is ever deleted
that the manifest names: the audit log is the permanent record; moving archives off the host
is the operator's call (docs/RUNBOOK.md).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.audit.log import ARCHIVED, Manifest, read_segment
from hope.files import fsync_dir


@dataclass
class Candidate:
    family: str
    index: int  # position in the family's segment list
    name: str


def _tmp(events: Path, name: str) -> Path:
    return events / f".{name}{ARCHIVED}.tmp"


def last_leaf(path: Path, window: int = 1 << 16) -> int | None:
    """The ``leaf`` of a segment's last record (None: empty or unreadable)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - window))
        data = fh.read()
        if size > window and data.rstrip(b"\n").count(b"\n") == 0:
            fh.seek(0)
            data = fh.read()  # one record longer than the window
    end = data.rstrip(b"\n")
    if not end:
        return None
    try:
        leaf = json.loads(end[end.rfind(b"\n") + 1:])["leaf"]
    except (ValueError, KeyError, TypeError):
        return None
    return leaf if isinstance(leaf, int) else None


def compress(events: Path, name: str, level: int = 6) -> int:
    """Steps 1-2: write ``<name>.gz`` crash-safely next to the plain segment; its size."""
    data = (events / name).read_bytes()
    packed = gzip.compress(data, compresslevel=level, mtime=0)
    if gzip.decompress(packed) != data:  # never trade a good segment for a bad archive
        raise OSError(f"events/{name}: gzip round trip differs")
    tmp = _tmp(events, name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(packed)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, events / (name + ARCHIVED))
    fsync_dir(events)
    return len(packed)


def switch(events: Path, manifest: Manifest, family: str, name: str) -> None:
    """Steps 3-4: the manifest names the archive, then the plain segment goes."""
    segs = manifest.families[family]
    i = segs.index(name)
    segs[i] = name + ARCHIVED
    try:
        manifest.save()
    except OSError:
        segs[i] = name  # not switched on disk: the plain file stays the segment
        raise
    (events / name).unlink(missing_ok=True)
    fsync_dir(events)


def tidy(events: Path, manifest: Manifest, log: Any) -> int:
    """Start-up: finish or undo an archiving step a crash interrupted; files removed."""
    removed = 0
    for tmp in events.glob(f".*.jsonl{ARCHIVED}.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    for segs in manifest.families.values():
        for i, name in enumerate(segs):
            if name.endswith(ARCHIVED):
                plain = events / name[:-len(ARCHIVED)]
                if plain.exists():  # crashed after the manifest switch, before the unlink
                    if read_segment(events, name) == plain.read_bytes():
                        plain.unlink()
                    else:
                        log.error("audit: archived segment differs from its plain copy; "
                                  "keeping the plain one", segment=name)
                        segs[i] = plain.name
                        manifest.save()
                        (events / name).unlink()
                    removed += 1
            elif (events / (name + ARCHIVED)).exists():  # crashed before the manifest switch
                (events / (name + ARCHIVED)).unlink()
                removed += 1
    if removed:
        fsync_dir(events)
        log.warning("audit: tidied an interrupted segment archiving", files=removed)
    return removed


def disk_usage(events: Path) -> int:
    """Bytes of every file in the events directory and its subdirectories (``merkle/``)."""
    total = 0
    for p in events.iterdir():
        try:
            total += disk_usage(p) if p.is_dir() else p.stat().st_size
        except FileNotFoundError:
            continue
    return total


@dataclass
class DiskBudget:
    """The events directory against ``[audit] disk_budget_bytes``: one ALERT per crossing of
    ``alert_ratio`` (again only after usage fell back below it)."""

    budget: int
    alert_ratio: float
    bytes: int = 0
    alerted: bool = False

    def update(self, used: int) -> dict[str, Any] | None:
        """Record ``used`` bytes; the ALERT payload when this crosses the threshold, else None."""
        self.bytes = used
        if self.budget <= 0:
            return None
        if used < self.alert_ratio * self.budget:
            self.alerted = False
            return None
        if self.alerted:
            return None
        self.alerted = True
        return {"kind": "audit_disk", "bytes": used, "budget": self.budget,
                "percent": self.percent(), "evidence": "events/ (move archived *.jsonl.gz "
                "segments off the host: docs/RUNBOOK.md)"}

    def percent(self) -> float | None:
        return round(100.0 * self.bytes / self.budget, 1) if self.budget > 0 else None

    def snapshot(self) -> dict[str, Any]:
        return {"disk_bytes": self.bytes, "disk_budget_bytes": self.budget,
                "disk_percent": self.percent()}


class SegmentArchiver:
    """Finds the next archivable segment, compresses it (callable in a worker thread), and
    switches the manifest (on the caller's thread, which owns the manifest)."""

    def __init__(self, events: Path, manifest: Manifest, after_s: float,
                 now: Callable[[], float], log: Any) -> None:
        self.events, self.manifest, self.after_s = events, manifest, after_s
        self.now, self.log = now, log
        self.archived = 0
        self.errors = 0
        self._leaf: dict[str, int | None] = {}  # plain segment → its last leaf (they are sealed)

    def candidate(self, sealed_size: int,
                  families: dict[str, list[str]] | None = None) -> Candidate | None:
        """The oldest plain, rotated, fully sealed segment older than ``after_s``
        (``families``: a copy of the manifest's lists, when called from a worker thread)."""
        if self.after_s <= 0:
            return None
        if families is None:
            families = self.manifest.families
        for family, segs in sorted(families.items()):
            for i, name in enumerate(segs[:-1]):  # never the active (last) segment
                if name.endswith(ARCHIVED):
                    continue
                path = self.events / name
                try:
                    if self.now() - path.stat().st_mtime < self.after_s:
                        break  # later segments of the family are newer still
                    if name not in self._leaf:
                        self._leaf[name] = last_leaf(path)
                except OSError:
                    break
                leaf = self._leaf[name]
                if leaf is None or leaf >= sealed_size:
                    break  # not (yet) covered by a durable checkpoint
                return Candidate(family, i, name)
        return None

    def compress(self, cand: Candidate) -> int | None:
        """Steps 1-2 (thread-safe: touches only the new file); the archive's size or None."""
        try:
            return compress(self.events, cand.name)
        except OSError as exc:
            _tmp(self.events, cand.name).unlink(missing_ok=True)
            self.errors += 1
            self.log.error("audit: archiving a segment failed; it stays plain",
                           segment=cand.name, error=str(exc))
            return None

    def finish(self, cand: Candidate, size: int) -> bool:
        """Steps 3-4, on the thread that owns the manifest."""
        if cand.name not in self.manifest.families.get(cand.family, []):
            (self.events / (cand.name + ARCHIVED)).unlink(missing_ok=True)
            return False  # the family changed meanwhile (never expected: sealed segments stay)
        try:
            switch(self.events, self.manifest, cand.family, cand.name)
        except (OSError, ValueError) as exc:
            self.errors += 1
            self.log.error("audit: archived segment not switched in the manifest",
                           segment=cand.name, error=str(exc))
            return False
        self._leaf.pop(cand.name, None)
        self.archived += 1
        self.log.info("audit: segment archived", segment=cand.name + ARCHIVED, bytes=size)
        return True

    async def step_off_loop(self, sealed_size: int) -> bool:
        """:meth:`step` with the reading and compressing in a worker thread."""
        families = {f: list(s) for f, s in self.manifest.families.items()}
        cand = await asyncio.to_thread(self.candidate, sealed_size, families)
        if cand is None:
            return False
        size = await asyncio.to_thread(self.compress, cand)
        return size is not None and self.finish(cand, size)

    def step(self, sealed_size: int) -> bool:
        """Archive at most one segment inline (tests, tools); True when one was."""
        cand = self.candidate(sealed_size)
        size = self.compress(cand) if cand else None
        return cand is not None and size is not None and self.finish(cand, size)
