"""The kill switch from the page: forwarded server-side to the gateway, so no page talks to
another origin.

``POST /api/control/<action>`` with the operator's control-scope token in
``X-Hope-Control-Token`` and ``{"confirm": "<action>"}`` (the page's confirmation) becomes
``POST <gateway>/v1/trading/<action>`` with ``Authorization: Bearer <that token>``; the
gateway checks the scope and answers, and its answer is relayed (status and JSON). Without a
token the dashboard refuses at once (401); ``resume`` is refused (403) unless the gateway allows
it over HTTP (``[gateway] allow_http_resume``), as resuming is CLI-only by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

ACTIONS = ("halt", "reduce", "resume")


@dataclass
class Refusal:
    status: int
    body: dict[str, Any]


def check(action: str, token: str | None, confirm: Any, resume_allowed: bool) -> Refusal | None:
    """Why the dashboard itself refuses the request (None: forward it)."""
    if action not in ACTIONS:
        return Refusal(404, {"error": "unknown trading action", "detail": action,
                             "allowed": list(ACTIONS)})
    if action == "resume" and not resume_allowed:
        return Refusal(403, {"error": "resume is CLI-only",
                             "detail": "run `hope trading resume` on the host "
                                       "([gateway] allow_http_resume = true allows it here)"})
    if not token:
        return Refusal(401, {"error": "control token required",
                             "detail": "trading levers need the gateway's control-scope token "
                                       "(<state>/keys/gateway-control.token)"})
    if confirm != action:
        return Refusal(400, {"error": "not confirmed",
                             "detail": f'send {{"confirm": "{action}"}} to confirm'})
    return None


async def forward(gateway_base: str, action: str, token: str,
                  timeout_s: float = 5.0) -> tuple[int, dict[str, Any]]:
    """The gateway's answer (status, JSON body); 502/504 when it cannot be had."""
    url = f"{gateway_base.rstrip('/')}/v1/trading/{action}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s, \
                s.post(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {"error": "gateway answered no JSON", "status": resp.status}
            if not isinstance(body, dict):
                body = {"answer": body}
            return resp.status, body
    except TimeoutError:
        return 504, {"error": "gateway did not answer", "detail": f"within {timeout_s:g}s"}
    except (aiohttp.ClientError, OSError) as exc:
        return 502, {"error": "gateway unreachable", "detail": type(exc).__name__}
