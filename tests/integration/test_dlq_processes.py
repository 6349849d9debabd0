"""The retry daemon with real processes: proxy, ``services/dlq_retry.py`` and a flaky service.

Run as a script (``python tests/integration/test_dlq_processes.py flaky --out F``) this file is the
flaky service: its handler fails the first ``payload.fail`` deliveries of each SIGNAL.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from hope.service import Service, run_service, subscribe

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve()


def _config(state_dir: Path, min_backoff: float) -> Path:
    path = state_dir / "hope-test.toml"
    path.write_text(f"""
[bus]
heartbeat_interval_s = 0.5
[dlq]
max_retries = 2
min_backoff_s = {min_backoff}
max_backoff_s = {min_backoff * 4}
jitter = false
success_after_s = 2.0
poll_interval_s = 0.1
""")
    return path


def _calls(out: Path) -> list[dict]:
    from hope.testing import read_jsonl
    return read_jsonl(out)


def _letters(state_dir: Path) -> list:
    from hope.dlq.store import DlqStore
    path = state_dir / "dlq" / "dlq.sqlite3"
    if not path.exists():
        return []
    with DlqStore(path) as store:
        return store.list()


async def _publish(state_dir: Path, config: Path, fails: list[int]) -> list[str]:
    from hope.bus.zmq import ZmqBus
    from hope.config import load
    from hope.envelope import new_event

    bus = ZmqBus("scanner", load(config, state_dir))
    await bus.start()
    try:
        ids = []
        for i, fail in enumerate(fails):
            env = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "probe", "price": 1.0,
                                       "market_ts": 1_700_000_000.0 + i, "fail": fail},
                            source="scanner")
            ids.append((await bus.publish(env)).event_id)
        return ids
    finally:
        await bus.stop()


def _start(procs, state_dir: Path, config: Path, out: Path) -> None:
    procs.proxy()
    procs.service("dlq", "dlq_retry", "--config", str(config))
    procs.start("flaky", [str(HERE), "flaky", "--out", str(out), "--config", str(config)])


def _wait_beating(state_dir, config, timeout=30.0):
    """Wait until the flaky service handles events (its first SIGNAL is a no-fail probe)."""
    from hope.testing import wait_for
    out = state_dir / "calls.jsonl"
    wait_for(lambda: asyncio.run(_publish(state_dir, config, [0])) and
             any(c["ok"] for c in _calls(out)), timeout=timeout, interval=0.5,
             message="the flaky service handling a probe")


def test_fails_twice_then_succeeds_and_always_failing_is_parked(state_dir, procs):
    """With real processes one event succeeds on its third try, another is parked with 3 errors."""
    from hope.testing import wait_for
    config, out = _config(state_dir, 0.3), state_dir / "calls.jsonl"
    _start(procs, state_dir, config, out)
    _wait_beating(state_dir, config)
    ok_id, bad_id = asyncio.run(_publish(state_dir, config, [2, 99]))

    def settled():
        by = {lt.event_id: lt for lt in _letters(state_dir)}
        return (ok_id in by and by[ok_id].status == "done" and bad_id in by
                and by[bad_id].status == "parked")

    wait_for(settled, timeout=60.0, interval=0.2, message="one letter done, one parked")
    by = {lt.event_id: lt for lt in _letters(state_dir)}
    calls = _calls(out)
    assert [c["ok"] for c in calls if c["event_id"] == ok_id] == [False, False, True]
    assert len([c for c in calls if c["event_id"] == bad_id]) == 3
    assert [e["error"] for e in by[bad_id].errors] == [
        f"RuntimeError: planned failure {n}" for n in (1, 2, 3)]


def test_daemon_sigkilled_mid_backoff_resumes_without_early_retry(state_dir, procs):
    """SIGKILL the daemon during a 4 s backoff: after restart the retry comes, not early, once."""
    from hope.testing import wait_for
    config, out = _config(state_dir, 4.0), state_dir / "calls.jsonl"
    _start(procs, state_dir, config, out)
    _wait_beating(state_dir, config)
    (event_id,) = asyncio.run(_publish(state_dir, config, [1]))
    letter = wait_for(lambda: next((lt for lt in _letters(state_dir)
                                    if lt.event_id == event_id and lt.status == "pending"), None),
                      timeout=30.0, interval=0.1, message="the letter filed")
    procs.kill("dlq")
    procs.service("dlq", "dlq_retry", "--config", str(config))
    wait_for(lambda: any(lt.event_id == event_id and lt.status == "done"
                         for lt in _letters(state_dir)),
             timeout=60.0, interval=0.2, message="the letter done after the restart")
    tries = [c for c in _calls(out) if c["event_id"] == event_id]
    assert [c["ok"] for c in tries] == [False, True]
    assert tries[1]["at"] >= letter.next_attempt_at - 0.05  # not early (clock granularity)


# --- the flaky service (run as a script) ---------------------------------------------------

class Flaky(Service):
    """Fails each SIGNAL ``payload.fail`` times, then succeeds; a line per call in ``out``."""

    name = "flaky"

    def __init__(self, runtime, *, out: str) -> None:
        super().__init__(runtime)
        self.log_file = open(out, "a", buffering=1)
        self.seen: dict[str, int] = {}

    @classmethod
    def create(cls, runtime, *, out: str) -> Flaky:
        return cls(runtime, out=out)

    @subscribe("SIGNAL", name="handle")
    def handle(self, env) -> None:
        n = self.seen[env.event_id] = self.seen.get(env.event_id, 0) + 1
        ok = n > int(env.payload.get("fail", 0))
        self.log_file.write(json.dumps({"event_id": env.event_id, "call": n, "ok": ok,
                                        "at": time.time()}) + "\n")
        if not ok:
            raise RuntimeError(f"planned failure {n}")


def _flaky_main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args, rest = parser.parse_known_args(argv)
    run_service(Flaky, rest, out=args.out)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "flaky":
    _flaky_main(sys.argv[2:])
