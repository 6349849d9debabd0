"""Gap recovery for the ZeroMQ bus: noticing missing events, asking for them, answering.

A mixin of :class:`hope.bus.zmq.ZmqBus` (the bus is long enough without it). It uses the bus's
``name``, ``config``, ``epoch``, ``cursors``, ``journal``, ``outbox``, ``counters``,
``prefixes``, ``flush_journal``, ``_pending`` (:class:`hope.bus.recovery_protocol.PendingReplays`),
``replay_guard`` (:class:`hope.bus.recovery_protocol.ReplayGuard`), ``links``
(:class:`hope.bus.links.ProxyLinks`), ``_grace_s``, ``_replayed_topic``, ``_replay_req_topic``,
``recover``, ``_wants_type``, ``_bad``, ``refuse`` and ``publish_nowait``.
Protocol: docs/ARCHITECTURE.md, "Delivery".
"""

from __future__ import annotations

import asyncio
import time

import structlog

from hope import codec
from hope.bus.cursor import ALL
from hope.bus.recovery_protocol import answer, parse_marker, request_payload
from hope.envelope import Envelope, EventType, new_event
from hope.eventauth.gate import Refusal

log = structlog.get_logger("hope.bus")
# Earlier epochs' unacknowledged events are resent after this long, then with doubling pauses.
RESEND_FIRST_S = 2.0
RESEND_MAX_S = 30.0


class GapRecovery:
    # control events and gaps, off the receive path --------------------------------------
    def _on_control(self, env: Envelope, topic: bytes) -> None:
        """REPLAY requests to us, WATERMARK acks of our outbox, other services' HEARTBEATs."""
        etype = env.event_type
        if etype == EventType.REPLAY and topic == self._replay_req_topic:
            self._answer_replay(env)
        elif etype == EventType.WATERMARK and self.outbox:
            mine = env.payload.get("watermarks", {}).get(self.name, {})
            for epoch, seq in mine.items():
                if isinstance(seq, int):
                    self.outbox.ack(epoch, seq)
        elif etype == EventType.HEARTBEAT and env.source != self.name:
            if self.outbox:
                self.replay_guard.heard(env.epoch, time.monotonic())
            if self.recover:
                self._check_tail(env)

    def _want_holes(self, key: object, holes: list[tuple[int, int]]) -> None:
        not_before = time.monotonic() + self._grace_s if self._grace_s else 0.0
        for first, last in holes:
            self._pending.want(key, first, last, not_before)

    # gap recovery: asking --------------------------------------------------------------
    def _check_tail(self, hb: Envelope) -> None:
        """A heartbeat states the publisher's highs: anything we lack below them is a gap."""
        pub = hb.payload.get("pub")
        if not isinstance(pub, dict) or not isinstance(pub.get("epoch"), str):
            return
        epoch, publisher = pub["epoch"], hb.source
        if self.cursors.track_all:
            highs = {ALL: pub.get("seq", 0)}
        else:
            highs = {t: n for t, n in (pub.get("tseq") or {}).items() if self._wants_type(t)}
        for kind, high in highs.items():
            if not isinstance(high, int) or high <= 0:
                continue
            cur = self.cursors.get((publisher, epoch, kind))
            not_before = time.monotonic() + self._grace_s if self._grace_s else 0.0
            for first, last in cur.holes(high) if high > cur.low else []:
                self._pending.want((publisher, epoch, kind), first, last, not_before)

    async def _maintenance(self) -> None:
        timeout = self.config.bus.replay_timeout_s
        last_trim = 0.0
        resend_every, next_resend = RESEND_FIRST_S, time.monotonic() + RESEND_FIRST_S
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            try:
                if not self.links.all_ready():  # a proxy came (back): probe it
                    self.links.probe()
                self.drain_latest()
                self._send_due_requests(now, timeout)
                self.flush_journal()  # idempotent events a waiting handler held back
                if self.outbox and now - last_trim > 1.0:
                    self.outbox.trim(now)
                    last_trim = now
                if self.outbox and now >= next_resend:
                    resend_every = RESEND_FIRST_S if self._resend_unacked() == 0 \
                        else min(resend_every * 2, RESEND_MAX_S)
                    next_resend = now + resend_every
            except Exception as exc:
                log.exception("bus_maintenance_failed", service=self.name, error=str(exc))

    def _resend_unacked(self) -> int:
        """Resend earlier epochs' events the audit writer has not acknowledged: at start and
        then periodically, because a resend at start is lost when the audit writer is down too
        (killed together), and no heartbeat of a dead epoch announces its last seq."""
        n = 0
        for epoch, elog in list(self.outbox.epochs.items()):
            if epoch == self.epoch:
                continue
            for rec in elog.unacked():  # sealed now: the outbox keeps the body only
                self.links.send_multipart(self.sealed([rec.topic, rec.body]))
                n += 1
        if n:
            self.counters["resent"] += n
            log.info("outbox_resent", service=self.name, events=n)
        return n

    def _unauthentic(self, frames: list[bytes], exc: Refusal, env: Envelope | None) -> None:
        """Refused by the event gate: counted, the frames kept, an ALERT (rate-limited)."""
        detail = {"signer": exc.signer, "topic": frames[0][:80].decode(errors="replace")}
        if env is not None:
            detail.update(publisher=env.publisher, event_type=env.event_type,
                          event_id=env.event_id)
        self.refuse(exc.reason, exc.message, **detail)
        self.quarantine.keep(frames, exc.message, f"auth {exc.reason}")
        if self.gate.alert_due(exc.reason) and self._started:
            alert = {"kind": "auth_refused", "service": self.name, "reason": exc.reason,
                     "detail": exc.message[:200], **{k: v for k, v in detail.items() if v}}
            try:
                self.publish_nowait(new_event(EventType.ALERT, alert, source=self.name))
            except Exception as err:  # the refusal stands even if the ALERT cannot go out
                log.error("alert_publish_failed", service=self.name, error=str(err))

    def _send_due_requests(self, now: float, timeout: float) -> None:
        prefixes = [p.decode() for p in self.prefixes]
        due = self._pending.due(self.cursors, now, timeout)
        if due:  # publishers answer only epochs heard lately: say we are alive first
            self.links.announce()
        for key, first, last in due:
            payload = request_payload(key, first, last, prefixes, self.epoch, self.name)
            self.counters["replay_requests"] += 1
            self.publish_nowait(new_event(EventType.REPLAY, payload, source=self.name))

    def _on_replay_marker(self, parts: list[bytes]) -> None:
        body = parts[0]
        try:
            key, first, last, sent, missing, truncated = parse_marker(body)
        except Exception as exc:
            self._bad([self._replayed_topic, b"", *parts], f"bad replay marker ({exc})", "marker")
            return
        if self.gate is not None:  # a forged marker could cover a range or declare it missing
            try:
                self.gate.admit_marker(body, parts[1] if len(parts) > 1 else None, key[0])
            except Refusal as exc:
                self._unauthentic([self._replayed_topic, b"", *parts], exc, None)
                return
        cur = self.cursors.get(key)
        if not all(cur.seen(n) for n in sent):
            return  # part of the answer was lost on the way: the pending request will retry
        for a, b in missing:
            if b <= cur.low or all(cur.seen(n) for n in range(a, b + 1)):
                continue  # settled by an earlier copy of this answer (one per proxy)
            self.counters["gaps_unrecoverable"] += b - a + 1
            log.warning("replay_range_missing", service=self.name, publisher=key[0],
                        epoch=key[1], stream=key[2], first=a, last=b)
            if self.journal and key[2] == ALL:
                self.journal.missing(key[0], key[1], a, b)
        cur.cover(first, last)
        if self.journal:
            self.journal.covered(key[0], key[1], key[2], first, last)
        if truncated:  # the publisher's byte cap: the rest of the range is asked for at once
            self._pending.retry_now(key)

    # gap recovery: answering -----------------------------------------------------------
    def _answer_replay(self, req: Envelope) -> None:
        refused = self.replay_guard.admit(req.payload, time.monotonic())
        if refused:
            self.refuse(refused, f"replay request refused ({refused})", requester=req.source,
                        reply_to=str(req.payload.get("reply_to"))[:40])
            return
        try:
            frames, missing = answer(self.outbox, self.name, req.payload,
                                     self.config.bus.replay_max_bytes)
        except ValueError as exc:
            self.counters["bad_replay_requests"] += 1
            self.refuse("replay_malformed", str(exc), requester=req.source)
            return
        if self.gate is not None and not self.gate.keys.knows(req.publisher or ""):
            self.gate.keys.rescan(force=True)  # a requester enrolled since the last scan
        for f in frames:
            self.links.send_multipart(self.sealed(f))
        self.counters["replayed_out"] += len(frames) - 1
        if codec.decode_obj(frames[-1][2]).get("truncated"):
            self.counters["replay_truncated"] += 1
        if missing:
            log.info("replay_answered_with_missing", service=self.name, requester=req.payload.get(
                "requester"), epoch=req.payload.get("epoch"), missing=missing[:5])
