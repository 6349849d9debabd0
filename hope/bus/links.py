"""A bus client's links to the proxies: one PUB per proxy, each ready only once its own HELLO
probe came back through that proxy, and socket monitors counting what the network did.

With one proxy (the default) this is one PUB. With several (``[bus] proxy_hosts``, active-active)
every event goes out on each ready link and every subscriber hears it once per proxy (its
cursors drop the copies). A link whose connection drops is not ready until its probe returns
again; while no link is ready, events still go out on all of them (the outbox keeps them and
gap recovery fills what a dead proxy swallowed).

Wire: the probe of link ``i`` is ``[HELLO.<epoch>.<i>, b""]``; other buses read the epoch
before the second dot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
import zmq
from zmq.utils.monitor import parse_monitor_message

from hope.bus.sockets import connect, open_pub, proxy_endpoints, proxy_principals
from hope.config import Config

log = structlog.get_logger("hope.bus")
_SNDMORE = int(zmq.SNDMORE)
_BACKEND_SEND = zmq.backend.Socket.send
_FAILED = {int(e) for e in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_AUTH)}
_WATCHED = (zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


def frame_sender(sock: zmq.Socket) -> Callable[..., None]:
    """``sock``'s send as the zmq backend has it: pyzmq's Python-level ``Socket.send`` only adds
    routing ids and groups (unused on a PUB), ~0.3 µs per frame, three frames per event. A test's
    stand-in socket keeps its own ``send``."""
    return _BACKEND_SEND.__get__(sock) if isinstance(sock, zmq.backend.Socket) else sock.send


def hello_epoch(topic: bytes) -> str:
    """The epoch a HELLO probe announces (``HELLO.<epoch>`` or ``HELLO.<epoch>.<link>``)."""
    return topic[6:].split(b".", 1)[0].decode(errors="replace")


class Link:
    """One proxy: its endpoints, our PUB to it and whether our probe came back through it."""

    def __init__(self, index: int, xsub: str, xpub: str, epoch: str, server: str) -> None:
        self.index, self.xsub, self.xpub = index, xsub, xpub
        self.server = server  # the proxy's principal: its CURVE server key
        self.hello = f"HELLO.{epoch}.{index}".encode()
        self.pub: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None
        self.ready = False
        self.lost_at: float | None = None  # monotonic time the connection dropped


class ProxyLinks:
    """The PUBs of one bus client (one per proxy) and the monitors of its sockets."""

    def __init__(self, name: str, config: Config, epoch: str, principal: str | None = None
                 ) -> None:
        self.name, self.config = name, config
        self.principal = principal or name  # whose keys the sockets use
        self.links = [Link(i, xsub, xpub, epoch, server) for i, ((xsub, xpub), server) in
                      enumerate(zip(proxy_endpoints(config), proxy_principals(config),
                                    strict=True))]
        self.hello_prefix = f"HELLO.{epoch}.".encode()
        self._targets: list[zmq.Socket] = []
        self._senders: list[Callable[..., None]] = []  # the targets' frame senders
        self._monitors: list[tuple[zmq.Socket, str, Link | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counters: dict[str, int] = {"connects": 0, "disconnects": 0,
                                         "handshake_failures": 0}
        self.last_recovery_s: float | None = None  # lost connection → probe back, latest
        self.on_change: Callable[[], None] | None = None

    def describe(self) -> str:
        return ", ".join(f"{lk.xsub} / {lk.xpub}" for lk in self.links)

    # lifecycle -------------------------------------------------------------------------
    def open(self, loop: asyncio.AbstractEventLoop, sub: zmq.Socket) -> None:
        """PUBs to every proxy and ``sub`` (configured, not yet connected) connected to every
        proxy, each watched by its monitor from before its first connection."""
        self._loop = loop
        for lk in self.links:
            lk.pub = open_pub(self.config, self.principal, lk.xsub, lk.server, connect_now=False)
            self._watch(lk.pub, "pub", lk)
            connect(lk.pub, self.config, self.principal, lk.xsub, lk.server)
        self._watch(sub, "sub", None)
        for lk in self.links:
            connect(sub, self.config, self.principal, lk.xpub, lk.server)
        self._retarget()

    def _watch(self, sock: zmq.Socket, role: str, link: Link | None) -> None:
        mon = sock.get_monitor_socket(_WATCHED)
        self._monitors.append((mon, role, link))
        self._loop.add_reader(mon.FD, self._drain, mon, role, link)
        self._loop.call_soon(self._drain, mon, role, link)

    def close(self, linger: int) -> None:
        for mon, _, _ in self._monitors:
            try:
                if self._loop is not None:
                    self._loop.remove_reader(mon.FD)
            except (RuntimeError, ValueError, zmq.ZMQError):
                pass
            mon.close(linger=0)
        self._monitors.clear()
        for lk in self.links:
            if lk.pub is not None:
                lk.pub.close(linger=linger)
                lk.pub = None
        self._targets, self._senders = [], []
        self._loop = None

    # readiness -------------------------------------------------------------------------
    def any_ready(self) -> bool:
        return any(lk.ready for lk in self.links)

    def all_ready(self) -> bool:
        return all(lk.ready for lk in self.links)

    def on_hello(self, topic: bytes) -> None:
        """Our own probe came back: the link it went out on is ready."""
        try:
            lk = self.links[int(topic[len(self.hello_prefix):])]
        except (ValueError, IndexError):
            return
        if lk.ready:
            return
        lk.ready = True
        if lk.lost_at is not None:
            self.last_recovery_s = round(time.monotonic() - lk.lost_at, 3)
            log.info("bus_proxy_back", service=self.name, proxy=lk.xsub,
                     recovery_s=self.last_recovery_s)
            lk.lost_at = None
        self._retarget()

    def probe(self) -> None:
        """Send the probe on every link not ready yet."""
        for lk in self.links:
            if not lk.ready and lk.pub is not None:
                lk.pub.send_multipart([lk.hello, b""])

    def announce(self) -> None:
        """A probe on every link: publishers answer replays only to epochs heard lately."""
        for lk in self.links:
            if lk.pub is not None:
                lk.pub.send_multipart([lk.hello, b""])

    def _retarget(self) -> None:
        ready = [lk.pub for lk in self.links if lk.ready and lk.pub is not None]
        self._targets = ready or [lk.pub for lk in self.links if lk.pub is not None]
        self._senders = [frame_sender(pub) for pub in self._targets]
        if self.on_change:
            self.on_change()

    # sending ---------------------------------------------------------------------------
    def send(self, topic: bytes, body: bytes, auth: bytes | None = None) -> None:
        """``[topic, body]`` or, with ``auth``, ``[topic, body, auth]`` on each target link."""
        for send in self._senders:
            send(topic, _SNDMORE)
            if auth is None:
                send(body)
            else:
                send(body, _SNDMORE)
                send(auth)

    def send_multipart(self, frames: list[bytes]) -> None:
        for pub in self._targets:
            pub.send_multipart(frames)

    # socket monitors -------------------------------------------------------------------
    def _drain(self, mon: zmq.Socket, role: str, link: Link | None) -> None:
        while True:
            try:
                if not mon.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    return
                event = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            except zmq.ZMQError:
                return  # closed under us while stopping
            self._on_event(int(event["event"]), event.get("endpoint", b""), role, link)

    def _on_event(self, event: int, endpoint: bytes | str, role: str,
                  link: Link | None) -> None:
        where = endpoint.decode(errors="replace") if isinstance(endpoint, bytes) else endpoint
        if event == zmq.EVENT_CONNECTED:
            self.counters["connects"] += 1
        elif event == zmq.EVENT_DISCONNECTED:
            self.counters["disconnects"] += 1
            log.warning("bus_disconnected", service=self.name, socket=role, endpoint=where,
                        count=self.counters["disconnects"])
            if link is not None and link.ready:
                link.ready, link.lost_at = False, time.monotonic()
                self._retarget()
        elif event in _FAILED:
            self.counters["handshake_failures"] += 1
            log.warning("bus_handshake_failed", service=self.name, socket=role, endpoint=where,
                        count=self.counters["handshake_failures"])

    def stats(self) -> dict:
        out: dict = dict(self.counters)
        out["proxies_ready"] = sum(lk.ready for lk in self.links)
        out["proxies"] = len(self.links)
        if self.last_recovery_s is not None:
            out["last_recovery_s"] = self.last_recovery_s
        return out
