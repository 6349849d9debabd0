"""Retry policy (modelled on dramatiq's Retries): exponential backoff with jitter, a retry budget,
errors no retry can fix, and trading events that went stale on the market clock.

Pure functions of their inputs: the daemon owns time and storage.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from hope.dlq.config import DlqConfig


def letter_id(service: str, handler: str, event_id: str) -> str:
    """The letter's id: stable for one (service, handler, event), so every later failure of the
    same delivery lands on the same letter."""
    digest = hashlib.sha256(f"{service}\x00{handler}\x00{event_id}".encode()).hexdigest()
    return "dl-" + digest[:12]


class RetryPolicy:
    """Decides when a failed delivery is tried again and when it is parked for an operator."""

    def __init__(self, cfg: DlqConfig, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.rng = rng or random.Random()
        self._non_retryable = set(cfg.non_retryable)
        self._trading = set(cfg.trading_types)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure: min_backoff * 2**(failures-1), capped
        at max_backoff; with jitter, uniform in [base/2, base] (equal jitter, never a retry storm
        of letters that failed together, never a wait under half the base)."""
        exp = min(max(failures, 1) - 1, 62)  # cap the exponent: 2**63 floats are just noise
        base = min(self.cfg.max_backoff_s, self.cfg.min_backoff_s * (2.0 ** exp))
        if not self.cfg.jitter:
            return base
        return base / 2 + self.rng.uniform(0.0, base / 2)

    def market_age(self, event: Mapping[str, Any], market_now: float | None) -> float | None:
        """How far the market clock has moved past a trading event's ``market_ts`` (None when the
        event is not a trading event, carries no market_ts, or the market clock is unknown)."""
        if market_now is None or event.get("event_type") not in self._trading:
            return None
        payload = event.get("payload")
        ts = payload.get("market_ts") if isinstance(payload, Mapping) else None
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            return None
        return market_now - float(ts)

    def stale_reason(self, event: Mapping[str, Any], market_now: float | None) -> str | None:
        age = self.market_age(event, market_now)
        if age is not None and age > self.cfg.max_market_age_s:
            return (f"stale on the market clock: market_ts is {age:.1f}s behind the latest "
                    f"market time (max_market_age_s={self.cfg.max_market_age_s:g})")
        return None

    def park_reason(self, *, failures: int, error_type: str, event: Mapping[str, Any],
                    market_now: float | None) -> str | None:
        """Why a letter that has failed ``failures`` times must be parked, or None to retry it."""
        if error_type in self._non_retryable:
            return f"non-retryable error {error_type}"
        if failures > self.cfg.max_retries:
            return f"gave up after {failures} attempts (max_retries={self.cfg.max_retries})"
        return self.stale_reason(event, market_now)
