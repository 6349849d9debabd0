"""The gap-recovery protocol (REPLAY/REPLAYED on the wire), without sockets: which ranges to ask
for, and how to answer a request.

A subscriber asks ``REPLAY.<publisher>`` for a range of ``seq`` (subscribers to everything) or of
``tseq`` of one event type; the publisher answers on ``REPLAYED.<requester epoch>`` with the
matching records ``[topic, original topic, original body]`` and then an end marker
``[topic, b"", {publisher, epoch, by, event_type, from, to, sent, missing, truncated}]``. The
requester settles the range once every ``sent`` number has arrived; ``missing`` ranges are lost
for good; a ``truncated`` answer (the byte cap) ends early at ``to`` and the requester asks again
for the rest at once.

A publisher answers only what :class:`ReplayGuard` admits: ``reply_to`` must be an epoch heard on
the bus lately (a heartbeat or a HELLO probe), and each requester epoch is rate-limited, so a
200-byte request cannot make a publisher send megabytes to any topic, or forever.
"""

from __future__ import annotations

import re
from typing import Any

from hope import codec
from hope.bus.cursor import ALL, Cursors, StreamKey
from hope.bus.outbox import MAX_REPLAY_SPAN, Outbox

MAX_BACKOFF_S = 10.0
EPOCH_RE = re.compile(r"[0-9a-f]{6,32}")  # bus epochs are hex (uuid4 / urandom)


class PendingReplays:
    """Ranges a subscriber still lacks, with a retry schedule (exponential backoff)."""

    def __init__(self) -> None:
        self._pending: dict[StreamKey, list[list[float]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def want(self, key: StreamKey, first: int, last: int, not_before: float = 0.0) -> None:
        """Ask for ``first..last`` from ``not_before`` on (monotonic; 0: at the next round)."""
        ranges = self._pending.setdefault(key, [])
        if not any(r[0] <= first and last <= r[1] for r in ranges):
            ranges.append([first, last, not_before, 0])

    def retry_now(self, key: StreamKey) -> None:
        """A truncated answer arrived: ask for the rest of the key's ranges without waiting."""
        for r in self._pending.get(key, []):
            r[2] = 0.0

    def due(self, cursors: Cursors, now: float, timeout: float) -> list[tuple[StreamKey, int, int]]:
        """Requests to send now; ranges the cursors have since settled are forgotten."""
        out = []
        for key, ranges in list(self._pending.items()):
            cur = cursors.get(key)
            keep = []
            for r in ranges:
                first, last = max(int(r[0]), cur.low + 1), int(r[1])
                if first > last or all(cur.seen(n) for n in range(first, last + 1)):
                    continue
                keep.append(r)
                if now < r[2]:
                    continue
                r[3] += 1
                r[2] = now + min(timeout * 2 ** (r[3] - 1), MAX_BACKOFF_S)
                out.append((key, first, min(last, first + MAX_REPLAY_SPAN - 1)))
            if keep:
                self._pending[key] = keep
            else:
                del self._pending[key]
        return out


def request_payload(key: StreamKey, first: int, last: int, prefixes: list[str],
                    reply_to: str, requester: str) -> dict[str, Any]:
    publisher, epoch, kind = key
    return {"publisher": publisher, "epoch": epoch, "from": first, "to": last,
            "by": "seq" if kind == ALL else "tseq", "event_type": kind, "prefixes": prefixes,
            "reply_to": reply_to, "requester": requester}


def parse_marker(body: bytes) -> tuple[StreamKey, int, int, list[int], list[tuple[int, int]],
                                       bool]:
    """(stream key, from, to, sent numbers, missing ranges, truncated); raises on a malformed
    marker."""
    m = codec.decode_obj(body)
    key = (m["publisher"], m["epoch"], ALL if m["by"] == "seq" else m["event_type"])
    return (key, int(m["from"]), int(m["to"]), [int(n) for n in m["sent"]],
            [(int(a), int(b)) for a, b in m["missing"]], bool(m.get("truncated")))


class ReplayGuard:
    """Which replay requests a publisher answers. Refusals are returned as counter names."""

    def __init__(self, rate_per_s: float, burst: int, alive_s: float) -> None:
        self.rate, self.burst, self.alive_s = rate_per_s, float(burst), alive_s
        self._alive: dict[str, float] = {}                    # epoch: last heard (monotonic)
        self._buckets: dict[str, tuple[float, float]] = {}    # epoch: (tokens, at)

    def heard(self, epoch: Any, now: float) -> None:
        """An epoch spoke on the bus (heartbeat, HELLO probe): it may be replied to."""
        if isinstance(epoch, str) and EPOCH_RE.fullmatch(epoch):
            self._alive[epoch] = now
            if len(self._alive) > 10_000:  # forget the dead, keep the map bounded
                cutoff = now - self.alive_s
                for e in [e for e, t in self._alive.items() if t < cutoff]:
                    del self._alive[e]
                    self._buckets.pop(e, None)

    def admit(self, p: dict[str, Any], now: float) -> str | None:
        """None to answer the request, else why not: ``replay_reply_to_unknown`` or
        ``replay_rate_limited``."""
        reply_to = p.get("reply_to")
        heard = self._alive.get(reply_to) if isinstance(reply_to, str) else None
        if heard is None or now - heard > self.alive_s:
            return "replay_reply_to_unknown"
        tokens, at = self._buckets.get(reply_to, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[reply_to] = (tokens, now)
            return "replay_rate_limited"
        self._buckets[reply_to] = (tokens - 1.0, now)
        return None


def _cap(found: list[Any], by: str, max_bytes: int) -> tuple[list[Any], int | None]:
    """The records that fit in ``max_bytes`` and, when some did not, the number the answer
    stops before (the first record left out)."""
    total = 0
    for i, rec in enumerate(found):
        total += len(rec.body) + len(rec.topic)
        if total > max_bytes and i > 0:
            return found[:i], rec.seq if by == "seq" else rec.tseq
    return found, None


def answer(outbox: Outbox | None, publisher: str, p: dict[str, Any],
           max_bytes: int = 1 << 62) -> tuple[list[list[bytes]], list[tuple[int, int]]]:
    """The frames answering one request (records, then the end marker) and the missing ranges.
    At most ``max_bytes`` of records: a longer answer ends early, marked ``truncated``.
    Raises ValueError for a malformed request."""
    try:
        epoch, first, last = p["epoch"], int(p["from"]), int(p["to"])
        by, etype, reply_to = p.get("by", "seq"), p.get("event_type", ""), p["reply_to"]
        prefixes = [x.encode() for x in p.get("prefixes", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad replay request ({exc})") from None
    if first > last or first < 1 or by not in ("seq", "tseq"):
        raise ValueError(f"bad replay request range {first}..{last} by {by!r}")
    if not isinstance(reply_to, str) or not EPOCH_RE.fullmatch(reply_to):
        raise ValueError(f"bad replay request reply_to {str(reply_to)[:40]!r}")
    elog = outbox.epochs.get(epoch) if outbox else None
    if elog is None:
        found, missing = [], [(first, last)]
    else:
        found, missing = elog.find(by, etype, first, last, prefixes)
    found, stop = _cap(found, by, max_bytes)
    if stop is not None:  # the rest is asked for again: neither sent nor missing yet
        last = stop - 1
        missing = [(a, min(b, last)) for a, b in missing if a <= last]
    topic = f"REPLAYED.{reply_to}".encode()
    frames = [[topic, rec.topic, rec.body] for rec in found]
    marker = {"publisher": publisher, "epoch": epoch, "by": by, "event_type": etype,
              "from": first, "to": last, "missing": missing, "truncated": stop is not None,
              "sent": [rec.seq if by == "seq" else rec.tseq for rec in found]}
    frames.append([topic, b"", codec.encode_obj(marker)])
    return frames, missing
