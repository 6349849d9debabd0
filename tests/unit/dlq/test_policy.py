"""Tests for hope.dlq.policy: backoff, parking rules and letter ids."""

import random

from hope.dlq.config import DlqConfig
from hope.dlq.policy import RetryPolicy, letter_id


def test_backoff_doubles_and_caps_without_jitter():
    """Without jitter the delay is min_backoff * 2**(n-1), capped at max_backoff."""
    p = RetryPolicy(DlqConfig(min_backoff_s=1.0, max_backoff_s=5.0, jitter=False))
    assert [p.backoff(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_jitter_stays_between_half_and_full_base():
    """With jitter every delay lies in [base/2, base] and the delays are not all equal."""
    p = RetryPolicy(DlqConfig(min_backoff_s=2.0, max_backoff_s=100.0), rng=random.Random(7))
    delays = [p.backoff(3) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


def test_backoff_huge_attempt_count_does_not_overflow():
    """A letter retried a thousand times still gets max_backoff, not an overflow."""
    p = RetryPolicy(DlqConfig(max_backoff_s=60.0, jitter=False))
    assert p.backoff(1000) == 60.0


def test_non_retryable_error_parks_at_once():
    """An error type listed as non-retryable parks on the first failure."""
    p = RetryPolicy(DlqConfig())
    reason = p.park_reason(failures=1, error_type="DecodeError", event={}, market_now=None)
    assert reason and "DecodeError" in reason


def test_budget_exhausted_parks_after_max_retries_plus_one_failures():
    """With max_retries=2 the third failure parks, the second does not."""
    p = RetryPolicy(DlqConfig(max_retries=2))
    assert p.park_reason(failures=2, error_type="RuntimeError", event={}, market_now=None) is None
    assert "3 attempts" in p.park_reason(failures=3, error_type="RuntimeError", event={},
                                         market_now=None)


def test_stale_trading_event_parks_on_market_clock():
    """A SIGNAL whose market_ts is older than max_market_age_s on the market clock is parked."""
    p = RetryPolicy(DlqConfig(max_market_age_s=60.0))
    event = {"event_type": "SIGNAL", "payload": {"market_ts": 1000.0}}
    assert p.park_reason(failures=1, error_type="X", event=event, market_now=1059.0) is None
    assert "stale" in p.park_reason(failures=1, error_type="X", event=event, market_now=1061.0)


def test_non_trading_or_unknown_market_clock_is_never_stale():
    """A FILL, an event without market_ts or an unknown market clock never counts as stale."""
    p = RetryPolicy(DlqConfig(max_market_age_s=1.0))
    assert p.stale_reason({"event_type": "FILL", "payload": {"market_ts": 1.0}}, 1e9) is None
    assert p.stale_reason({"event_type": "SIGNAL", "payload": {}}, 1e9) is None
    assert p.stale_reason({"event_type": "SIGNAL", "payload": {"market_ts": 1.0}}, None) is None


def test_letter_id_is_stable_and_distinguishes_handlers():
    """The same (service, handler, event) gives the same id; another handler another id."""
    assert letter_id("executor", "on_order", "sha256:ab") == letter_id("executor", "on_order",
                                                                        "sha256:ab")
    assert letter_id("executor", "on_order", "sha256:ab") != letter_id("executor", "on_fill",
                                                                        "sha256:ab")
