"""The Alpha committee (is the signal good?) and the rule machinery both committees share.

A rule is a name and a check ``(ctx) -> (ok, detail)``. A committee runs every rule (so a SKIP
names every rule that failed, not just the first) and turns an exception inside a rule into a
failure of that rule: fail-closed, nothing doubtful ever passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hope.decision.config import DecisionConfig
from hope.decision.risk_state import RiskState
from hope.envelope import Envelope


@dataclass
class RuleContext:
    env: Envelope               # the SIGNAL
    payload: dict[str, Any]
    symbol: str
    strategy: str
    quote: str | None
    now_wall: float
    market_now: float | None
    state: RiskState
    cfg: DecisionConfig


Check = Callable[[RuleContext], tuple[bool, str]]


@dataclass(frozen=True)
class Rule:
    name: str
    check: Check


@dataclass(frozen=True)
class Outcome:
    rule: str
    ok: bool
    detail: str


class Committee:
    def __init__(self, name: str, rules: list[Rule]) -> None:
        self.name = name
        self.rules = rules

    def evaluate(self, ctx: RuleContext) -> list[Outcome]:
        out = []
        for rule in self.rules:
            try:
                ok, detail = rule.check(ctx)
                ok = ok is True  # a rule that returns anything but True did not say yes
            except Exception as exc:  # fail-closed: a broken rule is a failed rule
                ok, detail = False, f"error: {type(exc).__name__}: {exc}"
            out.append(Outcome(rule.name, ok, str(detail)))
        return out


def _num(payload: dict[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def confidence(payload: dict[str, Any], strategy: str, cfg: DecisionConfig) -> float:
    """0..1. Flow strategies: 0.5 exactly at both thresholds, rising to 1.0 at twice them.
    Others: the signal's own ``confidence`` field, else the configured ``strategy_confidence``
    (0 when neither: no claim, no trade)."""
    if strategy in cfg.flow_strategies:
        bps, delta = _num(payload, "buys_per_sec"), _num(payload, "delta_pct")
        if bps is None or delta is None:
            return 0.0
        ratios = [min(v / t, 2.0) if t > 0 else 2.0
                  for v, t in ((bps, cfg.min_buys_per_sec), (delta, cfg.min_delta_pct))]
        return round(max(0.0, sum(ratios) / 4.0), 6)
    own = _num(payload, "confidence")
    if own is None:
        own = _num(cfg.strategy_confidence, strategy)
    return min(1.0, max(0.0, own)) if own is not None else 0.0


def _strategy_allowed(ctx: RuleContext) -> tuple[bool, str]:
    ok = ctx.strategy in ctx.cfg.strategies_allowed
    return ok, f"strategy {ctx.strategy!r}" + ("" if ok else " not in strategies_allowed")


def _blacklist(ctx: RuleContext) -> tuple[bool, str]:
    ok = ctx.symbol not in ctx.cfg.blacklist
    return ok, f"{ctx.symbol} " + ("not blacklisted" if ok else "is blacklisted")


def _flow_threshold(key: str, cfg_key: str) -> Check:
    def check(ctx: RuleContext) -> tuple[bool, str]:
        if ctx.strategy not in ctx.cfg.flow_strategies:
            return True, f"n/a for strategy {ctx.strategy!r}"
        value, limit = _num(ctx.payload, key), getattr(ctx.cfg, cfg_key)
        if value is None:
            return False, f"signal has no numeric {key}"
        return value >= limit, f"{key} {value:g} vs min {limit:g}"
    return check


def _cooldown(ctx: RuleContext) -> tuple[bool, str]:
    last = ctx.state.last_buy.get(ctx.symbol)
    if last is None:
        return True, "no earlier BUY"
    since = float(ctx.payload["market_ts"]) - last
    ok = since >= ctx.cfg.cooldown_s
    return ok, f"{since:.1f}s since last BUY on {ctx.symbol} (cooldown {ctx.cfg.cooldown_s:g}s)"


def _confidence(ctx: RuleContext) -> tuple[bool, str]:
    c = confidence(ctx.payload, ctx.strategy, ctx.cfg)
    return c >= ctx.cfg.min_confidence, f"confidence {c:.3f} vs min {ctx.cfg.min_confidence:g}"


class AlphaCommittee(Committee):
    """Is the signal good? Strategy, blacklist, flow thresholds, cooldown, confidence."""

    def __init__(self) -> None:
        super().__init__("alpha", [
            Rule("strategy_allowed", _strategy_allowed),
            Rule("blacklist", _blacklist),
            Rule("min_buys_per_sec", _flow_threshold("buys_per_sec", "min_buys_per_sec")),
            Rule("min_delta_pct", _flow_threshold("delta_pct", "min_delta_pct")),
            Rule("cooldown", _cooldown),
            Rule("min_confidence", _confidence),
        ])
