"""The trading pipeline end to end with real processes on a slice of the real recorded data.

proxy, audit-writer, scanner (replaying the NAS/BTC pump), decision-engine and executor run as
real processes; an injector process (:mod:`hope.cluster.probes`) adds SIGNALs and PRICEs for a few
synthetic symbols at the scanner's market time, so there is traffic beyond the one pump signal.
From the audit log: every SIGNAL has exactly one DECISION, every BUY exactly one ORDER, every NEW
order one FILL, every FILL one CLOSE, and each hop keeps the correlation id and points at its
parent. The second test SIGKILLs the decision engine and the executor mid-run (twice) and checks
the same, plus ``hope audit verify``.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from hope.audit.canonical import TRADING_FAMILIES
from hope.audit.reader import LocalAuditReader
from hope.audit.trace import trace
from hope.decision.shadow_report import compare
from hope.testing import wait_for
from tests.integration.pipeline_rig import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    rig = Pipeline()
    try:
        yield rig
    finally:
        rig.close()


# --- the checks --------------------------------------------------------------------------

def pipeline_problems(rig: Pipeline) -> tuple[list[str], dict[str, Any]]:
    """Every way the audit log breaks the pipeline's invariants (empty: all hold), plus counts."""
    fam = {f: rig.records(f) for f in TRADING_FAMILIES}
    dup_records = {f: sum(n - 1 for n in Counter(r["event_id"] for r in recs).values())
                   for f, recs in fam.items()}
    by_id = {f: {r["event_id"]: r for r in recs} for f, recs in fam.items()}
    problems: list[str] = []

    def children(family: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for eid, r in by_id[family].items():
            out[str(r.get("causation_id"))].add(eid)
        return out

    def link(parent: dict[str, Any], child_family: str, kids: set[str], what: str) -> None:
        if len(kids) != 1:
            problems.append(f"{what} {parent['event_id']} has {len(kids)} {child_family}")
            return
        child = by_id[child_family][next(iter(kids))]
        if child.get("correlation_id") != parent.get("correlation_id"):
            problems.append(f"{child_family} {child['event_id']}: correlation_id "
                            f"{child.get('correlation_id')} != its parent's")

    decisions, orders, fills = children("decisions"), children("orders"), children("fills")
    for sig in by_id["signals"].values():
        link(sig, "decisions", decisions.get(sig["event_id"], set()), "SIGNAL")
    for cause in set(decisions) - set(by_id["signals"]):
        problems.append(f"DECISION(s) {decisions[cause]} for an unaudited SIGNAL {cause}")
    buys = [d for d in by_id["decisions"].values() if d["payload"].get("action") == "BUY"]
    for d in buys:
        link(d, "orders", orders.get(d["event_id"], set()), "BUY")
    new = [o for o in by_id["orders"].values() if o["payload"].get("status") == "NEW"]
    for o in new:
        link(o, "fills", fills.get(o["event_id"], set()), "NEW ORDER")
    closes_by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in by_id["closes"].values():
        closes_by_order[str(c["payload"].get("order_id"))].append(c)
    for f in by_id["fills"].values():
        cs = closes_by_order.get(str(f["payload"].get("order_id")), [])
        if len(cs) != 1:
            problems.append(f"FILL {f['event_id']} ({f['payload'].get('order_id')}) has "
                            f"{len(cs)} CLOSEs")
        elif cs[0].get("causation_id") != f["event_id"] or \
                cs[0].get("correlation_id") != f.get("correlation_id"):
            problems.append(f"CLOSE {cs[0]['event_id']} does not point at FILL {f['event_id']}")
    counts = {"signals": len(by_id["signals"]), "buys": len(buys),
              "skips": len(by_id["decisions"]) - len(buys),
              "orders": dict(Counter(o["payload"].get("status") for o in by_id["orders"].values())),
              "fills": len(by_id["fills"]), "closes": len(by_id["closes"]),
              "strategies": dict(Counter(s["payload"].get("strategy")
                                         for s in by_id["signals"].values())),
              "duplicate_records": dup_records}
    return problems, counts


def assert_pipeline_complete(rig: Pipeline) -> dict[str, Any]:
    """Wait for the replay's end and for the invariants; then check traces and the numbers."""
    wait_for(rig.replay_finished, timeout=60, message="the scanner's replay to finish")
    state: dict[str, Any] = {}

    def complete() -> bool:
        state["problems"], state["counts"] = pipeline_problems(rig)
        return not state["problems"]
    try:
        wait_for(complete, timeout=30, interval=0.5, message="every pipeline invariant")
    except AssertionError:
        raise AssertionError(f"pipeline incomplete: {state['counts']}\n"
                             + "\n".join(state["problems"][:30])) from None
    counts = state["counts"]
    assert counts["strategies"].get("pump", 0) >= 1, counts      # the real pump was signalled
    assert counts["strategies"].get("inject", 0) >= 10, counts
    assert counts["buys"] >= 5 and counts["skips"] >= 1, counts
    assert counts["orders"].get("NEW", 0) >= 3, counts
    # every closed trade reads as one chain SIGNAL → DECISION → ORDER → FILL → CLOSE
    reader = LocalAuditReader(rig.events)
    closes = rig.records("closes")
    for close in closes[:3] + closes[-3:]:
        kinds = [h.event_type for h in trace(reader, close["correlation_id"])
                 if h.event_type != "SHADOW_DECISION"]  # a side branch when shadow runs
        assert kinds == ["SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE"], kinds
    out = rig.hope("trace", closes[-1]["correlation_id"])
    assert out.returncode == 0 and "CLOSE" in out.stdout, out.stdout + out.stderr
    return counts


def test_pipeline_end_to_end_on_real_data(pipeline: Pipeline):
    """On the NAS/BTC pump slice every SIGNAL → one DECISION, BUY → one ORDER, NEW → FILL → CLOSE;
    the shadow engine beside it gives every SIGNAL one SHADOW_DECISION and executes none."""
    t0 = time.monotonic()
    pipeline.start_all(shadow=True)
    counts = assert_pipeline_complete(pipeline)
    signals = {r["event_id"] for r in pipeline.records("signals")}
    wait_for(lambda: compare(LocalAuditReader(pipeline.events))["paired"] == len(signals), timeout=20,
             message="a SHADOW_DECISION for every signal")
    shadows = Counter(r["causation_id"] for r in pipeline.records("shadow_decisions"))
    assert set(shadows) == signals and set(shadows.values()) == {1}
    assert {r["source"] for r in pipeline.records("orders")} == {"executor"}
    state_file = json.loads((pipeline.state / "trading_state").read_text())
    assert state_file["state"] == "ACTIVE" and state_file["changed_by"] == "init", state_file
    pipeline.stop_all()
    out = pipeline.hope("audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    out = pipeline.hope("report", "--shadow")
    assert out.returncode == 0 and f"paired {len(signals)}" in out.stdout, out.stdout
    print(f"pipeline: {counts}, shadow flips {compare(LocalAuditReader(pipeline.events))['flip_count']} "
          f"in {time.monotonic() - t0:.1f}s")


def test_pipeline_survives_sigkill_of_decision_engine_and_executor(pipeline: Pipeline):
    """SIGKILL decision-engine and executor mid-run (twice); every invariant still holds."""
    t0 = time.monotonic()
    rig, procs = pipeline, pipeline.procs
    rig.start_all()
    # 1: the decision engine dies after its first audited DECISION, misses a few signals
    wait_for(lambda: rig.count("decisions") >= 1, timeout=40, message="a first DECISION")
    procs.kill("decision")
    seen = rig.count("signals")
    wait_for(lambda: rig.count("signals") >= seen + 2, timeout=30, message="signals meanwhile")
    rig.start("decision", "decision_engine")
    # 2: the executor dies after its first audited ORDER, misses a few decisions
    wait_for(lambda: rig.count("orders") >= 1, timeout=40, message="a first ORDER")
    procs.kill("executor")
    seen = rig.count("decisions")
    wait_for(lambda: rig.count("decisions") >= seen + 2, timeout=30,
             message="decisions meanwhile")
    rig.start("executor", "executor")
    # 3: both at once, later in the run
    seen = rig.count("decisions")
    wait_for(lambda: rig.count("decisions") >= seen + 6, timeout=40, message="more decisions")
    procs.kill("decision")
    procs.kill("executor")
    seen = rig.count("signals")
    wait_for(lambda: rig.count("signals") >= seen + 2, timeout=30, message="signals meanwhile")
    rig.start("executor", "executor")
    rig.start("decision", "decision_engine")
    counts = assert_pipeline_complete(rig)
    rig.stop_all()
    out = rig.hope("audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"pipeline with kills: {counts} in {time.monotonic() - t0:.1f}s")

