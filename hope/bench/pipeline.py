"""Rows 2 and 3: SIGNAL → ORDER through the real services, vs raw pyzmq pipelines.

HOPE: ``hope-inject`` publishes PRICE + SIGNAL (a fresh symbol each) → the real proxy →
decision-engine → executor (paper exchange) → ``hope-sink`` records each ORDER, with the
audit-writer running and persisting. Latency = SIGNAL publish → ORDER receipt, joined on the
correlation id. A temp config makes the engine BUY every injected signal (see ``DECISION_TOML``)
and closes positions on a 10 ms market-clock timeout, so open positions stay few as in real life.

Two raw baselines, pre-built bytes of HOPE's sizes through one ``zmq.proxy``, no work:
- ``chain``: source → stage B → stage C → sink (the 3-stage pipeline the latency target is
  stated against);
- ``fanout``: HOPE's topology, so the cost of the topology itself is measured apart from HOPE's
  work: PRICE + SIGNAL per signal; a decision stage subscribed to what the decision engine is
  (PRICE, SIGNAL, ORDER, CLOSE) sends a DECISION per SIGNAL; an executor stage (PRICE,
  DECISION) sends ORDER, FILL and CLOSE per DECISION; an audit stage receives everything and
  appends it to a file; the sink records ORDERs.

``run_hope``/``run_raw`` measure one run at a rate; ``zero_loss`` says whether it delivered and
audited everything (row 3 uses it to search the highest rate that does).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hope.audit.canonical import TRADING_TYPES, family_for
from hope.audit.reader import LocalAuditReader
from hope.bench import deliveries
from hope.bench.common import latency_runs, latency_us, ratio
from hope.bench.harness import Harness, latencies, read_triples

# Every rule of both committees passes for the injected signals: pump flow fields at twice the
# minimum, no cooldown, no position/rate/loss limit in reach. Freshness, audit watermark
# ("no audit, no trade"), trading state and breaker rules stay on, as in production.
DECISION_TOML = """
[decision]
cooldown_s = 0.0
max_open_positions = 1000000000
max_buys_per_min = 1000000000
timeout_s = 0.01
daily_loss_limit = { USDT = 1e15, BTC = 1e15, ETH = 1e15, BUSD = 1e15 }

[market_clock]
publishers = ["scanner", "bench-injector"]  # the injector's PRICEs are the market data here
"""
SERVICES = (("audit", "audit_writer"), ("decision", "decision_engine"), ("executor", "executor"))
SERVICE_NAMES = ("audit-writer", "decision-engine", "executor")  # as they heartbeat
DEFAULT_SIZES = {"PRICE": 330, "SIGNAL": 420, "DECISION": 1700, "ORDER": 400, "FILL": 450,
                 "CLOSE": 520}
FAMILIES = {family_for(t): t for t in ("PRICE", *TRADING_TYPES)}


def sent_ledger(path: str) -> dict[str, int]:
    out = {}
    for line in Path(path).read_text().splitlines() if Path(path).exists() else []:
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def sink_orders(path: str) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for line in Path(path).read_text().splitlines() if Path(path).exists() else []:
        parts = line.split()
        if len(parts) == 3 and parts[0] not in out:
            out[parts[0]] = (int(parts[1]), parts[2])
    return out


def _audit(events: Path) -> dict[str, Any]:
    """Counts of audited records per family, GAP records, decision actions and SKIP reasons."""
    reader = LocalAuditReader(events)
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}  # wire bytes of the first record of each (the raw runs' sizes)
    for fam, event_type in FAMILIES.items():
        if fam == "decisions":
            continue
        counts[fam] = 0
        for rec in reader.records(fam):
            counts[fam] += 1
            if event_type not in sizes and rec.get("event_type") == event_type:
                sizes[event_type] = _wire_size(rec)
    actions: Counter[str] = Counter()
    skip_reasons: Counter[str] = Counter()
    for rec in reader.records("decisions"):
        p = rec["payload"]
        actions[p.get("action", "?")] += 1
        if p.get("action") == "SKIP":
            skip_reasons.update(r.get("rule", "?") for r in p.get("reasons", []))
        sizes.setdefault("DECISION", _wire_size(rec))
    gaps = [r for r in reader.records("system") if r.get("event_type") == "GAP"]
    return {**counts, "decisions": sum(actions.values()), "actions": dict(actions),
            "skip_reasons": dict(skip_reasons.most_common(5)), "gap_records": len(gaps),
            "warnings": len(reader.warnings), "sizes": sizes}


def _wire_size(rec: dict[str, Any]) -> int:
    from hope import codec
    from hope.envelope import Envelope
    fields = set(Envelope.__struct_fields__)
    return len(codec.encode(Envelope(**{k: v for k, v in rec.items() if k in fields})))


def run_hope(rate: float, seconds: float, warmup_s: float = 0.5, grace_s: float = 10.0,
             env: dict[str, str] | None = None, root: str | None = None,
             authenticate: bool = True) -> dict[str, Any]:
    """One HOPE run; ``root`` puts the state dir elsewhere (``/dev/shm``: no disk in the path)."""
    count, warmup = max(1, int(rate * seconds)), int(rate * warmup_s)
    with Harness("pipe-hope", DECISION_TOML, env=env, root=root,
                 authenticate=authenticate) as h:
        h.procs.proxy()
        h.wait_log("proxy", "proxy_started")
        for key, module in SERVICES:
            h.service(key, module)
        for key, _ in SERVICES:
            h.wait_log(key, '"started"')
        out, ready, ledger, done = (h.path("sink.lines"), h.path("sink.ready"),
                                    h.path("inject.ledger"), h.path("inject.done"))
        beats = h.path("sink.deliveries")
        h.peer("sink", "hope-sink", "--out", out, "--ready", ready, "--deliveries", beats)
        h.wait_file(ready, 30, "sink")
        h.peer("inject", "hope-inject", "--out", ledger, "--rate", str(rate), "--count",
               str(count), "--warmup", str(warmup), "--done", done)
        h.wait_exit("inject", 90 + (count + warmup) / rate)
        info = json.loads(Path(done).read_text()) if Path(done).exists() else {}
        if "error" in info:
            raise RuntimeError(f"pipeline not ready: {info['error']}\n"
                               + "\n".join(f"--- {k}\n{h.tail(k)}" for k, _ in SERVICES))
        expected = info.get("warmup_signals", 0) + count
        drained = h.drain(out, expected, idle_s=max(2.0, grace_s / 2), limit_s=grace_s)
        # the audit writer may still be catching up: that is a backlog, not a loss
        audit_s = drained["waited_s"] + h.wait_quiet(h.dir / "events", 1.0, grace_s)
        # every event has been read by now: a heartbeat published after this counts them all
        counts, fresh = deliveries.wait_counts(beats, SERVICE_NAMES, time.time(), 5.0)
        h.stop("sink")
        for key in ("inject", "decision", "executor"):  # not measured any more: no drain
            h.procs.kill(key)
        h.stop("audit")  # seals what it has (the figure counts what reached the audit log)
        sent, got = sent_ledger(ledger), sink_orders(out)
        samples = [got[c][0] - t0 for c, t0 in sent.items() if c in got]
        statuses = Counter(got[c][1] for c in sent if c in got)
        audit = _audit(h.dir / "events")
    result: dict[str, Any] = {
        "rate": rate, "sent": len(sent), "send_rate": round(info.get("rate", 0.0)),
        "orders": len(samples), "missing_orders": len(sent) - len(samples),
        "statuses": dict(statuses), "drain_s": drained["waited_s"], "audit": audit,
        "audit_drain_s": round(audit_s, 3),
        "published": {"signals": info.get("signals", 0), "prices": info.get("prices", 0)},
        **deliveries.per_event(counts, info.get("signals", 0), info.get("prices", 0)),
        "deliveries_complete": fresh}
    if samples:
        result.update(latency_us(samples))
    return result


def run_raw(rate: float, seconds: float, warmup_s: float = 0.5, grace_s: float = 10.0,
            sizes: dict[str, int] | None = None, hwm: int = 0, topology: str = "chain"
            ) -> dict[str, Any]:
    """One raw run: ``topology`` "chain" (3 stages) or "fanout" (HOPE's, see the module doc)."""
    count, warmup = max(1, int(rate * seconds)), int(rate * warmup_s)
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    hwm_args = ["--hwm", str(hwm)] if hwm else []
    with Harness(f"pipe-raw-{topology}") as h:
        xsub, xpub = h.ipc("in.sock"), h.ipc("out.sock")
        bus = ["--xsub", xsub, "--xpub", xpub, *hwm_args]
        h.peer("proxy", "raw-proxy", *bus, "--ready", h.path("p.rdy"))
        h.wait_file(h.path("p.rdy"), 30, "proxy")
        stages = _raw_stages(topology, sizes, h.path("audit.log"), h.path("audit.counts"))
        for key, args in stages.items():
            counts_arg = [] if "--counts" in args else ["--counts", h.path(f"{key}.counts")]
            h.peer(key, "raw-stage", *bus, *args, *counts_arg, "--ready", h.path(f"{key}.rdy"))
            h.wait_file(h.path(f"{key}.rdy"), 30, key)
        out, done = h.path("sink.lines"), h.path("src.done")
        h.peer("sink", "raw-sub", *bus, "--topic", "ORDER", "--out", out,
               "--ready", h.path("sink.rdy"))
        h.wait_file(h.path("sink.rdy"), 30, "sink")
        pre = ["--pre-topic", "PRICE", "--pre-size", str(sizes["PRICE"])] \
            if topology == "fanout" else []
        h.peer("src", "raw-pub", *bus, "--topic", "SIGNAL", "--size", str(sizes["SIGNAL"]),
               *pre, "--rate", str(rate), "--count", str(count), "--warmup", str(warmup),
               "--settle", "0.5", "--done", done)
        h.wait_exit("src", 90 + (count + warmup) / rate)
        drained = h.drain(out, warmup + count, idle_s=2.0, limit_s=grace_s)
        audit_s = drained["waited_s"]
        if "audit" in stages:
            audit_s += h.wait_quiet(h.path("audit.log"), 1.0, grace_s)
        h.stop("sink", *stages)
        samples, counts = latencies(read_triples(out), warmup, count)
        info = json.loads(Path(done).read_text()) if Path(done).exists() else {}
        audited = read_counts(Path(h.path("audit.counts"))) if "audit" in stages else None
        stage_counts = {k: read_counts(Path(h.path(f"{k}.counts"))) for k in stages}
    published = warmup + count
    result: dict[str, Any] = {"rate": rate, "send_rate": round(info.get("rate", 0.0)),
                              **counts, "drain_s": drained["waited_s"], "sizes": sizes,
                              "topology": topology,
                              **deliveries.per_event(stage_counts, published,
                                                     published if topology == "fanout" else 0)}
    if audited is not None:
        result["audit"] = audited
        result["audit_drain_s"] = round(audit_s, 3)
        result["audit_lost"] = audit_shortfall(audited, warmup + count)
    if samples:
        result.update(latency_us(samples))
    return result


def read_counts(path: Path) -> dict[str, int]:
    """The raw audit stage's counts; a stage that left none (it did not stop cleanly) counts as
    having received nothing, never as a pass."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def audit_shortfall(audited: dict[str, int], per_type: int) -> int:
    """Messages of HOPE's six event types the raw audit stage did not receive."""
    return sum(max(0, per_type - audited.get(t, 0)) for t in FAMILIES.values())


def _raw_stages(topology: str, sizes: dict[str, int], log: str, counts: str
                ) -> dict[str, list[str]]:
    """raw-stage arguments per stage key."""
    if topology == "chain":
        return {"b": ["--in-topic", "SIGNAL", "--emit", f"SIGNAL=DECISION:{sizes['DECISION']}"],
                "c": ["--in-topic", "DECISION", "--emit", f"DECISION=ORDER:{sizes['ORDER']}"]}
    if topology != "fanout":
        raise ValueError(f"unknown raw topology {topology!r} (chain, fanout)")
    outs = ",".join(f"{t}:{sizes[t]}" for t in ("ORDER", "FILL", "CLOSE"))
    return {"decision": [*_in_topics("PRICE", "SIGNAL", "ORDER", "CLOSE"),
                         "--emit", f"SIGNAL=DECISION:{sizes['DECISION']}"],
            "executor": [*_in_topics("PRICE", "DECISION"), "--emit", f"DECISION={outs}"],
            "audit": ["--log", log, "--counts", counts]}


# Keeping up means latency stays bounded: a run whose signals queued for seconds and drained at
# the end did not sustain its rate, even with nothing lost.
MAX_P99_US = 1_000_000


def _in_topics(*topics: str) -> list[str]:
    return [arg for t in topics for arg in ("--in-topic", t)]


def zero_loss(r: dict[str, Any], hope: bool, seconds: float) -> tuple[bool, str]:
    """Did this run deliver (and, for HOPE, audit) every event at the asked rate, keeping up?
    Returns (ok, why not): the loud overload report."""
    why = []
    if r["send_rate"] < 0.95 * r["rate"]:
        why.append(f"sender reached only {r['send_rate']}/s")
    if r.get("p99", 0) > MAX_P99_US:
        why.append(f"queueing: p99 signal→order {r['p99'] / 1e6:.1f}s")
    if r["drain_s"] > max(2.0, 0.2 * seconds):
        why.append(f"backlog: last events arrived {r['drain_s']:.1f}s after the sender stopped")
    elif r.get("audit_drain_s", 0) > max(2.0, 0.2 * seconds):
        why.append(f"backlog: the audit log grew until {r['audit_drain_s']:.1f}s after the "
                   "sender stopped")
    if hope:
        if r["missing_orders"]:
            why.append(f"{r['missing_orders']} of {r['sent']} signals got no ORDER")
        bad = {k: v for k, v in r["statuses"].items() if k != "NEW"}
        if bad:
            why.append(f"orders not NEW: {bad}")
        a, pub = r["audit"], r["published"]
        for fam in ("signals", "prices"):
            if a[fam] < pub[fam]:
                why.append(f"audit holds {a[fam]} of {pub[fam]} {fam}")
        if a["decisions"] < a["signals"]:
            why.append(f"audit holds {a['decisions']} decisions for {a['signals']} signals")
        # every ORDER the sink saw, and a FILL for each, must be on record (CLOSEs are not
        # required: positions still open when the run stops are legitimate)
        if a["orders"] < r["orders"]:
            why.append(f"audit holds {a['orders']} orders, the sink got {r['orders']}")
        if a["fills"] < a["orders"]:
            why.append(f"audit holds {a['fills']} fills for {a['orders']} orders")
        if a["actions"].get("SKIP"):
            why.append(f"{a['actions']['SKIP']} SKIPs ({a['skip_reasons']})")
        if a["gap_records"]:
            why.append(f"{a['gap_records']} GAP records")
    else:
        if r["lost"]:
            why.append(f"{r['lost']} of {r['sent']} lost silently")
        if r.get("audit_lost"):
            why.append(f"{r['audit_lost']} messages never reached the audit stage")
    return not why, "; ".join(why)


TMPFS = "/dev/shm"


BASELINES = {"raw_zmq": "chain", "raw_fanout": "fanout"}  # result key -> run_raw topology


def measure(rounds: int = 3, rate: float = 1000.0, seconds: float = 3.0, grace_s: float = 8.0,
            tmpfs: bool = True, log: Any = print) -> dict[str, Any]:
    """Row 2: per round a HOPE run (state on disk), optionally one with the state on tmpfs (the
    same CPU path without the disk's fsync latency), and both raw runs; summaries and ratios
    (``ratio_to_raw``: to the 3-stage chain; ``ratio_to_fanout``: to HOPE's topology)."""
    # hope_noauth: [bus] authenticate = false, what event authentication costs end to end
    variants = ["hope", "hope_noauth"] + (["hope_tmpfs"] if tmpfs and Path(TMPFS).is_dir()
                                          else [])
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in [*variants, *BASELINES]}
    sizes: dict[str, int] = {}
    for r in range(rounds):
        for v in variants:
            h = run_hope(rate, seconds, grace_s=grace_s, root=TMPFS if v == "hope_tmpfs" else None,
                         authenticate=v != "hope_noauth")
            sizes = sizes or h["audit"]["sizes"]
            runs[v].append(h)
        for b, topology in BASELINES.items():
            runs[b].append(run_raw(rate, seconds, grace_s=grace_s, sizes=sizes,
                                   topology=topology))
        parts = []
        for v, rs in runs.items():
            x = rs[-1]
            ok, why = zero_loss(x, v not in BASELINES, seconds)
            got = f"lost {x['lost']}" if v in BASELINES else f"{x['orders']}/{x['sent']} orders"
            parts.append(f"{v} p50 {x.get('p50', 0):,.0f} p99 {x.get('p99', 0):,.0f} µs ({got}"
                         f"{'' if ok else '; ' + why})")
        log(f"  pipeline round {r + 1}/{rounds}: " + "; ".join(parts))
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "rounds": rounds}
    for v, rs in runs.items():
        out[v] = {"runs": rs, **deliveries.median_of(rs)}
        if all("p50" in x for x in rs):
            out[v].update(latency_runs(rs))
        if v in BASELINES:
            out[v]["lost"] = sum(x["lost"] for x in rs)
            out[v]["zero_loss"] = [zero_loss(x, False, seconds)[1] or "ok" for x in rs]
            continue
        out[v]["missing_orders"] = sum(x["missing_orders"] for x in rs)
        out[v]["zero_loss"] = [zero_loss(x, True, seconds)[1] or "ok" for x in rs]
        for b, key in (("raw_zmq", "ratio_to_raw"), ("raw_fanout", "ratio_to_fanout"),
                       ("hope_noauth", "ratio_to_noauth")):
            if b == v or b not in runs:
                continue
            if all("p50" in x for x in rs) and all("p50" in x for x in runs[b]):
                out[v][key] = {p: ratio([x[p] for x in rs], [x[p] for x in runs[b]])
                               for p in ("p50", "p99", "p99.9")}
    return out
