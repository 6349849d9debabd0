"""Helpers for tests (and rehearsals) that run the stand-in: small recorded files, the real
``hope venue-sim`` process with its port read from the port file, an in-process instance,
generated test keys (:mod:`hope.venue_sim.keys`, re-exported here) and signed queries."""

from __future__ import annotations

import base64
import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hope.testing import Processes, wait_for
from hope.venue_sim.keys import VenueTestKeys, ensure_test_keys, generate_test_keys
from hope.venue_sim.scenario import Scenario
from hope.venue_sim.server import VenueSim
from hope.venue_sim.signing import hmac_signature

__all__ = ["ManualClock", "VenueTestKeys", "ensure_test_keys", "generate_test_keys", "running",
           "signed_query", "start_process", "steady_trades", "write_trades"]


class ManualClock:
    """A wall clock a test moves by hand: ``clock()`` reads it, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


HEADER = "timestamp,id,side,price,amount,cost,is_buyer_maker\n"


def write_trades(path: str | Path, rows: Iterable[tuple[float, float, float, bool]]) -> Path:
    """A recorded file in HOPE's aggregate-trades format from ``(ts_s, price, qty, taker_buy)``.

    Name it ``binance_<SYMBOL>_aggtrades_....csv`` so the symbol is read from the name.
    """
    path = Path(path)
    lines = [HEADER]
    for i, (ts, price, qty, taker_buy) in enumerate(rows, 1):
        lines.append(f"{int(round(ts * 1000))},{i},{'buy' if taker_buy else 'sell'},{price!r},"
                     f"{qty!r},{price * qty!r},{'false' if taker_buy else 'true'}\n")
    path.write_text("".join(lines))
    return path


def steady_trades(n: int, start: float = 1_600_000_000.0, step_s: float = 1.0,
                  price: float = 0.00001) -> list[tuple[float, float, float, bool]]:
    """``n`` trades ``step_s`` apart, alternating taker side, the price creeping up."""
    return [(start + i * step_s, price * (1 + i * 1e-4), 10.0 + i, i % 2 == 0)
            for i in range(n)]


def start_process(procs: Processes, key: str, args: Sequence[str], port_file: Path,
                  timeout: float = 30.0) -> int:
    """Start ``hope venue-sim ARGS --port 0 --port-file PORT_FILE``; the port it bound."""
    port_file.unlink(missing_ok=True)
    argv = ["-c", "import sys; from hope.cli import main; sys.exit(main())", "venue-sim",
            *args, "--port", "0", "--port-file", str(port_file)]
    proc: subprocess.Popen = procs.start(key, argv)

    def ready() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"venue-sim exited {proc.returncode}: {procs.log_text(key)}")
        text = port_file.read_text() if port_file.exists() else ""
        return int(text) if text.strip() else None

    return wait_for(ready, timeout, message=f"venue-sim port file {port_file}")


@contextlib.asynccontextmanager
async def running(paths: Iterable[str | Path], scenario: Scenario | None = None,
                  **kwargs: object) -> AsyncIterator[VenueSim]:
    """An in-process stand-in on a free port, stopped on exit (also on failure)."""
    sim = VenueSim(paths, scenario, port=0, **kwargs)  # type: ignore[arg-type]
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def signed_query(params: dict[str, object], keys: VenueTestKeys) -> str:
    """``params`` url-encoded with ``&signature=...`` appended, signed with ``keys`` (what a
    client sends; for tests that speak to the stand-in without a client library)."""
    payload = urlencode({k: str(v) for k, v in params.items()})
    if keys.secret is not None:
        signature = hmac_signature(keys.secret, payload)
    else:
        assert keys.private_key_path is not None
        private = load_pem_private_key(keys.private_key_path.read_bytes(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        signature = base64.b64encode(private.sign(payload.encode())).decode()
    return f"{payload}&{urlencode({'signature': signature})}"

