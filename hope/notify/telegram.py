"""Telegram notices: FILL, CLOSE, HEALTH DOWN/FATAL, TRADING_STATE HALTED, ALERT dlq_parked.

Sends through the Bot API ``POST {base_url}/bot{token}/sendMessage`` with the aiohttp client.
Pacing: a token bucket (``burst`` at once, then one per ``min_interval_s``). A notice that finds the
bucket empty is deferred; :meth:`TelegramNotifier.flush` (periodic) sends every deferred notice in
one message (batched, split at ``max_message_chars``). Failures are never swallowed:
:meth:`notify` raises (the runtime dead-letters the event); a failed periodic flush hands its
notices to ``dead_letter`` (the service publishes DEAD_LETTER for the resend handler). A 429 from
Telegram blocks the bucket for its ``retry_after``. The token is never logged: every error text
is scrubbed of it before it leaves this module.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from hope.clock import WallClock
from hope.envelope import Envelope
from hope.notify.config import TelegramConfig
from hope.ratelimit import TokenBucket

ENV_TOKEN = "HOPE_TELEGRAM_TOKEN"
DeadLetter = Callable[[Envelope, Exception], Awaitable[None]]


class TelegramError(RuntimeError):
    """sendMessage failed (network, HTTP error, ``ok: false``); the text never holds the token."""


class TokenFileError(PermissionError):
    """The token file is readable by group or others: the token is refused (say which file)."""


def resolve_token(cfg: TelegramConfig, env: dict[str, str] | None = None) -> str:
    """Token from env ``HOPE_TELEGRAM_TOKEN``, else ``token_file`` (which must be 0600 or 0400:
    TokenFileError otherwise, naming it), else ``token``; '' = disabled."""
    env = os.environ if env is None else env
    if env.get(ENV_TOKEN, "").strip():
        return env[ENV_TOKEN].strip()
    if cfg.token_file:
        path = Path(cfg.token_file)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise TokenFileError(f"[telegram] token_file {path}: mode {mode:o} lets others read "
                                 f"the bot token; refused (chmod 600 {path})")
        return path.read_text().strip()
    return cfg.token.strip()


def _num(value: Any) -> str:
    return f"{value:.8g}" if isinstance(value, int | float) else str(value)


def format_notice(env: Envelope, kinds: list[str] | tuple[str, ...]) -> str | None:
    """One line for an event worth telling a human, or None for everything else."""
    t, p = env.event_type, env.payload
    if t not in kinds:
        return None
    if t == "FILL":
        return (f"FILL {p.get('symbol')} {p.get('side', 'BUY')} qty {_num(p.get('filled_qty'))} "
                f"@ {_num(p.get('avg_price'))} (fee {_num(p.get('commission'))} "
                f"{p.get('commission_asset', '')}) [{p.get('order_id')}]")
    if t == "CLOSE":
        pnl = p.get("pnl")
        sign = "+" if isinstance(pnl, int | float) and pnl >= 0 else ""
        return (f"CLOSE {p.get('symbol')} {p.get('reason')}: P&L {sign}{_num(pnl)} "
                f"{p.get('quote', '')}, {_num(p.get('entry_price'))} -> "
                f"{_num(p.get('exit_price'))}, held {_num(p.get('holding_s'))}s "
                f"[{p.get('order_id')}]")
    if t == "HEALTH" and p.get("status") in ("DOWN", "FATAL"):
        return f"HEALTH {p.get('service')} {p.get('status')}: {p.get('detail', '')}"
    if t == "TRADING_STATE" and p.get("state") == "HALTED":
        return (f"TRADING HALTED by {p.get('by', '?')} (was {p.get('previous', '?')}, "
                f"reported by {p.get('service', env.source)})")
    if t == "ALERT" and p.get("kind") == "executor_limit":
        return (f"EXECUTOR REFUSED a BUY of {p.get('symbol')}: limit {p.get('limit')} "
                f"({str(p.get('detail', ''))[:200]}) [{p.get('order_id')}]")
    if t == "ALERT" and p.get("kind") == "dlq_parked":
        return (f"DLQ PARKED {p.get('dlq_id')}: {p.get('service')}/{p.get('handler')} "
                f"{p.get('event_type')} after {p.get('attempts')} attempts: "
                f"{str(p.get('last_error', ''))[:200]} (hope dlq show {p.get('dlq_id')})")
    if t == "ALERT" and str(p.get("kind", "")).startswith(("feed_", "tape_")):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(p.items()) if k not in ("kind",))
        return f"FEED ALERT {p.get('kind')}: {detail[:300]} (runbook: the live feed)"
    return None


class TelegramNotifier:
    """Formats, paces, batches and sends. ``session`` is an aiohttp ClientSession (tests' too)."""

    def __init__(self, cfg: TelegramConfig, token: str, session: aiohttp.ClientSession, *,
                 clock: WallClock | None = None, dead_letter: DeadLetter | None = None) -> None:
        if not token or not cfg.chat_id:
            raise ValueError("telegram: a token and a chat_id are required")
        self.cfg = cfg
        self._token = token
        self._url = f"{cfg.base_url.rstrip('/')}/bot{token}/sendMessage"
        self.session = session
        self.bucket = TokenBucket(1.0 / cfg.min_interval_s, cfg.burst, clock)
        self.dead_letter = dead_letter
        self.pending: OrderedDict[str, tuple[Envelope, str]] = OrderedDict()
        self.stats = {"sent_messages": 0, "sent_notices": 0, "deferred": 0, "failures": 0,
                      "dead_lettered": 0}

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def send(self, text: str) -> None:
        """One sendMessage; raises TelegramError (token scrubbed) unless Telegram says ok."""
        body = {"chat_id": self.cfg.chat_id, "text": text, "disable_web_page_preview": True}
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
        try:
            async with self.session.post(self._url, json=body, timeout=timeout) as resp:
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = {}
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.stats["failures"] += 1
            raise TelegramError(self._scrub(f"sendMessage failed: {type(exc).__name__}: {exc}")
                                ) from None
        if status != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
            self.stats["failures"] += 1
            desc = answer.get("description", "") if isinstance(answer, dict) else ""
            params = answer.get("parameters") if isinstance(answer, dict) else None
            retry_after = params.get("retry_after") if isinstance(params, dict) else None
            if status == 429 and isinstance(retry_after, int | float):
                self.bucket.block(float(retry_after))
            raise TelegramError(self._scrub(f"sendMessage failed: HTTP {status}: {desc}"))
        self.stats["sent_messages"] += 1

    def _batch(self) -> list[str]:
        """Ids of the pending notices that fit in one message, oldest first."""
        ids, size = [], 0
        for eid, (_, text) in self.pending.items():
            if ids and size + len(text) + 1 > self.cfg.max_message_chars:
                break
            ids.append(eid)
            size += len(text) + 1
        return ids

    async def _send_batch(self) -> list[str]:
        ids = self._batch()
        texts = [self.pending[i][1][: self.cfg.max_message_chars] for i in ids]
        header = f"HOPE: {len(texts)} notices\n" if len(texts) > 1 else ""
        await self.send(header + "\n".join(texts))  # raises: the notices stay pending
        for i in ids:
            self.pending.pop(i, None)
        self.stats["sent_notices"] += len(ids)
        return ids

    async def notify(self, env: Envelope, *, force: bool = False) -> bool:
        """Handle one event: send now (with whatever is pending) if the pace allows, else defer.
        Returns True when the event was sent now. Raises TelegramError when the send fails."""
        text = format_notice(env, self.cfg.notices)
        if text is None:
            return False
        self.pending[env.event_id] = (env, text)  # keyed: a retried event is never doubled
        if not force and not self.bucket.take():
            self.stats["deferred"] += 1
            return False
        try:
            while env.event_id in self.pending:
                await self._send_batch()
        except TelegramError:
            self.pending.pop(env.event_id, None)  # the runtime dead-letters this one
            raise
        return True

    async def flush(self) -> int:
        """Periodic: send deferred notices (batched) while the pace allows. On a failure every
        notice of the failed batch goes to ``dead_letter`` (or stays pending without one)."""
        sent = 0
        while self.pending and self.bucket.take():
            try:
                sent += len(await self._send_batch())
            except TelegramError as exc:
                if self.dead_letter is None:
                    return sent
                for eid in self._batch():
                    env, _ = self.pending.pop(eid)
                    self.stats["dead_lettered"] += 1
                    await self.dead_letter(env, exc)
        return sent
