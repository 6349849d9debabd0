"""Tick-to-order's pure parts: the tape lookup of a trigger trade, the figures, the table rows."""

from __future__ import annotations

import gzip

from hope.bench import tick_to_order as t


def test_the_tape_maps_a_trade_time_to_its_last_aggregate_id(tmp_path):
    """Two trades in one millisecond: the signal's market_ts names the later one."""
    d = tmp_path / "tape" / "EVXBTC"
    d.mkdir(parents=True)
    with gzip.open(d / "binance_EVXBTC_aggtrades_2026-12-01T13Z.csv.gz", "wt") as fh:
        fh.write("timestamp,id,side,price,amount,cost,is_buyer_maker\n"
                 "1796130361526,10,buy,1e-05,1,1e-05,false\n"
                 "1796130361526,11,buy,1e-05,1,1e-05,false\n"
                 "1796130361600,12,sell,1e-05,1,1e-05,true\n")
    ids = t._tape_ids(tmp_path, "EVXBTC")
    assert ids[int(round(1796130361.526 * 1000))] == 11 and ids[1796130361600] == 12


def test_figures_and_the_bench_table_rows():
    """p50/p99 of the samples, none when there are none; row 9 shows HOPE, raw, the ratio."""
    assert t.stats([]) == {"n": 0, "p50_ms": None, "p99_ms": None}
    s = t.stats([float(i) for i in range(1, 101)])
    assert s["n"] == 100 and 50 <= s["p50_ms"] <= 51 and s["p99_ms"] >= 99
    res = {"tick": {"hope": {"n": 15, "p50_ms": 10.0, "p99_ms": 100.0},
                    "raw": {"n": 141, "p50_ms": 2.5, "p99_ms": 106.0},
                    "ratio": {"p50_ms": 4.0, "p99_ms": 0.94}, "duration_s": 60.0}}
    rows = t.render_rows(res)
    assert rows[0][:4] == ["9 tick-to-order p50 ms (stand-in venue)", "10.0",
                           "raw aiohttp → POST 2.5", "4.0x"]
    assert t.render_rows({}) == []
