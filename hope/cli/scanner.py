"""``hope scanner eval FILE... [--events CSV] [--json] [--threshold-scale X]``: score the pump
strategy straight over recorded files (no bus). Logic in :mod:`hope.scanner.evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hope.cli import load_config
from hope.scanner.evaluate import evaluate


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("scanner", parents=[common], help="scanner tools")
    ssub = p.add_subparsers(dest="scanner_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    e = ssub.add_parser("eval", parents=[nested],
                        help="detect pumps in recorded files and score them against pump times")
    e.add_argument("files", nargs="+", metavar="FILE", help="recorded trade or bar files")
    e.add_argument("--events", help="pump events CSV (pump_events_telegram_PDs.csv); "
                                    "default: the pump time in each file name")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.add_argument("--threshold-scale", type=float, default=1.0, metavar="X",
                   help="multiply the main pump thresholds (orders, price change, volume ratio)")
    e.add_argument("--signals", action="store_true", help="list every signal (text output)")
    e.add_argument("--check", action="store_true",
                   help="exit 1 unless the targets are met (all pumps within 2 s, no false)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.threshold_scale <= 0:
        print("hope scanner eval: --threshold-scale must be > 0", file=sys.stderr)
        return 2
    cfg = load_config(args)
    pump_cfg = cfg.scanner.pump.scaled(args.threshold_scale)
    result = evaluate(args.files, pump_cfg, args.events, cfg.scanner.trend)
    result["threshold_scale"] = args.threshold_scale
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result, show_signals=args.signals))
    if args.check and not result["summary"]["target_met"]:
        return 1
    return 0


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return str(v)


def render(result: dict[str, Any], show_signals: bool = False) -> str:
    """A terminal table: one line per file (per pump), then the summary."""
    cols = ["file", "symbol", "pump_start", "detected", "delay_s", "early_signals",
            "false_signals", "trades", "trades_per_s"]
    heads = ["file", "symbol", "pump_start", "detected", "delay_s", "early", "false", "trades",
             "trades/s"]
    rows = []
    for r in result["files"]:
        row = [_fmt(r[c]) for c in cols]
        row[0] = row[0][:48]
        row[1] = row[1][:20]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    for r, src in zip(rows, result["files"], strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
        if src.get("note"):
            lines.append(f"    note: {src['note']}")
        if show_signals:
            for s in src.get("signals", []):
                lines.append(f"    signal {s['market_ts']:.3f} {s['symbol']} price={s['price']} "
                             f"delta={s['delta_pct']}% buys/s={s['buys_per_sec']}")
    s = result["summary"]
    lines.append("")
    lines.append(
        f"pumps {s['pumps']}, detected {s['detected']}, missed {s['missed']}, "
        f"max delay {_fmt(s['max_delay_s'])} s, within 100 ms {s['within_100ms']}, "
        f"false signals {s['false_signals']}, early signals {s['early_signals']}, "
        f"bad rows {s['bad_rows']}, {s['trades']} trades at {s['trades_per_s']} trades/s "
        f"(threshold scale {result.get('threshold_scale', 1.0)}): "
        f"target {'met' if s['target_met'] else 'NOT met'}")
    return "\n".join(lines)
