"""The operator's levers: ACTIVE, REDUCING (closes only) or HALTED, persisted atomically.

The file holds one JSON object ``{"state": ..., "changed_by": ..., "wall_ts": ...}``. Anything
that is not exactly a known state (unreadable, corrupt, unknown value) reads as HALTED: after a
restart, doubt stops trading. Only a fresh instance (no file and no trading in the audit log yet) may start in
the configured initial state, so ``./scripts/run`` on a new clone trades without a manual step.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hope.files import atomic_write_json

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
STATES = (ACTIVE, REDUCING, HALTED)


class TradingStateStore:
    """Reads and writes the trading state file; every read failure yields HALTED plus a reason."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last_error: str | None = None

    def load(self) -> str:
        """The persisted state; HALTED (with ``last_error`` set) when missing or unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            self.last_error = f"{self.path}: missing"
            return HALTED
        except (OSError, ValueError) as exc:
            self.last_error = f"{self.path}: unreadable ({exc})"
            return HALTED
        state = data.get("state") if isinstance(data, dict) else None
        if state not in STATES:
            self.last_error = f"{self.path}: unknown state {state!r}"
            return HALTED
        self.last_error = None
        return state

    def load_or_init(self, initial: str, fresh: bool) -> str:
        """Like :meth:`load`, but a fresh instance with no file starts (and persists) ``initial``."""
        if fresh and not self.path.exists():
            self.save(initial, changed_by="init")
            return initial
        return self.load()

    def save(self, state: str, changed_by: str = "operator") -> None:
        """Persist ``state`` atomically (temp, fsync, rename): a crash leaves the old or the new."""
        if state not in STATES:
            raise ValueError(f"trading state must be one of {STATES}, got {state!r}")
        data = {"state": state, "changed_by": changed_by, "wall_ts": time.time()}
        try:
            atomic_write_json(self.path, data)
        except PermissionError:
            if not self.path.exists():
                raise
            # Privilege separation: the state root is not the services' to write; the file
            # (group hope, 0660) is rewritten in place. A torn write reads as HALTED.
            with open(self.path, "r+b") as fh:
                fh.truncate(0)
                fh.write(json.dumps(data, sort_keys=True).encode())
                fh.flush()
                os.fsync(fh.fileno())


def fresh_log(families: list[str]) -> bool:
    """True when an audit log of these families holds no trading yet (no decisions, no
    orders): read locally (:func:`is_fresh_instance`) or from the audit host."""
    return not {"decisions", "orders"} & set(families)


def is_fresh_instance(events_dir: Path) -> bool:
    """True when the audit log holds no trading yet (no decisions or orders family): the only
    case where a missing state file is not doubt. System files (heartbeat summaries,
    checkpoints) the audit writer creates at start do not count."""
    events_dir = Path(events_dir)
    if not events_dir.is_dir():
        return True
    return not any(any(events_dir.glob(f"{family}*.jsonl")) for family in ("decisions", "orders"))
