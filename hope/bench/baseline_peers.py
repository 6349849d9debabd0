"""Baseline benchmark peers: raw pyzmq and Redis, blocking sockets and pre-built bytes.

Each message carries its index and send stamp (monotonic ns) in its first 16 bytes; receivers
append ``<id> <sent_ns> <received_ns>`` lines (see :class:`Lines`). Run through
``python -m hope.bench.peers raw-*|redis-* ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Any

HEADER = struct.Struct("<QQ")  # message index, send stamp (monotonic ns)
FLUSH_S = 0.1


class Lines:
    """Receiver output: lines buffered in memory, appended to a file every ``FLUSH_S``."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", buffering=1 << 20)
        self.buf: list[str] = []
        self.last = time.monotonic()

    def add(self, line: str) -> None:
        self.buf.append(line)

    def maybe_flush(self) -> None:
        if time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.fh.write("".join(self.buf))
            self.buf.clear()
        self.fh.flush()
        self.last = time.monotonic()


def touch(path: str | None, data: dict[str, Any] | None = None) -> None:
    if path:
        tmp = path + ".tmp"
        Path(tmp).write_text(json.dumps(data or {}))
        os.replace(tmp, path)


class _Stop:
    """SIGTERM/SIGINT set a flag that blocking loops check between polls."""

    def __init__(self) -> None:
        self.set = False
        signal.signal(signal.SIGTERM, self._on)
        signal.signal(signal.SIGINT, self._on)

    def _on(self, *_: Any) -> None:
        self.set = True


# --- raw pyzmq -------------------------------------------------------------------------------

def curve(sock: Any, a: argparse.Namespace, server: bool = False) -> None:
    """With ``--curve DIR`` (``server.key``/``server.key_secret``, ``client.key_secret`` in
    zmq.auth's format): CurveZMQ on this socket, as the bus uses it on tcp."""
    if not getattr(a, "curve", None):
        return
    import zmq.auth
    pub, sec = zmq.auth.load_certificate(f"{a.curve}/{'server' if server else 'client'}"
                                         f".key_secret")
    sock.curve_publickey, sock.curve_secretkey = pub, sec
    if server:
        sock.curve_server = True
    else:
        sock.curve_serverkey = zmq.auth.load_certificate(f"{a.curve}/server.key")[0]


def raw_proxy(a: argparse.Namespace) -> None:
    import zmq
    ctx = zmq.Context()
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    curve(xsub, a, server=True)
    curve(xpub, a, server=True)
    if a.hwm:
        xsub.setsockopt(zmq.RCVHWM, a.hwm)
        xpub.setsockopt(zmq.SNDHWM, a.hwm)
    xsub.bind(a.xsub)
    xpub.bind(a.xpub)
    touch(a.ready)
    zmq.proxy(xsub, xpub)  # until SIGTERM kills the process


def _body(size: int) -> bytearray:
    return bytearray(b"x" * max(size, HEADER.size))


def raw_pub(a: argparse.Namespace) -> None:
    """Paced sender; with ``--pre-topic`` each message is preceded by one on that topic (the
    PRICE before each SIGNAL in HOPE's pipeline), carrying the same index and stamp."""
    import zmq
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    curve(pub, a)
    if a.hwm:
        pub.setsockopt(zmq.SNDHWM, a.hwm)
    pub.connect(a.xsub)
    topic = a.topic.encode()
    if a.pre_topic:
        pre_topic, pre = a.pre_topic.encode(), _body(a.pre_size)

        def send(body: bytes) -> None:
            pre[:HEADER.size] = body[:HEADER.size]
            pub.send_multipart([pre_topic, bytes(pre)])
            pub.send_multipart([topic, body])
    else:
        def send(body: bytes) -> None:
            pub.send_multipart([topic, body])
    _send_paced(send, a)
    pub.close(linger=5000)
    ctx.term()


def _send_paced(send: Any, a: argparse.Namespace) -> None:
    from hope.bench.common import Pacer
    body = _body(a.size)
    time.sleep(a.settle)  # the subscription travels to us through the proxy (slow joiner)
    total = a.warmup + a.count
    pacer = Pacer(a.rate)
    monotonic_ns, pack = time.monotonic_ns, HEADER.pack_into
    for i in range(total):
        pacer.wait(i)
        pack(body, 0, i, monotonic_ns())
        send(bytes(body))
    elapsed = time.monotonic() - pacer.start
    touch(a.done, {"sent": total, "elapsed_s": elapsed, "rate": total / elapsed})


def _serve(a: argparse.Namespace, topics: list[str], on_frames: Any, tick: Any = None,
           pub: bool = False) -> None:
    """A blocking SUB (and optional PUB) loop: ``on_frames(frames, now_ns, pub)`` per message,
    ``tick()`` at least every ``FLUSH_S``, until SIGTERM."""
    import zmq
    stop = _Stop()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    out = ctx.socket(zmq.PUB) if pub else None
    if a.hwm:
        sub.setsockopt(zmq.RCVHWM, a.hwm)
        if out is not None:
            out.setsockopt(zmq.SNDHWM, a.hwm)
    curve(sub, a)
    if out is not None:
        curve(out, a)
    for topic in topics:
        sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sub.connect(a.xpub)
    if out is not None:
        out.connect(a.xsub)
    touch(a.ready)
    recv, monotonic_ns, again = sub.recv_multipart, time.monotonic_ns, zmq.Again
    try:
        while not stop.set:
            if sub.poll(int(FLUSH_S * 1000)):
                while True:
                    try:
                        frames = recv(zmq.NOBLOCK)
                    except again:
                        break
                    on_frames(frames, monotonic_ns(), out)
            if tick:
                tick()
    finally:
        sub.close(linger=0)
        if out is not None:
            out.close(linger=1000)
        ctx.term()


def raw_sub(a: argparse.Namespace) -> None:
    """Receiver: one ``<id> <sent_ns> <received_ns>`` line per message on ``topic``."""
    out = Lines(a.out)
    unpack = HEADER.unpack_from

    def on_frames(frames: list[bytes], now: int, _pub: Any) -> None:
        i, t0 = unpack(frames[1])
        out.add(f"{i} {t0} {now}\n")
    _serve(a, [a.topic], on_frames, out.maybe_flush)
    out.flush()


def parse_emit(specs: list[str]) -> dict[bytes, list[tuple[bytes, bytearray]]]:
    """``["SIGNAL=DECISION:1678", "DECISION=ORDER:392,FILL:400"]`` → {trigger prefix: [(topic,
    body of that size)]}."""
    rules: dict[bytes, list[tuple[bytes, bytearray]]] = {}
    for spec in specs:
        trigger, _, outs = spec.partition("=")
        for out in outs.split(","):
            topic, _, size = out.partition(":")
            rules.setdefault(trigger.encode(), []).append((topic.encode(), _body(int(size))))
    return rules


def raw_stage(a: argparse.Namespace) -> None:
    """A service minus the work: subscribe to ``--in-topic`` prefixes (all when none); a message
    whose topic starts with an ``--emit`` trigger makes it send that rule's messages, each
    carrying the input's index and original send stamp; ``--log`` appends every message
    received (the audit writer's fan-in, no signing); ``--counts`` gets messages per type."""
    rules = parse_emit(a.emit or [])
    counts: dict[str, int] = {}
    log = open(a.log, "ab", buffering=1 << 20) if a.log else None

    def on_frames(frames: list[bytes], _now: int, pub: Any) -> None:
        topic, body = frames[0], frames[1]
        kind = topic.partition(b".")[0].decode()
        counts[kind] = counts.get(kind, 0) + 1
        if log is not None:
            log.write(topic + b" " + body + b"\n")
        for trigger, outs in rules.items():
            if topic.startswith(trigger):
                for out_topic, out_body in outs:
                    out_body[:HEADER.size] = body[:HEADER.size]
                    pub.send_multipart([out_topic, bytes(out_body)])
    try:
        _serve(a, a.in_topic or [""], on_frames, log.flush if log else None, pub=bool(rules))
    finally:  # counts even when a frame broke the loop: what arrived is still the figure
        if log is not None:
            log.close()
        touch(a.counts, counts)


# --- Redis pub/sub (RESP over a TCP socket, no client library) ------------------------------

def _redis_conn(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def redis_pub(a: argparse.Namespace) -> None:
    sock = _redis_conn(a.port)
    chan = a.topic.encode()
    head = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n" % (len(chan), chan, max(a.size,
                                                                                  HEADER.size))
    sock.setblocking(True)
    sent = [0]

    def send(body: bytes) -> None:
        sock.sendall(head + body + b"\r\n")
        sent[0] += 1
        if sent[0] % 64 == 0:  # replies (":1\r\n") are drained, never waited for
            try:
                while sock.recv(65536, socket.MSG_DONTWAIT):
                    pass
            except BlockingIOError:
                pass

    _send_paced(send, a)
    sock.close()


def resp_parse(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int] | None:
    """One RESP value (array, bulk string, integer, simple string) at ``pos``: (value, next
    position), or None while it is incomplete. Lengths are honoured, so binary bodies are safe."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind, head = buf[pos:pos + 1], bytes(buf[pos + 1:eol])
    pos = eol + 2
    if kind == b"*":
        items = []
        for _ in range(int(head)):
            got = resp_parse(buf, pos)
            if got is None:
                return None
            item, pos = got
            items.append(item)
        return items, pos
    if kind == b"$":
        n = int(head)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            return None
        return bytes(buf[pos:pos + n]), pos + n + 2
    if kind == b":":
        return int(head), pos
    return head, pos  # "+OK" / "-ERR ..."


def redis_sub(a: argparse.Namespace) -> None:
    import select
    stop = _Stop()
    sock = _redis_conn(a.port)
    chan = a.topic.encode()
    sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(chan), chan))
    out = Lines(a.out)
    buf = bytearray()
    ready = False
    unpack, monotonic_ns = HEADER.unpack_from, time.monotonic_ns
    while not stop.set:
        if select.select([sock], [], [], FLUSH_S)[0]:
            data = sock.recv(1 << 18)
            if not data:
                break
            now = monotonic_ns()
            buf += data
            pos = 0
            while (got := resp_parse(buf, pos)) is not None:
                msg, pos = got
                if isinstance(msg, list) and msg and msg[0] == b"message":
                    i, t0 = unpack(msg[2])
                    out.add(f"{i} {t0} {now}\n")
                elif isinstance(msg, list) and msg and msg[0] == b"subscribe" and not ready:
                    ready = True
                    touch(a.ready)
            del buf[:pos]
        out.maybe_flush()
    out.flush()
    sock.close()
