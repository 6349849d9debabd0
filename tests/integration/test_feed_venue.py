"""The live feed against the real ``hope venue-sim`` process: every fault knob at once, then a
restart; the tape must hold exactly the trades the stand-in served, each once, in id order."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hope.feed.config import BinanceConfig
from hope.feed.feed import LiveFeed
from hope.market.feeds import open_feed
from hope.testing import Processes, async_wait_for
from hope.venue_sim.sim_client import SimAdmin
from hope.venue_sim.testing import start_process, steady_trades, write_trades

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 2000          # trades 10 ms apart: 20 s of market time
HISTORY_S = 5.0   # the first 5 s are history (REST only): the warm-up reads them
SPEED = 4.0       # 400 ids per wall second: 2 s of wall time after the drop (1100) for the rest


def tape_rows(tape_dir: Path, symbol: str) -> list[list[str]]:
    rows: list[list[str]] = []
    for p in sorted((tape_dir / symbol).glob("*.csv.gz")):
        rows += [line.split(",") for line in
                 gzip.decompress(p.read_bytes()).decode().splitlines()[1:]]
    return rows


def tape_ids(tape_dir: Path, symbol: str) -> list[int]:
    return [int(f[1]) for f in tape_rows(tape_dir, symbol)]


def feed_cfg(port: int, **over) -> BinanceConfig:
    cfg = BinanceConfig(ws_url=f"ws://127.0.0.1:{port}", rest_url=f"http://127.0.0.1:{port}",
                        symbols=["TSTBTC"], stale_connection_s=1.0, reorder_wait_s=0.2,
                        backoff_initial_s=0.1, backoff_max_s=0.5, flush_s=0.05, **over)
    cfg.validate()
    return cfg


async def run_feed(cfg: BinanceConfig, tape: Path, until_id: int, events: list[dict],
                   also: Callable[[], bool] = lambda: True) -> tuple[LiveFeed, list]:
    """The feed until trade ``until_id`` is through it and ``also()`` holds."""
    async def record(kind: str, payload: dict) -> None:
        events.append(payload)

    feed = LiveFeed(cfg, tape, on_event=record, on_alert=record)
    seen: list = []

    async def consume() -> None:
        while True:
            seen.extend(await feed.next_batch())

    await feed.start()
    task = asyncio.create_task(consume())
    try:
        await async_wait_for(lambda: seen and seen[-1].trade.id >= until_id and also(),
                             timeout=60, message=f"trade {until_id} through the feed")
    finally:
        task.cancel()
        await feed.stop()
    seen.extend(feed.out)  # handed on but not consumed yet when stopped: on the tape too
    return feed, seen


@pytest.fixture
def market(state_dir: Path) -> Path:
    return write_trades(state_dir / "binance_TSTBTC_aggtrades_test.csv",
                        steady_trades(N, step_s=0.01))


async def test_every_fault_knob_then_restart_tape_exact(procs: Processes, state_dir: Path,
                                                        market: Path) -> None:
    """Skips, duplicates, reordering, a drop, serverShutdown, a stall, bad JSON and
    failing REST: the tape holds 1..N once each in order; counters and FEED events agree."""
    port = start_process(procs, "venue", [
        "--data", str(market), "--speed", str(SPEED), "--rebase-now", "--skip", str(HISTORY_S),
        "--skip-ids", "700-720", "--duplicate-ids", "800-810", "--reorder-ids", "900-905",
        "--drop-after", "1100", "--rest-fail", "1"],
        state_dir / "venue.port")
    tape = state_dir / "tape"
    events: list[dict] = []
    t0 = time.monotonic()

    def kinds_seen() -> set[str]:
        return {e["kind"] for e in events}

    async def faults_in_turn() -> None:
        # Each knob once the feed is where it tests something (a fixed id could land while it
        # still reconnects on a loaded machine): serverShutdown once it is back from the drop
        # at 1100, a stall and bad JSON on the connection it rotated to.
        admin = SimAdmin(port)
        await async_wait_for(lambda: "reconnect" in kinds_seen(), timeout=30,
                             message="the feed reconnected after the drop")
        await asyncio.to_thread(admin.stream_fault, "shutdown")
        await async_wait_for(lambda: "rotated" in kinds_seen(), timeout=30,
                             message="the rotation after serverShutdown")
        await asyncio.to_thread(admin.stream_fault, "stall", 2.0)
        await asyncio.to_thread(admin.stream_fault, "bad_json")

    knobs = asyncio.create_task(faults_in_turn())
    try:
        feed, seen = await run_feed(feed_cfg(port), tape, 1700, events,
                                    also=lambda: knobs.done() and (
                                        knobs.cancelled() or knobs.exception() is not None
                                        or "stale" in kinds_seen()))
    finally:
        knobs.cancel()
    knobs.result()  # all were turned, or the first error is raised here
    ids = [i.trade.id for i in seen]
    assert ids == list(range(1, ids[-1] + 1)), "each trade once, in id order, to the consumer"
    assert tape_ids(tape, "TSTBTC") == ids, "the tape holds exactly what was handed on"
    kinds = {e["kind"] for e in events}
    assert {"connected", "reconnect", "id_gap", "backfilled", "rotated", "stale"} <= kinds
    p = feed.progress()
    assert p["warmup_trades"] == sum(not i.live for i in seen) >= 400
    assert p["live_trades"] + p["backfilled_trades"] == sum(i.live for i in seen)
    assert p["backfilled_trades"] >= 21 and p["duplicates"] >= 1 and p["lost_trades"] == 0
    assert p["connections"][0]["bad_frames"] >= 1 and p["connections"][0]["rotations"] >= 1
    assert all(e["to"] is None or e["to"] >= e["from"] for e in events if e["kind"] == "id_gap")

    # A restart continues after the tape's last id, warmed up from the tape, missing nothing.
    events2: list[dict] = []
    feed2, seen2 = await run_feed(feed_cfg(port), tape, N, events2)
    assert sum(not i.live for i in seen2) > 0, "warm-up from the tape"
    live2 = [i.trade.id for i in seen2 if i.live]
    assert live2 == list(range(ids[-1] + 1, N + 1))
    assert tape_ids(tape, "TSTBTC") == list(range(1, N + 1))
    served = [(f"{price:.8f}", f"{qty:.8f}", "false" if buy else "true")
              for _ts, price, qty, buy in steady_trades(N, step_s=0.01)]
    on_tape = [(f[3], f[4], f[6]) for f in tape_rows(tape, "TSTBTC")]
    assert on_tape == served, "the very trades the stand-in served: price, quantity, side"
    for p in sorted((tape / "TSTBTC").glob("*.csv.gz")):
        feed_file = open_feed(p)
        assert feed_file.format == "binance_aggtrades"
        assert len(list(feed_file)) > 0 and feed_file.errors.count == 0
    assert time.monotonic() - t0 < 90


async def test_rotation_before_the_venue_cut_is_gap_free_and_break_is_skipped(
        procs: Processes, state_dir: Path, market: Path) -> None:
    """Make-before-break rotation ahead of the venue's connection age: no id gap, no backfill;
    the server's pings are answered (it would cut us after 1 s); a BREAK symbol is skipped."""
    other = write_trades(state_dir / "binance_BRKBTC_aggtrades_test.csv",
                         steady_trades(100, step_s=0.1))
    scenario = state_dir / "scenario.toml"
    scenario.write_text('[status]\nBRKBTC = "BREAK"\n')
    port = start_process(procs, "venue", [
        "--data", str(market), str(other), "--speed", "2", "--rebase-now",
        "--skip", str(HISTORY_S), "--max-connection-age", "3", "--scenario", str(scenario),
        "--ping-interval", "0.3", "--pong-timeout", "1"],
        state_dir / "venue.port")
    cfg = feed_cfg(port, rotate_after_s=1.5)
    cfg.symbols = ["TSTBTC", "BRKBTC"]
    events: list[dict] = []
    feed, seen = await run_feed(cfg, state_dir / "tape", 1200, events)
    kinds = [e["kind"] for e in events]
    assert kinds.count("rotated") >= 2 and "reconnect" not in kinds
    after = kinds[kinds.index("rotated"):]   # (the start may backfill up to the subscription)
    assert "id_gap" not in after, "the overlap hides the switch: nothing to backfill"
    assert {i.trade.symbol for i in seen} == {"TSTBTC"}
    assert feed.health.symbols["BRKBTC"].status == "BREAK"
    assert feed.health.connections[0].pings >= 3
    ids = [i.trade.id for i in seen]
    assert ids == list(range(1, ids[-1] + 1))
    assert tape_ids(state_dir / "tape", "TSTBTC") == ids


async def test_venue_outage_reconnects_and_backfills_what_it_missed(
        procs: Processes, state_dir: Path, market: Path) -> None:
    """The venue unreachable for 2 s (connections cut, REST 503): the feed retries with
    backoff, reconnects and backfills the trades published meanwhile, each once."""
    port = start_process(procs, "venue", [
        "--data", str(market), "--speed", "2", "--rebase-now", "--skip", str(HISTORY_S),
        "--outage-at", "800:2"], state_dir / "venue.port")
    events: list[dict] = []
    feed, seen = await run_feed(feed_cfg(port), state_dir / "tape", 1400, events)
    kinds = [e["kind"] for e in events]
    assert "reconnect" in kinds
    gap = next(e for e in events[kinds.index("reconnect"):] if e["kind"] == "backfilled")
    assert gap["from"] == 801 and gap["trades"] >= 300      # 2 s at 200 trades/s
    ids = [i.trade.id for i in seen]
    assert ids == list(range(1, ids[-1] + 1))
    assert tape_ids(state_dir / "tape", "TSTBTC") == ids
