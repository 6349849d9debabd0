"""Where the bus's sockets connect and how they are tuned: the endpoints a proxy binds, the
proxies every client connects to, and :func:`configure`, the one place a bus socket is set up
for the principal using it and the endpoint it binds or connects to (tcp: ZMTP heartbeats, TCP
keepalive, reconnect back-off; the transport's authentication belongs here too)."""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from hope.bus.refusals import max_msg_size
from hope.config import Config


def endpoints(config: Config) -> tuple[str, str]:
    """(xsub, xpub) of this host's proxy: what it binds (and, with one proxy, where every
    client connects)."""
    bus = config.bus
    if bus.transport == "tcp":
        return (f"tcp://{bus.tcp_host}:{bus.xsub_port}", f"tcp://{bus.tcp_host}:{bus.xpub_port}")
    return config.state.ipc("bus-in.sock"), config.state.ipc("bus-out.sock")


def proxy_endpoints(config: Config) -> list[tuple[str, str]]:
    """(xsub, xpub) of every proxy a client connects to: ``[bus] proxy_hosts`` (several
    proxies, active-active) or the one of :func:`endpoints`."""
    bus = config.bus
    if bus.transport == "tcp" and bus.proxy_hosts:
        return [(f"tcp://{h}:{bus.xsub_port}", f"tcp://{h}:{bus.xpub_port}")
                for h in bus.proxy_hosts]
    return [endpoints(config)]


def configure(sock: zmq.Socket, config: Config, principal: str, endpoint: str, *,
              server: bool = False) -> None:
    """Set up ``sock`` for ``principal`` before it binds (``server``) or connects to
    ``endpoint``. On tcp: ZMTP heartbeats (a peer silent for ``zmtp_heartbeat_timeout_s`` is
    dropped, its messages stop queueing, and a client reconnects), TCP keepalive and the
    reconnect back-off, all from ``[bus]``."""
    bus = config.bus
    sock.setsockopt(zmq.RECONNECT_IVL, int(bus.reconnect_ivl_s * 1000))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(bus.reconnect_ivl_max_s * 1000))
    if not endpoint.startswith("tcp://"):
        return
    sock.setsockopt(zmq.HEARTBEAT_IVL, int(bus.zmtp_heartbeat_ivl_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(bus.zmtp_heartbeat_timeout_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TTL, int(bus.zmtp_heartbeat_ttl_s * 1000))
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, bus.tcp_keepalive_idle_s)
    sock.setsockopt(zmq.TCP_KEEPALIVE_INTVL, bus.tcp_keepalive_intvl_s)
    sock.setsockopt(zmq.TCP_KEEPALIVE_CNT, bus.tcp_keepalive_cnt)


def open_sub(ctx: zmq.Context, config: Config, topics: Iterable[bytes],
             principal: str = "", connect: bool = True) -> zmq.Socket:
    """A SUB connected to every proxy's XPUB (``connect=False``: configured, the caller
    connects), subscribed to ``topics``; frames over the size limit drop their sender rather
    than reach the decoder."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, config.bus.hwm)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVBUF, 4 << 20)
    sub.setsockopt(zmq.MAXMSGSIZE, max_msg_size(config))
    for t in topics:
        sub.setsockopt(zmq.SUBSCRIBE, t)
    for _, xpub in proxy_endpoints(config):
        configure(sub, config, principal, xpub)
        if connect:
            sub.connect(xpub)
    return sub


def open_pub(config: Config, xsub: str | None = None, principal: str = "",
             connect: bool = True) -> zmq.Socket:
    """A PUB connected to one proxy's XSUB (default: the first; ``connect=False``: configured
    only); closing it waits up to 2 s to flush."""
    xsub = xsub or proxy_endpoints(config)[0][0]
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, config.bus.hwm)
    pub.setsockopt(zmq.LINGER, 2000)
    configure(pub, config, principal, xsub)
    if connect:
        pub.connect(xsub)
    return pub
