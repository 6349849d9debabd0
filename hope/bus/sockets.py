"""Where the bus's sockets connect and how they are tuned: the endpoints the proxy binds and the
SUB/PUB options every bus client uses."""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from hope.bus.curve import secure_client
from hope.bus.refusals import max_msg_size
from hope.config import Config


def endpoints(config: Config) -> tuple[str, str]:
    """(xsub, xpub): where publishers and subscribers connect; the proxy binds them."""
    bus = config.bus
    if bus.transport == "tcp":
        return (f"tcp://{bus.tcp_host}:{bus.xsub_port}", f"tcp://{bus.tcp_host}:{bus.xpub_port}")
    return config.state.ipc("bus-in.sock"), config.state.ipc("bus-out.sock")


def open_sub(ctx: zmq.Context, config: Config, topics: Iterable[bytes],
             principal: str) -> zmq.Socket:
    """A SUB connected to the proxy's XPUB as ``principal`` (CURVE on tcp), subscribed to
    ``topics``; frames over the size limit drop their sender rather than reach the decoder."""
    sub = ctx.socket(zmq.SUB)
    secure_client(sub, config, principal)
    sub.setsockopt(zmq.RCVHWM, config.bus.hwm)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVBUF, 4 << 20)
    sub.setsockopt(zmq.MAXMSGSIZE, max_msg_size(config))
    for t in topics:
        sub.setsockopt(zmq.SUBSCRIBE, t)
    sub.connect(endpoints(config)[1])
    return sub


def open_pub(config: Config, principal: str) -> zmq.Socket:
    """A PUB connected to the proxy's XSUB as ``principal``; closing it waits up to 2 s to
    flush."""
    pub = zmq.Context.instance().socket(zmq.PUB)
    secure_client(pub, config, principal)
    pub.setsockopt(zmq.SNDHWM, config.bus.hwm)
    pub.setsockopt(zmq.LINGER, 2000)
    pub.connect(endpoints(config)[0])
    return pub
