"""``halt``, ``reduce``, ``resume``: the operator's levers on the trading state.

Wire message (``hope trading halt`` or ``POST /v1/trading/halt``; ``reduce`` and ``resume`` alike)::

    topic    CONTROL.*
    payload  {"service": "*", "command": "halt"}

Authority (:mod:`hope.authority`): principals ``operator`` (the CLI, which adds ``os_user``) and
``gateway`` (its control scope); from anyone else the bus refuses it before any handler.

| command | trading state | effect |
|---|---|---|
| ``halt`` | HALTED | no BUY; the executor stops automatic exits too (``flatten`` still works) |
| ``reduce`` | REDUCING | no BUY; open positions still close on their targets |
| ``resume`` | ACTIVE | trading as configured |

The sender writes ``<state>/trading_state`` first and then publishes the CONTROL
(:func:`set_trading_state`): the file is what a restart sees and what every follower re-reads
every ``state_reload_s``, so a lost CONTROL delays the change by one reload, never loses it.
Each obeying service holds a :class:`TradingStateFollower`: the live decision engine persists
what CONTROL says (it owns the file) and publishes TRADING_STATE on a change; the shadow engine
and the executor follow in memory.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hope.control import EVERY, addressed_to, control_payload
from hope.envelope import Envelope
from hope.trading.state import ACTIVE, HALTED, REDUCING, TradingStateStore

COMMAND_STATE = {"halt": HALTED, "reduce": REDUCING, "resume": ACTIVE}


@dataclass
class StateChange:
    """What :func:`set_trading_state` did: the file always, the CONTROL unless ``error``."""

    previous: str
    previous_error: str | None      # why the previous state read as HALTED, if it did
    state: str
    published: Any = None           # what the publish function returned
    error: BaseException | None = None  # the publish failed: the file holds, CONTROL did not go


async def set_trading_state(store: TradingStateStore, command: str, changed_by: str,
                            publish: Callable[[dict[str, Any]], Awaitable[Any]]) -> StateChange:
    """Write the state file for ``command``, then publish its CONTROL to every service.

    ``publish(payload)`` sends one CONTROL event; its failure is returned, not raised (the file
    already holds the change and followers pick it up on their next reload)."""
    if command not in COMMAND_STATE:
        raise ValueError(f"trading command must be one of {sorted(COMMAND_STATE)}, "
                         f"got {command!r}")
    new = COMMAND_STATE[command]
    old = store.load()
    change = StateChange(previous=old, previous_error=store.last_error, state=new)
    await asyncio.to_thread(store.save, new, changed_by)
    try:
        change.published = await publish(control_payload(command, EVERY))
    except Exception as exc:  # the bus is down: the file holds, the caller reports
        change.error = exc
    return change


OnChange = Callable[[str, str, str], Awaitable[None] | None]  # (old, new, why)


class TradingStateFollower:
    """One service's trading state: CONTROL obeyed at once, the state file as the fallback.

    ``names``: the addressees this service answers to besides ``"*"``. ``persist``: write what
    CONTROL says to the file (only the file's owner, the live decision engine). ``on_change``
    is called (and awaited if it returns an awaitable) with ``(old, new, why)`` on every change.
    ``hold()`` returning a reason keeps the state HALTED whatever CONTROL or the file says (the
    executor while its ledger is unreadable)."""

    def __init__(self, store: TradingStateStore, initial: str, *, names: Iterable[str],
                 persist: bool = False, on_change: OnChange | None = None,
                 hold: Callable[[], str | None] | None = None) -> None:
        self.store = store
        self.names = tuple(names)
        self.persist = persist
        self.on_change = on_change
        self.hold = hold or (lambda: None)
        self.state = HALTED if self.hold() else initial

    async def on_control(self, env: Envelope) -> bool:
        """Obey a CONTROL halt/reduce/resume addressed to us; True when it was one."""
        p = env.payload
        new = COMMAND_STATE.get(str(p.get("command")))
        if new is None or not addressed_to(p, *self.names):
            return False
        if self.persist and self.store.load() != new:
            self.store.save(new, changed_by=f"CONTROL {env.event_id}")
        await self._set(new, f"CONTROL {p.get('command')}")
        return True

    async def reload(self) -> None:
        """Re-read the file (an unreadable file reads HALTED: fail-closed)."""
        await self._set(self.store.load(), "state file")

    async def _set(self, new: str, why: str) -> None:
        held = self.hold()
        if held and new != HALTED:
            new, why = HALTED, f"{why}, held: {held}"
        old = self.state
        if new == old:
            return
        self.state = new
        if self.on_change is not None:
            result = self.on_change(old, new, why)
            if inspect.isawaitable(result):
                await result
