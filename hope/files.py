"""Crash-safe file rewrites, one implementation: temp → fsync → rename → fsync the directory.

A reader (or a restart after a crash) sees the old content or the new, never half of either.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a create/rename in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# For state other programs read (positions): owner read-write, plus group read when the
# process umask allows it (privilege separation runs programs with umask 027, so the other
# programs of group hope read it); never world-readable. Secrets keep the 0600 default.
_UMASK = _umask()
SHARED_MODE = 0o600 | (0o040 & ~_UMASK)


def umasked(mode: int) -> int:
    """``mode`` as ``open()`` would create it under this process's umask (atomic writes set
    the mode explicitly, bypassing the umask)."""
    return mode & ~_UMASK


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_existing(*paths: Path) -> list[Path]:
    """Delete those of ``paths`` that exist; return the ones removed (key revocations)."""
    gone = []
    for path in paths:
        if path.exists():
            path.unlink()
            gone.append(path)
    return gone


def atomic_write_json(path: str | os.PathLike[str], obj: Any, mode: int = 0o600,
                      **dump: Any) -> None:
    """JSON (sorted keys by default) written with :func:`atomic_write_bytes`."""
    dump.setdefault("sort_keys", True)
    atomic_write_bytes(path, json.dumps(obj, **dump).encode(), mode=mode)
