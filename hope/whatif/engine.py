"""``hope replay``'s core: a candidate DecisionEngine + a PaperExchange executor, in-process.

Nothing here touches the bus or the live state: the engine and the executor are driven directly
(the same classes the services wrap), with their files in a private work dir. The environment is
ideal on purpose — trading ACTIVE, risk state rebuilt, audit fresh, breaker closed — so the diff
shows what the candidate's *rules* would change, not what the live system's outages did (a
recorded SKIP for ``trading_state`` or ``audit_watermark`` shows up as a flip naming that rule).
The wall clock a signal is judged at is its recorded decision's time (else the signal's own
time), so transit ages are the recorded ones.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hope.clock import MarketClock
from hope.config import Config
from hope.decision.engine import DecisionEngine
from hope.decision.risk_state import RiskState
from hope.envelope import Envelope, new_event, parse_timestamp, utc_timestamp
from hope.execution.breaker import CircuitBreaker
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore
from hope.trading.state import ACTIVE
from hope.whatif.sources import Timeline

Sleep = Callable[[float], Awaitable[None]]
SOURCE = "replay"


@dataclass
class Flip:
    signal_id: str
    correlation_id: str
    symbol: str
    market_ts: float
    recorded: str
    candidate: str
    candidate_reasons: list[str]   # BUY→SKIP: the rules that now fail
    recorded_reasons: list[str]    # SKIP→BUY: the rules that failed then


@dataclass
class ReplayResult:
    source: str
    config_hash: str
    signals: int = 0
    prices: int = 0
    candidate: Counter = field(default_factory=Counter)   # BUY / SKIP
    recorded: Counter = field(default_factory=Counter)    # BUY / SKIP / none
    flips: list[Flip] = field(default_factory=list)
    skip_rules: Counter = field(default_factory=Counter)  # candidate SKIP reasons
    orders: Counter = field(default_factory=Counter)      # NEW / REJECTED / EXPIRED
    pnl: dict[str, dict[str, float]] = field(default_factory=dict)
    recorded_pnl: dict[str, dict[str, float]] = field(default_factory=dict)
    open_positions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("candidate", "recorded", "skip_rules", "orders"):
            d[k] = dict(getattr(self, k))
        return d


def pnl_table(closes: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Realized P&L per quote currency from CLOSE payloads."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"pnl": 0.0, "fees": 0.0,
                                                            "closes": 0, "wins": 0})
    for p in closes:
        pnl = p.get("pnl")
        if not isinstance(pnl, int | float):
            continue
        q = out[str(p.get("quote", "?"))]
        q["pnl"] += float(pnl)
        q["fees"] += float(p.get("fees", 0.0) or 0.0)
        q["closes"] += 1
        q["wins"] += 1 if pnl > 0 else 0
    return {k: dict(v) for k, v in sorted(out.items())}


def _failed_rules(payload: dict[str, Any] | None) -> list[str]:
    if not payload or payload.get("action") != "SKIP":
        return []
    return [f"{r.get('rule')}: {r.get('detail')}" if isinstance(r, dict) else str(r)
            for r in payload.get("reasons") or []]


class ReplayEngine:
    """Feeds a :class:`Timeline` through a candidate decision engine and a paper executor."""

    def __init__(self, config: Config, workdir: Path, *, speed: float = 0.0,
                 max_gap_s: float = 2.0, sleep: Sleep = asyncio.sleep) -> None:
        dcfg, ecfg = config.decision, config.execution
        self.config_hash = config.hash("decision")
        self.state = RiskState(trading=ACTIVE, ready=True)
        self.engine = DecisionEngine(dcfg, self.config_hash, self.state)
        self.market = MarketClock()
        workdir = Path(workdir)
        self.exchange = PaperExchange(workdir / "exchange", slippage_bps=ecfg.slippage_bps,
                                      commission_bps=ecfg.commission_bps)
        self.executor = Executor(ecfg, self.exchange, ExecutorStore(workdir / "positions"),
                                 CircuitBreaker("exchange"), market_clock=self.market,
                                 trading_state=ACTIVE)
        self.speed, self.max_gap_s, self.sleep = speed, max_gap_s, sleep
        self.closes: list[dict[str, Any]] = []
        self.published: list[Envelope] = []

    async def _publish(self, event_type: str, payload: dict[str, Any], parent: Envelope | None,
                       timestamp: str | None) -> Envelope:
        env = new_event(event_type, payload, source=SOURCE, parent=parent, timestamp=timestamp)
        self.published.append(env)
        if event_type == "CLOSE":
            self.closes.append(payload)
            self.state.on_close(payload, self.market.now())
        elif event_type == "ORDER":
            self.state.on_order(payload)
        return env

    async def _pace(self, prev: float | None, now: float) -> None:
        if self.speed > 0 and prev is not None and now > prev:
            await self.sleep(min(now - prev, self.max_gap_s) / self.speed)

    async def run(self, timeline: Timeline) -> ReplayResult:
        res = ReplayResult(source=timeline.source, config_hash=self.config_hash,
                           warnings=list(timeline.warnings))
        prev: float | None = None
        for env in timeline.events:
            p = env.payload
            mts = float(p["market_ts"])
            await self._pace(prev, mts)
            prev = mts
            self.market.observe(mts)
            if env.event_type == "PRICE":
                res.prices += 1
                self.state.on_price(p["symbol"], p["price"], mts)
                self.executor.on_price(p["symbol"], float(p["price"]), mts)
                if self.executor.positions.open_positions():
                    await self.executor.check_exits(self._publish)
                continue
            res.signals += 1
            await self._decide(env, timeline.recorded_for(env), res)
        self._finish(res, timeline)
        return res

    async def _decide(self, signal: Envelope, recorded: dict[str, Any] | None,
                      res: ReplayResult) -> None:
        when = recorded.get("_timestamp") if recorded else None
        try:
            now_wall = parse_timestamp(when or signal.timestamp).timestamp()
        except ValueError:
            now_wall = parse_timestamp(signal.timestamp).timestamp()
        self.state.on_watermark({}, now_wall, SOURCE)  # the audit is never the issue in replay
        payload = self.engine.decide(signal, now_wall, self.market.now())
        decision = new_event("DECISION", payload, source=SOURCE, parent=signal,
                             timestamp=utc_timestamp(datetime.fromtimestamp(now_wall, UTC)))
        self.engine.commit(decision)
        action = payload["action"]
        res.candidate[action] += 1
        if action == "SKIP":
            for r in payload.get("reasons") or []:
                res.skip_rules[str(r.get("rule"))] += 1
        else:
            await self.executor.handle_decision(decision, self._publish)
        was = recorded.get("action") if recorded else None
        res.recorded[was or "none"] += 1
        if was in ("BUY", "SKIP") and was != action:
            res.flips.append(Flip(signal.event_id, signal.correlation_id,
                                  str(signal.payload.get("symbol")),
                                  float(signal.payload["market_ts"]), was, action,
                                  _failed_rules(payload), _failed_rules(recorded)))

    def _finish(self, res: ReplayResult, timeline: Timeline) -> None:
        for env in self.published:
            if env.event_type == "ORDER":
                res.orders[str(env.payload.get("status"))] += 1
        res.pnl = pnl_table(self.closes)
        res.recorded_pnl = pnl_table(timeline.closes)
        for pos in self.executor.positions.open_positions():
            last = self.exchange.price(pos.symbol)
            unreal = pos.quantity * (last[0] - pos.entry_price) - pos.entry_fee if last else None
            res.open_positions.append({"order_id": pos.order_id, "symbol": pos.symbol,
                                       "quote": pos.quote, "entry_price": pos.entry_price,
                                       "last_price": last[0] if last else None,
                                       "unrealized_pnl": unreal})


def format_result(r: ReplayResult, max_flips: int = 20) -> str:
    """The diff for a terminal."""
    c, rec = r.candidate, r.recorded
    lines = [f"replay of {r.source}", f"candidate config {r.config_hash}: "
             f"{r.signals} signals, {r.prices} prices", "",
             f"decisions   candidate BUY {c.get('BUY', 0)}, SKIP {c.get('SKIP', 0)}   |   "
             f"recorded BUY {rec.get('BUY', 0)}, SKIP {rec.get('SKIP', 0)}, "
             f"none {rec.get('none', 0)}"]
    b2s = sum(1 for f in r.flips if f.recorded == "BUY")
    lines.append(f"flips       {len(r.flips)}   (BUY→SKIP {b2s}, SKIP→BUY {len(r.flips) - b2s})")
    for f in r.flips[:max_flips]:
        when = utc_timestamp(datetime.fromtimestamp(f.market_ts, UTC))[:19]
        lines.append(f"  {when}  {f.symbol:<10} {f.recorded}→{f.candidate}  "
                     f"corr {f.correlation_id[:16]}")
        why = f.candidate_reasons if f.candidate == "SKIP" else \
            [f"(then) {x}" for x in f.recorded_reasons]
        lines.extend(f"      {w}" for w in why[:6])
    if len(r.flips) > max_flips:
        lines.append(f"  ... {len(r.flips) - max_flips} more (--json for all)")
    if r.skip_rules:
        top = ", ".join(f"{k} {v}" for k, v in r.skip_rules.most_common(5))
        lines.append(f"candidate SKIP rules: {top}")
    lines.append("")
    orders = ", ".join(f"{k} {v}" for k, v in sorted(r.orders.items())) or "none"
    lines.append(f"paper orders {orders}")
    quotes = sorted(set(r.pnl) | set(r.recorded_pnl))
    if quotes:
        lines.append(f"{'quote':<7}{'candidate P&L':>16}{'closes':>8}{'wins':>6}"
                     f"{'recorded P&L':>16}{'closes':>8}")
        for q in quotes:
            a = r.pnl.get(q, {"pnl": 0.0, "closes": 0, "wins": 0})
            b = r.recorded_pnl.get(q, {"pnl": 0.0, "closes": 0})
            lines.append(f"{q:<7}{a['pnl']:>+16.8f}{a['closes']:>8}{a['wins']:>6}"
                         f"{b['pnl']:>+16.8f}{b['closes']:>8}")
    else:
        lines.append("no closed positions (candidate or recorded)")
    for p in r.open_positions:
        u = p["unrealized_pnl"]
        lines.append(f"still open: {p['symbol']} entry {p['entry_price']:.8g} last "
                     f"{p['last_price']} unrealized {u:+.8f} {p['quote']}" if u is not None else
                     f"still open: {p['symbol']} entry {p['entry_price']:.8g}")
    if r.warnings:
        lines.append(f"warnings ({len(r.warnings)} bad lines skipped):")
        lines.extend(f"  {w}" for w in r.warnings[:10])
    return "\n".join(lines)
