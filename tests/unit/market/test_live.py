"""The scanner on a live source: backfilled SIGNALs say so, cooldowns come back from the audit
log after a restart (the pump is signalled once)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hope.audit.reader import LocalAuditReader
from hope.config import load
from hope.market.feeds import open_feed
from hope.market.live import LiveItem, last_signals, restore_cooldowns
from hope.scanner.service import ScannerRunner
from hope.testing import REPO

PUMP_FILE = REPO / "data" / "binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz"
PUMP_T = 1610658000.0


class Items:
    """NAS/BTC around its pump as a live source: an hour of warm-up, then live trades, those
    after ``backfilled_from`` marked as backfilled."""

    def __init__(self, backfilled_from: float = float("inf")) -> None:
        self.backfilled_from = backfilled_from

    def progress(self) -> dict[str, Any]:
        return {}

    async def __aiter__(self) -> AsyncIterator[LiveItem]:
        for t in open_feed(PUMP_FILE):
            if PUMP_T - 3620 <= t.ts <= PUMP_T + 120:
                yield LiveItem(t, t.ts >= PUMP_T - 20, t.ts >= self.backfilled_from)


def runner(tmp_path: Path, source: Items) -> tuple[ScannerRunner, list[tuple[str, dict]]]:
    cfg = load(None, tmp_path, overrides={"scanner": {"strategies": ["pump"]}}).scanner
    out: list[tuple[str, dict]] = []

    async def publish(kind: str, payload: dict) -> None:
        out.append((kind, payload))

    r = ScannerRunner(cfg, publish)
    r._open = lambda: source  # type: ignore[method-assign]
    return r, out


async def test_signals_of_a_live_source_carry_feed_and_backfilled(tmp_path: Path) -> None:
    """Every live SIGNAL says feed "binance"; one caused by a backfilled trade is marked."""
    r, out = runner(tmp_path, Items(backfilled_from=PUMP_T - 20))
    await r.run_once()
    signals = [p for k, p in out if k == "SIGNAL"]
    assert len(signals) == 1
    assert signals[0]["feed"] == "binance" and signals[0]["backfilled"] is True
    r2, out2 = runner(tmp_path, Items())
    await r2.run_once()
    assert "backfilled" not in [p for k, p in out2 if k == "SIGNAL"][0]


async def test_cooldowns_restored_from_the_audit_log_signal_the_pump_once(tmp_path: Path) -> None:
    """The scanner's last SIGNAL per strategy and symbol, read back, suppresses the repeat."""
    r, out = runner(tmp_path, Items())
    await r.run_once()
    (first,) = [p for k, p in out if k == "SIGNAL"]
    events = tmp_path / "events"
    events.mkdir()
    recs = [{"event_id": "sha256:1", "event_type": "SIGNAL", "source": "scanner",
             "payload": first},
            {"event_id": "sha256:2", "event_type": "SIGNAL", "source": "gateway",
             "payload": {**first, "market_ts": first["market_ts"] + 999}}]
    (events / "signals.jsonl").write_text("".join(json.dumps(x) + "\n" for x in recs))
    (events / "manifest.json").write_text(json.dumps({"families": {"signals": ["signals.jsonl"]}}))
    latest = last_signals(LocalAuditReader(events))
    assert latest == [first]
    again, out2 = runner(tmp_path, Items())
    assert restore_cooldowns(again.strategies, latest) == 1
    await again.run_once()
    assert [p for k, p in out2 if k == "SIGNAL"] == []
