"""The account's rate budget: limits from exchangeInfo, usage from headers, local refusals,
429 backoff, 418 breaker, HOPE's own daily order cap across restarts."""

from __future__ import annotations

import pytest

from hope.clock import ManualClock
from hope.venue.budget import Budget, RateLimits

T0 = 1_700_000_040.0   # the start of a UTC minute (and of a 10 s window)
INFO = {"rateLimits": [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]}


def budget(**kw):
    clock = kw.pop("clock", None) or ManualClock(T0)
    return Budget(RateLimits.from_exchange_info(kw.pop("info", INFO)), clock=clock, **kw), clock


def test_limits_parse_from_exchange_info_with_the_venue_header_names():
    """REQUEST_WEIGHT per minute and each ORDERS limit, named as the venue's headers."""
    lim = RateLimits.from_exchange_info(INFO)
    assert lim.weight_per_minute == 6000
    assert [(o.window_s, o.limit, o.header) for o in lim.orders] == [
        (10, 100, "X-MBX-ORDER-COUNT-10S"), (86400, 200000, "X-MBX-ORDER-COUNT-1D")]


def test_a_malformed_rate_limit_names_its_index():
    """A rateLimits entry without a usable limit is refused, saying which entry."""
    with pytest.raises(ValueError, match=r"rateLimits\[0\]"):
        RateLimits.from_exchange_info({"rateLimits": [{"rateLimitType": "ORDERS",
                                                       "interval": "SECOND", "limit": "x"}]})


def test_orders_are_refused_locally_before_the_venue_limit_with_a_reason():
    """With a 0.9 share of 100 per 10 s, the 91st order in the window is refused, not sent."""
    b, clock = budget()
    for _ in range(90):
        assert b.acquire(1, orders=1) is None
    reason = b.acquire(1, orders=1)
    assert reason is not None and "order count 90+1 > 90 per 10 SECOND" in reason
    assert b.refused == {"orders": 1}
    clock.advance(10)
    assert b.acquire(1, orders=1) is None


def test_the_venue_header_count_wins_when_higher():
    """X-MBX-ORDER-COUNT-10S above HOPE's own count (another client on the account) is used."""
    b, _ = budget()
    b.observe(200, {"X-MBX-ORDER-COUNT-10S": "90", "X-MBX-USED-WEIGHT-1M": "12"})
    assert b.snapshot()["orders"]["10S"] == 90 and b.weight.used == 12
    assert "order count" in (b.acquire(1, orders=1) or "")


def test_request_weight_share_is_refused_until_the_next_minute():
    """The weight share (0.4 of 6000) is a local refusal naming the numbers and the wait."""
    b, clock = budget()
    b.observe(200, {"X-MBX-USED-WEIGHT-1M": "2395"})
    assert b.acquire(5) is None
    reason = b.acquire(20)
    assert reason is not None and "2400+20 > 2400 of 6000/min" in reason
    clock.advance(60)   # the next UTC minute
    assert b.acquire(20) is None


def test_429_backs_off_per_retry_after_and_alerts():
    """A 429 stops every request for Retry-After seconds; it is an ALERT, not a breaker."""
    b, clock = budget()
    alert = b.observe(429, {"Retry-After": "7"})
    assert alert == "venue rate limit (HTTP 429): backing off 7 s (Retry-After)"
    assert b.breaker_reason() is None
    assert "rate limit (HTTP 429): 7 s left" in (b.acquire(1) or "")
    assert b.blocked_s() == 7
    clock.advance(7)
    assert b.acquire(1) is None and b.blocked_s() == 0


def test_418_opens_the_breaker_until_the_ban_expires():
    """An IP ban refuses everything and gives the breaker reason until Retry-After passes."""
    b, clock = budget()
    alert = b.observe(418, {"Retry-After": "120"})
    assert alert is not None and alert.startswith("venue IP ban (HTTP 418): breaker open for 120")
    assert b.breaker_reason() == "breaker open: venue IP ban (HTTP 418) for another 120 s"
    assert "IP ban" in (b.acquire(1, orders=1) or "")
    clock.advance(119)
    assert b.breaker_reason() is not None
    clock.advance(1)
    assert b.breaker_reason() is None and b.acquire(1) is None
    assert b.snapshot()["bans"] == 1


def test_daily_order_cap_survives_a_restart_and_resets_the_next_day(tmp_path):
    """HOPE's own max_orders_per_day is counted in a state file, so a restart cannot reset it."""
    path = tmp_path / "venue" / "orders_today.jsonl"
    clock = ManualClock(T0)
    b, _ = budget(clock=clock, max_orders_per_day=2, state_path=path)
    assert b.acquire(1, orders=1) is None and b.acquire(1, orders=1) is None
    again, _ = budget(clock=clock, max_orders_per_day=2, state_path=path)
    assert again.acquire(1, orders=1) == "limit max_orders_per_day: 2 sent today (max 2)"
    assert again.acquire(1) is None    # a query places no order
    clock.advance(86400)
    assert again.acquire(1, orders=1) is None


def test_an_unreadable_order_count_file_refuses_to_start(tmp_path):
    """A corrupt count is an error naming the file, never a silent reset to zero."""
    path = tmp_path / "orders_today.jsonl"
    path.write_text('{not json\n{"day": 19675, "orders": 1}\n')
    with pytest.raises(ValueError, match="orders_today.jsonl"):
        budget(max_orders_per_day=5, state_path=path)


def test_a_torn_last_count_counts_the_order_it_was_written_for(tmp_path):
    """A count line cut by a power loss still counts (fail-closed: the order may have left)."""
    path = tmp_path / "orders_today.jsonl"
    day = int(T0 // 86400)
    path.write_text(f'{{"day": {day}, "orders": 1}}\n{{"day": {day}, "ord')
    b, _ = budget(max_orders_per_day=3, state_path=path)
    assert b.sent_today == 2
    assert b.acquire(1, orders=1) is None
    assert b.acquire(1, orders=1) == "limit max_orders_per_day: 3 sent today (max 3)"
    b.close()
    assert path.read_text().splitlines()[-1] == f'{{"day":{day},"orders":3}}'


def test_new_limits_keep_the_usage_counted_so_far():
    """Limits start at the venue's documented weight only; exchangeInfo adds ORDERS windows
    and the counts already seen carry over."""
    b, _ = budget(info={"rateLimits": [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50}]})
    assert b.acquire(1, orders=1) is None
    b.update_limits(RateLimits.from_exchange_info(INFO))
    assert b.weight.limit == 6000
    assert b.snapshot()["orders"] == {"10S": 1, "1D": 0}
