"""The retry daemon's state machine over the store, free of sockets so tests drive it by hand.

Flow: DEAD_LETTER -> letter pending (backoff) -> due -> RETRY sent -> retrying -> either a new
DEAD_LETTER (attempts + 1, back to pending or parked) or ``success_after_s`` of silence -> done.
The runtime publishes nothing when a retried handler succeeds, hence the silence window; a
CONTROL ``retry_ok`` for the letter (if a runtime sends one) confirms at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hope.clock import MarketClock, WallClock
from hope.control.retry import RETRY, RETRY_OK
from hope.dlq.config import DlqConfig
from hope.dlq.policy import RetryPolicy, letter_id
from hope.dlq.store import DlqStore, Letter

Outgoing = tuple[str, dict[str, Any]]  # (event_type, payload) for the service to publish


class BadDeadLetter(ValueError):
    """A DEAD_LETTER payload the daemon cannot file; the message names the field."""


class RetryDaemon:
    def __init__(self, store: DlqStore, cfg: DlqConfig, *, clock: WallClock,
                 market_clock: MarketClock, policy: RetryPolicy | None = None,
                 live_after_s: float | None = None) -> None:
        """``live_after_s``: when set, retries go only to services that sent a heartbeat within
        that many seconds (a RETRY sent to a dead service would be lost and wrongly confirmed);
        None sends regardless (unit tests, single-process runs)."""
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.market_clock = market_clock
        self.policy = policy or RetryPolicy(cfg)
        self.live_after_s = live_after_s
        self._beats: dict[str, float] = {}
        self.stats = {"dead_letters": 0, "duplicates": 0, "retries_sent": 0, "parked": 0,
                      "done": 0, "bad": 0}

    # --- inputs ----------------------------------------------------------------------------

    def on_heartbeat(self, service: str) -> None:
        self._beats[service] = self.clock.time()

    def on_dead_letter(self, payload: Mapping[str, Any], dead_letter_id: str) -> list[Outgoing]:
        """File one failure. Returns ALERTs to publish (a letter parked now). A DEAD_LETTER seen
        before (same event id, e.g. redelivered by a replay) changes nothing."""
        service, handler, event = _fields(payload)
        now = self.clock.time()
        lid = letter_id(service, handler, str(event["event_id"]))
        letter = self.store.get(lid)
        if letter is not None and letter.seen(dead_letter_id):
            self.stats["duplicates"] += 1
            return []
        self.stats["dead_letters"] += 1
        if letter is None:
            letter = Letter(id=lid, service=service, handler=handler, event=dict(event),
                            created_at=now)
        error_type = str(payload.get("error_type") or "")
        letter.errors.append({"attempt": payload.get("attempt"), "error": str(payload["error"]),
                              "error_type": error_type, "at": now,
                              "dead_letter_id": dead_letter_id})
        letter.attempts = len(letter.errors)
        letter.updated_at = now
        letter.confirm_at = None
        letter.forced = False
        if letter.status == "parked":  # an operator's business now: keep the error, stay parked
            self.store.put(letter)
            return []
        reason = self.policy.park_reason(failures=letter.attempts, error_type=error_type,
                                         event=letter.event, market_now=self.market_clock.now())
        if reason:
            return [self._park(letter, reason)]
        letter.status = "pending"
        letter.reason = ""
        letter.next_attempt_at = now + self.policy.backoff(letter.attempts)
        self.store.put(letter)
        return []

    def on_control(self, payload: Mapping[str, Any]) -> list[str]:
        """CONTROL.dlq-retry ``retry`` (dlq_id or all) and ``retry_ok`` (dlq_id), as
        :mod:`hope.control.retry` documents them. Returns the ids of the letters affected."""
        command = payload.get("command")
        now = self.clock.time()
        if command == RETRY:
            if payload.get("all"):
                return self.store.request_retry(None, now)
            lid = payload.get("dlq_id")
            if not isinstance(lid, str):
                raise BadDeadLetter("payload.dlq_id: missing (or pass all: true)")
            return self.store.request_retry(lid, now)
        if command == RETRY_OK:
            letter = self.store.get(str(payload.get("dlq_id")))
            if letter and letter.status == "retrying":
                self._done(letter, now)
                return [letter.id]
            return []
        raise BadDeadLetter(f"payload.command: unknown command {command!r} (retry, retry_ok)")

    # --- periodic --------------------------------------------------------------------------

    def confirm(self) -> list[str]:
        """Mark done the retried letters whose confirmation window passed in silence; forget
        done letters older than ``keep_done_s``."""
        now = self.clock.time()
        done = []
        for letter in self.store.confirmable(now):
            self._done(letter, now)
            done.append(letter.id)
        self.store.purge_done(before=now - self.cfg.keep_done_s)
        return done

    def due(self) -> tuple[list[tuple[Letter, dict[str, Any]]], list[Outgoing]]:
        """Letters to retry now, each with its RETRY payload, plus ALERTs for letters parked
        because they went stale while waiting. Call :meth:`mark_sent` after each publish: a crash
        in between re-sends the retry (handlers dedupe) rather than losing it."""
        now = self.clock.time()
        retries, alerts = [], []
        for letter in self.store.due(now):
            stale = None if letter.forced else self.policy.stale_reason(
                letter.event, self.market_clock.now())
            if stale:
                alerts.append(self._park(letter, stale))
                continue
            if not self._target_live(letter.service, now):
                continue  # stays due; sent as soon as the service beats again
            retries.append((letter, {"service": letter.service, "handler": letter.handler,
                                     "dlq_id": letter.id, "attempt": letter.attempts + 1,
                                     "event": letter.event}))
        return retries, alerts

    def mark_sent(self, letter: Letter) -> None:
        now = self.clock.time()
        letter.status = "retrying"
        letter.next_attempt_at = None
        letter.confirm_at = now + self.cfg.success_after_s
        letter.updated_at = now
        self.store.put(letter)
        self.stats["retries_sent"] += 1

    def depth(self) -> dict[str, int]:
        return self.store.counts()

    # --- helpers ---------------------------------------------------------------------------

    def _target_live(self, service: str, now: float) -> bool:
        if self.live_after_s is None:
            return True
        beat = self._beats.get(service)
        return beat is not None and now - beat <= self.live_after_s

    def _done(self, letter: Letter, now: float) -> None:
        letter.status = "done"
        letter.confirm_at = None
        letter.updated_at = now
        self.store.put(letter)
        self.stats["done"] += 1

    def _park(self, letter: Letter, reason: str) -> Outgoing:
        letter.status = "parked"
        letter.reason = reason
        letter.next_attempt_at = None
        letter.updated_at = self.clock.time()
        self.store.put(letter)
        self.stats["parked"] += 1
        last = letter.errors[-1] if letter.errors else {}
        return ("ALERT", {"kind": "dlq_parked", "service": letter.service,
                          "handler": letter.handler, "dlq_id": letter.id,
                          "event_id": letter.event_id, "event_type": letter.event_type,
                          "attempts": letter.attempts, "reason": reason,
                          "last_error": str(last.get("error", ""))})


def _fields(payload: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    for name in ("service", "handler", "error"):
        if not isinstance(payload.get(name), str) or not payload.get(name):
            raise BadDeadLetter(f"payload.{name}: missing or not a string")
    event = payload.get("event")
    if not isinstance(event, Mapping):
        raise BadDeadLetter("payload.event: missing or not a map")
    if not isinstance(event.get("event_id"), str) or not event.get("event_id"):
        raise BadDeadLetter("payload.event.event_id: missing or not a string")
    return str(payload["service"]), str(payload["handler"]), event
