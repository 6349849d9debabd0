"""A long-lived bus client in a thread of its own, for programs whose main loop blocks.

The supervisord event listener reads its protocol from stdin, blocking. A short-lived client per
event would close its outbox as soon as it published: an event the audit writer missed (it may be
the process that just died) could then never be replayed. This client stays up: it answers
REPLAY requests from its outbox, heartbeats its sequence highs so a lost tail is noticed, and
resends an earlier run's unacknowledged events when it starts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from hope.bus.zmq import ZmqBus
from hope.config import Config
from hope.envelope import Envelope, new_event
from hope.heartbeat import heartbeat_event


class BackgroundPublisher:
    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self.bus = ZmqBus(name, config, recover=False, journal=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"{name}-bus", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name}: bus did not start within {timeout:g}s")
        if self._error:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            await self.bus.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        interval = self.config.bus.heartbeat_interval_s
        started = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            await self.bus.publish(heartbeat_event(self.name, self.bus.epoch, started,
                                                   config=self.config,
                                                   pub=self.bus.sequencer.highs()))

    def publish(self, event_type: str, payload: dict[str, Any],
                timeout: float = 10.0) -> Envelope:
        """Publish from the calling (blocking) thread; returns the stamped event."""
        env = new_event(event_type, payload, source=self.name)
        return asyncio.run_coroutine_threadsafe(self.bus.publish(env), self._loop).result(timeout)

    def stop(self) -> None:
        def _stop() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
        self._loop.call_soon_threadsafe(_stop)
        self._thread.join(timeout=10)
        self.bus.kill()
