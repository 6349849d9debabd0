"""One fill book for every way a fill is learnt, each venue trade exactly once.

Three paths report the same trades: the FULL reply to ``POST /api/v3/order`` (``fills[]``), the
user data stream (``executionReport`` with ``x == "TRADE"``) and ``GET /api/v3/myTrades``. The
book keys each fill by ``(symbol, tradeId)`` (the venue's trade ids are unique per symbol), so
whichever path comes first records it and the others find it known. :meth:`FillBook.add` and
its per-path variants return only the fills that are new: those the executor must act on.

**Persistent**: an append-only journal (``<state>/venue/fills.jsonl``; one ``os.write`` per
line, durable against SIGKILL at once and against power loss after ``fsync_interval_s``), replayed
at start; a torn last line is quarantined and cut off. A fill is first journaled as new, then
*settled* by the executor once it has acted on it (published its FILL); :meth:`unsettled` lists
what a crash in between left, so nothing is lost and, by the key, nothing doubled.

**Bounded**: every ``compact_every`` journal lines the file is rewritten (temp → fsync →
rename) with what still matters: unsettled fills, settled ones younger than ``retention_ms``
(a path reporting an old trade again is still recognised for that long: days, where the
slowest path, an UNKNOWN order's query, takes minutes), the last trade id per symbol and the
newest client ids.

**The gap rule**: after any gap in the user data stream (a reconnect, the first connect, an
``eventStreamTerminated``), :meth:`mark_gap`; :meth:`recover` then asks ``/myTrades`` from the
last known trade id of every symbol that matters (``startTime`` where none is known) and
``/openOrders``, so a fill that happened while the stream was down is never missed. The
symbols asked are the executor's (open positions, orders in flight) and those HOPE traded in
the last day (each ``/myTrades`` costs request weight). The gap
stays pending until a recovery succeeds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hope.files import atomic_write_bytes
from hope.journal import JSON, Journal, quarantine_torn, read_journal

ORDER_REPLY, STREAM, POLL = "order", "stream", "poll"
MY_TRADES_LIMIT = 1000   # the venue's maximum page
GAP_SLACK_MS = 60_000    # startTime margin before the gap for symbols with no known trade
RETENTION_MS = 7 * 86400 * 1000
RECENT_SYMBOL_MS = 86400 * 1000   # symbols traded this recently are checked after a gap
KEEP_CLIENT_IDS = 10_000   # newest orderId -> client id entries kept by a compaction


@dataclass(frozen=True)
class Fill:
    """One venue trade of one of HOPE's orders; amounts as the venue's decimal strings."""

    symbol: str
    trade_id: int
    order_id: int                # the venue's orderId
    client_id: str | None        # HOPE's client order id (None: an order HOPE never placed)
    side: str                    # BUY | SELL
    price: str
    qty: str
    commission: str
    commission_asset: str
    time_ms: int
    source: str                  # order | stream | poll: the path that reported it first

    @property
    def key(self) -> tuple[str, int]:
        return (self.symbol, self.trade_id)


class FillFormatError(ValueError):
    """A venue record without the fields a fill needs (named in the message)."""


def _req(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] is None:
        raise FillFormatError(f"{where}: field {key!r} missing")
    return raw[key]


def fills_from_order_reply(raw: Mapping[str, Any]) -> list[Fill]:
    """The ``fills[]`` of a FULL ``POST /api/v3/order`` reply."""
    where = "order reply"
    symbol, order_id = str(_req(raw, "symbol", where)), int(_req(raw, "orderId", where))
    client, side = raw.get("clientOrderId"), str(raw.get("side", ""))
    at = int(raw.get("transactTime") or 0)
    return [Fill(symbol, int(_req(f, "tradeId", f"{where} fills[{i}]")), order_id, client, side,
                 str(f["price"]), str(f["qty"]), str(f.get("commission", "0")),
                 str(f.get("commissionAsset") or ""), at, ORDER_REPLY)
            for i, f in enumerate(raw.get("fills") or [])]


def fill_from_execution_report(event: Mapping[str, Any]) -> Fill | None:
    """The trade an ``executionReport`` carries (``x == "TRADE"``), else None."""
    if event.get("e") != "executionReport" or event.get("x") != "TRADE":
        return None
    where = "executionReport"
    return Fill(str(_req(event, "s", where)), int(_req(event, "t", where)),
                int(_req(event, "i", where)), event.get("c"), str(event.get("S", "")),
                str(_req(event, "L", where)), str(_req(event, "l", where)),
                str(event.get("n") or "0"), str(event.get("N") or ""),
                int(event.get("T") or event.get("E") or 0), STREAM)


def fill_from_my_trade(row: Mapping[str, Any], client_id: str | None) -> Fill:
    """One ``/myTrades`` row (which names the order by ``orderId`` only)."""
    where = "myTrades row"
    return Fill(str(_req(row, "symbol", where)), int(_req(row, "id", where)),
                int(_req(row, "orderId", where)), client_id,
                "BUY" if row.get("isBuyer") else "SELL", str(_req(row, "price", where)),
                str(_req(row, "qty", where)), str(row.get("commission", "0")),
                str(row.get("commissionAsset") or ""), int(row.get("time") or 0), POLL)


FetchTrades = Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]]
FetchOpenOrders = Callable[[], Awaitable[list[dict[str, Any]]]]


@dataclass
class GapRecovery:
    """What one recovery found: new fills, and the venue's open orders at that moment."""

    new_fills: list[Fill]
    open_orders: list[dict[str, Any]]
    queries: list[dict[str, Any]]      # the /myTrades parameters asked, for the log


class FillBook:
    """Fills keyed by (symbol, tradeId), journaled; which are new, which are settled."""

    def __init__(self, path: Path, *, fsync_interval_s: float = 0.02,
                 quarantine_dir: Path | None = None, log: Any = None,
                 retention_ms: int = RETENTION_MS, compact_every: int = 100_000) -> None:
        self.path = Path(path)
        self.retention_ms = retention_ms
        self.compact_every = compact_every
        self.lines = 0           # journal lines in the file
        self._lines_kept = 0     # ... of which written by the last compaction
        self.compactions = 0
        self.dropped_floor: dict[str, int] = {}   # highest trade id a compaction forgot
        self.too_old = 0
        self.log = log
        self.quarantine_dir = quarantine_dir
        self._journal = Journal(self.path, fsync_interval_s=fsync_interval_s)
        self.fills: dict[tuple[str, int], Fill] = {}
        self._settled: set[tuple[str, int]] = set()
        self._clients: dict[tuple[str, int], str] = {}   # (symbol, orderId) -> client id
        self.last_trade: dict[str, int] = {}
        self.bad_lines: list[str] = []
        self.duplicates = 0
        self.gap_reason: str | None = "not yet subscribed"   # pending until a recovery
        self.gap_since_ms: int | None = None
        self.last_event_ms: int | None = None
        self.recoveries = 0
        self._load()

    # --- persistence --------------------------------------------------------------------------
    def _load(self) -> None:
        contents = read_journal(self.path)
        if contents is None:
            return
        self.bad_lines = list(contents.bad)
        for rec in contents.records:
            try:
                if "f" in rec:
                    self._remember(Fill(**rec["f"]))
                elif "s" in rec:
                    self._settled.add((str(rec["s"][0]), int(rec["s"][1])))
                elif "o" in rec:
                    self._clients[(str(rec["o"][0]), int(rec["o"][1]))] = str(rec["o"][2])
                elif "l" in rec:
                    for sym, tid in rec["l"].items():
                        self.last_trade[str(sym)] = max(int(tid), self.last_trade.get(sym, -1))
                    self.dropped_floor = {str(k): int(v) for k, v in rec.get("d", {}).items()}
            except (TypeError, KeyError, ValueError, IndexError) as exc:
                self.bad_lines.append(f"{self.path}: unreadable record ({exc})")
        if contents.torn:
            quarantine_torn(contents, self.quarantine_dir or self.path.parent, "fills-torn",
                            self.log)
        self._journal.open(truncate_to=contents.good_size)
        self.lines = len(contents.records)

    def _remember(self, fill: Fill) -> None:
        self.fills[fill.key] = fill
        if fill.trade_id > self.last_trade.get(fill.symbol, -1):
            self.last_trade[fill.symbol] = fill.trade_id
        if fill.client_id:
            self._clients[(fill.symbol, fill.order_id)] = fill.client_id

    def _append(self, record: dict[str, Any]) -> None:
        self._journal.append(record)
        self.lines += 1

    def maybe_compact(self) -> bool:
        """Compact when ``compact_every`` lines were written since the last time."""
        if self.lines - self._lines_kept < self.compact_every:
            return False
        self.compact()
        return True

    def compact(self, now_ms: int | None = None) -> None:
        """Rewrite the journal with what still matters (see the module docstring)."""
        newest = max((f.time_ms for f in self.fills.values()), default=0)
        cutoff = (now_ms if now_ms is not None else newest) - self.retention_ms
        kept = {k: f for k, f in self.fills.items()
                if k not in self._settled or f.time_ms >= cutoff}
        for (sym, tid) in self.fills.keys() - kept.keys():
            self.dropped_floor[sym] = max(tid, self.dropped_floor.get(sym, -1))
        clients = dict(list(self._clients.items())[-KEEP_CLIENT_IDS:])
        clients.update({(f.symbol, f.order_id): f.client_id for f in kept.values()
                        if f.client_id})
        records: list[dict[str, Any]] = [{"l": dict(self.last_trade),
                                          "d": dict(self.dropped_floor)}]
        records += [{"o": [s, o, c]} for (s, o), c in clients.items()]
        records += [{"f": asdict(f)} for f in kept.values()]
        records += [{"s": [s, t]} for (s, t) in kept if (s, t) in self._settled]
        self._journal.close()
        atomic_write_bytes(self.path, b"".join(JSON.encode(r) + b"\n" for r in records))
        self._journal.open()
        self.fills, self._clients = kept, clients
        self._settled = {k for k in self._settled if k in kept}
        self.lines = self._lines_kept = len(records)
        self.compactions += 1

    def sync(self) -> bool:
        return self._journal.sync()

    def close(self) -> None:
        self._journal.close()

    # --- what the executor calls --------------------------------------------------------------
    def learn_order(self, symbol: str, order_id: int, client_id: str) -> None:
        """Remember which client id an orderId is (``/myTrades`` rows name only the orderId)."""
        if self._clients.get((symbol, order_id)) != client_id:
            self._clients[(symbol, order_id)] = client_id
            self._append({"o": [symbol, order_id, client_id]})

    def client_of(self, symbol: str, order_id: int) -> str | None:
        return self._clients.get((symbol, order_id))

    def add(self, fills: Iterable[Fill]) -> list[Fill]:
        """Record the fills; the new ones (journaled before this returns), in order given."""
        new: list[Fill] = []
        for fill in fills:
            if fill.client_id is None and (known := self.client_of(fill.symbol, fill.order_id)):
                fill = Fill(**{**asdict(fill), "client_id": known})
            if fill.key in self.fills:
                self.duplicates += 1
                continue
            if fill.trade_id <= self.dropped_floor.get(fill.symbol, -1):
                self.too_old += 1   # older than a fill forgotten after retention_ms: seen
                continue
            self._append({"f": asdict(fill)})
            self._remember(fill)
            new.append(fill)
        self.maybe_compact()
        return new

    def add_order_reply(self, raw: Mapping[str, Any]) -> list[Fill]:
        """A FULL order reply: its order id is learnt, its fills recorded; the new ones."""
        if raw.get("clientOrderId") and raw.get("orderId") is not None:
            self.learn_order(str(raw["symbol"]), int(raw["orderId"]), str(raw["clientOrderId"]))
        return self.add(fills_from_order_reply(raw))

    def add_execution_report(self, event: Mapping[str, Any]) -> list[Fill]:
        """One user-data-stream event: a TRADE becomes a fill; every report teaches its id."""
        if event.get("e") != "executionReport":
            return []
        self.last_event_ms = int(event.get("E") or 0) or self.last_event_ms
        if event.get("c") and event.get("i") is not None and event.get("x") != "CANCELED":
            self.learn_order(str(event["s"]), int(event["i"]), str(event["c"]))
        fill = fill_from_execution_report(event)
        return self.add([fill]) if fill else []

    def add_my_trades(self, rows: Iterable[Mapping[str, Any]]) -> list[Fill]:
        """``/myTrades`` rows; the new ones."""
        return self.add(fill_from_my_trade(r, self.client_of(str(r.get("symbol")),
                                                             int(r.get("orderId", -1))))
                        for r in rows)

    def settle(self, fills: Iterable[Fill]) -> None:
        """The executor has acted on these fills (its FILL is published): never again."""
        for fill in fills:
            if fill.key in self.fills and fill.key not in self._settled:
                self._settled.add(fill.key)
                self._append({"s": [fill.symbol, fill.trade_id]})
        self.maybe_compact()

    def unsettled(self) -> list[Fill]:
        """Fills recorded but not yet acted on (a crash between the two), oldest first."""
        return sorted((f for k, f in self.fills.items() if k not in self._settled),
                      key=lambda f: (f.time_ms, f.symbol, f.trade_id))

    def fills_of(self, client_id: str) -> list[Fill]:
        return sorted((f for f in self.fills.values() if f.client_id == client_id),
                      key=lambda f: f.trade_id)

    def last_trade_id(self, symbol: str) -> int | None:
        return self.last_trade.get(symbol)

    # --- the gap rule -------------------------------------------------------------------------
    @property
    def gap_pending(self) -> bool:
        return self.gap_reason is not None

    def mark_gap(self, reason: str, since_ms: int | None = None) -> None:
        """The stream may have missed events since ``since_ms`` (default: the last one seen)."""
        start = since_ms if since_ms is not None else self.last_event_ms
        if self.gap_reason is None or (start is not None and (self.gap_since_ms is None
                                                              or start < self.gap_since_ms)):
            self.gap_since_ms = start
        self.gap_reason = reason

    async def recover(self, fetch_trades: FetchTrades, fetch_open_orders: FetchOpenOrders,
                      symbols: Iterable[str], *, now_ms: int) -> GapRecovery:
        """Close a gap: ``/myTrades`` per symbol from its last known trade id, then
        ``/openOrders``. A failure raises and leaves the gap pending (retry later)."""
        recent = {f.symbol for f in self.fills.values()
                  if f.time_ms >= now_ms - RECENT_SYMBOL_MS}
        wanted = sorted(set(symbols) | recent)
        queries: list[dict[str, Any]] = []
        new: list[Fill] = []
        for symbol in wanted:
            params = self._trades_query(symbol, now_ms)
            while True:
                queries.append(dict(params))
                rows = await fetch_trades(dict(params))
                new += self.add_my_trades(rows)
                if len(rows) < MY_TRADES_LIMIT:
                    break
                params = {"symbol": symbol, "fromId": max(int(r["id"]) for r in rows) + 1,
                          "limit": MY_TRADES_LIMIT}
        open_orders = await fetch_open_orders()
        for o in open_orders:
            if o.get("clientOrderId") and o.get("orderId") is not None:
                self.learn_order(str(o["symbol"]), int(o["orderId"]), str(o["clientOrderId"]))
        self.gap_reason, self.gap_since_ms = None, None
        self.recoveries += 1
        return GapRecovery(new, list(open_orders), queries)

    def _trades_query(self, symbol: str, now_ms: int) -> dict[str, Any]:
        last = self.last_trade.get(symbol)
        if last is not None:
            return {"symbol": symbol, "fromId": last, "limit": MY_TRADES_LIMIT}
        since = self.gap_since_ms if self.gap_since_ms is not None else now_ms
        # the venue allows at most 24 h between startTime and the present when endTime is unset
        start = max(since - GAP_SLACK_MS, now_ms - 24 * 3600 * 1000 + GAP_SLACK_MS)
        return {"symbol": symbol, "startTime": start, "limit": MY_TRADES_LIMIT}

    def snapshot(self) -> dict[str, Any]:
        """For the executor's heartbeat."""
        return {"fills": len(self.fills), "unsettled": len(self.fills) - len(self._settled),
                "duplicates": self.duplicates, "gap": self.gap_reason,
                "gap_recoveries": self.recoveries, "bad_lines": len(self.bad_lines),
                "too_old": self.too_old, "compactions": self.compactions}
