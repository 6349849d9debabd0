"""The bus proxy: binds XSUB (publishers connect) and XPUB (subscribers connect), nothing else.

The forwarding loop is libzmq's own ``zmq.proxy`` in a thread (no Python per message); the main
thread heartbeats while that thread lives and stops it on SIGTERM by terminating the context.
Both sockets refuse frames over ``ZMQ_MAXMSGSIZE`` (a margin above ``[bus] max_message_bytes``):
libzmq drops the sender's connection; a socket monitor counts every peer disconnect per socket
(``disconnects`` in the heartbeat, ``hope_bus_disconnects_total`` on ``/metrics``).

On tcp both sockets are CURVE servers (hope/bus/curve.py): a ZAP thread admits only the keys
enrolled in ``keys/public/``; failed handshakes are counted per socket and reason
(``handshake_failures``; the health monitor ALERTs on them). The allow-list is re-read when that
directory changes (checked every heartbeat); when a key left it, the forwarding thread unbinds
and rebinds both sockets, which cuts every session so the revoked key's cannot outlive it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from hope.bus import curve
from hope.bus.refusals import max_msg_size
from hope.bus.sockets import configure, endpoints
from hope.codec import encode
from hope.config import Config
from hope.eventauth.gate import EventGate
from hope.heartbeat import heartbeat_event

log = structlog.get_logger("hope.proxy")
NAME = curve.SERVER
_WATCHED = (zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
# monitor event -> reason in handshake_failures (no key / a mechanism mismatch is "protocol")
HANDSHAKE_REASONS = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "auth",
                     zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol",
                     zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "no_detail"}


class BusProxy:
    def __init__(self, config: Config, name: str = NAME) -> None:
        self.config = config
        # its principal (the CURVE server key is keys/<name>/); several proxies, one name each
        self.name = name
        self.xsub_endpoint, self.xpub_endpoint = endpoints(config)
        self.ctx: zmq.Context | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.disconnects: dict[str, int] = {"xsub": 0, "xpub": 0}
        self.handshake_failures: dict[str, dict[str, int]] = {"xsub": {}, "xpub": {}}
        self._monitors: list[threading.Thread] = []
        self.auth: curve.BusAuthenticator | None = None
        self._allow_stamp: tuple = ()
        self._control_ready = threading.Event()
        self.rebinds = 0
        # the proxy is a principal too: its heartbeats carry its auth frame
        self.gate = EventGate.for_bus(name, config)

    def setup(self) -> None:
        self.config.state.ensure()
        self.ctx = zmq.Context()
        if curve.uses_curve(self.config):  # the ZAP handler first: no socket is ever open without it
            self.auth = curve.BusAuthenticator(self.ctx, self.config.state)
            self.auth.start()
            self._allow_stamp = curve.allow_list_stamp(self.config.state)
        hwm = self.config.bus.hwm
        self.xsub = self.ctx.socket(zmq.XSUB)
        self.xsub.setsockopt(zmq.RCVHWM, hwm)
        self.xpub = self.ctx.socket(zmq.XPUB)
        self.xpub.setsockopt(zmq.SNDHWM, hwm)
        self.xsub.setsockopt(zmq.LINGER, 0)
        self.xpub.setsockopt(zmq.LINGER, 0)
        for sock, ep in ((self.xsub, self.xsub_endpoint), (self.xpub, self.xpub_endpoint)):
            sock.setsockopt(zmq.MAXMSGSIZE, max_msg_size(self.config))
            configure(sock, self.config, self.name, ep, bind=True)  # CURVE server on tcp
        self.xsub.bind(self.xsub_endpoint)
        self.xpub.bind(self.xpub_endpoint)
        shared = self.config.hope.privilege_separation  # peers reach them through group hope
        for ep in (self.xsub_endpoint, self.xpub_endpoint):
            if ep.startswith("ipc://"):
                os.chmod(ep[len("ipc://"):], 0o660 if shared else 0o600)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._forward, name="proxy", daemon=True)
        self.thread.start()
        for name, sock in (("xsub", self.xsub), ("xpub", self.xpub)):
            mon = sock.get_monitor_socket(_WATCHED)
            thread = threading.Thread(target=self._watch, args=(name, mon),
                                      name=f"monitor-{name}", daemon=True)
            self._monitors.append(thread)
            thread.start()
        log.info("proxy_started", xsub=self.xsub_endpoint, xpub=self.xpub_endpoint,
                 pid=os.getpid())

    def _forward(self) -> None:
        """Forward until stopped; a steering TERMINATE (a key revoked) rebinds and goes on."""
        control = self.ctx.socket(zmq.PAIR)
        control.bind(f"inproc://proxy-control-{id(self)}")
        self._control_ready.set()
        try:
            while not self._stop.is_set():
                zmq.proxy_steerable(self.xsub, self.xpub, None, control)
                if self._stop.is_set():
                    break
                self._rebind_sockets()
        except zmq.ContextTerminated:
            pass
        except BaseException as exc:  # surfaced by alive() so the heartbeat stops
            if self._stop.is_set():
                return  # sockets closed under us by kill(): a normal stop
            self.error = exc
            log.exception("proxy_failed", error=str(exc))
        finally:
            control.close(linger=0)

    def _rebind_sockets(self) -> None:
        """Unbinding a socket ends every session accepted on it; peers reconnect and meet the
        new allow-list (messages in flight are recovered by REPLAY like any reconnect)."""
        for sock, ep in ((self.xsub, self.xsub_endpoint), (self.xpub, self.xpub_endpoint)):
            sock.unbind(ep)
        deadline = time.monotonic() + 10.0
        for sock, ep in ((self.xsub, self.xsub_endpoint), (self.xpub, self.xpub_endpoint)):
            while True:
                try:
                    sock.bind(ep)
                    break
                except zmq.ZMQError as exc:  # the port is released asynchronously
                    if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        self.rebinds += 1
        log.warning("proxy_rebound", reason="a CURVE key was revoked", rebinds=self.rebinds)

    def _watch(self, name: str, mon: zmq.Socket) -> None:
        """Count peer disconnects: an oversized frame (ZMQ_MAXMSGSIZE) is one, a peer that
        exits is another; a rising count with no restarts in the registry is an attack."""
        try:  # the monitor socket lives and dies in this thread (zmq sockets are not shared)
            while not self._stop.is_set():
                if not mon.poll(100):
                    continue
                event = recv_monitor_message(mon)
                if event["event"] == zmq.EVENT_DISCONNECTED:
                    self.disconnects[name] += 1
                    log.info("bus_peer_disconnected", socket=name, count=self.disconnects[name])
                elif event["event"] in HANDSHAKE_REASONS:
                    self._handshake_failed(name, HANDSHAKE_REASONS[event["event"]])
        except zmq.ZMQError:
            pass  # the context is going away
        finally:
            mon.close(linger=0)

    def _handshake_failed(self, name: str, reason: str) -> None:
        counts = self.handshake_failures[name]
        counts[reason] = counts.get(reason, 0) + 1
        n = sum(counts.values())
        if n <= 20 or n % 1000 == 0:  # a flood of attempts must not flood the log
            denied = self.auth.allow.last_denied if self.auth else None
            log.warning("bus_handshake_failed", socket=name, reason=reason, count=n,
                        denied_key=denied)

    def alive(self) -> bool:
        if self.auth is not None and not self.auth.is_alive():
            return False  # fail closed: without its ZAP thread the proxy admits no one anyway
        return self.thread is not None and self.thread.is_alive() and self.error is None

    def check_allow_list(self) -> None:
        """Re-read the enrolled keys when ``keys/public/`` changed; rebind when one left."""
        if self.auth is None:
            return
        stamp = curve.allow_list_stamp(self.config.state)
        if stamp == self._allow_stamp:
            return
        self._allow_stamp = stamp
        added, removed = self.auth.reload()
        log.info("proxy_allow_list_reloaded", added=sorted(added), removed=sorted(removed),
                 enrolled=len(self.auth.allow.keys))
        if removed:
            self._steer.send(b"TERMINATE")

    def auth_stats(self) -> dict:
        if self.auth is None:
            return {"curve": False}
        allow = self.auth.allow
        return {"curve": True, "handshake_failures": {k: dict(v) for k, v in
                                                      self.handshake_failures.items()},
                "zap_denied": allow.denied, "zap_last_denied": allow.last_denied,
                "zap_admitted": dict(allow.admitted), "enrolled": sorted(allow.keys.values()),
                "rebinds": self.rebinds}

    def run_forever(self, heartbeat_s: float) -> None:
        """Heartbeat (as the ``proxy`` service) until stop(); exits when forwarding dies."""
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        curve.secure_client(pub, self.config, self.name, server=self.name)
        pub.connect(self.xsub_endpoint)
        self._control_ready.wait(5.0)
        self._steer = self.ctx.socket(zmq.PAIR)
        self._steer.setsockopt(zmq.LINGER, 0)
        self._steer.connect(f"inproc://proxy-control-{id(self)}")
        epoch, started = os.urandom(6).hex(), time.monotonic()
        endpoints = {"xsub": self.xsub_endpoint, "xpub": self.xpub_endpoint}
        while not self._stop.wait(heartbeat_s):
            if not self.alive():
                raise SystemExit(1)
            self.check_allow_list()
            hb = heartbeat_event(self.name, epoch, started, config=self.config,
                                 endpoints=endpoints, disconnects=dict(self.disconnects),
                                 max_msg_size=max_msg_size(self.config), **self.auth_stats())
            hb.publisher, hb.epoch = self.name, epoch
            body = encode(hb)
            frames = [hb.topic.encode(), body]
            pub.send_multipart(frames if self.gate is None else [*frames, self.gate.seal(body)])
        pub.close(linger=0)
        self._steer.close(linger=0)

    def stop(self) -> None:
        self._stop.set()

    def kill(self) -> None:
        try:
            self._stop.set()
            for thread in self._monitors:  # they close their monitor sockets themselves
                thread.join(timeout=1.0)
            if self.auth is not None:
                self.auth.stop()
            if self.ctx is not None:
                self.ctx.destroy(linger=0)
        except Exception:
            pass


def main(argv: list[str] | None = None) -> None:
    from hope.eventauth.keys import EventKeyError
    from hope.logs import configure_logging
    from hope.service import EX_CONFIG, load_or_exit, parse_service_args

    args = parse_service_args(NAME, argv)
    config = load_or_exit(args.name, args)
    configure_logging(args.name, config.hope.log_level)
    try:
        proxy = BusProxy(config, args.name)
    except EventKeyError as exc:
        log.error("proxy_key_missing", error=str(exc))
        print(f"hope proxy: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    try:
        proxy.setup()
    except curve.CurveKeyError as exc:
        log.error("proxy_refused", error=str(exc))
        print(f"hope proxy: refusing to start: {curve.refusal(config, exc)}", file=sys.stderr)
        proxy.kill()
        raise SystemExit(EX_CONFIG) from None
    except zmq.ZMQError as exc:
        log.error("proxy_bind_failed", error=str(exc), xsub=proxy.xsub_endpoint,
                  xpub=proxy.xpub_endpoint)
        raise SystemExit(1) from None
    proxy.start()
    signal.signal(signal.SIGTERM, lambda *_: proxy.stop())
    signal.signal(signal.SIGINT, lambda *_: proxy.stop())
    try:
        proxy.run_forever(config.bus.heartbeat_interval_s)
    finally:
        proxy.kill()
        log.info("proxy_stopped")
