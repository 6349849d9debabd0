"""Append-only files of the audit log: segmented hash-chained families, the manifest, checkpoints.

- A *family* (``signals``, ``orders``, ...) is one hash chain over size-rotated segments named
  ``signals.jsonl``, ``signals.000002.jsonl``, ... in the order the manifest lists them. Segments
  are never renamed: a new one is created (directory fsynced) and then added to the manifest, so
  a crash between the two leaves only an empty unlisted file, which the next start removes.
- ``manifest.json`` is rewritten temp → fsync → rename → fsync(dir).
- ``checkpoints.jsonl`` holds signed checkpoint notes; the same lines go to ``<state>/witness/``.
- Writes go through an injectable ``write(fd, data) -> int`` so tests can fill the disk: bytes
  that failed to reach the file stay pending (in order) and are retried.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, record_hash
from hope.files import atomic_write_bytes as atomic_write
from hope.files import fsync_dir
from hope.tails import keep_tail, line_end

WriteFn = Callable[[int, Any], int]
FsyncFn = Callable[[int], None]
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints.jsonl"
_SEGMENT = re.compile(r"^([a-z_]+)(?:\.(\d{6}))?\.jsonl$")


def segment_name(family: str, index: int) -> str:
    return f"{family}.jsonl" if index == 1 else f"{family}.{index:06d}.jsonl"


def parse_segment(name: str) -> tuple[str, int] | None:
    """``signals.000002.jsonl`` → ("signals", 2); None for names that are not segments."""
    m = _SEGMENT.match(name)
    if not m or name == CHECKPOINTS:
        return None
    return m.group(1), int(m.group(2) or 1)


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
        found: dict[str, list[tuple[int, str]]] = {}
        for p in events.glob("*.jsonl"):
            parsed = parse_segment(p.name)
            if parsed:
                found.setdefault(parsed[0], []).append((parsed[1], p.name))
        return cls(events, {f: [n for _, n in sorted(v)] for f, v in found.items()})

    def save(self) -> None:
        text = json.dumps({"version": 1, "families": self.families}, indent=1, sort_keys=True)
        atomic_write(self.path, text.encode())


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
        rec = json.loads(raw)
        return isinstance(rec, dict) and rec.get("hash") == record_hash(rec)
    except ValueError:
        return False


def valid_json_line(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


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

    def scan(self, quarantine: Path, log: Any,
             on_record: Callable[[dict[str, Any]], None]) -> None:
        """Read every segment (recovering the last one's tail), feed records, open for append."""
        segs = self.segments
        for i, seg in enumerate(segs):
            path = self.events / seg
            if not path.exists():
                log.error("audit: segment listed in the manifest is missing", file=str(path))
                continue
            if i == len(segs) - 1:
                data = recover_tail(path, quarantine, log, valid_record_line)
            else:
                data = path.read_bytes()
            for lineno, raw in enumerate(data.splitlines(), 1):
                self.count += 1
                try:
                    rec = json.loads(raw)
                    self.head = rec["hash"]
                except (ValueError, KeyError, TypeError):
                    log.error("audit: unreadable record inside the log (run `hope audit verify`)",
                              file=str(path), line=lineno)
                    continue
                on_record(rec)
        if not segs:
            self._new_segment(1)
        self.file = AppendFile(self.events / segs[-1], self._write, self._fsync)
        # What a killed predecessor left in the page cache is made durable before the rebuilt
        # watermark acknowledges it.
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
        assert self.file is not None
        self.head = digest
        self.count += 1
        self.file.add(line)

    def rotate_if_full(self, max_bytes: int) -> None:
        """Start the next segment once the active one is past ``max_bytes`` and fully written."""
        f = self.file
        assert f is not None
        if f.size < max_bytes or f.pending:
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


class CheckpointLog:
    """Signed checkpoint notes in ``events/checkpoints.jsonl`` and the witness copy, line for line."""

    def __init__(self, events: Path, witness: Path, quarantine: Path, log: Any,
                 write: WriteFn = os.write, fsync: FsyncFn = os.fsync) -> None:
        witness.mkdir(parents=True, exist_ok=True)
        self.sealed: dict[str, int] = {}  # family -> size of its latest checkpoint
        paths = (events / CHECKPOINTS, witness / CHECKPOINTS)
        contents = []
        for p in paths:
            p.touch(exist_ok=True)
            contents.append(recover_tail(p, quarantine, log, valid_json_line))
        fsync_dir(events)
        fsync_dir(witness)
        self.main = AppendFile(paths[0], write, fsync)
        self.witness = AppendFile(paths[1], write, fsync)
        main_text, wit_text = contents
        # A crash between the two writes leaves the witness one note behind: copy it over.
        if len(main_text) > len(wit_text) and main_text.startswith(wit_text):
            self.witness.add(main_text[len(wit_text):])
            log.warning("audit: witness copy was behind; completed", file=str(paths[1]))
        elif main_text != wit_text and not wit_text.startswith(main_text):
            log.error("audit: checkpoints differ from the witness copy (run `hope audit verify`)")
        for raw in (wit_text if len(wit_text) > len(main_text) else main_text).splitlines():
            try:
                note = json.loads(raw)
                self.sealed[note["family"]] = max(self.sealed.get(note["family"], 0), note["size"])
            except (ValueError, KeyError, TypeError):
                continue

    def add(self, note: dict[str, Any]) -> None:
        line = (json.dumps(note, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self.main.add(line)
        self.witness.add(line)
        self.sealed[note["family"]] = note["size"]

    def flush(self) -> None:
        self.main.flush()
        self.witness.flush()

    def sync(self) -> None:
        self.main.sync()
        self.witness.sync()

    @property
    def pending(self) -> int:
        return len(self.main.pending) + len(self.witness.pending)

    def close(self) -> None:
        self.main.close()
        self.witness.close()


def note_text(origin: str, family: str, size: int, head: str) -> bytes:
    """The signed body, after C2SP signed notes: origin line, tree size, head hash."""
    return f"{origin}/{family}\n{size}\n{head}\n".encode()


@dataclass
class SyncTicket:
    """One group commit in flight: the files to fsync and what they make durable."""

    files: list[AppendFile]
    durable: dict[tuple[str, str], int]
    sealable: dict[str, tuple[int, str]]
    unsynced: int
    started: float


def fsync_all(files: list[AppendFile]) -> OSError | None:
    """fsync each file (records before checkpoint notes: the caller's order); the error or None."""
    try:
        for f in files:
            f.fsync()
    except OSError as exc:
        return exc
    return None
