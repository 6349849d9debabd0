"""The gap-recovery protocol (REPLAY/REPLAYED on the wire), without sockets: which ranges to ask
for, and how to answer a request.

A subscriber asks ``REPLAY.<publisher>`` for a range of ``seq`` (subscribers to everything) or of
``tseq`` of one event type; the publisher answers on ``REPLAYED.<requester epoch>`` with the
matching records ``[topic, original topic, original body]`` and then an end marker
``[topic, b"", {publisher, epoch, by, event_type, from, to, sent, missing}]``. The requester
settles the range once every ``sent`` number has arrived; ``missing`` ranges are lost for good.
"""

from __future__ import annotations

from typing import Any

from hope import codec
from hope.bus.cursor import ALL, Cursors, StreamKey
from hope.bus.outbox import MAX_REPLAY_SPAN, Outbox

MAX_BACKOFF_S = 10.0


class PendingReplays:
    """Ranges a subscriber still lacks, with a retry schedule (exponential backoff)."""

    def __init__(self) -> None:
        self._pending: dict[StreamKey, list[list[float]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def want(self, key: StreamKey, first: int, last: int) -> None:
        ranges = self._pending.setdefault(key, [])
        if not any(r[0] <= first and last <= r[1] for r in ranges):
            ranges.append([first, last, 0.0, 0])

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


def parse_marker(body: bytes) -> tuple[StreamKey, int, int, list[int], list[tuple[int, int]]]:
    """(stream key, from, to, sent numbers, missing ranges); raises on a malformed marker."""
    m = codec.decode_obj(body)
    key = (m["publisher"], m["epoch"], ALL if m["by"] == "seq" else m["event_type"])
    return (key, int(m["from"]), int(m["to"]), [int(n) for n in m["sent"]],
            [(int(a), int(b)) for a, b in m["missing"]])


def answer(outbox: Outbox | None, publisher: str,
           p: dict[str, Any]) -> tuple[list[list[bytes]], list[tuple[int, int]]]:
    """The frames answering one request (records, then the end marker) and the missing ranges.
    Raises ValueError for a malformed request."""
    try:
        epoch, first, last = p["epoch"], int(p["from"]), int(p["to"])
        by, etype, reply_to = p.get("by", "seq"), p.get("event_type", ""), p["reply_to"]
        prefixes = [x.encode() for x in p.get("prefixes", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad replay request ({exc})") from None
    if first > last or first < 1 or by not in ("seq", "tseq"):
        raise ValueError(f"bad replay request range {first}..{last} by {by!r}")
    elog = outbox.epochs.get(epoch) if outbox else None
    if elog is None:
        found, missing = [], [(first, last)]
    else:
        found, missing = elog.find(by, etype, first, last, prefixes)
    topic = f"REPLAYED.{reply_to}".encode()
    frames = [[topic, rec.topic, rec.body] for rec in found]
    marker = {"publisher": publisher, "epoch": epoch, "by": by, "event_type": etype,
              "from": first, "to": last, "missing": missing,
              "sent": [rec.seq if by == "seq" else rec.tseq for rec in found]}
    frames.append([topic, b"", codec.encode_obj(marker)])
    return frames, missing
