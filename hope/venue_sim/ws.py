"""The stream server: raw ``/ws/<stream>`` and combined ``/stream?streams=a/b``.

Combined connections get ``{"stream": "<name>", "data": <payload>}``; raw ones the payload;
``?timeUnit=MICROSECOND`` makes times µs.
Limits as on the venue: at most ``max_messages_per_s`` incoming frames per second (pings,
pongs and control messages count; exceeding closes the connection with 1008), at most
``max_streams`` streams per connection, ``attempts_per_5min`` connection attempts per IP
(beyond: HTTP 429). The server pings every ``ping_interval_s`` and closes a connection whose
last pong echoing one of its pings is older than ``pong_timeout_s``; every connection is closed
at ``max_connection_age_s`` (the venue's 24 h). A client that cannot keep up
(``queue_max`` frames waiting) is cut off. Frames are written by one task per connection, so a
slow client never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from aiohttp import WSMsgType, web

from hope.venue_sim import control
from hope.venue_sim.faults import Outage
from hope.venue_sim.limits import AttemptRate, MessageRate
from hope.venue_sim.scenario import WsSettings

SHUTDOWN_STREAM = "!serverShutdown"


class StreamConnection:
    """One client connection: its subscriptions, its frame queue, its ping clock."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request,
                 subs: control.Subscriptions, settings: WsSettings,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self.ws = ws
        self.request = request
        self.subs = subs
        self.settings = settings
        self.mono = mono
        self.opened = mono()
        self.last_pong = self.opened
        self.pings: dict[bytes, float] = {}
        self.stalled_until = 0.0
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent = 0
        self.pings_sent = 0
        self.micro = False         # timeUnit=MICROSECOND: times in µs
        self.closing = False
        self.writer_done = False

    @property
    def peer(self) -> str:
        return self.request.remote or "?"

    def stalled(self) -> bool:
        return self.mono() < self.stalled_until

    def stall(self, seconds: float) -> None:
        self.stalled_until = self.mono() + (seconds if seconds > 0 else float("inf"))

    def enqueue(self, frame: str) -> None:
        if self.closing:
            return
        if self.queue.qsize() >= self.settings.queue_max:
            self.abort()
            return
        self.queue.put_nowait(frame)

    def send_data(self, stream: str, raw: str, wrapped: str) -> None:
        """One data frame (``raw`` payload or ``wrapped`` for combined connections)."""
        if stream in self.subs.streams and not self.stalled():
            self.enqueue(wrapped if self.subs.combined else raw)

    def send_event(self, stream: str, payload: dict) -> None:
        if self.micro and "E" in payload:
            payload = {**payload, "E": payload["E"] * 1000}
        raw = json.dumps(payload, separators=(",", ":"))
        self.enqueue(json.dumps({"stream": stream, "data": payload}, separators=(",", ":"))
                     if self.subs.combined else raw)

    def abort(self) -> None:
        """Cut the TCP connection without a close frame, as a network drop does."""
        self.closing = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.queue.put_nowait(None)

    def drop(self) -> asyncio.Task:
        """Send what is already queued (nothing more), then cut the connection."""
        self.closing = True
        self.queue.put_nowait(None)
        return asyncio.get_running_loop().create_task(self._abort_when_flushed())

    async def _abort_when_flushed(self) -> None:
        deadline = self.mono() + 2.0
        while self.mono() < deadline:
            transport = self.request.transport
            if transport is None or (self.writer_done
                                     and transport.get_write_buffer_size() == 0):
                break
            await asyncio.sleep(0.005)
        self.abort()

    async def close(self, code: int, message: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message.encode())

    async def write_frames(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                if frame is None or self.ws.closed:
                    return
                try:
                    await self.ws.send_str(frame)
                except (ConnectionError, RuntimeError):
                    return
                self.sent += 1
        finally:
            self.writer_done = True

    async def keepalive(self) -> None:
        """Ping every interval; close when pongs stop or the connection reaches its age."""
        s = self.settings
        next_ping = self.opened + s.ping_interval_s
        end_of_life = self.opened + s.max_connection_age_s
        while not self.closing:
            now = self.mono()
            if now >= end_of_life:
                await self.close(1000, "connection reached its maximum age")
                return
            if now - self.last_pong > s.pong_timeout_s:
                await self.close(1008, "no pong received")
                return
            if now >= next_ping:
                payload = str(int(time.time() * 1000)).encode()
                self.pings[payload] = now
                if len(self.pings) > 16:
                    self.pings.pop(next(iter(self.pings)))
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.ping(payload)
                self.pings_sent += 1
                next_ping = now + s.ping_interval_s
            wake = min(next_ping, end_of_life, self.last_pong + s.pong_timeout_s + 0.001)
            await asyncio.sleep(max(0.001, wake - self.mono()))

    def on_pong(self, payload: bytes) -> None:
        # only a pong echoing one of our pings counts; unsolicited pongs do not keep it alive
        payload = bytes(payload)
        if payload in self.pings:
            self.last_pong = self.mono()
            self.pings.pop(payload, None)


class StreamServer:
    """Accepts connections and routes published frames to the subscribed ones."""

    def __init__(self, settings: WsSettings, mono: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] = lambda line: None,
                 outage: Outage | None = None) -> None:
        self.settings = settings
        self.log = log
        self.outage = outage or Outage(mono)
        self.mono = mono
        self.connections: set[StreamConnection] = set()
        self.attempts = AttemptRate(settings.attempts_per_5min, 300.0, clock=mono)
        self.accepted = 0
        self.closed_for_rate = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws", self.raw)
        app.router.add_get("/ws/{stream}", self.raw)
        app.router.add_get("/stream", self.combined)

    def carrying(self, stream: str) -> list[StreamConnection]:
        return [c for c in self.connections if stream in c.subs.streams]

    async def raw(self, request: web.Request) -> web.StreamResponse:
        # /ws/<stream>: one stream in the path (or none: SUBSCRIBE later)
        stream = request.match_info.get("stream")
        return await self._serve(request, [stream] if stream else [], combined=False)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._serve(request, names, combined=True)

    def begin_outage(self, seconds: float) -> list[asyncio.Task]:
        """Refuse new connections (503) for ``seconds``; cut every connection once what is
        already queued is sent (the tasks doing so are returned for the caller to hold)."""
        self.outage.start(seconds)
        return [conn.drop() for conn in list(self.connections)]

    async def _serve(self, request: web.Request, streams: list[str],
                     combined: bool) -> web.StreamResponse:
        if self.outage.active():
            return web.Response(status=503, text="venue unavailable")
        if not self.attempts.allow(request.remote or "?"):
            return web.Response(status=429, text=control.error(
                -1034, "Too many connection attempts from IP; current limit is "
                f"{self.settings.attempts_per_5min} per '5 minutes'."),
                content_type="application/json")
        if not all(control.valid_url_stream(s) for s in streams):
            return web.Response(status=400, text=control.error(2, "Invalid request: invalid "
                                                                  "stream"),
                                content_type="application/json")
        if len(set(streams)) > self.settings.max_streams:
            return web.Response(status=400, text=control.error(
                2, f"Invalid request: too many streams; a connection may listen to at most "
                   f"{self.settings.max_streams} streams"), content_type="application/json")
        unit = request.query.get("timeUnit")
        if unit is not None and unit.upper() not in ("MICROSECOND", "MILLISECOND"):
            return web.Response(status=400, text=control.error(
                2, f"Invalid request: invalid timeUnit {unit}"), content_type="application/json")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16)
        subs = control.Subscriptions(combined, self.settings.max_streams,
                                     dict.fromkeys(streams))
        conn = StreamConnection(ws, request, subs, self.settings, self.mono)
        conn.micro = unit is not None and unit.upper() == "MICROSECOND"
        # subscribed from the moment of accepting: a trade published while the handshake's
        # answer is on its way is queued, not missed
        self.connections.add(conn)
        try:
            await ws.prepare(request)
        except BaseException:
            self.connections.discard(conn)
            raise
        self.accepted += 1
        number = self.accepted
        self.log(f"connection {number} from {conn.peer}: {request.path_qs[:120]}")
        tasks = [asyncio.create_task(conn.write_frames()), asyncio.create_task(conn.keepalive())]
        try:
            await self._read(conn)
        finally:
            conn.closing = True
            conn.queue.put_nowait(None)
            self.connections.discard(conn)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
            self.log(f"connection {number} closed ({ws.close_code}), {conn.sent} frames sent")
        return ws

    async def _read(self, conn: StreamConnection) -> None:
        rate = MessageRate(self.settings.max_messages_per_s, 1.0, clock=self.mono)
        ws = conn.ws
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                return
            if conn.closing:
                continue        # being cut or closed: what is queued still goes out
            if not rate.allow():
                self.closed_for_rate += 1
                await conn.close(1008, "Too many messages")
                return
            if msg.type == WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.on_pong(msg.data)
            elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                text = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8",
                                                                                "replace")
                conn.enqueue(control.handle(text, conn.subs).reply)

    async def shutdown_all(self, grace_s: float) -> None:
        """Announce ``serverShutdown`` on every connection, then close them after the grace."""
        event = {"e": "serverShutdown", "E": int(time.time() * 1000)}
        conns = list(self.connections)
        for conn in conns:
            conn.send_event(SHUTDOWN_STREAM, event)
        await asyncio.sleep(grace_s)
        for conn in conns:
            await conn.close(1001, "server shutdown")
