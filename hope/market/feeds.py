"""Recorded market data behind one interface: trades and bars, format detected from the header.

Every reader yields :class:`Trade` (or :class:`Bar`) tuples with the time in float seconds UTC and
the symbol without the slash (``EVX/BTC`` -> ``EVXBTC``). Files may be gzip or plain text. A bad
row never stops a read: it is reported as ``file:line: reason``, counted in the feed's
:class:`FeedErrors` and skipped. Parsing uses the ``csv`` module and one tight loop per format,
because evaluation must run at well over 100,000 trades/s.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

MAX_ERROR_MESSAGES = 50  # keep the first few messages; the count keeps growing


class Trade(NamedTuple):
    ts: float          # seconds since the epoch, UTC
    symbol: str        # without the slash: "EVXBTC"
    price: float
    qty: float         # base units
    taker_buy: bool    # the aggressor bought (is_buyer_maker == false)


class Bar(NamedTuple):
    ts: float          # bar open time, seconds since the epoch, UTC
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class FeedError(ValueError):
    """A file that cannot be read at all (missing, unknown header). Bad rows are not errors."""


@dataclass
class FeedErrors:
    """Bad rows of one feed: a count and the first messages, each ``file:line: reason``."""

    count: int = 0
    messages: list[str] = field(default_factory=list)
    on_error: Callable[[str], None] | None = None

    def add(self, path: str, line: int, reason: str) -> None:
        self.count += 1
        msg = f"{path}:{line}: {reason}"
        if len(self.messages) < MAX_ERROR_MESSAGES:
            self.messages.append(msg)
        if self.on_error is not None:
            self.on_error(msg)


# --- format detection ---------------------------------------------------------------------

# header -> (format name, kind). Compared as tuples of stripped lower-case column names.
FORMATS: dict[tuple[str, ...], tuple[str, str]] = {
    ("symbol", "timestamp", "datetime", "side", "price", "amount", "btc_volume"):
        ("ccxt_aggtrades", "trades"),
    ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"):
        ("tardis_trades", "trades"),
    ("timestamp", "id", "side", "price", "amount", "cost", "is_buyer_maker"):
        ("binance_aggtrades", "trades"),
    ("timestamp", "open", "high", "low", "close", "volume"): ("ohlcv_bars", "bars"),
    ("symbol", "date", "open", "high", "low", "close", "volume"): ("ohlcv_long_bars", "bars"),
}

_SYMBOL_TOKEN = re.compile(r"^[A-Z0-9]+(?:[-/][A-Z0-9]+)?$")
_PUMP_TIME = re.compile(r"_(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})Z")


def _bad_value(exc: ValueError | KeyError) -> str:
    """Why a row's value did not parse (a KeyError: a side its format's table does not know)."""
    if isinstance(exc, KeyError):
        return f"bad value {exc.args[0]!r} (expected buy/sell or true/false)"
    return f"bad value ({exc})"


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def symbol_from_name(path: str | Path) -> str:
    """The first upper-case market token of a file name: ``binance_XRPETH_...`` -> ``XRPETH``."""
    for token in Path(path).name.split("_"):
        if len(token) >= 5 and _SYMBOL_TOKEN.match(token) and any(c.isalpha() for c in token):
            return token.replace("/", "")
    return Path(path).name.split(".")[0]


def pump_time_from_name(path: str | Path) -> float | None:
    """The announced pump time in a file name (``..._2021-01-09T2100Z...``), or None."""
    m = _PUMP_TIME.search(Path(path).name)
    if not m:
        return None
    day, hh, mm = m.groups()
    return datetime.fromisoformat(f"{day}T{hh}:{mm}:00+00:00").timestamp()


def detect_format(header: list[str]) -> tuple[str, str]:
    """(format, kind) for a CSV header; FeedError when no known format matches."""
    key = tuple(h.strip().lower() for h in header)
    try:
        return FORMATS[key]
    except KeyError:
        raise FeedError(f"unknown header {','.join(header)!r}") from None


def _iso_ts(text: str) -> float:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


_SIDES = {"buy": True, "sell": False}
_NOT = {"true": False, "false": True}  # is_buyer_maker -> taker_buy
# trade format -> (width, ts col, ts units per second, symbol col (-1: file name), price col,
#                  qty col, side col, side map)
_TRADE_COLUMNS: dict[str, tuple[int, int, float, int, int, int, int, dict[str, bool]]] = {
    "ccxt_aggtrades": (7, 1, 1000.0, 0, 4, 5, 3, _SIDES),
    "tardis_trades": (8, 2, 1e6, 1, 6, 7, 5, _SIDES),
    # is_buyer_maker == true means the taker sold; it is the authoritative column.
    "binance_aggtrades": (7, 0, 1000.0, -1, 3, 4, 6, _NOT),
}
_new = tuple.__new__  # skips NamedTuple.__new__'s Python-level call: 20 % faster reads


class FileFeed:
    """One recorded file. Iterating yields Trades (trade files) or Bars (bar files), in order.

    Rows whose time goes backwards are bad rows too: consumers rely on a monotonic market clock.
    """

    def __init__(self, path: str | Path, symbol: str | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.path = str(path)
        self._path = Path(path)
        self.errors = FeedErrors(on_error=on_error)
        self.rows = 0
        self._syms: dict[str, str] = {}
        self.last_ts: dict[str, float] = {}
        try:
            with _open_text(self._path) as fh:
                header = next(csv.reader(fh), None)
        except FileNotFoundError:
            raise FeedError(f"{self.path}: file not found") from None
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise FeedError(f"{self.path}: unreadable ({exc})") from None
        if not header:
            raise FeedError(f"{self.path}:1: empty file, no header")
        try:
            self.format, self.kind = detect_format(header)
        except FeedError as exc:
            raise FeedError(f"{self.path}:1: {exc}") from None
        self.symbol = symbol or symbol_from_name(self.path)

    def __repr__(self) -> str:
        return f"FileFeed({self.path!r}, format={self.format})"

    def __iter__(self) -> Iterator:
        if self.format in _TRADE_COLUMNS:
            return self._trade_rows(*_TRADE_COLUMNS[self.format])
        return self._rows(getattr(self, "_parse_" + self.format))

    def trades(self) -> Iterator[Trade]:
        if self.kind != "trades":
            raise FeedError(f"{self.path}: holds {self.kind}, not trades")
        return iter(self)

    def bars(self) -> Iterator[Bar]:
        if self.kind != "bars":
            raise FeedError(f"{self.path}: holds {self.kind}, not bars")
        return iter(self)

    def _open_rows(self) -> io.TextIOBase | None:
        """The file opened for its rows, or None when it cannot be (reported at line 0)."""
        try:
            return _open_text(self._path)
        except OSError as exc:
            self.errors.add(self.path, 0, f"unreadable ({exc})")
            return None

    def _rows(self, parse: Callable[[list[str]], tuple]) -> Iterator:
        width = len(next(k for k, v in FORMATS.items() if v[0] == self.format))
        last: dict[str, float] = {}
        self.last_ts = last  # symbol -> latest time read: the symbols this file holds
        isfinite = math.isfinite
        add = self.errors.add
        rows = 0
        fh = self._open_rows()
        if fh is None:
            return
        with fh:
            reader = csv.reader(fh)
            next(reader, None)
            lineno = 1
            try:
                for row in reader:
                    lineno += 1
                    if len(row) != width:
                        if row:
                            add(self.path, lineno, f"expected {width} columns, got {len(row)}")
                        continue
                    try:
                        item = parse(row)
                    except (ValueError, KeyError) as exc:
                        add(self.path, lineno, _bad_value(exc))
                        continue
                    ts, sym, price, qty = item[0], item[1], item[2], item[6]  # bars: open, volume
                    if not (ts > 0 and price > 0 and qty >= 0 and isfinite(ts)
                            and isfinite(price) and isfinite(qty)):
                        add(self.path, lineno, "time, price or quantity not a positive finite number")
                        continue
                    prev = last.get(sym)
                    if prev is not None and ts < prev:
                        add(self.path, lineno, f"time goes backwards ({ts} < {prev})")
                        continue
                    last[sym] = ts
                    rows += 1
                    yield item
            except (csv.Error, OSError, EOFError, UnicodeDecodeError) as exc:
                add(self.path, lineno + 1, f"unreadable rest of file ({exc})")
            finally:
                self.rows += rows

    def _trade_rows(self, width: int, c_ts: int, scale: float, c_sym: int, c_px: int,
                    c_qty: int, c_side: int, sides: dict[str, bool]) -> Iterator[Trade]:
        """The hot loop for trade files: one pass, no call per row but the float parses.

        Same checks and messages as :meth:`_rows`; evaluation needs >100k trades/s per core.
        """
        last: dict[str, float] = {}
        self.last_ts = last
        isfinite = math.isfinite
        add = self.errors.add
        new = _new
        syms = self._syms
        fixed = self.symbol
        rows = 0
        fh = self._open_rows()
        if fh is None:
            return
        with fh:
            reader = csv.reader(fh)
            next(reader, None)
            lineno = 1
            prev = -math.inf
            prev_sym = None
            try:
                for row in reader:
                    lineno += 1
                    if len(row) != width:
                        if row:
                            add(self.path, lineno, f"expected {width} columns, got {len(row)}")
                        continue
                    try:
                        ts = float(row[c_ts]) / scale
                        price = float(row[c_px])
                        qty = float(row[c_qty])
                        side = sides[row[c_side]]
                    except (ValueError, KeyError) as exc:
                        add(self.path, lineno, _bad_value(exc))
                        continue
                    # the file's symbol, or its column's, normalised once per distinct name
                    sym = fixed if c_sym < 0 else syms.get(row[c_sym]) or self._sym(row[c_sym])
                    if not (ts > 0 and price > 0 and qty >= 0 and isfinite(ts)
                            and isfinite(price) and isfinite(qty)):
                        add(self.path, lineno, "time, price or quantity not a positive finite number")
                        continue
                    if sym is not prev_sym:
                        prev = last.get(sym, -math.inf)
                        prev_sym = sym
                    if ts < prev:
                        add(self.path, lineno, f"time goes backwards ({ts} < {prev})")
                        continue
                    prev = last[sym] = ts
                    rows += 1
                    yield new(Trade, (ts, sym, price, qty, side))
            except (csv.Error, OSError, EOFError, UnicodeDecodeError) as exc:
                add(self.path, lineno + 1, f"unreadable rest of file ({exc})")
            finally:
                self.rows += rows

    # One parser per format: row -> Trade/Bar; raise ValueError/KeyError on bad values.
    def _sym(self, raw: str) -> str:
        sym = self._syms.get(raw)
        if sym is None:
            sym = self._syms[raw] = raw.replace("/", "")
        return sym

    def _parse_ohlcv_bars(self, r: list[str]) -> Bar:
        return _new(Bar, (_iso_ts(r[0]), self.symbol, float(r[1]), float(r[2]), float(r[3]),
                          float(r[4]), float(r[5])))

    def _parse_ohlcv_long_bars(self, r: list[str]) -> Bar:
        return _new(Bar, (_iso_ts(r[1]), self._sym(r[0]), float(r[2]), float(r[3]),
                          float(r[4]), float(r[5]), float(r[6])))


def open_feed(path: str | Path, symbol: str | None = None,
              on_error: Callable[[str], None] | None = None) -> FileFeed:
    """Open a recorded file of any known format; raises FeedError if it cannot be read at all."""
    return FileFeed(path, symbol=symbol, on_error=on_error)
