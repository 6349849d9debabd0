"""Size-bounded evidence of bad input: the raw frames and the reason they were refused."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hope.codec import encode_obj


class Quarantine:
    """Appends ``{at, where, reason, frames}`` records to ``<dir>/<name>.bin``; when the file
    passes ``max_bytes`` it rotates to ``.1`` (one generation kept), so evidence never fills the
    disk."""

    def __init__(self, directory: Path, name: str, max_bytes: int = 16 << 20) -> None:
        self.path = directory / f"{name}.bin"
        self.max_bytes = max_bytes
        self.count = 0

    def keep(self, frames: list[bytes], reason: str, where: str = "") -> None:
        self.count += 1
        # Keep at most 64 KiB per frame: a flood of huge frames is evidence enough truncated.
        record = encode_obj({"at": time.time(), "where": where, "reason": reason,
                             "frames": [bytes(f[:65536]) for f in frames]})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(record) > self.max_bytes:
                os.replace(self.path, self.path.with_suffix(".bin.1"))
            with open(self.path, "ab") as fh:
                fh.write(len(record).to_bytes(4, "big") + record)
        except OSError:
            pass  # evidence is best effort: a full disk must not stop the service
