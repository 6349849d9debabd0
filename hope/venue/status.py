"""``<state>/venue/status.json``: what ``hope venue status`` shows, written by the executor.

``{"venue", "rest_url", "breaker": {"state", "reason"}, "last_reconciliation": report | null,
"wall_ts"}``, written temp → fsync → rename. ``started.json`` marks that a live venue has been
started here before: its absence makes the first start HALTED until an operator resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hope.files import atomic_write_json

STATUS, STARTED = "status.json", "started.json"


def write_status(directory: Path, *, venue: str, rest_url: str, breaker: str, reason: str,
                 report: dict[str, Any] | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / STATUS, {
        "venue": venue, "rest_url": rest_url, "breaker": {"state": breaker, "reason": reason},
        "last_reconciliation": report, "wall_ts": time.time()})


def read_status(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def started_before(directory: Path) -> bool:
    """Has a live venue been started in this state dir before (the marker exists)?"""
    return (directory / STARTED).exists()


def mark_started(directory: Path, venue: str, rest_url: str) -> None:
    """Write the marker (after the first start's HALTED state is saved)."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / STARTED, {"venue": venue, "rest_url": rest_url,
                                            "wall_ts": time.time()})
