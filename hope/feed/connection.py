"""One WebSocket connection to a combined stream (a shard of at most 1,024 streams).

:class:`Shard` keeps its connection up for as long as the feed runs: it connects to
``<ws_url>/stream?streams=a/b/...`` (streams that do not fit the URL are added with paced
SUBSCRIBE), answers the server's pings with the same payload, reconnects with exponential
backoff and jitter (no attempt limit; every attempt books a slot in the shared connection-rate
limiter), reconnects when no data arrived for ``stale_connection_s`` (a connection can die
silently), and rotates make-before-break: before ``rotate_after_s`` (the venue closes every
connection at 24 h) and on ``serverShutdown`` it opens the new connection, waits for its first
frame and only then closes the old one. The overlap's duplicates are dropped by id downstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from hope.feed.config import BinanceConfig
from hope.feed.health import FeedHealth
from hope.feed.messages import AggTrade, Control, MessageError, parse_frame
from hope.feed.pacing import Backoff, ConnectLimiter, Pacer

MAX_URL = 4000          # streams beyond this URL length are subscribed by control message
SUBSCRIBE_BATCH = 100   # streams per SUBSCRIBE
OnTrade = Callable[[AggTrade], None]
OnEvent = Callable[[str, dict[str, Any]], Awaitable[None]]


class _Conn:
    """One open socket and what its reader saw."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, now: float) -> None:
        self.ws = ws
        self.opened = now
        self.last_data = now
        self.first_data = asyncio.Event()
        self.done = asyncio.Event()
        self.shutdown = False
        self.task: asyncio.Task | None = None


class Shard:
    """Streams ``streams`` over one connection at a time (two while rotating)."""

    def __init__(self, index: int, cfg: BinanceConfig, streams: list[str], *, on_trade: OnTrade,
                 on_event: OnEvent, health: FeedHealth, limiter: ConnectLimiter,
                 session: aiohttp.ClientSession, log: Any = None,
                 on_reconnect: Callable[[list[str]], None] | None = None) -> None:
        self.index = index
        self.cfg = cfg
        self.streams = list(streams)
        self.on_trade = on_trade
        self.on_event = on_event
        self.health = health
        self.limiter = limiter
        self.session = session
        self.log = log
        self.on_reconnect = on_reconnect
        self.pacer = Pacer(cfg.control_per_s)
        self.backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
        self.conn: _Conn | None = None
        self.control_id = 0
        self.stopped = False
        self.h = health.connection(index)
        self.h.streams = len(self.streams)

    # --- connecting ------------------------------------------------------------------------
    def _url(self) -> tuple[str, list[str]]:
        base = self.cfg.ws_url.rstrip("/") + "/stream?streams="
        inline: list[str] = []
        size = len(base)
        for s in self.streams:
            if size + len(s) + 1 > MAX_URL and inline:
                break
            inline.append(s)
            size += len(s) + 1
        return base + "/".join(inline), self.streams[len(inline):]

    async def _connect(self) -> _Conn:
        """Connect (waiting for backoff and the rate limiter) until it succeeds."""
        while True:
            delay = self.limiter.reserve(time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            url, rest = self._url()
            self.h.connects += 1
            try:
                ws = await self.session.ws_connect(
                    url, autoping=False, heartbeat=None, max_msg_size=1 << 22,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                wait = self.backoff.next_delay()
                if self.log is not None:
                    self.log.warning("feed_connect_failed", connection=self.index,
                                     error=f"{type(exc).__name__}: {exc}", retry_in_s=round(wait, 2))
                await asyncio.sleep(wait)
                continue
            conn = _Conn(ws, time.monotonic())
            conn.task = asyncio.create_task(self._read(conn), name=f"feed-shard-{self.index}")
            if rest:
                await self._control(conn, "SUBSCRIBE", rest)
            return conn

    async def _control(self, conn: _Conn, method: str, streams: list[str]) -> None:
        for i in range(0, len(streams), SUBSCRIBE_BATCH):
            delay = self.pacer.reserve(time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            self.control_id += 1
            await conn.ws.send_str(json.dumps({"method": method,
                                               "params": streams[i:i + SUBSCRIBE_BATCH],
                                               "id": self.control_id}))

    # --- reading ---------------------------------------------------------------------------
    async def _read(self, conn: _Conn) -> None:
        ws, h = conn.ws, self.h
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._frame(conn, msg.data)
                elif msg.type == aiohttp.WSMsgType.PING:
                    h.pings += 1
                    # A pong counts against the venue's 5 messages/s like control messages do.
                    delay = self.pacer.reserve(time.monotonic())
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await ws.pong(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                    break
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            if self.log is not None:
                self.log.warning("feed_read_failed", connection=self.index, error=str(exc))
        finally:
            conn.done.set()

    def _frame(self, conn: _Conn, text: str) -> None:
        self.h.messages += 1
        try:
            item = parse_frame(text)
        except MessageError as exc:
            self.h.bad_frames += 1
            if self.log is not None and self.h.bad_frames <= 20:
                self.log.warning("feed_bad_frame", connection=self.index, error=str(exc),
                                 frame=text[:200])
            return
        now = time.monotonic()
        if isinstance(item, Control):
            if item.kind == "serverShutdown":
                conn.shutdown = True
            elif item.kind == "error" and self.log is not None:
                self.log.warning("feed_control_error", connection=self.index, body=item.body)
            return
        conn.last_data = now
        self.h.last_data = time.time()
        conn.first_data.set()
        self.on_trade(item)

    # --- the shard's life ------------------------------------------------------------------
    async def run(self) -> None:
        """Keep a connection up until :meth:`stop`; never gives up."""
        first = True
        while not self.stopped:
            self.health.set_state(self.index, "connecting", time.time())
            conn = await self._connect()
            self.conn = conn
            self.health.set_state(self.index, "up", time.time())
            if not first:
                self.h.reconnects += 1
                if self.on_reconnect is not None:
                    self.on_reconnect(self.streams)
            await self.on_event("reconnect" if not first else "connected",
                                {"connection": self.index, "streams": len(self.streams)})
            first = False
            reason = await self._watch(conn)
            if reason is None:
                break
            conn = self.conn or conn  # a rotation may have replaced it
            self.health.set_state(self.index, "down", time.time())
            if self.log is not None:
                self.log.warning("feed_connection_lost", connection=self.index, reason=reason)
            if reason != "closed":
                await self.on_event("stale", {"connection": self.index, "reason": reason})
            await self._close(conn)
            if time.monotonic() - conn.opened > 10.0:
                self.backoff.reset()  # it worked for a while: the next failure starts small
            await asyncio.sleep(self.backoff.next_delay())

    async def _watch(self, conn: _Conn) -> str | None:
        """Until the connection must be replaced; None when stopped. Rotations happen here."""
        while not self.stopped:
            try:
                await asyncio.wait_for(conn.done.wait(), timeout=0.25)
            except TimeoutError:
                pass
            if self.stopped:
                return None
            if conn.done.is_set():
                return "closed"
            now = time.monotonic()
            if now - conn.last_data > self.cfg.stale_connection_s:
                return f"no data for {now - conn.last_data:.1f}s"
            if conn.shutdown or now - conn.opened > self.cfg.rotate_after_s:
                conn = await self._rotate(conn, "serverShutdown" if conn.shutdown else "age")
        return None

    async def _rotate(self, old: _Conn, reason: str) -> _Conn:
        self.health.set_state(self.index, "rotating", time.time())
        new = await self._connect()
        try:
            await asyncio.wait_for(new.first_data.wait(), timeout=self.cfg.stale_connection_s)
        except TimeoutError:
            pass  # a quiet market: the new socket is open and subscribed; switch anyway
        self.conn = new
        await self._close(old)
        self.h.rotations += 1
        self.health.set_state(self.index, "up", time.time())
        await self.on_event("rotated", {"connection": self.index, "reason": reason})
        return new

    async def _close(self, conn: _Conn) -> None:
        try:
            await asyncio.wait_for(conn.ws.close(), timeout=2.0)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            pass
        if conn.task is not None:
            conn.task.cancel()
            await asyncio.gather(conn.task, return_exceptions=True)

    async def change(self, add: list[str], remove: list[str]) -> None:
        """Subscribe and unsubscribe streams on the open connection (paced)."""
        self.streams = [s for s in self.streams if s not in set(remove)] + add
        self.h.streams = len(self.streams)
        conn = self.conn
        if conn is None or conn.done.is_set():
            return  # the next connect uses the new list
        if remove:
            await self._control(conn, "UNSUBSCRIBE", remove)
        if add:
            await self._control(conn, "SUBSCRIBE", add)

    async def stop(self) -> None:
        self.stopped = True
        if self.conn is not None:
            await self._close(self.conn)
        self.health.set_state(self.index, "down", time.time())
