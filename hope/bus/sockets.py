"""Where the bus's sockets connect and how they are tuned: the endpoints a proxy binds, the
proxies every client connects to, and :func:`configure`, the one place a bus socket is set up
for the principal using it and the endpoint it binds or connects to (CURVE on tcp, ZMTP
heartbeats, TCP keepalive, reconnect back-off)."""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from hope.bus.curve import SERVER, secure_client, secure_server
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


def proxy_principals(config: Config) -> list[str]:
    """The principal (CURVE server key) of each proxy of :func:`proxy_endpoints`, in order:
    ``[bus] proxy_names``, or ``proxy`` for all."""
    names = config.bus.proxy_names
    return list(names) if names else [SERVER] * len(proxy_endpoints(config))


def configure(sock: zmq.Socket, config: Config, principal: str, endpoint: str, *,
              bind: bool = False, proxy: str = SERVER) -> None:
    """Set up ``sock`` for ``principal`` before it binds (``bind``: a proxy socket, CURVE
    server) or connects to ``endpoint`` (a CURVE client of the proxy principal ``proxy``; the
    server key is taken at connect time, so one socket may connect to several proxies,
    configured before each). On tcp also ZMTP heartbeats (a peer silent for
    ``zmtp_heartbeat_timeout_s`` is dropped, its messages stop queueing, a client reconnects),
    TCP keepalive and the reconnect back-off, all from ``[bus]``."""
    if bind:
        secure_server(sock, config, principal)
    else:
        secure_client(sock, config, principal, server=proxy)
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


def connect(sock: zmq.Socket, config: Config, principal: str, endpoint: str,
            proxy: str = SERVER) -> None:
    """:func:`configure` for ``endpoint``, then connect to it."""
    configure(sock, config, principal, endpoint, proxy=proxy)
    sock.connect(endpoint)


def open_sub(ctx: zmq.Context, config: Config, topics: Iterable[bytes],
             principal: str, connect_now: bool = True) -> zmq.Socket:
    """A SUB as ``principal`` connected to every proxy's XPUB (``connect_now=False``: the
    caller connects, with :func:`connect`), subscribed to ``topics``; frames over the size
    limit drop their sender rather than reach the decoder."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, config.bus.hwm)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVBUF, 4 << 20)
    sub.setsockopt(zmq.MAXMSGSIZE, max_msg_size(config))
    for t in topics:
        sub.setsockopt(zmq.SUBSCRIBE, t)
    if connect_now:
        for (_, xpub), proxy in zip(proxy_endpoints(config), proxy_principals(config),
                                    strict=True):
            connect(sub, config, principal, xpub, proxy)
    return sub


def open_pub(config: Config, principal: str, xsub: str | None = None,
             proxy: str | None = None, connect_now: bool = True) -> zmq.Socket:
    """A PUB as ``principal`` connected to one proxy's XSUB (default: the first;
    ``connect_now=False``: the caller connects); closing it waits up to 2 s to flush."""
    if xsub is None:
        xsub, proxy = proxy_endpoints(config)[0][0], proxy_principals(config)[0]
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, config.bus.hwm)
    pub.setsockopt(zmq.LINGER, 2000)
    if connect_now:
        connect(pub, config, principal, xsub, proxy or SERVER)
    return pub
