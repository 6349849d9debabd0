"""The one place events are authenticated: the bus receive path asks :meth:`EventGate.admit`.

Order of checks for a decoded event with its auth frame: the MAC for this consumer proves the
signer (:mod:`hope.eventauth.seal`); the body's ``publisher`` and ``source`` must be the signer;
the signer must have authority for the event (:mod:`hope.authority`); an ephemeral event must be
fresh (:mod:`hope.eventauth.freshness`). A refusal names its counter (``auth_*``); the bus
counts it (``hope_refusals_total``), quarantines the frames and raises an ALERT
(:meth:`EventGate.alert_due`, at most one per reason every ``ALERT_EVERY_S``).
"""

from __future__ import annotations

import time

import structlog

from hope.authority import Authority
from hope.config import Config
from hope.envelope import Envelope
from hope.eventauth.freshness import Freshness
from hope.eventauth.keys import EventKeyError, create_principal, enrol_allowed, load_secret
from hope.eventauth.seal import AuthError, PairKeys

log = structlog.get_logger("hope.eventauth")
ALERT_EVERY_S = 10.0
DEFAULT_MARKET_DATA = ("scanner",)


class Refusal(Exception):
    def __init__(self, reason: str, message: str, signer: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.signer = reason, message, signer


class EventGate:
    def __init__(self, name: str, keys: PairKeys, authority: Authority,
                 freshness: Freshness) -> None:
        self.name, self.keys, self.authority, self.freshness = name, keys, authority, freshness
        self._alerted: dict[str, float] = {}

    @classmethod
    def for_bus(cls, name: str, config: Config) -> EventGate | None:
        """The gate of bus client ``name``, or None when ``[bus] authenticate = false``.
        Raises EventKeyError naming the file when the principal has no key."""
        bus = config.bus
        if not bus.authenticate:
            return None
        keys_dir = config.state.keys
        try:
            secret = load_secret(keys_dir, name)
        except EventKeyError:
            if not enrol_allowed():
                raise
            create_principal(keys_dir, name)
            log.warning("principal_enrolled", principal=name, keys=str(keys_dir))
            secret = load_secret(keys_dir, name)
        clock = getattr(config, "market_clock", None)
        market = getattr(clock, "publishers", None) or DEFAULT_MARKET_DATA
        return cls(name, PairKeys(keys_dir, name, secret), Authority(market),
                   Freshness(bus.auth_window_s, bus.max_future_skew_s))

    def seal(self, body: bytes) -> bytes:
        return self.keys.seal(body)

    def admit(self, body: bytes, auth: bytes | None, env: Envelope,
              now: float | None = None) -> None:
        """Raise Refusal unless ``env`` (decoded from ``body``) is proven and allowed."""
        if auth is None:
            raise Refusal("auth_missing", "event without an auth frame")
        try:
            signer = self.keys.open(body, auth)
        except AuthError as exc:
            raise Refusal(exc.reason, exc.message, exc.signer) from None
        if env.publisher != signer or env.source != signer:
            raise Refusal("auth_impostor", f"signed by {signer} but names publisher "
                          f"{str(env.publisher)[:40]!r}, source {env.source[:40]!r}", signer)
        why = self.authority.refusal(signer, env)
        if why:
            raise Refusal("auth_no_authority", why, signer)
        stale = self.freshness.refusal(signer, env, time.time() if now is None else now)
        if stale:
            raise Refusal(stale[0], stale[1], signer)

    def admit_marker(self, body: bytes, auth: bytes | None, publisher: object) -> None:
        """A replay answer's end marker: signed by the publisher it speaks for."""
        if auth is None:
            raise Refusal("auth_missing", "replay marker without an auth frame")
        try:
            signer = self.keys.open(body, auth)
        except AuthError as exc:
            raise Refusal(exc.reason, exc.message, exc.signer) from None
        if signer != publisher:
            raise Refusal("auth_impostor", f"replay marker for {str(publisher)[:40]!r} signed "
                          f"by {signer}", signer)

    def alert_due(self, reason: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self._alerted.get(reason, 0.0):
            return False
        self._alerted[reason] = now + ALERT_EVERY_S
        return True
