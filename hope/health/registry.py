"""The service registry: what each service said in its latest HEARTBEAT, plus its health status.

Written atomically (temp -> fsync -> rename -> fsync dir) to ``<state>/run/registry.json``: the
file-based service discovery ``hope status`` and other tools read.

Heartbeat payload fields understood (all optional but ``service`` and ``pid``): those of
hope.runtime's heartbeat (``host, version, epoch, handled, failed, queue_depth, events_in,
events_out, handlers {name: {count, sum, buckets}}, bus {decode_errors, replayed_in,
gaps_unrecoverable, outbox_pending, ...}``) plus ``endpoints {name: url}, http_port,
breakers {name: "closed" | "open" | "half_open"}, dlq {pending, retrying, parked, done}`` and,
overriding the bus-derived ones when present, ``decode_errors, gaps_recovered, gaps_missing,
watermark_lag, dead_letters``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hope.files import atomic_write_json

# Fields copied to the top of an entry; everything else stays in ``progress``.
_IDENTITY = ("pid", "host", "version", "epoch", "endpoints", "http_port")


@dataclass
class ServiceEntry:
    service: str
    pid: int | None = None
    host: str = ""
    version: str = ""
    epoch: str = ""
    endpoints: dict[str, Any] = field(default_factory=dict)
    http_port: int | None = None
    first_beat: float = 0.0
    last_beat: float = 0.0            # wall clock of our receipt (not the sender's clock)
    beats: int = 0
    status: str = "UNKNOWN"           # UP | DOWN | HUNG | FATAL | UNKNOWN
    detail: str = ""
    restarts: int = 0
    rate: float = 0.0                 # events handled per second between the last two beats
    progress: dict[str, Any] = field(default_factory=dict)
    last_progress_at: float = 0.0     # when ``handled`` last moved


def _total(counts: Any) -> float:
    if isinstance(counts, Mapping):
        return float(sum(v for v in counts.values() if isinstance(v, int | float)))
    return float(counts) if isinstance(counts, int | float) else 0.0


class Registry:
    """Entries by service name; fed by heartbeats, judged by the monitor, saved atomically."""

    def __init__(self) -> None:
        self.entries: dict[str, ServiceEntry] = {}

    def get(self, service: str) -> ServiceEntry | None:
        return self.entries.get(service)

    def ensure(self, service: str) -> ServiceEntry:
        return self.entries.setdefault(service, ServiceEntry(service=service))

    def observe(self, payload: Mapping[str, Any], now: float) -> ServiceEntry:
        """Record one heartbeat payload received at wall time ``now``."""
        name = payload.get("service")
        if not isinstance(name, str) or not name:
            raise ValueError("payload.service: missing or not a string")
        entry = self.ensure(name)
        if payload.get("epoch") and payload.get("epoch") != entry.epoch and entry.epoch:
            entry.first_beat = now  # a new process: rates and progress start over
            entry.progress = {}
        for key in _IDENTITY:
            if key in payload:
                setattr(entry, key, payload[key])
        progress = {k: v for k, v in payload.items() if k not in _IDENTITY and k != "service"}
        old_handled = _handled(entry.progress)
        new_handled = _handled(progress)
        if entry.last_beat and entry.progress and now > entry.last_beat:
            entry.rate = max(0.0, (new_handled - old_handled) / (now - entry.last_beat))
        if new_handled != old_handled or not entry.last_progress_at:
            entry.last_progress_at = now
        entry.progress = progress
        entry.first_beat = entry.first_beat or now
        entry.last_beat = now
        entry.beats += 1
        return entry

    def to_dict(self) -> dict[str, Any]:
        return {"services": {n: asdict(e) for n, e in sorted(self.entries.items())}}

    def write(self, path: Path, extra: Mapping[str, Any] | None = None) -> None:
        """Write atomically: readers see the old file or the new one, never a torn one."""
        data = self.to_dict()
        data.update(extra or {})
        atomic_write_json(path, data, indent=1, default=str)

    @classmethod
    def read(cls, path: Path) -> dict[str, Any]:
        """The raw registry document; ValueError naming the file when it is not valid JSON."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            raise ValueError(f"{path}: no 'services' map")
        return data


def _handled(progress: Mapping[str, Any]) -> float:
    if "handled" in progress:
        return _total(progress["handled"])
    return _total(progress.get("events_in"))
