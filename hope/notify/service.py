"""Telegram notifier wiring: runs inside the gateway service (or any service's ``setup``).

Handlers: ``telegram_notify`` on FILL, CLOSE, HEALTH, TRADING_STATE, ALERT (a failed send raises:
the runtime dead-letters the event and the retry daemon sends it back on RETRY.<service>);
``telegram_resend`` re-sends notices a periodic batch flush failed to deliver: those are
dead-lettered under that name because their original handler run had already succeeded (deferred).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from hope.envelope import Envelope
from hope.notify.telegram import TelegramNotifier, resolve_token

RESEND = "telegram_resend"
# never published: a subscription for the resend handler, which only runs on RETRY
RESEND_PREFIX = "TELEGRAM_RESEND."


async def setup_notifier(svc: Any) -> TelegramNotifier | None:
    """Wire the notifier into ``svc``; None (and a log line) when no token or chat id is set."""
    cfg = svc.config.telegram
    try:
        token = resolve_token(cfg)
    except OSError as exc:
        svc.log.error("telegram token_file unreadable: notifier disabled", error=str(exc))
        return None
    if not token or not cfg.chat_id:
        svc.log.info("telegram notifier disabled (no token or chat_id)")
        return None
    session = aiohttp.ClientSession()

    async def dead_letter(env: Envelope, exc: Exception) -> None:
        # the runtime's DEAD_LETTER payload, under the resend handler's name
        await svc.publish("DEAD_LETTER", {
            "service": svc.name, "handler": RESEND, "error": str(exc)[:2000],
            "error_type": type(exc).__name__, "attempt": 1, "topic": env.topic,
            "event": env.to_dict()}, parent=env)

    notifier = TelegramNotifier(cfg, token, session, clock=svc.clock, dead_letter=dead_letter)

    async def notify(env: Envelope) -> None:
        await notifier.notify(env)

    async def resend(env: Envelope) -> None:
        await notifier.notify(env, force=True)

    for prefix in cfg.notices:
        svc.subscribe(prefix, notify, name="telegram_notify")
    svc.subscribe(RESEND_PREFIX, resend, name=RESEND)
    svc.every(cfg.flush_interval_s, notifier.flush)
    svc.on_stop(session.close)
    svc.heartbeat_extras.append(lambda: {"telegram": {**notifier.stats,
                                                      "pending": len(notifier.pending)}})
    svc.log.info("telegram notifier enabled", base_url=cfg.base_url, chat_id=cfg.chat_id)
    return notifier
