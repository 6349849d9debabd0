"""``scripts/soak``: the live-like load (:mod:`hope.bench.live`) held for ``--minutes``.

The programs of a live instance (proxy, audit writer, decision engine, executor, gateway, DLQ
daemon, health monitor) run in a temp state dir; ``hope-live`` publishes PRICE for 400 symbols
at ``--rate`` plus one SIGNAL per second. Every ``--sample-s`` the soak notes each program's RSS
and CPU, its handler queue and outbox backlog (from its HEARTBEAT) and the audit backlog (PRICEs
published minus PRICE records in the audit log). At the end: RSS per program at the start (the
first sample), after the first quarter and at the end, whether RSS still grew after the first
quarter (bounded caches fill before it) and whether the backlog grew (the last quarter's backlog
against the first quarter's). A report (JSON) goes to ``<state>/bench/soak-<time>.json`` and ``--out``.
Not part of CI: the suite runs a few seconds of it for the plumbing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hope.bench import live, pipeline
from hope.bench.common import table, write_json
from hope.bench.deliveries import read_heartbeat_counts
from hope.bench.harness import Harness
from hope.bench.procstat import CpuWindow, rss_mb

RSS_GROWTH_LIMIT = (1.25, 30.0)  # stable: end <= (RSS after the first quarter) * 1.25 + 30 MB


class LineCounter:
    """Lines of the ``prices`` family's segments, read incrementally (a segment archived to
    ``.gz`` meanwhile is counted from its archive)."""

    def __init__(self, events: Path) -> None:
        self.events = events
        self.done: dict[str, tuple[int, int]] = {}  # plain segment -> (bytes read, lines)

    def count(self) -> int:
        for path in sorted(self.events.glob("prices*.jsonl")):
            read, lines = self.done.get(path.name, (0, 0))
            try:
                with open(path, "rb") as fh:
                    fh.seek(read)
                    data = fh.read()
            except FileNotFoundError:
                continue
            cut = data.rfind(b"\n") + 1
            self.done[path.name] = (read + cut, lines + data[:cut].count(b"\n"))
        for name in list(self.done):
            gz = self.events / (name + ".gz")
            if not (self.events / name).exists() and gz.exists():
                self.done[name] = (-1, gzip.decompress(gz.read_bytes()).count(b"\n"))
        return sum(lines for _, lines in self.done.values())


def sample(h: Harness, pids: dict[str, int], cpu: CpuWindow, counter: LineCounter,
           progress: Path, beats: str, t0: float) -> dict[str, Any]:
    published = json.loads(progress.read_text()).get("prices", 0) if progress.exists() else 0
    audited = counter.count()
    hb = read_heartbeat_counts(beats)
    s = {"t_s": round(time.monotonic() - t0, 1), "published_prices": published,
         "audited_prices": audited, "audit_backlog": max(0, published - audited),
         "rss_mb": {k: rss_mb(p) for k, p in pids.items()}, "cpu_percent": cpu.stop(),
         "queue_depth": {k: v.get("queue_depth") for k, v in hb.items()},
         "outbox_pending": {k: v.get("outbox_pending") for k, v in hb.items()}}
    cpu.start()
    return s


def summarise(samples: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """RSS per program at the start, after the first quarter and at the end; backlog in the
    first and last quarter; the verdicts. RSS is judged from the quarter mark on: bounded
    caches (each subscriber's consumer journal keeps the last 200,000 event ids it handled)
    fill in the first minutes; what still grows after that is a leak."""
    quarter = max(1, len(samples) // 4)
    first, mark, last = samples[0], samples[quarter - 1], samples[-1]
    rss = {k: {"start": first["rss_mb"].get(k), "quarter": mark["rss_mb"].get(k),
               "end": last["rss_mb"].get(k)} for k in first["rss_mb"]}
    k, m = RSS_GROWTH_LIMIT
    grown = [p for p, v in rss.items()
             if v["quarter"] and v["end"] and v["end"] > v["quarter"] * k + m]
    early = statistics.median(s["audit_backlog"] for s in samples[:quarter])
    late = statistics.median(s["audit_backlog"] for s in samples[-quarter:])
    # a backlog of about a second's traffic is a group commit in flight, not growth
    growing = late > max(2 * early, rate)
    return {"rss_mb": rss, "rss_grown": grown, "audit_backlog_early": early,
            "audit_backlog_late": late, "backlog_growing": growing,
            "stable": not grown and not growing}


def run(minutes: float, rate: float, sample_s: float, log: Any = print) -> dict[str, Any]:
    with Harness("soak", pipeline.DECISION_TOML, env=live.PORTS) as h:
        beats = h.path("sink.deliveries")
        live.start_hope(h, beats)
        ready, progress = h.path("inject.ready"), Path(h.path("inject.progress"))
        h.peer("inject", "hope-live", "--out", h.path("inject.ledger"), "--rate", str(rate),
               "--seconds", "0", "--ready", ready, "--progress", str(progress))
        h.wait("the live load to start", lambda: Path(ready).exists(), 120, ("inject",))
        pids = {k: p.pid for k, p in h.procs.procs.items() if k not in ("sink", "inject")}
        cpu, counter = CpuWindow(pids), LineCounter(h.dir / "events")
        t0 = time.monotonic()
        end = t0 + minutes * 60
        cpu.start()
        samples: list[dict[str, Any]] = []
        while True:
            time.sleep(max(0.0, min(sample_s, end - time.monotonic())))
            samples.append(sample(h, pids, cpu, counter, progress, beats, t0))
            log(f"  soak {samples[-1]['t_s']:,.0f}s: audit backlog "
                f"{samples[-1]['audit_backlog']:,}, RSS MB {samples[-1]['rss_mb']}")
            dead = [k for k, p in h.procs.procs.items() if p.poll() is not None]
            if dead or time.monotonic() >= end:
                break
        h.stop("inject")
        after_s = h.wait_quiet(h.dir / "events", 1.0, 30.0)
        final = counter.count()
    return {"minutes": minutes, "rate": rate, "sample_s": sample_s, "samples": samples,
            "exited": dead, "drain_s": after_s, "final_audited_prices": final,
            **summarise(samples, rate)}


def render(report: dict[str, Any]) -> str:
    rows = [[k, f"{v['start']}", f"{v['quarter']}", f"{v['end']}"]
            for k, v in report["rss_mb"].items()]
    verdict = "stable" if report["stable"] else \
        f"NOT stable (RSS grown: {report['rss_grown'] or 'none'}; backlog growing: " \
        f"{report['backlog_growing']}; exited: {report['exited'] or 'none'})"
    return (table(["program", "RSS MB at start", "after the first quarter", "at end"], rows)
            + f"\naudit backlog (PRICEs) first quarter {report['audit_backlog_early']:,}, last "
              f"quarter {report['audit_backlog_late']:,}; {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1000.0, help="PRICEs per second in total")
    ap.add_argument("--sample-s", type=float, default=30.0)
    ap.add_argument("--state-dir", help="the report goes to <state>/bench/ (default ./state)")
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args(argv)
    from hope.bench.__main__ import state_dir
    # SIGTERM unwinds like Ctrl-C: every process the soak started is killed, its dir removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(args.minutes, args.rate, args.sample_s, log=lambda m: print(m, flush=True))
    print("\n" + render(report))
    path = write_json(state_dir(args.state_dir) / "bench" /
                      f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json", report)
    if args.out:
        write_json(Path(args.out), report)
    print(f"report: {path}")
    return 0 if report["stable"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
