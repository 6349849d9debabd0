"""The witness over HTTP (aiohttp), on 127.0.0.1 by default.

- ``POST /add-checkpoint``: C2SP tlog-witness (see ``hope.witness.core``);
- ``GET /checkpoint?origin=<origin>``: HOPE's extension (the spec leaves reading open): the
  latest checkpoint it cosigned for that log, as a signed note carrying the log's signature
  and the witness's cosignature (``text/plain``), 404 when it holds none;
- ``GET /``: its name and cosigning key (``{"name", "vkey", "logs"}``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from hope.config import ConfigError, load
from hope.files import atomic_write_bytes
from hope.witness.core import Witness


def make_app(witness: Witness, max_body_bytes: int = 65536) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)

    async def add_checkpoint(request: web.Request) -> web.Response:
        body = await request.read()
        status, ctype, out = await asyncio.to_thread(witness.add_checkpoint, body)
        return web.Response(status=status, body=out, content_type=ctype)

    async def checkpoint(request: web.Request) -> web.Response:
        note = witness.latest(request.query.get("origin", ""))
        if note is None:
            return web.Response(status=404, text="no cosigned checkpoint for this origin\n")
        return web.Response(body=note, content_type="text/plain")

    async def about(request: web.Request) -> web.Response:
        return web.json_response({"name": witness.name, "vkey": witness.vkey,
                                  "logs": sorted(witness.trusted)})

    app.router.add_post("/add-checkpoint", add_checkpoint)
    app.router.add_get("/checkpoint", checkpoint)
    app.router.add_get("/", about)
    return app


async def serve(state_dir: Path, host: str, port: int, witness: Witness,
                max_body_bytes: int, stop: asyncio.Event) -> None:
    runner = web.AppRunner(make_app(witness, max_body_bytes))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    atomic_write_bytes(state_dir / "address.json", json.dumps(
        {"host": host, "port": bound, "pid": os.getpid(), "name": witness.name,
         "vkey": witness.vkey}).encode(), mode=0o644)
    print(f"witness {witness.name} listening on http://{host}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``services/witness.py`` and ``hope witness serve``: run until SIGTERM."""
    import argparse
    import signal

    p = argparse.ArgumentParser(prog="witness")
    p.add_argument("--state-dir")
    p.add_argument("--config")
    args = p.parse_args(argv)
    try:
        config = load(args.config, args.state_dir)
        cfg = config.witness
        witness = Witness(config.state.witness, cfg.logs, cfg.name)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"hope witness: refusing to start: bad config: {exc}", file=sys.stderr)
        return 78

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config.state.witness, cfg.host, cfg.port, witness, cfg.max_body_bytes, stop)

    try:
        asyncio.run(run())
    except OSError as exc:  # the listen address taken or not ours: say which, no traceback
        print(f"hope witness: cannot listen on {cfg.host}:{cfg.port} ([witness] host/port): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
