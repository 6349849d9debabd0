"""Telegram notices as declared handlers, for any service to inherit (the gateway does).

``telegram_notify`` runs on FILL, CLOSE, HEALTH, TRADING_STATE, ALERT (``[telegram] notices``; a
failed send raises: the runtime dead-letters the event and the retry daemon sends it back on
RETRY.<service>); ``telegram_resend`` re-sends notices a periodic batch flush failed to deliver:
those are dead-lettered under that name because their original handler run had already
succeeded (deferred). With no token or chat id there is no notifier and none of this subscribes.
"""

from __future__ import annotations

import functools
from typing import Any

import aiohttp

from hope.envelope import Envelope
from hope.notify.telegram import TelegramNotifier, resolve_token
from hope.runtime import Runtime
from hope.service import Service, every, subscribe

RESEND = "telegram_resend"
# never published: a subscription for the resend handler, which only runs on RETRY
RESEND_PREFIX = "TELEGRAM_RESEND."


async def _dead_letter(runtime: Runtime, env: Envelope, exc: Exception) -> None:
    """The runtime's own dead-letter path (local retry when it cannot publish), under the
    resend handler's name."""
    assert runtime.dead_letters is not None, "the notifier needs the dead-letter middleware"
    await runtime.dead_letters.failed(env, RESEND, exc, str(exc), 1)


def open_notifier(runtime: Runtime) -> TelegramNotifier | None:
    """The configured notifier; None (and a log line) when no token or chat id is set."""
    cfg = runtime.config.telegram
    try:
        token = resolve_token(cfg)
    except OSError as exc:
        runtime.log.error("telegram token_file unreadable: notifier disabled", error=str(exc))
        return None
    if not token or not cfg.chat_id:
        runtime.log.info("telegram notifier disabled (no token or chat_id)")
        return None
    runtime.log.info("telegram notifier enabled", base_url=cfg.base_url, chat_id=cfg.chat_id)
    return TelegramNotifier(cfg, token, aiohttp.ClientSession(), clock=runtime.clock,
                            dead_letter=functools.partial(_dead_letter, runtime))


class TelegramNotices(Service):
    notifier: TelegramNotifier | None = None

    def _notices(self) -> list[str]:
        return list(self.config.telegram.notices) if self.notifier else []

    def _resend_prefixes(self) -> list[str]:
        return [RESEND_PREFIX] if self.notifier else []

    @subscribe(_notices, name="telegram_notify")
    async def notify(self, env: Envelope) -> None:
        assert self.notifier is not None
        await self.notifier.notify(env)

    @subscribe(_resend_prefixes, name=RESEND, retry_any_topic=True)
    async def resend(self, env: Envelope) -> None:
        assert self.notifier is not None
        await self.notifier.notify(env, force=True)

    @every(lambda self: self.config.telegram.flush_interval_s if self.notifier else 0)
    async def flush_notices(self) -> None:
        assert self.notifier is not None
        await self.notifier.flush()

    async def close_notifier(self) -> None:
        if self.notifier is not None:
            await self.notifier.session.close()

    def notices_heartbeat(self) -> dict[str, Any]:
        if self.notifier is None:
            return {}
        return {"telegram": {**self.notifier.stats, "pending": len(self.notifier.pending)}}
