"""The proxy's socket bounds: ZMQ_MAXMSGSIZE a margin above [bus] max_message_bytes, and the
socket monitors that count the connections libzmq drops for an oversized frame."""

from __future__ import annotations

import shutil
import time

import zmq

from hope.bus.refusals import MAXMSG_MARGIN, max_msg_size
from hope.proxy import BusProxy
from hope.testing import make_config, short_tmpdir, wait_for


def test_oversized_frame_drops_the_sender_and_is_counted_smaller_ones_pass():
    """A frame under the limit is forwarded; one over it never is, and its sender's
    connection drop is counted on xsub; stop() then kill() end the monitors cleanly."""
    state = short_tmpdir("hope-px-")
    config = make_config(state, overrides={"bus": {"max_message_bytes": 4096}})
    assert max_msg_size(config) == 4096 + MAXMSG_MARGIN
    proxy = BusProxy(config)
    proxy.setup()
    proxy.start()
    ctx = zmq.Context()
    sub, pub = ctx.socket(zmq.SUB), ctx.socket(zmq.PUB)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(proxy.xpub_endpoint)
        pub.connect(proxy.xsub_endpoint)
        deadline = time.monotonic() + 10
        while not sub.poll(20):  # until the subscription reached the publisher
            assert time.monotonic() < deadline, "no subscription through the proxy"
            pub.send_multipart([b"HELLO.t", b""])
        sub.recv_multipart()
        pub.send_multipart([b"T", b"x" * 1000])
        assert sub.poll(5000) and sub.recv_multipart() == [b"T", b"x" * 1000]
        pub.send_multipart([b"T", b"x" * (max_msg_size(config) + 1)])
        wait_for(lambda: proxy.disconnects["xsub"] >= 1, timeout=10,
                 message="the oversized sender's disconnect counted")
        assert not sub.poll(200)
    finally:
        ctx.destroy(linger=0)
        proxy.stop()
        proxy.kill()
        shutil.rmtree(state, ignore_errors=True)
    assert not any(t.is_alive() for t in proxy._monitors)
