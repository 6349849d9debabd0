"""A local stand-in for the Telegram Bot API, for demos without internet.

``python -m hope.notify.standin [--port 8781]`` prints every ``sendMessage`` it receives and answers
like Telegram (``{"ok": true, ...}``). Point ``[telegram] base_url`` at ``http://127.0.0.1:8781``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from aiohttp import web


class StandIn:
    """Accepts ``POST /bot<any token>/sendMessage``; keeps and prints each message."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, echo: bool = False) -> None:
        self.host, self.port, self.echo = host, port, echo
        self.messages: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    async def _send(self, request: web.Request) -> web.Response:
        if not request.match_info["bot"].startswith("bot"):
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        try:
            msg = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: body is not JSON"}, status=400)
        if not isinstance(msg, dict) or not msg.get("chat_id") or not msg.get("text"):
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: chat_id and text required"},
                                     status=400)
        self.messages.append(msg)
        if self.echo:
            print(f"--- to chat {msg['chat_id']}:\n{msg['text']}", flush=True)
        return web.json_response({"ok": True, "result": {"message_id": len(self.messages),
                                                         "text": msg["text"]}})

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/{bot}/sendMessage", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _serve(port: int) -> None:
    standin = StandIn(port=port, echo=True)
    bound = await standin.start()
    print(f"Telegram stand-in on http://127.0.0.1:{bound} (Ctrl-C to stop)", file=sys.stderr)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.notify.standin")
    parser.add_argument("--port", type=int, default=8781)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
