"""Append-only files of the audit log: segmented hash-chained families, the manifest, checkpoints.

- A *family* (``signals``, ``orders``, ...) is one hash chain over size-rotated segments named
  ``signals.jsonl``, ``signals.000002.jsonl``, ... in the order the manifest lists them. Segments
  are never renamed: a new one is created (directory fsynced) and then added to the manifest, so
  a crash between the two leaves only an empty unlisted file, which the next start removes.
- ``manifest.json`` is rewritten temp → fsync → rename → fsync(dir).
- ``checkpoints.jsonl`` (``hope.audit.checkpoints``) holds the signed checkpoints; the same
  lines go to ``<state>/checkpoint-copy/``.
- Writes go through an injectable ``write(fd, data) -> int`` so tests can fill the disk: bytes
  that failed to reach the file stay pending (in order) and are retried.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, record_hash, seal_event
from hope.audit.lines import BadLine, parse_record
from hope.envelope import Envelope
from hope.files import atomic_write_bytes as atomic_write
from hope.files import fsync_dir, umasked
from hope.tails import keep_tail, line_end

WriteFn = Callable[[int, Any], int]
FsyncFn = Callable[[int], None]
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints.jsonl"
_SEGMENT = re.compile(r"^([a-z_]+)(?:\.(\d{6}))?\.jsonl(?:\.gz)?$")
ARCHIVED = ".gz"  # an archived (sealed, gzip-compressed) segment: ``<segment>.jsonl.gz``


def segment_name(family: str, index: int) -> str:
    return f"{family}.jsonl" if index == 1 else f"{family}.{index:06d}.jsonl"


def parse_segment(name: str) -> tuple[str, int] | None:
    """``signals.000002.jsonl`` → ("signals", 2); None for names that are not segments."""
    m = _SEGMENT.match(name)
    if not m or name == CHECKPOINTS:
        return None
    return m.group(1), int(m.group(2) or 1)


def read_segment(events: Path, name: str) -> bytes:
    """The content of segment ``name``, decompressed when archived (``.jsonl.gz``).

    A plain segment archived meanwhile (manifest read before the switch) is read from its
    ``.gz``: the same bytes."""
    path = events / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if name.endswith(ARCHIVED):
            raise
        path = events / (name + ARCHIVED)
        data = path.read_bytes()
    if not path.name.endswith(ARCHIVED):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise OSError(f"events/{path.name}: not a readable gzip archive ({exc})") from None


def segment_files(events: Path) -> list[Path]:
    """Every file in ``events`` named like a segment, plain or archived."""
    return [p for pat in ("*.jsonl", "*.jsonl.gz") for p in events.glob(pat)
            if parse_segment(p.name)]


class Manifest:
    """The ordered segment list of every family in ``events/manifest.json``."""

    def __init__(self, events: Path, families: dict[str, list[str]] | None = None) -> None:
        self.path = events / MANIFEST
        self.families: dict[str, list[str]] = families or {}

    @classmethod
    def load(cls, events: Path, log: Any = None) -> Manifest:
        path = events / MANIFEST
        try:
            data = json.loads(path.read_text())
            return cls(events, {k: list(v) for k, v in data["families"].items()})
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if log:
                log.error("audit manifest unreadable; rebuilding from the directory",
                          path=str(path), error=str(exc))
        # No (usable) manifest: list the segments present, in index order.
        found: dict[str, dict[int, str]] = {}
        for p in sorted(segment_files(events), key=lambda p: p.name, reverse=True):
            parsed = parse_segment(p.name)  # plain sorts after .gz: it wins when both exist
            if parsed:
                found.setdefault(parsed[0], {})[parsed[1]] = p.name
        return cls(events, {f: [v[i] for i in sorted(v)] for f, v in found.items()})

    def save(self) -> None:
        text = json.dumps({"version": 1, "families": self.families}, indent=1, sort_keys=True)
        atomic_write(self.path, text.encode(), mode=umasked(0o644))  # as its segments


class AppendFile:
    """One append-only file with a pending buffer: ``add`` buffers, ``flush`` writes, ``sync`` fsyncs."""

    def __init__(self, path: Path, write: WriteFn = os.write, fsync: FsyncFn = os.fsync) -> None:
        self.path = path
        self._write = write
        self._fsync = fsync
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.pending = bytearray()
        self.dirty = False

    def add(self, data: bytes) -> None:
        self.pending += data

    def flush(self) -> None:
        """Write the pending bytes; on OSError the unwritten remainder stays pending."""
        while self.pending:
            n = self._write(self.fd, self.pending)
            del self.pending[:n]
            self.size += n
            self.dirty = True

    def sync(self) -> None:
        if self.dirty:
            self._fsync(self.fd)
            self.dirty = False

    def fsync(self) -> None:
        """fsync without touching ``dirty`` (the caller keeps that book; may run in a thread)."""
        self._fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def recover_tail(path: Path, quarantine: Path, log: Any,
                 valid: Callable[[bytes], bool]) -> bytes:
    """Cut a torn or invalid tail off ``path`` into ``quarantine``; return the good content.

    A crash mid-write leaves a partial last line (or zero-filled blocks); every trailing line that
    lacks its newline or fails ``valid`` is moved aside, loudly, and the file is truncated there.
    """
    data = path.read_bytes()
    good = line_end(data, valid)
    keep_tail(path, data, good, quarantine, f"audit-{path.name}",
              "audit: torn or invalid tail; the chain continues from the last good record", log)
    return data[:good]


def valid_record_line(raw: bytes) -> bool:
    try:
        rec = parse_record(raw)
    except BadLine:
        return False
    return rec.get("hash") == record_hash(rec)


def valid_json_line(raw: bytes) -> bool:
    try:
        parse_record(raw)
    except BadLine:
        return False
    return True


class Family:
    """One hash chain: its segments, head hash, record count and the active segment's file."""

    def __init__(self, events: Path, name: str, manifest: Manifest,
                 write: WriteFn = os.write, fsync: FsyncFn = os.fsync) -> None:
        self.events = events
        self.name = name
        self.manifest = manifest
        self._write = write
        self._fsync = fsync
        self.count = 0
        self.head = GENESIS
        self.file: AppendFile | None = None

    @property
    def segments(self) -> list[str]:
        return self.manifest.families.setdefault(self.name, [])

    def open(self, count: int, head: str) -> None:
        """Continue the chain after ``count`` verified records ending in ``head``."""
        self.count, self.head = count, head
        if not self.segments:
            self._new_segment(1)
        self.file = AppendFile(self.events / self.segments[-1], self._write, self._fsync)
        os.fsync(self.file.fd)

    def _new_segment(self, index: int) -> None:
        name = segment_name(self.name, index)
        fd = os.open(self.events / name, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        fsync_dir(self.events)
        self.segments.append(name)
        try:
            self.manifest.save()
        except OSError:
            self.segments.pop()  # not listed on disk: do not claim it in memory either
            raise

    def add(self, digest: str, line: bytes) -> None:
        self.head = digest
        self.count += 1
        self.file.pending += line  # type: ignore[union-attr]  (AppendFile.add, inline)

    def add_event(self, env: Envelope, principal: str | None, leaf: int) -> bytes:
        """Chain the record of ``env`` (Merkle leaf index ``leaf``), its line written straight
        into the pending buffer (the writer's hot path); return its Merkle leaf hash."""
        self.head, leaf_hash = seal_event(env, principal, self.head, leaf,
                                          self.file.pending)  # type: ignore[union-attr]
        self.count += 1
        return leaf_hash

    def rotate_if_full(self, max_bytes: int, sealed: int) -> None:
        """Start the next segment once the active one is past ``max_bytes`` and fully written,
        and a durable checkpoint covers some of the family (``sealed`` records): a second
        segment without any checkpoint is then always tampering, never a crash."""
        f = self.file
        assert f is not None
        if f.size < max_bytes or f.pending or sealed == 0:
            return
        f.sync()
        f.close()
        last = parse_segment(self.segments[-1])
        self._new_segment((last[1] if last else len(self.segments)) + 1)
        self.file = AppendFile(self.events / self.segments[-1], self._write, self._fsync)

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None


@dataclass
class SyncTicket:
    """One group commit in flight: the files to fsync and what they make durable.

    ``seqs`` and ``sealable`` describe the records written before the fsync (what the next
    checkpoint may seal); ``sealed_marks`` is the watermark of a checkpoint whose lines this
    fsync makes durable (the WATERMARK moves only then)."""

    files: list[AppendFile]
    seqs: dict[tuple[str, str], int]
    sealable: tuple[int, dict[str, tuple[int, str]]]
    unsynced: int
    started: float
    sealed_marks: Any = None  # writer.Marks


def fsync_all(files: list[AppendFile]) -> OSError | None:
    """fsync each file (records before checkpoint notes: the caller's order); the error or None."""
    try:
        for f in files:
            f.fsync()
    except OSError as exc:
        return exc
    return None
