"""Exchanges behind one interface; ``PaperExchange`` fills at the market price, keeping its book on disk.

The book is an append-only JSONL file (``<state>/exchange/orders.jsonl``), one line per order,
written with one ``os.write`` before ``place_order`` returns (:class:`hope.journal.Journal`),
so after a crash the exchange still answers "do you know client order id X?" exactly as a real
venue would. Durable against SIGKILL at once; against power loss up to ``fsync_interval_s``
(group commit: :meth:`PaperExchange.sync` from a periodic task, or piggybacked on an append).
On start the book is replayed: a corrupt inner line is skipped and counted; a torn last line is
counted, quarantined and cut off so the next order starts on a clean line. Never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hope.envelope import utc_timestamp
from hope.execution.fill_model import FillModel
from hope.journal import Journal, quarantine_torn, read_journal
from hope.trading.symbols import quote_of


class ExchangeError(Exception):
    """The venue failed (network, 5xx): counts against the circuit breaker."""


class ExchangeTimeout(ExchangeError):
    """No answer in time: the order may or may not exist; ask ``get_order`` before anything else."""


class OrderRejected(Exception):
    """The venue refused the order (no price, bad quantity): a business answer, not a failure."""


@dataclass
class Order:
    client_id: str
    symbol: str
    side: str                  # "BUY" | "SELL"
    quantity: float            # base units
    avg_price: float
    commission: float          # in commission_asset
    commission_asset: str
    status: str                # "FILLED"
    created: str               # wall-clock timestamp (envelope format) of acceptance
    market_ts: float           # market time of the fill


class Exchange(Protocol):
    def set_price(self, symbol: str, price: float, market_ts: float) -> None: ...
    def price(self, symbol: str) -> tuple[float, float] | None: ...
    def get_order(self, client_id: str) -> Order | None: ...
    def orders(self) -> list[Order]: ...
    def place_order(self, client_id: str, symbol: str, side: str, *,
                    quote_amount: float | None = None, quantity: float | None = None) -> Order: ...


class PaperExchange:
    """Immediate fills at the last PRICE ± slippage, taker fee on notional charged in the quote."""

    def __init__(self, directory: Path, *, slippage_bps: float = 5.0,
                 commission_bps: float = 10.0, fsync_interval_s: float = 0.02,
                 quarantine_dir: Path | None = None, log: Any = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.book_path = self.dir / "orders.jsonl"
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else self.dir
        self.log = log
        self._book = Journal(self.book_path, fsync_interval_s=fsync_interval_s)
        self.slippage_bps = slippage_bps
        self.commission_bps = commission_bps
        self.model = FillModel(slippage_bps, commission_bps)
        self._prices: dict[str, tuple[float, float]] = {}
        self._orders: dict[str, Order] = {}
        self.bad_lines: list[str] = []
        # failure injection (tests, chaos): each call consumes one
        self._fail_next = 0
        self._timeout_next = 0
        self._timeout_after_place_next = 0
        self._load()

    # --- failure injection -----------------------------------------------------------------
    def fail_next(self, n: int = 1) -> None:
        """The next ``n`` calls raise ExchangeError without touching the book."""
        self._fail_next = n

    def timeout_next(self, n: int = 1) -> None:
        """The next ``n`` calls raise ExchangeTimeout before placing anything."""
        self._timeout_next = n

    def timeout_after_place_next(self, n: int = 1) -> None:
        """The next ``n`` placements are booked but answer ExchangeTimeout (a lost reply)."""
        self._timeout_after_place_next = n

    def _maybe_fail(self) -> None:
        if self._fail_next > 0:
            self._fail_next -= 1
            raise ExchangeError("injected failure")
        if self._timeout_next > 0:
            self._timeout_next -= 1
            raise ExchangeTimeout("injected timeout")

    # --- market data -------------------------------------------------------------------------
    def set_price(self, symbol: str, price: float, market_ts: float) -> None:
        self._prices[symbol] = (float(price), float(market_ts))

    def price(self, symbol: str) -> tuple[float, float] | None:
        return self._prices.get(symbol)

    # --- orders ------------------------------------------------------------------------------
    def get_order(self, client_id: str) -> Order | None:
        self._maybe_fail()
        return self._orders.get(client_id)

    def orders(self) -> list[Order]:
        return list(self._orders.values())

    def place_order(self, client_id: str, symbol: str, side: str, *,
                    quote_amount: float | None = None, quantity: float | None = None) -> Order:
        """Fill at once; a known client id returns the existing order (venues dedupe client ids)."""
        self._maybe_fail()
        if client_id in self._orders:
            return self._orders[client_id]
        if side not in ("BUY", "SELL"):
            raise OrderRejected(f"unknown side {side!r}")
        quote = quote_of(symbol)
        if quote is None:
            raise OrderRejected(f"unknown quote currency for {symbol}")
        last = self._prices.get(symbol)
        if last is None:
            raise OrderRejected(f"no market price for {symbol}")
        price, market_ts = last
        fill = self.model.fill_price(price, side)
        if quantity is None:
            if not quote_amount or quote_amount <= 0:
                raise OrderRejected("quote_amount or quantity must be > 0")
            quantity = quote_amount / fill
        if quantity <= 0:
            raise OrderRejected(f"quantity must be > 0, got {quantity}")
        order = Order(client_id=client_id, symbol=symbol, side=side, quantity=quantity,
                      avg_price=fill, commission=self.model.commission(quantity * fill),
                      commission_asset=quote, status="FILLED", created=utc_timestamp(),
                      market_ts=market_ts)
        self._append(order)
        self._orders[client_id] = order
        if self._timeout_after_place_next > 0:
            self._timeout_after_place_next -= 1
            raise ExchangeTimeout("injected timeout after placing")
        return order

    def _append(self, order: Order) -> None:
        self._book.append(order.__dict__)

    @property
    def dirty(self) -> bool:
        return self._book.dirty

    def sync(self) -> bool:
        """Group commit: fsync the book if it has unsynced orders (thread-safe)."""
        return self._book.sync()

    def close(self) -> None:
        self._book.close()

    def _load(self) -> None:
        contents = read_journal(self.book_path)
        if contents is None:
            return
        self.bad_lines.extend(contents.bad)
        for lineno, raw in enumerate(contents.records, 1):
            try:
                order = Order(**raw)
            except TypeError as exc:
                self.bad_lines.append(f"{self.book_path}: record {lineno}: {exc}")
                continue
            self._orders[order.client_id] = order
        if contents.torn:
            self.bad_lines.append(f"{contents.torn_where}: torn last line "
                                  f"({len(contents.torn)} bytes, quarantined)")
            quarantine_torn(contents, self.quarantine_dir, "exchange-book", self.log)
        # cut the torn tail now: the next order must not be glued to half a line
        self._book.open(truncate_to=contents.good_size)
