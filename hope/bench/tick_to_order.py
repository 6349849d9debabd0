"""Bench row **tick-to-order**: from the moment the stand-in sends the WebSocket frame of the
trade that triggers a signal (``/sim/v1/sent``) to the moment its order endpoint receives the
signed order (the order's ``receivedUs`` in ``/sim/v1/orders``), p50/p99, for HOPE (the whole
system under supervisord on ``hope venue-sim``, as :mod:`hope.chaos.venue_run` starts it) and,
in the same run against the same stand-in, a raw minimal pipeline: one bare aiohttp WebSocket
client, a trivial threshold (a taker buy at least ``RAW_JUMP`` above the symbol's last price,
one per symbol per ``RAW_GAP_S``) and a signed POST, on a second account.

HOPE's trigger trade: the SIGNAL behind each BUY carries the trade's ``market_ts``; the tape
(``state/tape/<SYMBOL>/``) maps it to the aggregate id. ``python -m hope.bench.tick_to_order
[--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from hope.bench.common import percentile
from hope.chaos.venue_books import ts_us
from hope.chaos.venue_run import PUMPS, VenueRun, add_arguments
from hope.trading.ids import client_order_id
from hope.venue_sim.keys import generate_test_keys
from hope.venue_sim.testing import signed_query

STAGES = ("frame → SIGNAL published", "SIGNAL → DECISION published",
          "DECISION → POST sent", "POST sent → received")
RAW_JUMP = 0.005
RAW_GAP_S = 2.0


class RawPipeline:
    """WebSocket frame → threshold → signed POST, nothing else (runs in its own thread)."""

    def __init__(self, port: int, symbols: list[str], keys: Any) -> None:
        self.port, self.symbols, self.keys = port, symbols, keys
        self.stop = threading.Event()
        self.sent = 0

    async def run(self) -> None:
        streams = "/".join(f"{s.lower()}@aggTrade" for s in self.symbols)
        last: dict[str, float] = {}
        fired: dict[str, float] = {}
        base = f"http://127.0.0.1:{self.port}"
        url = f"ws://127.0.0.1:{self.port}/stream?streams={streams}"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            while not self.stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                d = json.loads(msg.data).get("data") or {}
                s, price = d.get("s"), float(d.get("p", 0))
                prev = last.get(s)
                last[s] = price
                now = time.monotonic()
                if (prev and not d.get("m") and price >= prev * (1 + RAW_JUMP)
                        and now - fired.get(s, -1e9) >= RAW_GAP_S):
                    fired[s] = now
                    await self.order(http, base, s, d["a"])

    async def order(self, http: aiohttp.ClientSession, base: str, symbol: str, agg: int) -> None:
        q = signed_query({"symbol": symbol, "side": "BUY", "type": "MARKET",
                          "quoteOrderQty": "0.0001", "newClientOrderId": f"raw-{agg}",
                          "timestamp": int(time.time() * 1000)}, self.keys)
        async with http.post(f"{base}/api/v3/order?{q}",
                             headers={"X-MBX-APIKEY": self.keys.api_key}) as r:
            await r.read()
        self.sent += 1

    def thread(self) -> threading.Thread:
        t = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)
        t.start()
        return t


def _tape_ids(state: Path, symbol: str) -> dict[int, int]:
    """Trade timestamp (ms) → the last aggregate id at that ms, from the live tape."""
    out: dict[int, int] = {}
    for f in sorted((state / "tape" / symbol).glob("*.csv.gz")):
        with gzip.open(f, "rt") as fh:
            for row in csv.DictReader(fh):
                out[int(row["timestamp"])] = int(row["id"])
    return out


def hope_samples(r: VenueRun, orders: list[dict[str, Any]],
                 lost: dict[str, int] | None = None,
                 stages: dict[str, list[float]] | None = None) -> list[float]:
    """HOPE's tick-to-order per venue BUY; ``lost`` counts the BUYs that could not be timed
    (by why), ``stages`` collects the ms of each leg (:data:`STAGES`, from the envelopes'
    wall timestamps and the POST's VENUE_REPLY send time)."""
    recs = r.records()
    signals = {x["event_id"]: x["payload"] for x in recs if x.get("event_type") == "SIGNAL"}
    sig_ts = {x["event_id"]: x["timestamp"] for x in recs if x.get("event_type") == "SIGNAL"}
    posts = {x["payload"]["params"].get("newClientOrderId"):
             int(float(x["payload"]["wall_ts"]) * 1e6) for x in recs
             if x.get("event_type") == "VENUE_REPLY" and x["payload"].get("method") == "POST"}
    by_cid = {client_order_id(x["event_id"]): x for x in recs
              if x.get("event_type") == "DECISION"}
    tapes: dict[str, dict[int, int]] = {}
    lost = lost if lost is not None else {}
    out = []
    for o in orders:
        d = by_cid.get(o["clientOrderId"])
        sig = signals.get(d.get("causation_id")) if d else None
        if sig is None:
            lost["no SIGNAL"] = lost.get("no SIGNAL", 0) + 1
            continue
        tape = tapes.setdefault(o["symbol"], _tape_ids(r.state, o["symbol"]))
        agg = tape.get(int(round(float(sig["market_ts"]) * 1000)))
        sent = r.sim.sent(o["symbol"], agg, agg).get(agg) if agg else None
        if not sent:
            why = "trade not on the tape" if not agg else "frame time unknown"
            lost[why] = lost.get(why, 0) + 1
            continue
        out.append((o["receivedUs"] - sent) / 1000)
        if stages is not None:
            post = posts.get(o["clientOrderId"])
            marks = [sent, ts_us(sig_ts[d["causation_id"]]), ts_us(d["timestamp"]),
                     post or 0, o["receivedUs"]]
            for name, a, b in zip(STAGES, marks, marks[1:], strict=False):
                if a and b:
                    stages.setdefault(name, []).append((b - a) / 1000)
    return out


def raw_samples(r: VenueRun, orders: list[dict[str, Any]]) -> list[float]:
    out = []
    for o in orders:
        agg = int(o["clientOrderId"].removeprefix("raw-"))
        sent = r.sim.sent(o["symbol"], agg, agg).get(agg)
        if sent:
            out.append((o["receivedUs"] - sent) / 1000)
    return out


def stats(ms: list[float]) -> dict[str, Any]:
    v = sorted(ms)
    return {"n": len(v), "p50_ms": round(percentile(v, 50), 2) if v else None,
            "p99_ms": round(percentile(v, 99), 2) if v else None}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    r = VenueRun(args)
    raw_keys = generate_test_keys(r.state, subdir="binance-raw")
    r.extra_venue_args = ["--keys", f"{raw_keys.directory}@raw"]
    symbols = [p.split("_")[0] for p in PUMPS[: args.venue_symbols]]
    try:
        r.start()
        raw = RawPipeline(r.port, symbols, raw_keys)
        t = raw.thread()
        time.sleep(args.duration)  # the measured span: both pipelines trade the same market
        raw.stop.set()
        t.join(5)
        r.sup.shutdown(timeout=90)  # the scanner's tape and the audit log complete on disk
        r.sup = None
        orders = r.sim.orders()
        untimed: dict[str, int] = {}
        legs: dict[str, list[float]] = {}
        hope = stats(hope_samples(r, [o for o in orders if o["account"] == "main"
                                      and o["side"] == "BUY"], untimed, legs))
        hope["untimed"] = untimed
        hope["stages_p50_ms"] = {k: stats(v)["p50_ms"] for k, v in legs.items()}
        base = stats(raw_samples(r, [o for o in orders if o["account"] == "raw"]))
    finally:
        r.close()
    ratio = {k: round(hope[k] / base[k], 2) if hope[k] and base[k] else None
             for k in ("p50_ms", "p99_ms")}
    return {"row": "tick-to-order", "hope": hope, "raw": base, "ratio": ratio,
            "duration_s": args.duration}


def render_rows(res: dict[str, Any]) -> list[list[str]]:
    """Row 8 of ``scripts/bench``'s table (``--rows tick``), when it ran."""
    t = res.get("tick")
    if not t:
        return []
    h, b, q = t["hope"], t["raw"], t["ratio"]
    return [[f"9 tick-to-order {pct} ms (stand-in venue)", str(h[f"{pct}_ms"]),
             f"raw aiohttp → POST {b[f'{pct}_ms']}", f"{q[f'{pct}_ms']}x",
             f"n = {h['n']} / {b['n']}; one run of {t['duration_s']:g} s"]
            for pct in ("p50", "p99")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hope.bench.tick_to_order",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="60 s of trading (else 300 s)")
    p.add_argument("--json", help="write the row as JSON here")
    p.add_argument("--duration", type=float, help="seconds of trading (overrides --quick)")
    p.add_argument("--keep", action="store_true", help="keep the state dir")
    add_arguments(p)
    return p


def row_args(quick: bool) -> argparse.Namespace:
    """The defaults, for ``scripts/bench --rows tick``."""
    args = parser().parse_args(["--quick"] if quick else [])
    args.duration = 60.0 if quick else 300.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.duration = args.duration or (60.0 if args.quick else 300.0)
    res = measure(args)
    h, b, q = res["hope"], res["raw"], res["ratio"]
    print(f"tick-to-order p50 / p99: HOPE {h['p50_ms']} / {h['p99_ms']} ms (n={h['n']}); "
          f"raw {b['p50_ms']} / {b['p99_ms']} ms (n={b['n']}); HOPE/raw {q['p50_ms']}x / "
          f"{q['p99_ms']}x", flush=True)
    for leg, ms in h.get("stages_p50_ms", {}).items():
        print(f"  HOPE p50 {leg}: {ms} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
