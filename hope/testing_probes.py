"""Probe processes for integration tests: real services on the real bus.

``python -m hope.testing_probes emit`` publishes N SIGNALs at a rate and keeps a ledger of what it
sent; ``record`` subscribes to a prefix and appends every event it handles to a file
(``--idempotent``: declared so, journaled as coverage). Integration tests use them to prove
delivery without depending on trading logic (:meth:`hope.testing.Processes.probe`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from hope.runtime import Runtime
from hope.service import Service, run_service, subscribe


class Emitter(Service):
    """Publishes ``--count`` SIGNALs at ``--rate`` once started; a ledger line per event."""

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime)
        self.args = args
        self.ledger = open(Path(args.ledger), "a", buffering=1)

    @classmethod
    def create(cls, runtime: Runtime, *, args: argparse.Namespace) -> Emitter:
        return cls(runtime, args=args)

    async def start(self) -> None:
        # Kept: the loop holds tasks only weakly, so an unreferenced one may vanish mid-run.
        self.emitting = asyncio.get_running_loop().create_task(self.emit())

    async def emit(self) -> None:
        args, start = self.args, time.monotonic()
        for i in range(args.count):
            payload = {"symbol": args.symbol, "strategy": "probe", "price": 1.0 + i,
                       "market_ts": 1_600_000_000.0 + i, "n": i}
            env = await self.publish("SIGNAL", payload)
            self.ledger.write(json.dumps({"event_id": env.event_id, "seq": env.seq,
                                          "epoch": env.epoch}) + "\n")
            if args.rate:
                delay = start + (i + 1) / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        self.ledger.write(json.dumps({"done": args.count}) + "\n")


class Recorder(Service):
    """Appends every event of ``--prefix`` it handles to ``--out``; ``--block-on N`` blocks the
    handler for good on the event with payload ``n == N`` (heartbeats must stop)."""

    def __init__(self, runtime: Runtime, *, args: argparse.Namespace) -> None:
        super().__init__(runtime)
        self.args = args
        self.out = open(Path(args.out), "a", buffering=1)

    @classmethod
    def create(cls, runtime: Runtime, *, args: argparse.Namespace) -> Recorder:
        return cls(runtime, args=args)

    @subscribe(lambda self: [self.args.prefix], name="record")
    def record(self, env: Any) -> None:
        if self.args.block_on and env.payload.get("n") == self.args.block_on:
            time.sleep(3600)
        self.out.write(json.dumps({"event_id": env.event_id, "publisher": env.publisher,
                                   "epoch": env.epoch, "seq": env.seq, "topic": env.topic}) + "\n")


class IdempotentRecorder(Recorder):
    """``record --idempotent``: journaled as coverage, a SIGKILL may redo the last read batch."""

    @subscribe(lambda self: [self.args.prefix], name="record", idempotent=True)
    def record(self, env: Any) -> None:
        super().record(env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hope.testing_probes")
    sub = parser.add_subparsers(dest="mode", required=True)
    emit = sub.add_parser("emit")
    emit.add_argument("--name", default="probe-emitter")
    emit.add_argument("--count", type=int, default=100)
    emit.add_argument("--rate", type=float, default=0.0)
    emit.add_argument("--symbol", default="PROBEBTC")
    emit.add_argument("--ledger", required=True)
    record = sub.add_parser("record")
    record.add_argument("--name", default="probe-recorder")
    record.add_argument("--prefix", default="SIGNAL")
    record.add_argument("--out", required=True)
    record.add_argument("--block-on", type=int, default=0)
    record.add_argument("--idempotent", action="store_true")
    args, rest = parser.parse_known_args(argv)
    cls = Emitter if args.mode == "emit" else IdempotentRecorder if args.idempotent else Recorder
    run_service(cls, rest, name=args.name, args=args)


if __name__ == "__main__":
    main()
