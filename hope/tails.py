"""Torn tails of HOPE's append-only logs: where the last whole record ends, and the evidence.

Four logs are append-only: the audit segments and checkpoints (JSON lines), the executor's ledger
(JSON lines), a publisher's outbox and a subscriber's consumer journal (length-prefixed frames:
4-byte big-endian length, then the body). A crash in the middle of a write can only tear the end
of such a file. Each owner finds the end of its last whole record here (:func:`line_end`,
:func:`read_frames`), keeps what follows as evidence (:func:`keep_tail`, into
``<state>/quarantine/<name>.bin``, never losing bytes to the per-frame cap) and appends from
there, each in its own file format.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hope.codec import decode_obj
from hope.quarantine import Quarantine

FRAME_LEN = struct.Struct(">I")
_CHUNK = 65536  # Quarantine keeps at most this much per frame: split, do not cut


def frame(body: bytes) -> bytes:
    """One length-prefixed record."""
    return FRAME_LEN.pack(len(body)) + body


def read_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(offset, body) of every whole frame, and the end offset of the last whole one."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + FRAME_LEN.size <= len(data):
        (size,) = FRAME_LEN.unpack_from(data, pos)
        end = pos + FRAME_LEN.size + size
        if end > len(data):
            break
        out.append((pos, data[pos + FRAME_LEN.size:end]))
        pos = end
    return out, pos


def line_end(data: bytes, valid: Callable[[bytes], bool] | None = None) -> int:
    """End offset of the last whole line; with ``valid``, of the last line it accepts.

    Everything after the last newline is torn; with ``valid``, trailing lines it refuses (a
    crash can leave zero-filled blocks that end in a newline) are part of the tail too.
    """
    good = data.rfind(b"\n") + 1
    if valid is None:
        return good
    while good > 0:
        start = data.rfind(b"\n", 0, good - 1) + 1
        if valid(data[start:good - 1]):
            break
        good = start
    return good


def keep_tail(path: Path, data: bytes, good: int, quarantine_dir: Path | None, name: str,
              reason: str, log: Any = None, *, truncate: bool = True) -> bytes:
    """Keep ``data[good:]`` as evidence and (by default) cut ``path`` back to ``good`` bytes.

    Returns the tail (b"" when there is none). Without ``quarantine_dir`` it is only logged. The evidence is written before the file is cut
    (and the cut fsynced), so a crash in between keeps the bytes somewhere.
    """
    tail = data[good:]
    if not tail:
        return b""
    keep_evidence(quarantine_dir, name, tail, reason, f"{path}:@{good}", log)
    if truncate:
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())
    return tail


def keep_evidence(quarantine_dir: Path | None, name: str, tail: bytes, reason: str, where: str,
                  log: Any = None) -> None:
    """Store a torn tail in ``<quarantine_dir>/<name>.bin`` and say so; never raises."""
    if quarantine_dir is not None:
        chunks = [tail[i:i + _CHUNK] for i in range(0, len(tail), _CHUNK)]
        Quarantine(Path(quarantine_dir), name).keep(chunks, reason, where=where)
    if log is not None:
        log.error(f"{reason}: tail quarantined", where=where, bytes=len(tail),
                  quarantined=str(Path(quarantine_dir) / f"{name}.bin") if quarantine_dir else None)


def read_quarantined(quarantine_dir: Path, name: str) -> list[dict[str, Any]]:
    """The evidence records kept under ``name`` (older generation first), chunks joined."""
    out: list[dict[str, Any]] = []
    for p in (Path(quarantine_dir) / f"{name}.bin.1", Path(quarantine_dir) / f"{name}.bin"):
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue
        for _, body in read_frames(data)[0]:
            rec = decode_obj(body)
            rec["data"] = b"".join(rec.get("frames", []))
            out.append(rec)
    return out
