"""The checks a received frame passes before it is an event: one place for the ZeroMQ bus's
delivery path (``ZmqBus._on_frames``), its last-value reads (:mod:`hope.bus.latest`) and the
in-process bus.

In this order, each refusal counted and kept by the receiver's ``bad`` (or ``unauthentic``):

1. the shape: ``[topic, body, auth]`` (``[topic, body]`` where the bus does not authenticate);
2. the codec with the bus's limits: size before parsing, typed decode, schema version, payload
   bounds, the timestamp window at the time of arrival, the event id where the topic asks;
3. the topic against the envelope's (a frame cannot be routed as something it is not);
4. the event gate, where the bus authenticates: MAC, signer = publisher = source, authority,
   the replay rule of ephemeral events (hope/eventauth/);
5. where the bus recovers gaps: ``publisher``/``epoch``/``seq``/``tseq`` on every non-ephemeral
   event (delivery guarantees need them: refused, never guessed).

What comes after is the receiver's own: copies through a second proxy, stream cursors and
REPLAY, the consumer journal, the market clock's ``before`` hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hope import codec
from hope.config import BusConfig
from hope.envelope import Envelope, EnvelopeError
from hope.eventauth.gate import EventGate, Refusal

NO_SEQ = "non-ephemeral event without publisher/epoch/seq/tseq"


def shape_refusal(frames: list[bytes]) -> str | None:
    """Why ``frames`` are not ``[topic, body, auth?]``, or None when they are."""
    n = len(frames)
    return None if 2 <= n <= 3 else f"expected 3 frames [topic, body, auth], got {n}"


def where_of(topic: bytes) -> str:
    """How a refusal names the frame it refused (topics are attacker-influenced: cut)."""
    return f"topic {topic[:80]!r}"


@dataclass(frozen=True, slots=True)
class FrameChecks:
    """How a bus reads one received frame: its limits, its event gate (None: not
    authenticated), where its refusals go, and which topics get their event id recomputed."""

    limits: BusConfig
    bad: Callable[[list[bytes], str, str], None]             # frames, reason, where
    verify_id: Callable[[bytes], bool]
    gate: EventGate | None = None
    unauthentic: Callable[[list[bytes], Refusal, Envelope], None] | None = None  # with a gate
    need_seq: bool = False  # the bus recovers gaps: non-ephemeral events must carry seq/tseq

    def __post_init__(self) -> None:
        if self.gate is not None and self.unauthentic is None:  # else nothing would be checked
            raise ValueError("FrameChecks: a gate needs an unauthentic callback")

    def read(self, frames: list[bytes], at: float, verify_id: bool | None = None) -> Envelope | None:
        """The envelope in ``frames`` (received at wall time ``at``), or None when refused.
        ``verify_id``: whether to recompute the event id, when the caller knows already."""
        topic = frames[0]
        why = shape_refusal(frames)
        if why is not None:
            self.bad(frames, why, where_of(topic))
            return None
        limits = self.limits
        try:
            env = codec.decode(frames[1], max_bytes=limits.max_message_bytes, now=at,
                               max_future_s=limits.max_future_skew_s, max_age_s=limits.max_age_s,
                               verify_id=self.verify_id(topic) if verify_id is None else verify_id)
            if env.topic.encode() != topic:
                raise EnvelopeError(f"topic does not match the envelope's {env.topic!r}", "topic")
        except EnvelopeError as exc:
            where = where_of(topic)
            self.bad(frames, exc.reason, f"{where} field {exc.where}" if exc.where else where)
            return None
        gate = self.gate
        if gate is not None:
            try:
                gate.admit(frames[1], frames[2] if len(frames) == 3 else None, env, now=at)
            except Refusal as exc:
                self.unauthentic(frames, exc, env)  # type: ignore[misc]  # set with a gate
                return None
        if self.need_seq and not (env.publisher and env.epoch and env.seq and env.tseq) \
                and not env.ephemeral:
            self.bad(frames, NO_SEQ, f"{where_of(topic)} field seq")
            return None
        return env
