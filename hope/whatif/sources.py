"""What ``hope replay`` re-runs: SIGNAL and PRICE events in market-time order, plus what was recorded.

Three sources, one result (:class:`Timeline`):
- the audit log (``<state>/events/{signals,prices,decisions,closes}*.jsonl``);
- an event file of JSON lines (legacy v1 or current envelopes): each line goes JSON -> MessagePack
  -> :func:`hope.codec.decode`, so v1 events are upcast and validated exactly like bus traffic;
- a market-data file (any format hope.market reads): trades run through the candidate's scanner
  strategies, producing PRICE and SIGNAL events as the scanner would (no recorded decisions).
Bad lines are skipped with a ``file:line: reason`` warning and counted, never fatal.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import msgspec

from hope import codec
from hope.audit.canonical import family_for
from hope.audit.reader import open_reader
from hope.config import Config
from hope.envelope import Envelope, EnvelopeError, new_event, utc_timestamp

EVENT_FILE_SUFFIXES = (".jsonl", ".json", ".ndjson")
_FIELDS = {f.name for f in msgspec.structs.fields(Envelope)}
_RANK = {"PRICE": 0, "SIGNAL": 1}  # at one market time a PRICE comes first, as the scanner sends


class SourceError(ValueError):
    """A source that cannot be read at all (missing file, unknown format)."""


@dataclass
class Timeline:
    source: str
    events: list[Envelope] = field(default_factory=list)          # SIGNAL and PRICE
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # signal id -> DECISION
    decisions_by_corr: dict[str, dict[str, Any]] = field(default_factory=dict)  # v1: no causation
    closes: list[dict[str, Any]] = field(default_factory=list)     # recorded CLOSE payloads
    warnings: list[str] = field(default_factory=list)

    def recorded_for(self, signal: Envelope) -> dict[str, Any] | None:
        """The recorded DECISION payload for ``signal`` (by causation, else by correlation)."""
        return self.decisions.get(signal.event_id) or self.decisions_by_corr.get(
            signal.correlation_id)

    def add(self, env: Envelope) -> None:
        t = env.event_type
        if t in ("SIGNAL", "PRICE"):
            self.events.append(env)
        elif t == "DECISION":
            # the decision's wall time goes along: the candidate is judged at the same moment
            recorded = {**env.payload, "_timestamp": env.timestamp}
            if env.causation_id:
                self.decisions[env.causation_id] = recorded
            else:
                self.decisions_by_corr[env.correlation_id] = recorded
        elif t == "CLOSE":
            self.closes.append(env.payload)

    def finish(self, start: float | None, end: float | None) -> Timeline:
        """Keep events within [start, end] of market time, ordered by market time (stable)."""
        def mts(e: Envelope) -> float:
            return float(e.payload.get("market_ts", 0.0))
        self.events = [e for e in self.events
                       if (start is None or mts(e) >= start) and (end is None or mts(e) <= end)]
        self.events.sort(key=lambda e: (mts(e), _RANK.get(e.event_type, 9)))
        return self


def _from_record(rec: dict[str, Any]) -> Envelope:
    return msgspec.convert({k: v for k, v in rec.items() if k in _FIELDS}, Envelope)


def from_audit(config: Config) -> Timeline:
    reader = open_reader(config.state)
    if not reader.exists():
        raise SourceError(f"{reader.source}: no audit log here (give --state-dir or --source FILE)")
    tl = Timeline(source=f"audit log {reader.source}")
    for family in map(family_for, ("PRICE", "SIGNAL", "DECISION", "CLOSE")):
        for rec in reader.records(family):
            try:
                tl.add(_from_record(rec))
            except (msgspec.ValidationError, TypeError) as exc:
                tl.warnings.append(f"{reader.source}/{family}: {rec.get('event_id', '?')}: {exc}")
    tl.warnings.extend(reader.warnings)
    return tl


def from_event_file(path: Path) -> Timeline:
    """JSON lines of envelopes (v1 or v2): decoded through the codec, so v1 is upcast."""
    tl = Timeline(source=f"event file {path}")
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SourceError(f"{path}: unreadable ({exc})") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                tl.add(codec.decode(msgpack.packb(json.loads(line))))
            except ValueError as exc:  # JSON, EnvelopeError and DecodeError are ValueErrors
                where = f" at {exc.where}" if isinstance(exc, EnvelopeError) and exc.where else ""
                tl.warnings.append(f"{path}:{lineno}: {getattr(exc, 'reason', exc)}{where}")
            except (TypeError, msgpack.exceptions.PackException) as exc:
                tl.warnings.append(f"{path}:{lineno}: {exc}")
    return tl


def _market_timestamp(market_ts: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(market_ts, UTC))


async def from_market_file(config: Config, path: Path) -> Timeline:
    """Run the candidate's scanner strategies over a recorded market-data file (as fast as possible)."""
    from hope.market.feeds import FeedError, open_feed
    from hope.scanner.service import ScannerRunner

    try:
        open_feed(path)
    except FeedError as exc:
        raise SourceError(str(exc)) from None
    tl = Timeline(source=f"market data {path}")
    scfg = config.scanner
    scfg = dataclasses.replace(scfg, replay=dataclasses.replace(
        scfg.replay, files=[str(path)], speed=0.0, loop=False))

    async def publish(event_type: str, payload: dict[str, Any]) -> None:
        # the envelope time is the market time: replayed signals are never "in transit"
        tl.add(new_event(event_type, payload, source="scanner",
                         timestamp=_market_timestamp(float(payload["market_ts"]))))

    runner = ScannerRunner(scfg, publish)
    runner._bad_row = tl.warnings.append  # bad rows: file:line: reason, counted in warnings
    await runner.run_once()
    return tl


async def load(config: Config, source: str) -> Timeline:
    """``audit``, an event file (.jsonl/.json/.ndjson) or a market-data file."""
    if source == "audit":
        return from_audit(config)
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"{path}: no such file (--source audit|FILE)")
    if path.name.endswith(EVENT_FILE_SUFFIXES):
        return from_event_file(path)
    return await from_market_file(config, path)


def parse_time(text: str | None) -> float | None:
    """``--from``/``--to``: epoch seconds or an ISO-8601 UTC time (``2021-01-09T21:00:00Z``)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"bad time {text!r}: give epoch seconds or ISO-8601 like "
                          "2021-01-09T21:00:00Z") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
