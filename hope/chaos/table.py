"""The chaos table: what was published (ledger + high-water marks) against what was audited.

``published`` never comes from the audit log: it is the injector's ledger plus, for every other
publisher, the highest ``seq`` per epoch its heartbeats or its outbox showed. ``lost`` counts
published events (ledger ids, seqs 1..high per epoch) absent from the audit log; ``doubled``
counts audit records whose ``event_id`` (or publisher/epoch/seq) appears more than once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hope.chaos.ledger import AuditScan, Ledger
from hope.trading.ids import client_order_id


@dataclass
class FaultResult:
    name: str
    detail: str = ""
    recovered: bool = False
    recovery_s: float | None = None     # fault injected → /health 200 with the service back
    health_503_seen: bool = False


@dataclass
class Table:
    published_injector: int = 0
    refused_injector: int = 0
    published_other: int = 0
    publishers: int = 0
    audited: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    duplicates: int = 0
    seq_duplicates: int = 0
    gaps_recovered: int = 0
    replay_requests: int = 0
    gap_records: int = 0
    signals_audited: int = 0
    decisions_per_signal: dict[int, int] = field(default_factory=dict)
    buys: int = 0
    orders_per_buy: dict[int, int] = field(default_factory=dict)
    order_status: dict[str, int] = field(default_factory=dict)
    verify_ok: bool = False
    verify_summary: str = ""
    restarts: dict[str, int] = field(default_factory=dict)
    faults: list[FaultResult] = field(default_factory=list)
    audit_bad_lines: int = 0
    elapsed_s: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = []
        if self.lost:
            out.append(f"{self.lost} published event(s) missing from the audit log")
        if self.duplicates or self.seq_duplicates:
            out.append(f"{self.duplicates} duplicate event_id(s), {self.seq_duplicates} "
                       "duplicate publisher/epoch/seq in the audit log")
        if self.gap_records:
            out.append(f"{self.gap_records} GAP record(s)")
        bad_dec = {k: v for k, v in self.decisions_per_signal.items() if k != 1}
        if bad_dec:
            out.append(f"SIGNALs without exactly one DECISION: {bad_dec}")
        bad_ord = {k: v for k, v in self.orders_per_buy.items() if k != 1}
        if bad_ord:
            out.append(f"BUYs without exactly one ORDER: {bad_ord}")
        if not self.verify_ok:
            out.append("hope audit verify failed")
        if self.published_injector == 0:
            out.append("the injector published nothing")
        for f in self.faults:
            if not f.recovered:
                out.append(f"no recovery after fault {f.name}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["faults"] = [f.__dict__ for f in self.faults]
        d["ok"], d["problems"] = self.ok, self.problems
        return d

    def render(self) -> str:
        rows = [
            ("events published (injector ledger)", f"{self.published_injector}"
             + (f" (+{self.refused_injector} refused at publish, not sent)"
                if self.refused_injector else "")),
            ("events published (other publishers' seq high-water marks)",
             f"{self.published_other} from {self.publishers} publisher epochs"),
            ("audited (distinct events)", str(self.audited)),
            ("lost", str(self.lost)),
            ("duplicates in the audit log", f"{self.duplicates} (seq: {self.seq_duplicates})"),
            ("gaps recovered (events replayed / requests)",
             f"{self.gaps_recovered} / {self.replay_requests}"),
            ("GAP records (must be 0)", str(self.gap_records)),
            ("DECISIONs per audited SIGNAL (must all be 1)",
             f"{self.signals_audited} signals; {hist(self.decisions_per_signal)}"),
            ("ORDERs per BUY (must all be 1)",
             f"{self.buys} BUYs; {hist(self.orders_per_buy)}; status "
             + ", ".join(f"{k} {v}" for k, v in sorted(self.order_status.items()))),
            ("hope audit verify", ("OK " if self.verify_ok else "FAILED ") + self.verify_summary),
            ("restarts seen (supervisord pid changes)",
             ", ".join(f"{k} {v}" for k, v in sorted(self.restarts.items())) or "-"),
        ]
        faults = [(f.name, f"{f.recovery_s:.1f} s" if f.recovery_s is not None
                   else "NOT RECOVERED", f.detail) for f in self.faults]
        return layout("HOPE chaos table", rows, (34, "/health 200 again after", 24), faults,
                      self.elapsed_s, "PASS (zero lost, zero doubled)" if self.ok
                      else "FAIL: " + "; ".join(self.problems))


def hist(h: dict[int, int]) -> str:
    """``{count: how many}`` as ``1: 40, 2: 1``; ``-`` when empty."""
    return ", ".join(f"{k}: {v}" for k, v in sorted(h.items())) or "-"


def layout(title: str, rows: list[tuple[str, str]], columns: tuple[int, str, int],
           faults: list[tuple[str, str, str]], elapsed_s: float, result: str) -> str:
    """A chaos table as printed: the title, its rows aligned, one line per fault (name, time,
    detail) under ``columns`` (name width, time heading, time width), the result."""
    name_w, time_head, time_w = columns
    width = max(len(r[0]) for r in rows)
    lines = [title, "=" * len(title), *(f"{k.ljust(width)}  {v}" for k, v in rows), "",
             f"{'fault'.ljust(name_w)}  {time_head:>{time_w}}  detail"]
    lines += [f"{name.ljust(name_w)}  {took:>{time_w}}  {detail}" for name, took, detail in faults]
    lines += ["", f"elapsed {elapsed_s:.0f} s; result: {result}"]
    return "\n".join(lines)


def compute(ledger: Ledger, marks: dict[str, dict[str, int]], bus: dict[str, Any],
            scan: AuditScan, injector: str) -> Table:
    """Everything but verify, restarts and faults (the runner adds those)."""
    t = Table(published_injector=len(ledger.published), refused_injector=ledger.refused,
              audited=len(scan.ids), duplicates=scan.duplicates,
              audit_bad_lines=len(scan.bad_lines))
    lost: list[str] = [f"injector {eid}" for eid in ledger.published if eid not in scan.ids]
    for pub, epochs in marks.items():
        for epoch, high in epochs.items():
            t.publishers += 1
            if pub != injector:
                t.published_other += high
            have = scan.seqs.get((pub, epoch), Counter())
            lost += [f"{pub}/{epoch}/{s}" for s in range(1, high + 1) if s not in have]
    t.lost, t.lost_examples = len(lost), lost[:20]
    t.seq_duplicates = sum(n - 1 for c in scan.seqs.values() for n in c.values() if n > 1)
    for epochs in bus.values():
        for counters in epochs.values():
            t.gaps_recovered += int(counters.get("replayed_in", 0))
            t.replay_requests += int(counters.get("replay_requests", 0))
    t.gap_records = len(scan.by_type("GAP"))

    decisions = Counter(r.get("causation_id") for r in scan.by_type("DECISION"))
    signals = {r["event_id"] for r in scan.by_type("SIGNAL")}
    t.signals_audited = len(signals)
    t.decisions_per_signal = dict(Counter(decisions.get(s, 0) for s in signals))
    orders = scan.by_type("ORDER")
    per_order = Counter((r.get("payload") or {}).get("order_id") for r in orders)
    t.order_status = dict(Counter((r.get("payload") or {}).get("status") for r in orders))
    buys = {r["event_id"] for r in scan.by_type("DECISION")
            if (r.get("payload") or {}).get("action") == "BUY"}
    t.buys = len(buys)
    t.orders_per_buy = dict(Counter(per_order.get(client_order_id(b), 0) for b in buys))
    return t
