"""Quarantined positions awaiting an operator: the executor stays HALTED while any is listed.

A position record that cannot be read is set apart (evidence in the quarantine), so nothing
manages its exits. Trading on beside it would be a weaker fail-closed than an unreadable ledger,
so its order id is written to ``<state>/positions/quarantined-positions.json``
(``{order_id: error}``) and stays there, across restarts, until an operator deals with the
position at the venue and acknowledges it (``hope ack-position ORDER_ID``, CONTROL
``ack_position``: :mod:`hope.control.ack_position`). An unreadable file holds too.
"""

from __future__ import annotations

import json
from pathlib import Path

from hope.files import SHARED_MODE, atomic_write_json

FILE = "quarantined-positions.json"


class HeldPositions:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE
        self.errors: dict[str, str] = {}
        self.load_error: str | None = None
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            self.errors = {str(k): str(v) for k, v in data.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            self.load_error = f"{self.path}: unreadable ({exc})"

    def hold(self, order_id: str, error: str) -> None:
        """List one quarantined position (durably) until it is acknowledged."""
        if self.errors.get(order_id) != error:
            self.errors[order_id] = error
            atomic_write_json(self.path, self.errors, mode=SHARED_MODE)

    def release(self, order_id: str) -> bool:
        """The operator acknowledged this position: False when it was not listed."""
        if self.errors.pop(order_id, None) is None:
            return False
        atomic_write_json(self.path, self.errors, mode=SHARED_MODE)
        return True

    def reason(self, pending: set[str] | None = None) -> str | None:
        """Why trading is held, or None; ``pending``: quarantined at load, not yet listed."""
        if self.load_error:
            return self.load_error
        ids = sorted(set(self.errors) | (pending or set()))
        if not ids:
            return None
        return f"quarantined position(s) not acknowledged: {', '.join(ids[:5])}"
