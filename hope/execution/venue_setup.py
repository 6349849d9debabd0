"""Building the executor for a live venue from config: keys, REST client, first-start HALTED.

A key file that is missing or readable by others refuses the start naming the file (exit 78,
as any bad config); the key itself is never logged. The first start on a live venue in a state
dir saves the trading state HALTED (``changed_by`` says why) before anything else: an operator
resumes (``hope trading resume``) once the first reconciliation has passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hope.config import ConfigError
from hope.execution.breaker import CircuitBreaker
from hope.execution.limits import Limits
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.execution.venue_tasks import install
from hope.runtime import Runtime
from hope.trading.state import HALTED, TradingStateStore
from hope.venue.adapter import BinanceVenue
from hope.venue.keys import KeyFileError, load_keys
from hope.venue.rest import Request, VenueRest
from hope.venue.status import mark_started, started_before, write_status

FIRST_START = "first start on a live venue (resume after reconciliation)"


def open_venue(runtime: Runtime, *, offset_ms: Callable[[], float] | None = None,
               before_send: Callable[[Request], Awaitable[None] | None] | None = None,
               on_headers: Callable[[Request, int, Mapping[str, str]], None] | None = None
               ) -> BinanceVenue:
    """The venue client from config. The hooks are where a clock-offset estimate
    (``offset_ms``), a rate budget (``before_send``, may raise ``NotSent``) and the usage
    headers' reader (``on_headers``) plug in (:mod:`hope.venue.rest`)."""
    bcfg = runtime.config.execution.binance
    try:
        keys = load_keys(bcfg, runtime.state.keys)
    except (KeyFileError, ValueError) as exc:
        raise ConfigError(f"[execution.binance] {exc}") from None
    rest = VenueRest(bcfg.rest_url, keys.api_key, keys.signer,
                     recv_window_ms=bcfg.recv_window_ms, timeout_s=bcfg.request_timeout_s,
                     offset_ms=offset_ms, before_send=before_send, on_headers=on_headers)
    return BinanceVenue(rest)


def halt_first_start(runtime: Runtime, tstore: TradingStateStore) -> bool:
    """HALTED on the first start on a live venue here (True then); nothing otherwise."""
    bcfg, directory = runtime.config.execution.binance, runtime.state.venue
    if started_before(directory):
        return False
    tstore.save(HALTED, changed_by=FIRST_START)
    mark_started(directory, "binance", bcfg.rest_url)
    runtime.log.warning("first start on a live venue: trading HALTED until `hope trading "
                        "resume`", rest_url=bcfg.rest_url)
    return True


def live_executor(runtime: Runtime, store: ExecutorStore, breaker: CircuitBreaker,
                  tstore: TradingStateStore, limits: Limits, *,
                  venue: BinanceVenue | None = None) -> LiveExecutor:
    own = venue is None   # HOPE's own REST client: the clock and rate guards go on it
    venue = venue or open_venue(runtime)
    halt_first_start(runtime, tstore)
    live = LiveExecutor(runtime.config.execution, venue, store, breaker,
                        market_clock=runtime.market_clock, log=runtime.log, limits=limits)
    if own:
        install(runtime, live)
    return live


def venue_status(runtime: Runtime, executor: Any) -> None:
    """``<state>/venue/status.json`` from the executor's breaker and last report."""
    gate = executor.gate
    write_status(runtime.state.venue, venue=executor.venue.name,
                 rest_url=runtime.config.execution.binance.rest_url, breaker=gate.state,
                 reason=gate.reason, report=executor.last_report)
