"""Telegram notifier with the real aiohttp client against a local stand-in for the Bot API."""

from __future__ import annotations

import aiohttp
import pytest

from hope.clock import ManualClock
from hope.envelope import new_event
from hope.notify.config import TelegramConfig
from hope.notify.telegram import (
    TelegramError,
    TelegramNotifier,
    TokenFileError,
    format_notice,
    resolve_token,
)
from tests.helpers import TELEGRAM_TOKEN as TOKEN
from tests.helpers import FakeTelegram, fill


@pytest.fixture
async def tg():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.runner.cleanup()


def close(pnl: float = 2e-06):
    return new_event("CLOSE", {"symbol": "EVXBTC", "order_id": "hope-1", "entry_price": 1e-05,
                               "exit_price": 1.05e-05, "quantity": 10.0, "pnl": pnl,
                               "fees": 2e-08, "reason": "take_profit", "holding_s": 12.0,
                               "quote": "BTC"}, source="executor")


def make(tg: FakeTelegram, session, clock, **kw):
    cfg = TelegramConfig(base_url=tg.url, chat_id="42", min_interval_s=1.0, burst=2, **kw)
    dead = []

    async def dead_letter(env, exc):
        dead.append((env.event_id, str(exc)))
    return TelegramNotifier(cfg, TOKEN, session, clock=clock, dead_letter=dead_letter), dead


def test_format_picks_only_the_notices_that_matter():
    """FILL, CLOSE, DOWN/FATAL, HALTED and dlq_parked are told; UP, ACTIVE, unknown alerts are
    not."""
    kinds = TelegramConfig().notices
    ev = lambda t, p: new_event(t, p, source="x")  # noqa: E731
    assert format_notice(fill(), kinds).startswith("FILL EVXBTC BUY qty 10")
    assert "P&L +2e-06 BTC" in format_notice(close(), kinds)
    assert format_notice(ev("HEALTH", {"service": "executor", "status": "DOWN", "detail": "x"}),
                         kinds) == "HEALTH executor DOWN: x"
    assert format_notice(ev("HEALTH", {"service": "executor", "status": "UP"}), kinds) is None
    assert "HALTED" in format_notice(ev("TRADING_STATE", {"state": "HALTED", "by": "op"}), kinds)
    assert format_notice(ev("TRADING_STATE", {"state": "ACTIVE"}), kinds) is None
    parked = ev("ALERT", {"kind": "dlq_parked", "dlq_id": "d1", "service": "executor",
                          "handler": "h", "event_type": "FILL", "attempts": 5})
    assert "hope dlq show d1" in format_notice(parked, kinds)
    assert format_notice(ev("ALERT", {"kind": "other"}), kinds) is None
    assert format_notice(fill(), ["CLOSE"]) is None


def test_executor_limit_alert_is_told():
    """An executor_limit ALERT (a DECISION refused by the executor's limits) is a notice."""
    alert = new_event("ALERT", {"kind": "executor_limit", "limit": "max_position_size",
                                "detail": "1000 BTC > 0.001 BTC", "symbol": "EVXBTC",
                                "order_id": "hope-1"}, source="executor")
    text = format_notice(alert, TelegramConfig().notices)
    assert text.startswith("EXECUTOR REFUSED a BUY of EVXBTC: limit max_position_size")


def test_feed_alerts_are_told():
    """The live feed's ALERTs (down, stale, trades lost, tape disk) reach Telegram."""
    kinds = TelegramConfig().notices
    down = new_event("ALERT", {"kind": "feed_down", "venue": "binance", "down_s": 31.0},
                     source="scanner")
    text = format_notice(down, kinds)
    assert text.startswith("FEED ALERT feed_down") and "down_s 31.0" in text


async def test_notice_is_sent_to_the_bot_api(tg: FakeTelegram):
    """A FILL is one sendMessage to /bot<token>/sendMessage with the chat id and the text."""
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, ManualClock())
        assert await n.notify(fill()) is True
    assert tg.paths == [f"/bot{TOKEN}/sendMessage"]
    assert tg.messages[0]["chat_id"] == "42" and tg.messages[0]["text"].startswith("FILL EVXBTC")


async def test_busy_notices_are_deferred_then_batched_in_one_message(tg: FakeTelegram):
    """Past the burst, notices wait and the next flush sends them together in one message."""
    clock = ManualClock()
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, clock)
        results = [await n.notify(fill(i)) for i in range(5)]
        assert results == [True, True, False, False, False] and len(tg.messages) == 2
        assert await n.flush() == 0  # still paced
        clock.advance(1.0)
        assert await n.flush() == 3
    assert len(tg.messages) == 3
    batch = tg.messages[2]["text"].splitlines()
    assert batch[0] == "HOPE: 3 notices" and all("hope-" in line for line in batch[1:])


async def test_long_batches_are_split_at_the_message_limit(tg: FakeTelegram):
    """A batch never exceeds max_message_chars; the rest waits for the next slot."""
    clock = ManualClock()
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, clock, max_message_chars=250)
        for i in range(8):
            await n.notify(fill(i))
        clock.advance(1.0)
        await n.flush()
        assert all(len(m["text"]) <= 250 + 20 for m in tg.messages) and n.pending


async def test_failed_send_raises_without_leaking_the_token(tg: FakeTelegram):
    """An API error raises TelegramError (so the runtime dead-letters); the token is not in it."""
    tg.fail = 400
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, ManualClock())
        with pytest.raises(TelegramError) as info:
            await n.notify(fill())
    assert "HTTP 400" in str(info.value) and TOKEN not in str(info.value)
    assert n.pending == {}  # the runtime owns the retry now


async def test_unreachable_api_raises_without_leaking_the_token():
    """A connection failure raises TelegramError with the token scrubbed."""
    cfg = TelegramConfig(base_url="http://127.0.0.1:9", chat_id="42", timeout_s=2.0)
    async with aiohttp.ClientSession() as session:
        n = TelegramNotifier(cfg, TOKEN, session, clock=ManualClock())
        with pytest.raises(TelegramError) as info:
            await n.notify(close())
    assert TOKEN not in str(info.value)


async def test_failed_flush_dead_letters_each_batched_notice(tg: FakeTelegram):
    """When a periodic batch fails, every notice in it goes to dead_letter; none is lost."""
    clock = ManualClock()
    async with aiohttp.ClientSession() as session:
        n, dead = make(tg, session, clock)
        events = [fill(i) for i in range(4)]
        for e in events:
            await n.notify(e)
        tg.fail = 500
        clock.advance(1.0)
        await n.flush()
    assert [d[0] for d in dead] == [e.event_id for e in events[2:]]
    assert all("HTTP 500" in d[1] and TOKEN not in d[1] for d in dead) and not n.pending


async def test_429_blocks_sending_for_retry_after(tg: FakeTelegram):
    """Telegram's 429 retry_after pauses the notifier; after it, sending resumes."""
    clock = ManualClock()
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, clock)
        tg.fail, tg.retry_after = 429, 30
        with pytest.raises(TelegramError):
            await n.notify(fill(0))
        tg.fail = None
        clock.advance(5.0)
        assert await n.notify(fill(1)) is False  # deferred: still blocked
        clock.advance(30.0)
        assert await n.flush() == 1
    assert len(tg.messages) == 1


async def test_forced_resend_ignores_the_pace(tg: FakeTelegram):
    """A DLQ retry (force) is sent at once even when the bucket is empty."""
    async with aiohttp.ClientSession() as session:
        n, _ = make(tg, session, ManualClock())
        for i in range(3):
            await n.notify(fill(i))
        assert await n.notify(fill(9), force=True) is True
    assert "hope-9" in tg.messages[-1]["text"]


def test_token_resolution_prefers_env_then_file_then_config(tmp_path):
    """HOPE_TELEGRAM_TOKEN beats token_file, which beats token; none means disabled."""
    f = tmp_path / "tg.token"
    f.write_text("from-file\n")
    f.chmod(0o600)
    cfg = TelegramConfig(token="from-config", token_file=str(f))
    assert resolve_token(cfg, {"HOPE_TELEGRAM_TOKEN": "from-env"}) == "from-env"
    assert resolve_token(cfg, {}) == "from-file"
    assert resolve_token(TelegramConfig(token="from-config"), {}) == "from-config"
    assert resolve_token(TelegramConfig(), {}) == ""


async def test_standin_receives_what_the_notifier_sends():
    """The demo stand-in answers like Telegram and keeps each message; bad bodies get 400."""
    from hope.notify.standin import StandIn

    standin = StandIn()
    port = await standin.start()
    try:
        cfg = TelegramConfig(base_url=f"http://127.0.0.1:{port}", chat_id="42")
        async with aiohttp.ClientSession() as session:
            await TelegramNotifier(cfg, TOKEN, session, clock=ManualClock()).notify(close())
            async with session.post(f"http://127.0.0.1:{port}/botX/sendMessage",
                                    json={"text": "no chat"}) as resp:
                assert resp.status == 400
        assert standin.messages[0]["text"].startswith("CLOSE EVXBTC take_profit")
    finally:
        await standin.stop()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_token_file_readable_by_others_is_refused_naming_it(tmp_path, mode):
    """A token file with any group/other permission is refused, naming the file and its mode."""
    f = tmp_path / "tg.token"
    f.write_text("123:secret\n")
    f.chmod(mode)
    with pytest.raises(TokenFileError, match=f"{f}: mode {mode:o}") as info:
        resolve_token(TelegramConfig(token_file=str(f)), {})
    assert "123:secret" not in str(info.value)
