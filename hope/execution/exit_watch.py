"""Which open positions one PRICE can close, so a PRICE does not check every position.

An exit's reason (:meth:`hope.execution.positions.PositionManager.exit_reason`) changes only
when one of its inputs does: the position's own symbol's price (a PRICE of that symbol), the
market clock reaching its timeout, the position itself (opened, closing, dropped), or the
trading state. Between those, a position checked once gives the same answer again. So a PRICE
of symbol S is due for:

- the positions on S (the price targets);
- every position, when the market clock has reached the earliest timeout deadline of them all
  (the sweep: a timeout fires at the very PRICE it fires at when every position is checked);
- every position, once, after any change to the positions or the trading state (a position
  opened with its target already hit, exits held while HALTED, then resumed);
- the positions whose last check found a reason but did not close (a refused or failed SELL,
  an exit rate-limited on the wall clock, the venue gate closed; a close in progress): they
  are tried again on every PRICE.

The market clock is the trading clock (CONVENTIONS "Two clocks"): the sweep is judged on it,
never on the wall clock. In memory only: after a restart the first PRICE checks everything.
"""

from __future__ import annotations

from hope.execution.positions import ExecutorStore
from hope.execution.records import Position

# A timeout is judged as ``now - opened >= timeout_s``; the sweep starts this much before the
# earliest ``opened + timeout_s`` so float rounding of the sum can never make it start late
# (an early sweep only costs a check that finds nothing).
DEADLINE_MARGIN_S = 1e-3
_NEVER = float("inf")


class ExitWatch:
    """The positions of one :class:`ExecutorStore` indexed by symbol, with their earliest
    timeout deadline; rebuilt when the store's positions change."""

    def __init__(self, store: ExecutorStore) -> None:
        self.store = store
        self._version = -1            # the store's positions_version the index was built for
        self._state: str | None = None
        self._full = True             # the next PRICE checks every position
        self._by_symbol: dict[str, list[Position]] = {}
        self._deadline = _NEVER       # earliest opened_market_ts + timeout_s (market clock)
        self._retry: set[str] = set()  # order ids whose last check found a reason, still open

    def _refresh(self, trading_state: str) -> None:
        store = self.store
        if store.positions_version != self._version:
            by_symbol: dict[str, list[Position]] = {}
            deadline = _NEVER
            for pos in store.positions.values():
                by_symbol.setdefault(pos.symbol, []).append(pos)
                if pos.closing:
                    self._retry.add(pos.order_id)
                deadline = min(deadline, pos.opened_market_ts + pos.timeout_s)
            self._by_symbol, self._deadline = by_symbol, deadline
            self._retry &= store.positions.keys()
            self._version, self._full = store.positions_version, True
        if trading_state != self._state:
            self._state, self._full = trading_state, True

    def _sweep(self, market_now: float | None) -> bool:
        return self._full or (market_now is not None
                              and market_now >= self._deadline - DEADLINE_MARGIN_S)

    def wants(self, symbol: str, market_now: float | None, trading_state: str) -> bool:
        """Does a PRICE of ``symbol`` have any position to check (asked without the lock)?"""
        self._refresh(trading_state)
        return bool(self._retry or symbol in self._by_symbol or self._sweep(market_now))

    def due(self, symbol: str | None, market_now: float | None,
            trading_state: str) -> list[Position]:
        """The positions a PRICE of ``symbol`` must check (None: every position), in the
        order of the ledger."""
        self._refresh(trading_state)
        positions = self.store.positions
        if symbol is None or self._sweep(market_now):
            self._full = False
            return list(positions.values())
        mine = self._by_symbol.get(symbol, ())
        if not self._retry:
            return list(mine)
        due = {pos.order_id for pos in mine} | self._retry
        return [pos for oid, pos in positions.items() if oid in due]

    def checked(self, pos: Position, reason: str | None, closed: bool) -> None:
        """The outcome of one position's check: a reason without a close is tried again."""
        if reason and not closed:
            self._retry.add(pos.order_id)
        else:
            self._retry.discard(pos.order_id)
