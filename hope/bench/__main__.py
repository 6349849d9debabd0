"""``scripts/bench`` = ``python -m hope.bench``: run the benchmark rows, print the table, write
the JSON (``<state>/bench/bench-<time>.json`` and ``latest.json``, plus ``--out FILE``).

Bounded: about 18 minutes in full, about 7 with ``--quick``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from hope.bench import (
    audit,
    auth,
    cluster,
    codec,
    compare,
    deliveries,
    hop,
    live,
    pipeline,
    throughput,
    tick_to_order,
)
from hope.bench.common import fmt_range, machine, table, write_json
from hope.bench.common import lat_cell as _lat
from hope.bench.common import ratio_cell as _ratio

ROWS = ("hop", "pipeline", "throughput", "live", "audit", "codec", "auth", "cluster")
OPT_IN_ROWS = ("tick",)  # the whole system on the stand-in venue: only when asked for
# Row 2 at the target's 1,000/s is past HOPE's capacity on 2 cores (its figure is queueing time);
# row 2b repeats it at a rate both pipelines sustain, so the ratio there is a latency ratio.
LOW_RATE = 100.0
REPO = Path(__file__).resolve().parents[2]


def _sustained(search: dict[str, Any]) -> str:
    if search["sustained_rate"]:
        return f"{search['sustained_rate']:,.0f}"
    tried = [f"{s['rate']:,.0f}" for s in search["steps"] if s.get("confirm")]
    return f"none held {search.get('confirm_s', 30):g}s (tried {', '.join(tried) or '-'})"


def _rate_ratio(x: dict[str, Any], base: dict[str, Any]) -> str:
    """Sustained rate of one search over another's, or n/a when either held none."""
    if not (x["sustained_rate"] and base["sustained_rate"]):
        return "n/a"
    return f"{x['sustained_rate'] / base['sustained_rate']:.3f}x"


def _audit_notes(a: dict[str, Any]) -> str:
    parts = a.get("us_per_record")
    if not parts:
        return f"durable+signed checkpoints, target {a['target_events_per_s']:,}"
    inline = a.get("inline_ratio_to_plain")
    return ((f"fsync inline: {_ratio(inline)}; " if inline else "")
            + f"µs/record: canonical JSON {parts['canonical_fast']} (json.dumps "
            f"{parts['canonical_json_dumps']}), hash+line {parts['record_hash_and_line']}, "
            f"Merkle {parts['merkle']}, fsync (in its thread) {a['fsync_us_per_record']['median']}; "
            "deliveries n/a (no bus)")


def _pipeline_rows(p: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for v in ("hope", "hope_tmpfs"):
        if v not in p:
            continue
        label = "state on disk" if v == "hope" else "state on tmpfs"
        for pct in ("p50", "p99", "p99.9"):
            fan = f"raw, HOPE's topology {_lat(p['raw_fanout'], pct)} µs, HOPE/that " \
                  f"{_ratio(p[v].get('ratio_to_fanout', {}).get(pct))}" \
                if "raw_fanout" in p else ""
            missing = f"missing ORDERs {p[v]['missing_orders']}; " if pct == "p50" else ""
            rows.append([f"2 signal→order {pct} µs @{p['rate']:,.0f}/s ({label})",
                         _lat(p[v], pct), _lat(p["raw_zmq"], pct),
                         _ratio(p[v].get("ratio_to_raw", {}).get(pct)), missing + fan])
        fan_lost = f"; HOPE's topology raw lost {p['raw_fanout']['lost']}, " \
            f"{deliveries.fmt(p['raw_fanout'])}" if "raw_fanout" in p else ""
        rows.append([f"2 signal→order zero loss @{p['rate']:,.0f}/s ({label})",
                     "; ".join(p[v]["zero_loss"])[:90], f"raw lost {p['raw_zmq']['lost']}",
                     "", f"HOPE {deliveries.fmt(p[v])}{fan_lost}"])
    return rows


def _throughput_rows(t: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    raw = t["raw_zmq"]
    for v in ("hope", "hope_tmpfs"):
        if v not in t:
            continue
        x = t[v]
        ratio = _rate_ratio(x, raw)
        conf = [s for s in x["steps"] if s.get("confirm") and s["ok"]]
        lat = f"at that rate p50 {conf[-1].get('p50', 0):,.0f} p99 " \
              f"{conf[-1].get('p99', 0):,.0f} µs, {deliveries.fmt(conf[-1])}; " if conf else ""
        rows.append([f"3 zero-loss signals/s ({'disk' if v == 'hope' else 'tmpfs'})",
                     _sustained(x), _sustained(raw), ratio,
                     f"{lat}overload: {x['overload_report']}"[:160]])
    fan = t.get("raw_fanout")
    if fan:
        x = t["hope"]
        ratio = _rate_ratio(x, fan)
        fconf = [s for s in fan["steps"] if s.get("confirm") and s["ok"]]
        rows.append(["3 zero-loss signals/s vs raw with HOPE's topology", _sustained(x),
                     _sustained(fan), ratio,
                     f"raw {deliveries.fmt(fconf[-1] if fconf else None)}; fan-out "
                     f"overload: {fan['overload_report']}"[:160]])
    rows.append(["3 raw overload", "", "", "", f"{raw['overload_report']}"[:120]])
    return rows


def render(res: dict[str, Any]) -> str:
    """The results table: HOPE, baseline, ratio to the baseline, notes (median (min-max))."""
    rows: list[list[str]] = []
    h = res.get("hop")
    if h:
        for pct in ("p50", "p99", "p99.9"):
            redis = f"Redis {_lat(h['redis'], pct)} µs; HOPE/Redis " \
                    f"{_ratio(h.get('ratio_to_redis', {}).get(pct))}" if "redis" in h else \
                    f"Redis: {h.get('redis_error')}"
            rows.append([f"1 hop {pct} µs @{h['rate']:,.0f}/s", _lat(h["hope"], pct),
                         _lat(h["raw_zmq"], pct), _ratio(h["ratio_to_raw"][pct]), redis])
        rows += auth.hop_rows(h)
        rows.append(["1 hop lost messages", str(h["hope"]["lost"]), str(h["raw_zmq"]["lost"]),
                     "", f"{h['message_bytes']} B, send rates HOPE {h['hope']['send_rate']}; "
                         f"deliveries/event HOPE {h['hope'].get('deliveries_per_event', 'n/a')}"
                         f", raw {h['raw_zmq'].get('deliveries_per_event', 'n/a')}"])
    for p in (res.get("pipeline"), res.get("pipeline_low")):
        if p:
            rows += _pipeline_rows(p) + auth.pipeline_rows(p)
    if res.get("throughput"):
        rows += _throughput_rows(res["throughput"])
    a = res.get("audit")
    if a:
        rows.append(["4 audit writer events/s", fmt_range(a["writer_events_per_s"]),
                     fmt_range(a["plain_jsonl_events_per_s"]), _ratio(a["ratio_to_plain"]),
                     _audit_notes(a)])
    c = res.get("codec")
    if c:
        rows.append(["5 encode µs", fmt_range(c["hope_encode"], 2),
                     fmt_range(c["msgpack_encode"], 2), _ratio(c["ratio_encode_to_msgpack"]),
                     f"{c['bytes']} B envelope; deliveries n/a (no bus)"])
        rows.append(["5 decode µs (typed)", fmt_range(c["hope_decode_typed"], 2),
                     fmt_range(c["msgpack_decode"], 2), _ratio(c["ratio_decode_to_msgpack"]),
                     f"verified decode {fmt_range(c['hope_decode_verified'], 1)}; "
                     f"new_event {fmt_range(c['build_event'], 1)}"])
    rows += live.render_rows(res) + auth.render_rows(res)
    rows += cluster_rows(res.get("cluster")) + tick_to_order.render_rows(res)
    rows += [[f"{key} FAILED", "", "", "", why[:200]]
             for key, why in res.get("failed_rows", {}).items()]
    return table(["row", "HOPE median (min-max)", "baseline median (min-max)", "ratio", "notes"],
                 rows)


def cluster_rows(c: dict[str, Any] | None) -> list[list[str]]:
    """Row 8: one hop across namespaces over tcp, and one proxy against two."""
    if not c:
        return []
    if "skipped" in c:
        return [["8 cluster", "", "", "", c["skipped"]]]
    rows = []
    for pct in ("p50", "p99"):
        rows.append([f"8a hop across hosts {pct} µs @{c['rate']:,.0f}/s (tcp)",
                     _lat(c["hope"], pct), _lat(c["raw_zmq"], pct),
                     _ratio(c["ratio_to_raw"][pct]),
                     f"two proxies {_lat(c['hope_dual'], pct)} µs, dual/single "
                     f"{_ratio(c['dual_to_single'][pct])}"])
    rows.append(["8a lost messages", str(c["hope"]["lost"]), str(c["raw_zmq"]["lost"]), "",
                 f"two proxies lost {c['hope_dual']['lost']}; {c['message_bytes']} B"])
    single, dual = c["single_ladder"], c["dual_ladder"]
    rows.append(["8b zero-loss msgs/s, one proxy vs two", f"{single['zero_loss_rate']:,.0f}",
                 "", "", f"two proxies {dual['zero_loss_rate']:,.0f}/s (each message twice); "
                 f"ladder {[s['rate'] for s in single['steps']]}"])
    return rows


def state_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("HOPE_STATE_DIR") or REPO / "state")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a ~7 minute smoke run")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--state-dir", help="JSON goes to <state>/bench/ (default ./state)")
    ap.add_argument("--rows", default=",".join(ROWS),
                    help=f"comma list of {','.join(ROWS + OPT_IN_ROWS)} (default: all but "
                         f"{','.join(OPT_IN_ROWS)})")
    ap.add_argument("--rounds", type=int, default=3, help="runs per figure (>= 3)")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--no-tmpfs", action="store_true", help="skip the state-on-tmpfs variants")
    ap.add_argument("--throughput-tmpfs", action="store_true",
                    help="also search row 3 with the state on tmpfs (adds ~3 minutes)")
    ap.add_argument("--render", metavar="JSON", help="print the table of an earlier run, no run")
    ap.add_argument("--compare", metavar="JSON",
                    help="also print every figure against this earlier run's JSON (with "
                         "--render: the rendered run against it, no run)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    before = json.loads(Path(args.compare).read_text()) if args.compare else None
    if args.render:
        res = json.loads(Path(args.render).read_text())
        print(render(res))
        if before is not None:
            print("\n" + compare.render(before, res, args.compare, args.render))
        return 0
    # SIGTERM unwinds like Ctrl-C, so every run's processes and temp dirs are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS + OPT_IN_ROWS]
    if bad:
        ap.error(f"--rows: unknown {bad}; choose from {ROWS + OPT_IN_ROWS}")
    rounds, quick, tmpfs = max(3, args.rounds), args.quick, not args.no_tmpfs
    started = time.monotonic()
    res: dict[str, Any] = {"machine": machine(), "quick": quick,
                           "command": "scripts/bench " + " ".join(argv or sys.argv[1:])}

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    log(f"machine: {res['machine']}")
    for key, label, run in _row_plan(rows, rounds, quick, tmpfs, args, res, log):
        log(label)
        try:
            run()
        except Exception as exc:  # one broken row must not cost the others' figures
            log(f"  {key} FAILED: {exc!r}\n{traceback.format_exc()}")
            res.setdefault("failed_rows", {})[key] = f"{type(exc).__name__}: {exc}"[:400]
    res["elapsed_s"] = round(time.monotonic() - started, 1)
    _report(res, args, before, log)
    return 0


def _row_plan(rows: list[str], rounds: int, quick: bool, tmpfs: bool, args: argparse.Namespace,
              res: dict[str, Any], log: Any) -> list[tuple[str, str, Any]]:
    """(row key, log line, run) for each asked-for row, in the order they run; each run stores
    its figures in ``res`` (row 2's wire sizes feed rows 3 and 7)."""
    sizes: dict[str, int] = {}
    short = 1.0 if quick else 3.0

    def pipeline_rows() -> None:
        res["pipeline"] = pipeline.measure(rounds, 1000.0, short, grace_s=4.0 if quick else 8.0,
                                           tmpfs=tmpfs, log=log)
        sizes.update(res["pipeline"]["hope"]["runs"][0]["audit"]["sizes"])
        log(f"row 2b: signal → order within capacity, {LOW_RATE:,.0f}/s")
        res["pipeline_low"] = pipeline.measure(rounds, LOW_RATE, short, grace_s=4.0,
                                               tmpfs=False, log=log)

    plan = {
        "codec": ("row 5: codec", lambda: res.__setitem__(
            "codec", codec.measure(rounds, 5_000 if quick else 20_000, log=log))),
        "audit": ("row 4: audit writer", lambda: res.__setitem__(
            "audit", audit.measure(rounds, 20_000 if quick else 50_000, log=log))),
        "hop": ("row 1: one hop through the proxy", lambda: res.__setitem__(
            "hop", hop.measure(rounds, 5000.0, short, redis=not args.no_redis, log=log))),
        "pipeline": ("row 2: signal → order", pipeline_rows),
        "throughput": ("row 3: zero-loss throughput", lambda: res.__setitem__(
            "throughput", throughput.measure(quick, tmpfs=args.throughput_tmpfs, log=log,
                                             sizes=sizes or None))),
        "live": ("row 7: live-like PRICE load", lambda: res.__setitem__(
            "live", live.measure(quick, sizes=sizes or None, log=log))),
        "auth": ("row 6: event authentication", lambda: res.__setitem__(
            "auth", auth.measure(rounds, 2_000 if quick else 10_000, log=log))),
        "cluster": ("row 8: the bus across hosts (network namespaces)", lambda: res.__setitem__(
            "cluster", cluster.measure(rounds, 1000.0, short, quick, log=log))),
        "tick": ("row 9: tick-to-order on the stand-in venue", lambda: res.__setitem__(
            "tick", tick_to_order.measure(tick_to_order.row_args(quick)))),
    }
    order = ("codec", "audit", "hop", "pipeline", "throughput", "live", "auth", "cluster", "tick")
    return [(k, *plan[k]) for k in order if k in rows]


def _report(res: dict[str, Any], args: argparse.Namespace, before: dict[str, Any] | None,
            log: Any) -> None:
    """Print the table (and the comparison), write the JSON files."""
    text = render(res)
    res["table"] = text
    print("\n" + text + "\n")
    out_dir = state_dir(args.state_dir) / "bench"
    path = write_json(out_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json", res)
    write_json(out_dir / "latest.json", res)
    if args.out:
        write_json(Path(args.out), res)
    log(f"JSON: {path}" + (f" and {args.out}" if args.out else ""))
    if before is not None:
        print("\n" + compare.render(before, res, args.compare) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
