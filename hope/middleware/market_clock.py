"""The market clock, for services that ask for it (``Service.market_clock_from``).

Trading rules run on market time (CONVENTIONS "Two clocks"). The clock is hard to push: only
events from a configured market-data publisher (``[market_clock] publishers``, checked against
both ``publisher`` and ``source``) move it, and only forward by at most ``max_step_s`` per event;
a ``market_ts`` outside 2009..2100 (seconds since the epoch) is refused, the first one too
(``clock``/``step_s`` null in its ALERT).

- ``"PRICE"``: PRICE ``market_ts`` (executor, decision engines). A PRICE from another publisher
  or a refused jump is not market data for this service: no handler sees it (fail-closed).
- ``"HEARTBEAT"``: the ``market_ts`` a market-data publisher's heartbeat carries (the DLQ
  daemon: staleness needs market time, not a PRICE delivery per price). The beat itself is
  always delivered.

SIGNAL never moves the clock: a rule that needs a signal's market time reads it from the payload.
A refused jump is counted (``market_clock_refused``), logged and published as an ALERT::

    ALERT.<service>  {"kind": "market_clock_jump", "service": "executor", "publisher": "x",
                      "market_ts": 4.1e9, "clock": 1.61e9, "step_s": 2.5e9, "max_step_s": 3.2e7}
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from hope.clock import MarketClock
from hope.envelope import Envelope, EventType
from hope.middleware import Middleware, Runtime
from hope.middleware.config import MarketClockConfig

MAX_LOGGED = 20
# Seconds since the epoch from 2009-01-01 to 2100-01-01: outside it a market_ts is in another
# unit (milliseconds) or made up, and the first one would otherwise fix the clock for good.
MIN_MARKET_TS, MAX_MARKET_TS = 1_230_768_000.0, 4_102_444_800.0
_NUMBER = (int, float)  # a tuple: ``int | float`` would build a union per event


class MarketTime(Middleware):
    def __init__(self, clock: MarketClock, cfg: MarketClockConfig, event_type: str = "PRICE"
                 ) -> None:
        if event_type not in (EventType.PRICE, EventType.HEARTBEAT):
            raise ValueError(f"market clock from {event_type!r}: PRICE or HEARTBEAT only")
        self.clock = clock
        self.publishers = frozenset(cfg.publishers)
        self.max_step_s = cfg.max_step_s
        self.prefix = f"{event_type}."
        self.drop = event_type == EventType.PRICE
        self.refused = self.foreign = 0
        self._rt: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self._rt = runtime

    def wants(self, topic: str) -> bool:
        return topic.startswith(self.prefix)

    def before(self, env: Envelope) -> Awaitable[bool] | None:
        if env.publisher not in self.publishers or env.source not in self.publishers:
            return self._foreign(env)
        ts = env.payload.get("market_ts")
        if not isinstance(ts, _NUMBER) or isinstance(ts, bool):
            return None  # a beat before the first trade carries none
        now = self.clock.now()
        if not MIN_MARKET_TS <= ts <= MAX_MARKET_TS:  # also bounds the first observation
            return self._refuse(env, float(ts), now)
        if now is not None and ts - now > self.max_step_s:
            return self._refuse(env, float(ts), now)
        self.clock.observe(ts)
        return None

    def _foreign(self, env: Envelope) -> Awaitable[bool] | None:
        if not self.drop:
            return None  # another service's heartbeat: not market time, still a beat
        self.foreign += 1
        if self.foreign <= MAX_LOGGED and self._rt is not None:
            self._rt.log.warning("market_clock_foreign_price", publisher=env.publisher,
                                 source=env.source, event_id=env.event_id)
        return _answer(False)

    async def _refuse(self, env: Envelope, ts: float, now: float | None) -> bool:
        rt = self._rt
        assert rt is not None
        self.refused += 1
        alert = {"kind": "market_clock_jump", "service": rt.name, "publisher": env.publisher,
                 "market_ts": ts, "clock": now, "step_s": None if now is None else ts - now,
                 "max_step_s": self.max_step_s, "event_id": env.event_id}
        if self.refused <= MAX_LOGGED:
            rt.log.error("market_clock_jump_refused", **alert)
        try:
            await rt.publish(EventType.ALERT, alert, parent=env)
        except Exception as exc:  # the refusal stands even if the ALERT cannot go out
            rt.log.error("alert_publish_failed", error=str(exc))
        return not self.drop

    def heartbeat(self) -> dict[str, Any]:
        return {"market_ts": self.clock.now(), "market_clock_refused": self.refused,
                "market_clock_foreign": self.foreign}


async def _answer(value: bool) -> bool:
    return value
