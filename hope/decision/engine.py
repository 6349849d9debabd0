"""The Eye of God: one SIGNAL in, one DECISION payload out, through two committees. Fail-closed.

``decide`` is a pure function of (signal, wall now, market now, risk state): the same input gives
the same DECISION. It never raises: any error anywhere becomes SKIP naming it. ``commit`` applies
a published BUY to the risk state (separate, so a decision that failed to publish changes nothing).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hope.decision.alpha import AlphaCommittee, RuleContext, confidence
from hope.decision.config import DecisionConfig
from hope.decision.risk import RiskCommittee
from hope.decision.risk_state import RiskState
from hope.envelope import Envelope
from hope.trading.book import apply_buy
from hope.trading.symbols import quote_of

MAX_REMEMBERED_SIGNALS = 200_000


class DecisionEngine:
    def __init__(self, cfg: DecisionConfig, config_hash: str,
                 state: RiskState | None = None) -> None:
        self.cfg = cfg
        self.config_hash = config_hash
        self.state = state or RiskState()
        self.alpha = AlphaCommittee()
        self.risk = RiskCommittee()
        # ids of signals already decided (audit rebuild + this run): a redelivered SIGNAL whose
        # DECISION is already out must not get a second one
        self._decided: OrderedDict[str, None] = OrderedDict()

    def targets(self, price: float | None) -> dict[str, Any]:
        t: dict[str, Any] = {"take_profit_pct": self.cfg.take_profit_pct,
                             "stop_loss_pct": self.cfg.stop_loss_pct,
                             "timeout_s": self.cfg.timeout_s}
        if price:
            t["take_profit"] = price * (1 + self.cfg.take_profit_pct / 100)
            t["stop_loss"] = price * (1 - self.cfg.stop_loss_pct / 100)
        return t

    def decide(self, signal: Envelope, now_wall: float, market_now: float | None
               ) -> dict[str, Any]:
        """The DECISION payload for ``signal``: BUY only when every rule of both committees says yes."""
        p = signal.payload if isinstance(signal.payload, dict) else {}
        symbol = p.get("symbol") if isinstance(p.get("symbol"), str) else "?"
        strategy = p.get("strategy") if isinstance(p.get("strategy"), str) else "?"
        quote = quote_of(symbol)
        price = p.get("price") if isinstance(p.get("price"), int | float) else None
        base: dict[str, Any] = {
            "symbol": symbol, "strategy": strategy, "quote": quote or "?",
            "config_hash": self.config_hash, "signal_id": signal.event_id,
            "market_ts": p.get("market_ts") if isinstance(p.get("market_ts"), int | float) else 0,
            "price": price or 0.0,
        }
        try:
            ctx = RuleContext(env=signal, payload=p, symbol=symbol, strategy=strategy,
                              quote=quote, now_wall=now_wall, market_now=market_now,
                              state=self.state, cfg=self.cfg)
            outcomes = self.alpha.evaluate(ctx) + self.risk.evaluate(ctx)
            conf = confidence(p, strategy, self.cfg)
            failed = [o for o in outcomes if not o.ok]
            if failed:
                return {**base, "action": "SKIP", "confidence": conf, "position_size": 0.0,
                        "targets": self.targets(price),
                        "reasons": [{"rule": o.rule, "detail": o.detail} for o in failed]}
            return {**base, "action": "BUY", "confidence": conf,
                    "position_size": float(self.cfg.position_size[quote or "?"]),
                    "targets": self.targets(price),
                    "reasons": [{"rule": o.rule, "detail": o.detail} for o in outcomes]}
        except Exception as exc:  # fail-closed: the engine itself broke, so nothing is bought
            return {**base, "action": "SKIP", "confidence": 0.0, "position_size": 0.0,
                    "targets": {}, "reasons": [{"rule": "engine_error",
                                                "detail": f"{type(exc).__name__}: {exc}"}]}

    def already_decided(self, signal_id: str) -> bool:
        return signal_id in self._decided

    def remember(self, signal_ids: set[str] | list[str]) -> None:
        for sid in signal_ids:
            self._decided[sid] = None
        while len(self._decided) > MAX_REMEMBERED_SIGNALS:
            self._decided.popitem(last=False)

    def commit(self, decision: Envelope) -> None:
        """Apply a published DECISION: remember its signal; a BUY takes a position slot at once."""
        if decision.causation_id:
            self.remember([decision.causation_id])
        apply_buy(self.state, decision.event_id, decision.payload)
