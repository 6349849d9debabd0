"""The user data stream on the WebSocket API (``/ws-api/v3``): the account's own events, live.

Protocol (binance-spot-api-docs, web-socket-api.md and user-data-stream.md):

- requests are JSON text frames ``{"id", "method", "params"}``; answers ``{"id", "status",
  "result" | "error", "rateLimits"?}``; events ``{"subscriptionId": n, "event": {"e": ..}}``
  (``serverShutdown`` comes without ``subscriptionId``);
- a signed request's ``params`` carry ``apiKey``, ``timestamp`` (and ``recvWindow``) and a
  ``signature`` over every other param **sorted by name**, ``k=v`` joined by ``&``, not
  percent-encoded (:func:`ws_signed_params`; HMAC hex or Ed25519 base64 by the signer);
- ``userDataStream.subscribe.signature`` (any key type) subscribes in one request; with an
  Ed25519 key, ``session.logon`` then ``userDataStream.subscribe`` (``mode="logon"``);
- the server pings every 20 s and drops a connection that does not pong within a minute; a
  connection lives at most 24 h; ``serverShutdown`` asks for a new connection.

:class:`UserStream` keeps one subscription up for as long as it runs: connect, subscribe,
then report a **gap** (``on_gap(reason)``: the first subscription too, since nothing before it
was seen), hand every event to ``on_event``; reconnect with exponential backoff and full jitter
(:class:`hope.feed.pacing.Backoff`) after any failure, a close, ``serverShutdown``,
``eventStreamTerminated``, or ``stale_s`` without a ping from the server (a dead TCP path). The
caller closes each gap with :meth:`hope.venue.fills.FillBook.recover`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from hope.feed.pacing import Backoff

SUBSCRIBE_SIGNATURE = "userDataStream.subscribe.signature"
SUBSCRIBE = "userDataStream.subscribe"
LOGON = "session.logon"
SIGNATURE, LOGON_MODE = "signature", "logon"


class Signer(Protocol):
    def sign(self, payload: str) -> str: ...


class StreamError(RuntimeError):
    """The stream cannot go on over this connection (a refusal, a bad frame, a silence)."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ws_signed_params(params: Mapping[str, Any], signer: Signer, *, api_key: str,
                     timestamp_ms: int, recv_window_ms: int | None = None) -> dict[str, Any]:
    """``params`` plus ``apiKey``, ``timestamp`` (``recvWindow``) and the ``signature`` over
    all of them sorted by name, as the WebSocket API checks it."""
    out: dict[str, Any] = {**params, "apiKey": api_key, "timestamp": timestamp_ms}
    if recv_window_ms is not None:
        out["recvWindow"] = recv_window_ms
    payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(out.items()))
    out["signature"] = signer.sign(payload)
    return out


@dataclass(frozen=True)
class Response:
    """The answer to one request."""

    id: Any
    status: int
    result: Any = None
    error: dict[str, Any] | None = None

    def describe(self) -> str:
        err = self.error or {}
        return f"HTTP {self.status} {err.get('code', '')} {err.get('msg', '')}".strip()


@dataclass(frozen=True)
class StreamEvent:
    """One pushed event; ``subscription_id`` None for connection events (``serverShutdown``)."""

    subscription_id: int | None
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("e", ""))


def parse_frame(text: str) -> Response | StreamEvent:
    """One text frame; raises StreamError naming what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError:
        raise StreamError(f"frame is not JSON: {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise StreamError(f"frame is not an object: {text[:80]!r}")
    if isinstance(data.get("event"), dict):
        sub = data.get("subscriptionId")
        return StreamEvent(sub if isinstance(sub, int) else None, data["event"])
    if "status" in data and "id" in data and isinstance(data["status"], int):
        error = data.get("error") if isinstance(data.get("error"), dict) else None
        return Response(data["id"], data["status"], data.get("result"), error)
    raise StreamError(f"frame is neither an answer nor an event: {text[:80]!r}")


class WsLike(Protocol):
    """What the stream needs of a WebSocket (aiohttp's client response has it)."""

    async def send_str(self, data: str) -> None: ...
    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage: ...
    async def pong(self, message: bytes = b"") -> None: ...
    async def close(self) -> bool: ...


Connect = Callable[[str], contextlib.AbstractAsyncContextManager[WsLike]]


@contextlib.asynccontextmanager
async def aiohttp_connect(url: str) -> AsyncIterator[WsLike]:
    """A real connection: pings answered by :class:`UserStream` itself (to see them)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, autoping=False, heartbeat=None, max_msg_size=1 << 22) as ws:
        yield ws


class UserStream:
    """One account's user data stream, kept subscribed; events and gaps to callbacks."""

    def __init__(self, url: str, *, api_key: str, signer: Signer,
                 timestamp_ms: Callable[[], int], on_event: Callable[[dict[str, Any]], None],
                 on_gap: Callable[[str], None], mode: str = SIGNATURE,
                 recv_window_ms: int | None = 5000, connect: Connect = aiohttp_connect,
                 backoff: Backoff | None = None, stale_s: float = 60.0,
                 response_timeout_s: float = 10.0, log: Any = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        if mode not in (SIGNATURE, LOGON_MODE):
            raise ValueError(f"user stream mode: {mode!r} is not 'signature' or 'logon'")
        self.url = url
        self._api_key = api_key
        self._signer = signer
        self.timestamp_ms = timestamp_ms
        self.on_event = on_event
        self.on_gap = on_gap
        self.mode = mode
        self.recv_window_ms = recv_window_ms
        self.connect = connect
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.stale_s = stale_s
        self.response_timeout_s = response_timeout_s
        self.log = log
        self.monotonic = monotonic
        self.sleep = sleep
        self.state = "down"
        self.subscription_id: int | None = None
        self.connects = 0
        self.events = 0
        self.bad_frames = 0
        self.last_error: str | None = None
        self._next_id = 0
        self._last_ping = 0.0
        self._stopping = False

    def __repr__(self) -> str:
        return f"UserStream({self.url!r}, mode={self.mode!r})"

    def stop(self) -> None:
        """Ask :meth:`run` to end after the current connection closes."""
        self._stopping = True

    async def run(self) -> None:
        """Keep the subscription up until :meth:`stop`; never raises for the venue's faults."""
        while not self._stopping:
            try:
                await self.run_once()
            except (StreamError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                if self.log is not None:
                    self.log.warning("user stream down", error=self.last_error)
            self.state, self.subscription_id = "down", None
            if not self._stopping:
                self.state = "backoff"
                await self.sleep(self.backoff.next_delay())

    async def run_once(self) -> str:
        """One connection: subscribe, report the gap, read until it ends; why it ended."""
        self.state = "connecting"
        async with self.connect(self.url) as ws:
            self.connects += 1
            self.subscription_id = await self._subscribe(ws)
            self.backoff.reset()
            self.state = "up"
            self.on_gap("subscribed" if self.connects == 1 else "resubscribed after a reconnect")
            try:
                return await self._read(ws)
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()

    # --- requests -----------------------------------------------------------------------------
    def _request(self, method: str, params: dict[str, Any] | None = None) -> tuple[str, str]:
        self._next_id += 1
        rid = f"hope-{self._next_id}"
        body: dict[str, Any] = {"id": rid, "method": method}
        if params is not None:
            body["params"] = params
        return rid, json.dumps(body, separators=(",", ":"))

    def _signed(self) -> dict[str, Any]:
        return ws_signed_params({}, self._signer, api_key=self._api_key,
                                timestamp_ms=self.timestamp_ms(),
                                recv_window_ms=self.recv_window_ms)

    async def _call(self, ws: WsLike, method: str, params: dict[str, Any] | None) -> Any:
        rid, frame = self._request(method, params)
        await ws.send_str(frame)
        deadline = self.monotonic() + self.response_timeout_s
        while True:
            left = deadline - self.monotonic()
            if left <= 0:
                raise StreamError(f"{method}: no answer within {self.response_timeout_s:g} s")
            msg = await ws.receive(timeout=left)
            item = await self._frame(ws, msg)
            if isinstance(item, Response) and item.id == rid:
                if item.status != 200:
                    raise StreamError(f"{method} refused: {item.describe()}")
                return item.result
            if isinstance(item, Response):
                raise StreamError(f"answer to no pending request: {item.describe()}")

    async def _subscribe(self, ws: WsLike) -> int:
        if self.mode == LOGON_MODE:
            await self._call(ws, LOGON, self._signed())
            result = await self._call(ws, SUBSCRIBE, None)
        else:
            result = await self._call(ws, SUBSCRIBE_SIGNATURE, self._signed())
        sub = result.get("subscriptionId") if isinstance(result, dict) else None
        if not isinstance(sub, int):
            raise StreamError(f"subscribe: no subscriptionId in {str(result)[:80]}")
        return sub

    # --- reading ------------------------------------------------------------------------------
    async def _frame(self, ws: WsLike, msg: aiohttp.WSMessage) -> Response | StreamEvent | None:
        """Control frames handled here; a text frame parsed (None for anything else)."""
        if msg.type == aiohttp.WSMsgType.PING:
            self._last_ping = self.monotonic()
            await ws.pong(msg.data)
            return None
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            raise StreamError(f"connection closed ({msg.type.name} {msg.data!r})"[:200])
        if msg.type != aiohttp.WSMsgType.TEXT:
            return None
        try:
            return parse_frame(msg.data)
        except StreamError:
            self.bad_frames += 1
            raise

    async def _read(self, ws: WsLike) -> str:
        self._last_ping = self.monotonic()
        while not self._stopping:
            left = self._last_ping + self.stale_s - self.monotonic()
            if left <= 0:
                raise StreamError(f"no ping from the server for {self.stale_s:g} s")
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                continue   # the deadline check above decides
            item = await self._frame(ws, msg)
            if isinstance(item, Response):
                if item.status != 200:   # e.g. {"id": null, "status": 401, -2015}: key revoked
                    raise StreamError(f"venue: {item.describe()}")
                continue
            if isinstance(item, StreamEvent):
                ended = self._event(item)
                if ended:
                    return ended
        return "stopped"

    def _event(self, item: StreamEvent) -> str | None:
        if item.type == "serverShutdown":
            return "serverShutdown"
        if item.subscription_id is not None and item.subscription_id != self.subscription_id:
            return None   # another subscription's (none is opened here): not this account's
        if item.type == "eventStreamTerminated":
            return "eventStreamTerminated"
        self.events += 1
        self.on_event(item.event)
        return None

    def snapshot(self) -> dict[str, Any]:
        """For the executor's heartbeat."""
        return {"state": self.state, "connects": self.connects, "events": self.events,
                "bad_frames": self.bad_frames, "last_error": self.last_error}
