"""Score the pump strategy on recorded data, straight from the files (no bus).

Ground truth: the announced pump time T comes from an events list (``pump_events_telegram_PDs.csv``:
semicolon-separated, BOM, ``coin;pair;timestamp`` matched by coin+pair and by T inside the file's
span) or from the file name (``..._2021-01-09T2100Z...``). The pump *start* is the first trade at or
after T with at least 10 trades in the second that follows it (itself included). Per pump:
``detected`` = first signal at or after the start (and before T + 60 min), ``delay_s`` = detected -
start, ``early_signals`` in [T - 60 min, start), ``false_signals`` outside every
[T - 60 min, T + 60 min] (anywhere in a file without a pump).
"""

from __future__ import annotations

import bisect
import csv
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hope.market.config import PumpConfig, TrendConfig
from hope.market.feeds import FeedError, open_feed, pump_time_from_name
from hope.strategies.pump import PumpStrategy
from hope.strategies.trend import TrendStrategy

EPISODE_S = 3600.0        # [T - 1 h, T + 1 h] belongs to the pump
START_TRADES = 10         # trades in the following second that mark the pump start
TARGET_DELAY_S = 2.0
OPENING_BURST_S = 0.1


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_events(path: str | Path) -> dict[str, list[float]]:
    """``{symbol: [T, ...]}`` from the events CSV; bad rows are skipped (reported in the result)."""
    out: dict[str, list[float]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        for row in reader:
            try:
                coin = row["coin"].strip().upper()
                pair = row["pair"].strip().upper()
                t = datetime.strptime(row["timestamp"].strip(), "%Y-%m-%d %H:%M")
            except (KeyError, ValueError, AttributeError):
                continue
            out.setdefault(coin + pair, []).append(t.replace(tzinfo=UTC).timestamp())
    return out


def pump_start(ts: list[float], t_announced: float, min_trades: int = START_TRADES) -> float | None:
    """First trade time at/after T with at least ``min_trades`` trades in the following second."""
    i = bisect.bisect_left(ts, t_announced)
    n = len(ts)
    while i + min_trades - 1 < n:
        if ts[i + min_trades - 1] < ts[i] + 1.0:
            return ts[i]
        i += 1
    return None


@dataclass
class PumpScore:
    file: str
    symbol: str
    pump_time: str | None
    pump_start: str | None
    detected: str | None
    delay_s: float | None
    early_signals: int
    false_signals: int
    pump_signals: int           # signals within [start, T + 1 h]: 1 is "one signal per pump"
    trades: int
    bad_rows: int
    trades_per_s: float
    kind: str = "trades"
    note: str = ""
    signals: list[dict[str, Any]] = field(default_factory=list)


def evaluate_file(path: str, pump_cfg: PumpConfig,
                  events: dict[str, list[float]] | None = None,
                  trend_cfg: TrendConfig | None = None) -> list[PumpScore]:
    """Run the pump strategy over one file and score it: one row per pump (or one if none)."""
    name = Path(path).name
    try:
        feed = open_feed(path)
    except FeedError as exc:
        return [PumpScore(name, "", None, None, None, None, 0, 0, 0, 0, 1, 0.0,
                          kind="error", note=str(exc))]
    if feed.kind == "bars":
        return [_bars_row(name, feed, trend_cfg or TrendConfig())]
    strategy = PumpStrategy(pump_cfg)
    on_trade = strategy.on_trade
    ts: list[float] = []
    add_ts = ts.append
    signals: list[dict[str, Any]] = []
    t0 = time.process_time()  # CPU time: trades/s per core, whatever else the machine runs
    for trade in feed:
        add_ts(trade[0])
        out = on_trade(trade)
        if out:
            signals.extend(out)
    elapsed = max(time.process_time() - t0, 1e-9)
    symbol = ",".join(sorted(feed.last_ts)) or feed.symbol
    rate = len(ts) / elapsed
    if events is not None:
        times = [t for t in events.get(symbol, []) if ts and ts[0] <= t <= ts[-1]]
    else:
        t = pump_time_from_name(path)
        times = [t] if t is not None else []
    sig_ts = [s["market_ts"] for s in signals]
    false = sum(1 for s in sig_ts if not any(t - EPISODE_S <= s <= t + EPISODE_S for t in times))
    common = dict(trades=len(ts), bad_rows=feed.errors.count, trades_per_s=round(rate),
                  signals=signals, note="; ".join(feed.errors.messages[:3]))
    if not times:
        return [PumpScore(name, symbol, None, None, None, None, 0, false, 0, **common)]
    rows = []
    for t in times:
        start = pump_start(ts, t)
        if start is None:
            rows.append(PumpScore(name, symbol, iso(t), None, None, None, 0, false, 0, **common))
            continue
        hits = [s for s in sig_ts if start <= s <= t + EPISODE_S]
        early = sum(1 for s in sig_ts if t - EPISODE_S <= s < start)
        det = hits[0] if hits else None
        rows.append(PumpScore(
            name, symbol, iso(t), iso(start), iso(det),
            None if det is None else round(det - start, 3), early, false, len(hits), **common))
    return rows


def _bars_row(name: str, feed: Any, trend_cfg: TrendConfig) -> PumpScore:
    trend = TrendStrategy(trend_cfg)
    n = 0
    t0 = time.process_time()  # CPU time: trades/s per core, whatever else the machine runs
    signals = []
    for bar in feed:
        n += 1
        signals.extend(trend.on_bar(bar))
    rate = n / max(time.process_time() - t0, 1e-9)
    return PumpScore(name, ",".join(sorted(feed.last_ts)), None, None, None, None, 0, 0, 0, n,
                     feed.errors.count, round(rate), kind="bars",
                     note=f"bars: the pump strategy scores trades only; "
                          f"trend signals (not scored): {len(signals)}")


def summarize(rows: list[PumpScore]) -> dict[str, Any]:
    """Totals and the detection targets: every pump within 2 s, most within 100 ms, no false."""
    pumps = [r for r in rows if r.pump_start is not None]
    delays = [r.delay_s for r in pumps if r.delay_s is not None]
    seen: dict[str, PumpScore] = {}
    for r in rows:
        seen.setdefault(r.file, r)
    trade_files = [r for r in seen.values() if r.kind == "trades"]
    trades = sum(r.trades for r in trade_files)
    secs = sum(r.trades / r.trades_per_s for r in trade_files if r.trades_per_s)
    false = sum(r.false_signals for r in seen.values())
    within = sum(1 for d in delays if d <= OPENING_BURST_S)
    return {
        "files": len(seen), "pumps": len(pumps), "detected": len(delays),
        "missed": len(pumps) - len(delays),
        "max_delay_s": max(delays) if delays else None,
        "within_100ms": within, "false_signals": false,
        "early_signals": sum(r.early_signals for r in pumps),
        "extra_pump_signals": sum(max(0, r.pump_signals - 1) for r in pumps),
        "bad_rows": sum(r.bad_rows for r in seen.values()),
        "trades": trades, "trades_per_s": round(trades / secs) if secs else 0,
        "target_met": (len(delays) == len(pumps) and false == 0
                       and all(d <= TARGET_DELAY_S for d in delays)
                       and within * 2 > len(pumps)),
    }


def evaluate(paths: list[str], pump_cfg: PumpConfig, events_path: str | None = None,
             trend_cfg: TrendConfig | None = None) -> dict[str, Any]:
    """Evaluate every file; ``{"files": [rows as dicts], "summary": {...}}``."""
    events = load_events(events_path) if events_path else None
    rows: list[PumpScore] = []
    for p in paths:
        rows.extend(evaluate_file(p, pump_cfg, events, trend_cfg))
    return {"files": [asdict(r) for r in rows], "summary": summarize(rows),
            "config": asdict(pump_cfg)}
