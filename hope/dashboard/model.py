"""What the dashboard knows, kept in memory from events (live envelopes or audit records).

:meth:`DashboardModel.apply` takes one event as a record (the envelope fields at top level, as
in the audit log) and returns the updates a page applies to its copy; :meth:`snapshot` is the
whole view a page starts from. Both are JSON-ready. Every place on a chart is on the market
clock (``market_ts``); latencies come from the envelopes' wall-clock timestamps.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hope import numbers as fmt
from hope.dashboard.config import DashboardConfig
from hope.dashboard.panels import Panels

Record = dict[str, Any]
Update = dict[str, Any]
MARKER_KINDS = ("SIGNAL", "BUY", "SKIP", "ORDER", "FILL", "CLOSE")
STAGES = ("signal→decision", "decision→order", "order→fill")


def wall_seconds(timestamp: Any) -> float | None:
    """An envelope timestamp (``2026-02-02T15:00:00.123456Z``) as epoch seconds."""
    if not isinstance(timestamp, str):
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def record_of(env: Any) -> Record:
    """An :class:`~hope.envelope.Envelope` as the record shape the audit log keeps."""
    return {"event_type": str(env.event_type), "event_id": env.event_id,
            "correlation_id": env.correlation_id, "causation_id": env.causation_id,
            "timestamp": env.timestamp, "source": env.source, "payload": env.payload}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _reasons(p: Mapping[str, Any]) -> str:
    out = []
    for r in p.get("reasons") or []:
        if isinstance(r, Mapping):
            detail = r.get("detail")
            out.append(f"{r.get('rule', '?')}: {detail}" if detail not in (None, "") else
                       str(r.get("rule", "?")))
        else:
            out.append(str(r))
    return "; ".join(out)


class _Bounded(OrderedDict):
    """An insertion-ordered dict that forgets its oldest keys past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


class DashboardModel:
    def __init__(self, cfg: DashboardConfig | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        import time
        self.cfg = cfg or DashboardConfig()
        self.clock = clock or time.time
        self.symbols: dict[str, dict[str, Any]] = {}
        self.trades: deque[dict[str, Any]] = deque(maxlen=self.cfg.max_trades)
        self.stats: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, dict[str, Any]] = {}
        self.latency: dict[str, deque[float]] = {
            s: deque(maxlen=self.cfg.latency_samples) for s in STAGES}
        self.panels = Panels(self.cfg, self.clock)
        self._seen: _Bounded = _Bounded(self.cfg.remember_events)
        self._decisions: _Bounded = _Bounded(self.cfg.remember_events)
        self._walls: _Bounded = _Bounded(self.cfg.remember_events)
        self.applied = 0
        self.first_stamp: str | None = None  # wall-clock span of the events folded in
        self.last_stamp: str | None = None

    # --- entry point ---------------------------------------------------------------------
    def apply(self, rec: Record) -> list[Update]:
        """Fold one event in; the updates a page needs (empty for a repeat or an ignored type)."""
        eid = rec.get("event_id")
        et = str(rec.get("event_type", ""))
        if et != "HEARTBEAT" and isinstance(eid, str):
            if eid in self._seen:
                return []
            self._seen[eid] = True
        p = rec.get("payload")
        if not isinstance(p, Mapping):
            return []
        stamp = rec.get("timestamp")
        if isinstance(stamp, str) and et != "HEARTBEAT":
            if self.first_stamp is None or stamp < self.first_stamp:
                self.first_stamp = stamp
            if self.last_stamp is None or stamp > self.last_stamp:
                self.last_stamp = stamp
        handler = getattr(self, f"_on_{et.lower()}", None)
        if handler is not None:
            self.applied += 1
            return handler(rec, p)
        return self.panels.apply(et, rec, p)

    # --- market and trading --------------------------------------------------------------
    def _symbol(self, symbol: str) -> dict[str, Any]:
        view = self.symbols.get(symbol)
        if view is None:
            view = {"prices": deque(maxlen=self.cfg.max_prices_per_symbol),
                    "markers": {k: deque(maxlen=self.cfg.max_markers) for k in MARKER_KINDS},
                    "last": None}
            self.symbols[symbol] = view
        return view

    def _on_price(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, px, t = str(p.get("symbol", "?")), _num(p.get("price")), _num(p.get("market_ts"))
        if px is None or t is None:
            return []
        view = self._symbol(symbol)
        view["prices"].append([t, px])
        if view["last"] is None or t >= view["last"][0]:
            view["last"] = [t, px]
        updates: list[Update] = [{"kind": "price", "symbol": symbol, "t": t, "price": px}]
        updates += self._revalue(symbol, px)
        return updates

    def _marker(self, rec: Record, symbol: str, kind: str, t: float | None, px: float | None,
                label: str, **extra: Any) -> Update:
        view = self._symbol(symbol)
        if t is None or px is None:  # no market place of its own: where the market was last
            last = view["last"] or [wall_seconds(rec.get("timestamp")) or self.clock(), None]
            t = t if t is not None else last[0]
            px = px if px is not None else last[1]
        marker = {"t": t, "price": px, "label": label, "cid": rec.get("correlation_id"),
                  "id": rec.get("event_id"), **extra}
        view["markers"][kind].append(marker)
        return {"kind": "marker", "symbol": symbol, "marker_kind": kind, "marker": marker}

    def _on_signal(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, px = str(p.get("symbol", "?")), _num(p.get("price"))
        self._walls[rec.get("correlation_id")] = {"SIGNAL": wall_seconds(rec.get("timestamp"))}
        label = (f"SIGNAL {p.get('strategy', '?')} @ {fmt.price(px)}<br>"
                 f"buys/s {fmt.sig(p.get('buys_per_sec'), 3)}, Δ {fmt.sig(p.get('delta_pct'), 3)}%")
        return [self._marker(rec, symbol, "SIGNAL", _num(p.get("market_ts")), px, label)]

    def _on_decision(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, action = str(p.get("symbol", "?")), str(p.get("action", "?"))
        t, px = _num(p.get("market_ts")), _num(p.get("price"))
        quote = str(p.get("quote") or "")
        self._decisions[rec.get("event_id")] = (t, px)
        self._decisions["cid:" + str(rec.get("correlation_id"))] = {"quote": quote}
        updates = self._latency(rec, "DECISION", "SIGNAL", "signal→decision")
        if action == "BUY":
            label = (f"BUY {fmt.size(p.get('position_size'))} {quote} @ {fmt.price(px)}"
                     f"<br>confidence {fmt.sig(p.get('confidence'), 3)}")
            kind = "BUY"
        else:
            label = f"SKIP @ {fmt.price(px)}<br>{_reasons(p) or 'no reason given'}"
            kind = "SKIP"
        return [self._marker(rec, symbol, kind, t, px, label, reasons=_reasons(p)), *updates]

    def _on_order(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, status = str(p.get("symbol", "?")), str(p.get("status", "?"))
        t, px = self._decisions.get(rec.get("causation_id")) or (None, None)
        label = f"ORDER {p.get('side', '')} {status} qty {fmt.size(p.get('quantity'))}".replace(
            "  ", " ")
        if p.get("reason"):
            label += f"<br>{p.get('reason')}"
        updates = self._latency(rec, "ORDER", "DECISION", "decision→order") \
            if status == "NEW" else []
        return [self._marker(rec, symbol, "ORDER", t, px, label, status=status), *updates]

    def _on_fill(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, oid = str(p.get("symbol", "?")), str(p.get("order_id", "?"))
        px, qty = _num(p.get("avg_price")), _num(p.get("filled_qty"))
        label = f"FILL {fmt.size(qty)} @ {fmt.price(px)}"
        updates = [self._marker(rec, symbol, "FILL", _num(p.get("market_ts")), px, label)]
        updates += self._latency(rec, "FILL", "ORDER", "order→fill")
        if str(p.get("side", "BUY")).upper() == "BUY" and qty:
            cid = rec.get("correlation_id")
            quote = (self._decisions.get("cid:" + str(cid)) or {}).get("quote") or ""
            fee = _num(p.get("commission")) if p.get("commission_asset") == quote else 0.0
            self.positions[oid] = {"order_id": oid, "symbol": symbol, "quote": quote,
                                   "quantity": qty, "entry_price": px, "entry_fee": fee or 0.0,
                                   "t": _num(p.get("market_ts")), "cid": cid}
            last = self._symbol(symbol)["last"]
            updates += self._revalue(symbol, last[1] if last else px, only=oid)
        return updates

    def _on_close(self, rec: Record, p: Mapping[str, Any]) -> list[Update]:
        symbol, oid = str(p.get("symbol", "?")), str(p.get("order_id", "?"))
        quote, reason = str(p.get("quote") or "?"), str(p.get("reason", "?"))
        pnl, px = _num(p.get("pnl")) or 0.0, _num(p.get("exit_price"))
        t = _num(p.get("market_ts"))
        label = (f"CLOSE {reason} @ {fmt.price(px)}<br>P&L {fmt.money(pnl, quote)}, held "
                 f"{fmt.duration(p.get('holding_s'))}")
        updates = [self._marker(rec, symbol, "CLOSE", t, px, label, reason=reason)]
        trade = {"t": updates[0]["marker"]["t"], "wall": wall_seconds(rec.get("timestamp")),
                 "symbol": symbol, "quote": quote, "pnl": pnl,
                 "order_id": oid, "reason": reason, "cid": rec.get("correlation_id"),
                 "text": {"pnl": fmt.money(pnl, quote), "entry": fmt.price(p.get("entry_price")),
                          "exit": fmt.price(px), "quantity": fmt.size(p.get("quantity")),
                          "fees": f"{fmt.size(p.get('fees'))} {quote}",
                          "held": fmt.duration(p.get("holding_s"))}}
        self.trades.append(trade)
        s = self.stats.setdefault(quote, {"pnl": 0.0, "fees": 0.0, "closes": 0, "wins": 0})
        s["pnl"] += pnl
        s["fees"] += _num(p.get("fees")) or 0.0
        s["closes"] += 1
        s["wins"] += 1 if pnl > 0 else 0
        updates.append({"kind": "trade", "trade": trade, "quote": quote,
                        "stats": self._stats_view(quote)})
        if self.positions.pop(oid, None) is not None:
            updates.append({"kind": "position_closed", "order_id": oid})
        return updates

    def _stats_view(self, quote: str) -> dict[str, Any]:
        s = self.stats[quote]
        rate = s["wins"] / s["closes"] if s["closes"] else None
        return {**s, "win_rate": rate, "text": {
            "pnl": fmt.money(s["pnl"], quote), "fees": f"{fmt.size(s['fees'])} {quote}",
            "win_rate": fmt.pct(rate), "closes": str(s["closes"])}}

    def _revalue(self, symbol: str, px: float | None, only: str | None = None) -> list[Update]:
        out = []
        for oid, pos in self.positions.items():
            if pos["symbol"] != symbol or (only and oid != only) or px is None:
                continue
            entry = pos["entry_price"] or 0.0
            pos["last_price"] = px
            pos["unrealised"] = pos["quantity"] * (px - entry) - pos["entry_fee"]
            out.append({"kind": "position", "position": self._position_view(pos)})
        return out

    @staticmethod
    def _position_view(pos: Mapping[str, Any]) -> dict[str, Any]:
        return {**pos, "text": {"quantity": fmt.size(pos["quantity"]),
                                "entry": fmt.price(pos["entry_price"]),
                                "last": fmt.price(pos.get("last_price")),
                                "unrealised": fmt.money(pos.get("unrealised"), pos["quote"])}}

    def _latency(self, rec: Record, here: str, before: str, stage: str) -> list[Update]:
        walls = self._walls.get(rec.get("correlation_id"))
        now = wall_seconds(rec.get("timestamp"))
        if walls is None:
            walls = self._walls[rec.get("correlation_id")] = {}
        walls[here] = now
        start = walls.get(before)
        if start is None or now is None:
            return []
        ms = max(now - start, 0.0) * 1e3
        self.latency[stage].append(ms)
        return [{"kind": "latency", "stage": stage, "ms": ms}]

    # --- the whole view ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "symbols": {s: {"prices": list(v["prices"]),
                            "markers": {k: list(m) for k, m in v["markers"].items()}}
                        for s, v in sorted(self.symbols.items())},
            "trades": list(self.trades),
            "stats": {q: self._stats_view(q) for q in sorted(self.stats)},
            "positions": [self._position_view(p) for p in self.positions.values()],
            "latency": {s: list(v) for s, v in self.latency.items()},
            "wall_span": [wall_seconds(self.first_stamp), wall_seconds(self.last_stamp)],
            **self.panels.snapshot(),
        }

    def marker_counts(self) -> dict[str, dict[str, int]]:
        """symbol -> marker kind -> how many (what the charts show)."""
        return {s: {k: len(m) for k, m in v["markers"].items()} for s, v in self.symbols.items()}
