"""The stand-in's books: every order ever placed, every trade, the accounts they move; the
ground truth tests and chaos count from (``/sim/v1/orders``, ``/sim/v1/trades``).

Order ids and trade ids come from counters that outlive a wipe (a testnet reset clears the
books and balances, never hands an id out twice). ``newClientOrderId`` is unique among an
account's OPEN orders only: once an order is filled, cancelled or expired its id is accepted
again (a query by ``origClientOrderId`` then answers the latest order with it).
Self-trade prevention has no counterpart in a replayed market; ``expire_in_match`` (a knob)
makes the next taker orders ``EXPIRED_IN_MATCH`` (execution type TRADE_PREVENTION), unfilled.
Fee asset: ``commission_asset = "quote"`` charges every fee in the quote (the paper model);
``"base"`` charges the asset received, as the venue does without BNB (a BUY pays in the base,
so the position held is the bought quantity less the fee; a SELL pays in the quote).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from hope.venue_sim.accounts import Account, Accounts
from hope.venue_sim.exchange_info import ExchangeInfo, split_symbol
from hope.venue_sim.faults import ClockSkew
from hope.venue_sim.filters import ZERO, SymbolFilters, floor_step
from hope.venue_sim.market import Market, SymbolTape
from hope.venue_sim.matching import (
    EIGHT,
    Liquidity,
    MarketModel,
    available,
    crossed,
    fillable,
    last_price,
    split,
    taker_price,
)
from hope.venue_sim.orders import NewOrder, VenueOrder, VenueTrade, new_client_id
from hope.venue_sim.rest import ApiError

# (order, trade or None, execution type): what the user data stream reports
Listener = Callable[[VenueOrder, VenueTrade | None, str], None]


class Books:
    def __init__(self, market: Market, info: ExchangeInfo, accounts: Accounts,
                 model: MarketModel, *, commission_asset: str = "quote",
                 partial_fills: int = 1, max_open: int = 200,
                 clock: Callable[[], float] = time.time,
                 skew: ClockSkew | None = None) -> None:
        if commission_asset not in ("quote", "base"):
            raise ValueError(f"commission_asset: 'quote' or 'base', got {commission_asset!r}")
        self.market = market
        self.info = info
        self.accounts = accounts
        self.model = model
        self.commission_asset = commission_asset
        self.partial_fills = partial_fills
        self.max_open = max_open
        self.clock = clock
        self.skew = skew or ClockSkew()
        self.liquidity = Liquidity()
        self.orders: list[VenueOrder] = []
        self.open: dict[int, VenueOrder] = {}      # the orders still open, by id
        self.by_id: dict[int, VenueOrder] = {}
        self.trades: list[VenueTrade] = []
        self.next_order_id = 1
        self.next_trade_id = 1
        self.listeners: list[Listener] = []
        self.expire_in_match = 0     # a knob: the next taker orders meet "their own" order
        self._filters: dict[str, SymbolFilters] = {}

    # --- helpers ---------------------------------------------------------------------------
    def now_ms(self) -> int:
        """The venue's time (the stand-in's clock plus any skew), ms."""
        return int(self.skew.now_ms(self.clock))

    def filters(self, symbol: str) -> SymbolFilters:
        f = self._filters.get(symbol)
        if f is None:
            f = self._filters[symbol] = SymbolFilters(self.info.entry(symbol))
        return f

    def _tape(self, symbol: str) -> SymbolTape:
        tape = self.market.tape(symbol)
        if tape is None or not self.info.listed(symbol):
            raise ApiError(-1121, "Invalid symbol.")
        return tape

    def _emit(self, order: VenueOrder, trade: VenueTrade | None, exec_type: str) -> None:
        for listener in list(self.listeners):
            listener(order, trade, exec_type)

    def open_orders(self, account: str, symbol: str | None = None) -> list[VenueOrder]:
        return [o for o in self.open.values() if o.account == account
                and (symbol is None or o.symbol == symbol)]

    # --- placing ---------------------------------------------------------------------------
    def check(self, account: str, req: NewOrder) -> tuple[SymbolTape, Decimal | None]:
        """Every refusal a new order can get before it exists (also ``/order/test``)."""
        tape = self._tape(req.symbol)
        if self.info.status[req.symbol] != "TRADING":
            raise ApiError(-2010, "Market is closed.")
        f = self.filters(req.symbol)
        last = last_price(tape, self.clock())
        market = req.type == "MARKET"
        for price in (req.price, req.stop_price):
            if price is not None:
                f.check_price(price)
        if req.quantity is not None:
            f.check_quantity(req.quantity, market)
        if req.quote_qty is not None:
            f.check_notional(req.quote_qty, market)
        elif req.quantity is not None:
            ref = req.price if req.price is not None else last
            if ref is not None:
                f.check_notional(ref * req.quantity, market)
        if any(o.client_order_id == req.client_order_id for o in self.open_orders(account)):
            raise ApiError(-2010, "Duplicate order sent.")
        if len(self.open_orders(account, req.symbol)) >= self.max_open:
            raise ApiError(-1013, "Filter failure: MAX_NUM_ORDERS")
        if req.type == "STOP_LOSS_LIMIT" and last is not None and (
                (req.side == "SELL" and req.stop_price >= last)
                or (req.side == "BUY" and req.stop_price <= last)):
            raise ApiError(-2010, "Order would trigger immediately.")
        return tape, last

    def place(self, account: str, req: NewOrder, received_us: int = 0) -> VenueOrder:
        """Accept ``req`` and match what the market fills now; refusals raise ApiError.
        ``received_us``: when the request arrived (wall µs), kept for the admin view."""
        tape, last = self.check(account, req)
        acct = self.accounts.get(account)
        now = self.clock()
        now_ms = self.now_ms()
        base, quote = split_symbol(req.symbol)
        step = self.filters(req.symbol).step
        if req.type == "MARKET":
            price = taker_price(self.model, last, req.side) if last is not None else None
            wanted = req.quantity
            if wanted is None:
                wanted = floor_step(req.quote_qty / price, step) if price else ZERO
        else:
            price, wanted = req.price, req.quantity
        order = VenueOrder(req.symbol, self.next_order_id, account, req.client_order_id,
                           req.side, req.type, req.time_in_force,
                           req.price if req.type != "MARKET" else ZERO, wanted,
                           req.quote_qty or ZERO, req.stop_price or ZERO, now_ms,
                           update_ms=now_ms, working=req.type != "STOP_LOSS_LIMIT",
                           checked=tape.published(now), received_us=received_us)
        self._lock(acct, order, base, quote, price)
        self.next_order_id += 1
        self.orders.append(order)
        self.open[order.order_id] = order
        self.by_id[order.order_id] = order
        self._emit(order, None, "NEW")
        if self.expire_in_match > 0 and (req.type == "MARKET" or (
                req.type == "LIMIT" and last is not None and self._marketable(order, last))):
            self.expire_in_match -= 1
            self._finish(acct, order, "EXPIRED_IN_MATCH", "")
            return order
        if req.type == "MARKET":
            self._take(acct, order, tape, price, now)
            self._finish(acct, order, "EXPIRED", "INSUFFICIENT_LIQUIDITY")
        elif req.type == "LIMIT" and last is not None and self._marketable(order, last):
            fill_price = taker_price(self.model, last, order.side)
            fill_price = (min(fill_price, order.price) if order.side == "BUY"
                          else max(fill_price, order.price))
            self._take(acct, order, tape, fill_price, now,
                       all_or_none=order.time_in_force == "FOK")
        if req.type == "LIMIT" and order.time_in_force in ("IOC", "FOK"):
            self._finish(acct, order, "EXPIRED", "UNFILLED_IOC_QUANTITY_EXPIRED"
                         if order.time_in_force == "IOC" else "UNFILLED_FOK_ORDER_EXPIRED")
        return order

    def _lock(self, acct: Account, order: VenueOrder, base: str, quote: str,
              price: Decimal | None) -> None:
        if order.side == "SELL":
            order.locked_asset, amount = base, order.orig_qty
        else:
            order.locked_asset = quote
            amount = order.orig_quote_qty or order.orig_qty * (price or ZERO)
            if self.commission_asset == "quote":
                amount += self._fee(amount)
            amount = amount.quantize(EIGHT)
        acct.lock(order.locked_asset, amount)
        order.locked = amount

    def _marketable(self, order: VenueOrder, last: Decimal) -> bool:
        return order.price >= last if order.side == "BUY" else order.price <= last

    def _fee(self, notional: Decimal) -> Decimal:
        return Decimal(repr(self.model.fill.commission(float(notional)))).quantize(EIGHT)

    def _take(self, acct: Account, order: VenueOrder, tape: SymbolTape,
              price: Decimal | None, now: float, all_or_none: bool = False) -> None:
        if price is None:
            return
        step = self.filters(order.symbol).step
        offer = available(self.model, self.liquidity, tape, now)
        qty = fillable(order.remaining, offer, step)
        if all_or_none and qty < order.remaining:
            return
        if order.orig_quote_qty and order.side == "BUY":
            qty = min(qty, floor_step(order.locked / price, step))
        for piece in split(qty, self.partial_fills, step):
            self._fill(acct, order, price, piece, maker=False)

    # --- fills -----------------------------------------------------------------------------
    def _fill(self, acct: Account, order: VenueOrder, price: Decimal, qty: Decimal,
              maker: bool) -> VenueTrade:
        base, quote = split_symbol(order.symbol)
        now_ms = self.now_ms()
        notional = (price * qty).quantize(EIGHT)
        buy = order.side == "BUY"
        fee_asset = base if buy and self.commission_asset == "base" else quote
        fee = self._fee(notional if fee_asset == quote else qty)
        trade = VenueTrade(order.symbol, self.next_trade_id, order.order_id, order.account,
                           price, qty, notional, fee, fee_asset, now_ms, buy, maker)
        self.next_trade_id += 1
        paid = (notional + (fee if fee_asset == quote else ZERO)) if buy else qty
        got = (qty - (fee if fee_asset == base else ZERO)) if buy else notional - fee
        paid = min(paid, order.locked)
        bal = acct.balance(order.locked_asset)
        bal.locked -= paid
        order.locked -= paid
        acct.balance(base if buy else quote).free += got
        acct.update_ms = now_ms
        order.executed_qty += qty
        order.cumm_quote += notional
        order.update_ms = now_ms
        order.fills.append(trade)
        self.trades.append(trade)
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        self._emit(order, trade, "TRADE")
        if order.status == "FILLED":
            self._release(acct, order)
            self.open.pop(order.order_id, None)
        return trade

    def _release(self, acct: Account, order: VenueOrder) -> None:
        if order.locked > 0:
            acct.unlock(order.locked_asset, order.locked)
            order.locked = ZERO

    def _finish(self, acct: Account, order: VenueOrder, status: str, reason: str) -> None:
        """An order's end other than a fill (EXPIRED, CANCELED); no-op once it is closed."""
        if not order.is_open:
            return
        order.status = status
        order.expiry_reason = reason if status == "EXPIRED" else ""
        order.update_ms = self.now_ms()
        self._release(acct, order)
        self.open.pop(order.order_id, None)
        self._emit(order, None, {"CANCELED": "CANCELED",
                                 "EXPIRED_IN_MATCH": "TRADE_PREVENTION"}.get(status, status))

    # --- resting orders --------------------------------------------------------------------
    def advance(self) -> int:
        """Match resting orders against the trades published since they were last looked at;
        how many fills that made."""
        now = self.clock()
        made = 0
        for order in list(self.open.values()):
            tape = self.market.tape(order.symbol)
            if tape is None:
                continue
            end = tape.published(now)
            start, order.checked = order.checked, end
            if not order.working:
                hit = crossed(tape, start, end, "SELL" if order.side == "BUY" else "BUY",
                              order.stop_price)
                if hit is None:
                    continue
                order.working, start = True, hit + 1
                if self._triggered(order, Decimal(tape.trades[hit].p)):
                    made += 1
                    continue
            if crossed(tape, start, end, order.side, order.price) is not None:
                self._fill(self.accounts.get(order.account), order, order.price,
                           order.remaining, maker=True)
                made += 1
        return made

    def _triggered(self, order: VenueOrder, trade_price: Decimal) -> bool:
        """A stop just reached by a trade at ``trade_price`` becomes a LIMIT order: when that
        limit is marketable it takes at once (at the taker's price, bounded by the limit);
        else it rests. Whether it filled."""
        if not self._marketable(order, trade_price):
            return False
        price = taker_price(self.model, trade_price, order.side)
        price = min(price, order.price) if order.side == "BUY" else max(price, order.price)
        self._fill(self.accounts.get(order.account), order, price, order.remaining,
                   maker=False)
        return True

    # --- queries and cancels ---------------------------------------------------------------
    def find(self, account: str, symbol: str, order_id: int | None,
             client_id: str | None) -> VenueOrder:
        """The order by id or by client id (the latest with it); -2013 when there is none."""
        self._tape(symbol)
        if order_id is None and client_id is None:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                                  "both were empty/null!")
        order = None
        if order_id is not None:
            order = self.by_id.get(order_id)
            if order is not None and client_id is not None and (
                    order.client_order_id != client_id):
                order = None
        else:
            for candidate in reversed(self.orders):
                if candidate.client_order_id == client_id:
                    order = candidate
                    break
        if order is None or order.account != account or order.symbol != symbol:
            raise ApiError(-2013, "Order does not exist.")
        return order

    def cancel(self, account: str, symbol: str, order_id: int | None,
               client_id: str | None, cancel_id: str | None = None) -> VenueOrder:
        """Cancel an open order (``cancel_id``: the cancel's own client id); -2011 when it is
        unknown or no longer open."""
        try:
            order = self.find(account, symbol, order_id, client_id)
        except ApiError as exc:
            if exc.code == -2013:
                raise ApiError(-2011, "Unknown order sent.") from None
            raise
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        order.cancel_client_id = cancel_id or new_client_id()
        self._finish(self.accounts.get(account), order, "CANCELED", "")
        return order

    def wipe(self) -> None:
        """A testnet reset: no orders, no trades, starting balances; the id counters go on."""
        self.orders.clear()
        self.open.clear()
        self.by_id.clear()
        self.trades.clear()
        self.accounts.wipe()
