"""The stand-in's settings: market, WebSocket and REST limits, fault knobs; from a TOML
scenario file, overridden by CLI flags.

Scenario file (every key optional; the defaults are the venue's)::

    [market]
    speed = 10.0            # market time runs 10x the wall clock
    rebase = true           # timestamps = wall time of publication
    skip_s = 3600           # the first hour of each symbol is history (REST only)
    first_id = 1            # the first aggregate id of each symbol
    start_delay_s = 0.0     # wall seconds before the live stream starts (time to connect)

    [ws]
    ping_interval_s = 20
    pong_timeout_s = 60
    max_connection_age_s = 86400     # the venue's "24 h"
    max_messages_per_s = 5
    max_streams = 1024
    attempts_per_5min = 300
    shutdown_grace_s = 3

    [rest]
    weight_limit = 6000     # REQUEST_WEIGHT per minute
    ban_after = 3           # requests after a 429 in the same minute before the 418 ban
    ban_s = 120
    delay_s = 0.0           # every response this late
    fail_first = 0          # the first N requests fail with fail_status
    fail_every = 0          # and every Nth request after them
    fail_status = 503

    [status]                # at start; UNLISTED: absent from exchangeInfo, REST -1121, no frames
    GVTBTC = "BREAK"

    [[status_change]]       # later: a listing, a delisting, a BREAK
    symbol = "GVTBTC"
    status = "TRADING"
    at_s = 60               # wall seconds after the market starts

    [[fault]]
    kind = "drop"           # see hope.venue_sim.faults
    symbol = "EVXBTC"
    from_id = 500

    [trading]               # the matching side (hope.venue_sim.book)
    balances = { BTC = "1.0" }   # every account's starting balances
    slippage_bps = 5.0      # the paper model (hope.execution.fill_model)
    commission_bps = 10.0
    commission_asset = "quote"   # or "base": fees in the asset received (BUY: the base)
    liquidity_window_s = 60 # base volume of the last 60 market seconds is on offer
    liquidity_factor = 1.0
    partial_fills = 1       # fills per taker order
    orders_per_10s = 100    # rateLimits ORDERS
    orders_per_day = 200000
    max_open_orders = 200
    enable_withdrawals = false   # what /sapi/v1/account/apiRestrictions reports
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hope.config import read_toml, refuse_unknown
from hope.venue_sim.exchange_info import StatusChange
from hope.venue_sim.faults import StreamFault


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the key."""


@dataclass
class MarketSettings:
    speed: float = 1.0
    rebase: bool = False
    skip_s: float = 0.0
    first_id: int = 1
    start_delay_s: float = 0.0


@dataclass
class WsSettings:
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_connection_age_s: float = 86400.0
    max_messages_per_s: int = 5
    max_streams: int = 1024
    attempts_per_5min: int = 300
    shutdown_grace_s: float = 3.0
    queue_max: int = 100_000       # frames waiting for a slow client before it is cut off


@dataclass
class RestSettings:
    weight_limit: int = 6000
    ban_after: int = 3
    ban_s: float = 120.0
    delay_s: float = 0.0
    fail_first: int = 0
    fail_every: int = 0
    fail_status: int = 503


@dataclass
class TradingSettings:
    balances: dict = field(default_factory=lambda: {"BTC": "1.0"})
    slippage_bps: float = 5.0
    commission_bps: float = 10.0
    commission_asset: str = "quote"    # or "base": the asset received (BUY: base)
    liquidity_window_s: float = 60.0   # market seconds of volume on offer; 0: unlimited
    liquidity_factor: float = 1.0
    partial_fills: int = 1             # fills per taker order
    orders_per_10s: int = 100
    orders_per_day: int = 200_000
    max_open_orders: int = 200         # MAX_NUM_ORDERS per symbol
    enable_withdrawals: bool = False   # what apiRestrictions reports for every key


@dataclass
class Scenario:
    market: MarketSettings = field(default_factory=MarketSettings)
    ws: WsSettings = field(default_factory=WsSettings)
    rest: RestSettings = field(default_factory=RestSettings)
    status: dict[str, str] = field(default_factory=dict)
    status_changes: list[StatusChange] = field(default_factory=list)
    faults: list[StreamFault] = field(default_factory=list)
    trading: TradingSettings = field(default_factory=TradingSettings)


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table")
    refuse_unknown(raw, [f.name for f in fields(cls)], where, ScenarioError)
    out = cls()
    for key, value in raw.items():
        default = getattr(out, key)
        kinds = (int, float) if isinstance(default, float) else (type(default),)
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, kinds):
            raise ScenarioError(f"{where}.{key}: expected {type(default).__name__}, "
                                f"got {value!r}")
        setattr(out, key, type(default)(value))
    return out


def parse(raw: dict[str, Any], where: str = "scenario") -> Scenario:
    """A Scenario from a parsed TOML document; ScenarioError names the bad key."""
    refuse_unknown(raw, ("market", "ws", "rest", "status", "status_change", "fault", "trading"),
                   where, ScenarioError, sections=True)
    sc = Scenario(market=_section(MarketSettings, raw.get("market", {}), f"{where}: market"),
                  ws=_section(WsSettings, raw.get("ws", {}), f"{where}: ws"),
                  rest=_section(RestSettings, raw.get("rest", {}), f"{where}: rest"),
                  trading=_section(TradingSettings, raw.get("trading", {}),
                                   f"{where}: trading"))
    _check_trading(sc.trading, where)
    status = raw.get("status", {})
    if not isinstance(status, dict) or not all(isinstance(v, str) for v in status.values()):
        raise ScenarioError(f"{where}: status: expected SYMBOL = \"STATUS\" pairs")
    sc.status = dict(status)
    for i, item in enumerate(raw.get("status_change", [])):
        at = f"{where}: status_change[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{at}: expected a table")
        try:
            sc.status_changes.append(StatusChange(**item))
        except TypeError as exc:
            raise ScenarioError(f"{at}: {exc}") from None
    for i, item in enumerate(raw.get("fault", [])):
        at = f"{where}: fault[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{at}: expected a table")
        try:
            sc.faults.append(StreamFault(**item))
        except TypeError as exc:
            raise ScenarioError(f"{at}: {exc}") from None
        except ValueError as exc:
            raise ScenarioError(f"{at}: {exc}") from None
    if sc.market.speed <= 0:
        raise ScenarioError(f"{where}: market.speed must be > 0")
    return sc


def _check_trading(t: TradingSettings, where: str) -> None:
    if t.commission_asset not in ("quote", "base"):
        raise ScenarioError(f"{where}: trading.commission_asset: 'quote' or 'base', got "
                            f"{t.commission_asset!r}")
    for asset, amount in t.balances.items():
        try:
            ok = Decimal(str(amount)) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ScenarioError(f"{where}: trading.balances.{asset}: expected an amount >= 0, "
                                f"got {amount!r}")
    if t.partial_fills < 1:
        raise ScenarioError(f"{where}: trading.partial_fills must be >= 1")


def load(path: str | Path) -> Scenario:
    return parse(read_toml(path, "scenario file", ScenarioError), str(path))
