"""The trading kernel: the concepts every trading part shares, with no service in them.

- :mod:`hope.trading.ids`: client order ids (one decision = one order, one close per position);
- :mod:`hope.trading.symbols`: the quote currency of a symbol;
- :mod:`hope.trading.state`: the trading state (ACTIVE / REDUCING / HALTED) and its file;
- :mod:`hope.trading.book`: ``apply_buy``, how a BUY takes a position slot in a risk book.

The decision engine, its shadow, the executor, the gateway and the CLI import from here; this
package imports nothing of theirs. The operator commands that change the trading state travel
as CONTROL events (:mod:`hope.control`).
"""
