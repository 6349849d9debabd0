"""No replay of genuine events: the rule per kind of event.

The MAC covers the whole body, so ``event_type``, ``event_id``, ``epoch``, ``seq``, ``tseq``,
``timestamp`` and the payload cannot be changed without the signer's key; what is left to an
attacker is sending a captured genuine frame again.

- **Ephemeral events** (HEARTBEAT, WATERMARK, REPLAY: seq 0, never outboxed, never resent by
  HOPE) are accepted only inside a wall-clock window (``[bus] auth_window_s`` old at most,
  ``max_future_skew_s`` ahead at most) and only when strictly newer than the last one accepted
  from that principal and type: a captured WATERMARK sent again is refused (``auth_replayed``
  or ``auth_stale``) and cannot keep "no audit, no trade" open or acknowledge anything.
- **Every other event** carries the signer's (epoch, seq): a frame sent again is a duplicate of
  that stream's cursor and is dropped, and a handler runs once per event id (the consumer
  journal; the audit writer's log by event id). This is what lets a restarted publisher resend
  its genuine old events from the outbox (hours old, after an audit-writer outage) and gap
  recovery replay them: each is accepted exactly once, never refused as stale.
"""

from __future__ import annotations

from hope.envelope import EPHEMERAL_TYPES, Envelope, parse_timestamp


class Freshness:
    def __init__(self, window_s: float, future_s: float) -> None:
        self.window_s, self.future_s = window_s, future_s
        self.newest: dict[tuple[str, str], float] = {}

    def refusal(self, signer: str, env: Envelope, now: float) -> tuple[str, str] | None:
        """(reason, message) when ``env`` may be a replay, else None (and it is remembered)."""
        if env.event_type not in EPHEMERAL_TYPES:
            return None
        ts = parse_timestamp(env.timestamp).timestamp()
        if now - ts > self.window_s:
            return "auth_stale", f"{env.event_type} from {signer} is {now - ts:.1f}s old " \
                                 f"(window {self.window_s:g}s)"
        if ts - now > self.future_s:
            return "auth_stale", f"{env.event_type} from {signer} is {ts - now:.1f}s ahead"
        key = (signer, env.event_type)
        last = self.newest.get(key)
        if last is not None and ts <= last:
            return "auth_replayed", f"{env.event_type} from {signer} is not newer than the " \
                                    f"last one accepted ({env.timestamp})"
        self.newest[key] = ts
        return None
