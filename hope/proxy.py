"""The bus proxy: binds XSUB (publishers connect) and XPUB (subscribers connect), nothing else.

The forwarding loop is libzmq's own ``zmq.proxy`` in a thread (no Python per message); the main
thread heartbeats while that thread lives and stops it on SIGTERM by terminating the context.
Both sockets refuse frames over ``ZMQ_MAXMSGSIZE`` (a margin above ``[bus] max_message_bytes``):
libzmq drops the sender's connection; a socket monitor counts every peer disconnect per socket
(``disconnects`` in the heartbeat, ``hope_bus_disconnects_total`` on ``/metrics``).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from hope.bus.refusals import max_msg_size
from hope.bus.sockets import configure, endpoints
from hope.codec import encode
from hope.config import Config
from hope.heartbeat import heartbeat_event

log = structlog.get_logger("hope.proxy")
NAME = "proxy"


class BusProxy:
    def __init__(self, config: Config, name: str = NAME) -> None:
        self.config = config
        self.name = name  # several proxies (active-active) each have their own
        self.xsub_endpoint, self.xpub_endpoint = endpoints(config)
        self.ctx: zmq.Context | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.disconnects: dict[str, int] = {"xsub": 0, "xpub": 0}
        self._monitors: list[threading.Thread] = []

    def setup(self) -> None:
        self.config.state.ensure()
        self.ctx = zmq.Context()
        hwm = self.config.bus.hwm
        self.xsub = self.ctx.socket(zmq.XSUB)
        self.xsub.setsockopt(zmq.RCVHWM, hwm)
        self.xpub = self.ctx.socket(zmq.XPUB)
        self.xpub.setsockopt(zmq.SNDHWM, hwm)
        self.xsub.setsockopt(zmq.LINGER, 0)
        self.xpub.setsockopt(zmq.LINGER, 0)
        for sock, ep in ((self.xsub, self.xsub_endpoint), (self.xpub, self.xpub_endpoint)):
            sock.setsockopt(zmq.MAXMSGSIZE, max_msg_size(self.config))
            configure(sock, self.config, self.name, ep, server=True)
        self.xsub.bind(self.xsub_endpoint)
        self.xpub.bind(self.xpub_endpoint)
        for ep in (self.xsub_endpoint, self.xpub_endpoint):
            if ep.startswith("ipc://"):
                os.chmod(ep[len("ipc://"):], 0o600)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._forward, name="proxy", daemon=True)
        self.thread.start()
        for name, sock in (("xsub", self.xsub), ("xpub", self.xpub)):
            mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            thread = threading.Thread(target=self._watch, args=(name, mon),
                                      name=f"monitor-{name}", daemon=True)
            self._monitors.append(thread)
            thread.start()
        log.info("proxy_started", xsub=self.xsub_endpoint, xpub=self.xpub_endpoint,
                 pid=os.getpid())

    def _forward(self) -> None:
        try:
            zmq.proxy(self.xsub, self.xpub)
        except zmq.ContextTerminated:
            pass
        except BaseException as exc:  # surfaced by alive() so the heartbeat stops
            if self._stop.is_set():
                return  # sockets closed under us by kill(): a normal stop
            self.error = exc
            log.exception("proxy_failed", error=str(exc))

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
        except zmq.ZMQError:
            pass  # the context is going away
        finally:
            mon.close(linger=0)

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and self.error is None

    def run_forever(self, heartbeat_s: float) -> None:
        """Heartbeat (as the ``proxy`` service) until stop(); exits when forwarding dies."""
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.connect(self.xsub_endpoint)
        epoch, started = os.urandom(6).hex(), time.monotonic()
        endpoints = {"xsub": self.xsub_endpoint, "xpub": self.xpub_endpoint}
        while not self._stop.wait(heartbeat_s):
            if not self.alive():
                raise SystemExit(1)
            hb = heartbeat_event(self.name, epoch, started, config=self.config,
                                 endpoints=endpoints,
                                 disconnects=dict(self.disconnects),
                                 max_msg_size=max_msg_size(self.config))
            hb.publisher, hb.epoch = self.name, epoch
            pub.send_multipart([hb.topic.encode(), encode(hb)])
        pub.close(linger=0)

    def stop(self) -> None:
        self._stop.set()

    def kill(self) -> None:
        try:
            self._stop.set()
            for thread in self._monitors:  # they close their monitor sockets themselves
                thread.join(timeout=1.0)
            if self.ctx is not None:
                self.ctx.destroy(linger=0)
        except Exception:
            pass


def main(argv: list[str] | None = None) -> None:
    from hope.logs import configure_logging
    from hope.service import load_or_exit, parse_service_args

    args = parse_service_args(NAME, argv)
    config = load_or_exit(args.name, args)
    configure_logging(args.name, config.hope.log_level)
    proxy = BusProxy(config, args.name)
    try:
        proxy.setup()
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
