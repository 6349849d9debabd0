"""/metrics against real processes: counters equal what was sent; garbage raises decode errors."""

from __future__ import annotations

import urllib.request

import pytest
import zmq

from hope.bus.sockets import endpoints
from hope.testing import Processes, make_config, read_jsonl, wait_for
from tests.helpers import metric

pytestmark = pytest.mark.integration

TOML = """
[bus]
heartbeat_interval_s = 0.5
[health]
port = 0
required = ["probe-recorder"]
[market_clock]
publishers = ["probe-emitter"]  # its SIGNALs are market data (hope/authority.py)
"""


@pytest.mark.timeout(120)
def test_metrics_count_what_was_sent_and_decode_errors(state_dir, tmp_path):
    """Published/received counters equal the emitter's ledger; garbage bumps decode errors."""
    config_path = tmp_path / "hope.toml"
    config_path.write_text(TOML)
    procs = Processes(state_dir, env={"HOPE_CONFIG": str(config_path)})
    ledger, out = state_dir / "ledger.jsonl", state_dir / "out.jsonl"
    try:
        procs.proxy()
        procs.service("health", "health_monitor")
        procs.probe("recorder", "record", "--name", "probe-recorder", "--out", str(out))
        wait_for(lambda: (state_dir / "outbox" / "probe-recorder" / "consumed.log").exists())
        procs.probe("emitter", "emit", "--name", "probe-emitter", "--count", "50",
                    "--ledger", str(ledger))
        wait_for(lambda: len(read_jsonl(out)) == 50, message="50 events recorded")
        port = wait_for(lambda: _port(state_dir), message="monitor port")

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()

        wait_for(lambda: metric(scrape(), "hope_events_received_total",
                                service="probe-recorder", event_type="SIGNAL") == 50,
                 message="received counter 50")
        wait_for(lambda: metric(scrape(), "hope_events_published_total",
                                service="probe-emitter", event_type="SIGNAL") == 50,
                 message="published counter 50")
        before = metric(scrape(), "hope_decode_errors_total", service="probe-recorder") or 0
        config = make_config(state_dir, config_path=str(config_path))
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.connect(endpoints(config)[0])
        try:
            def garbage_counted() -> bool:
                pub.send_multipart([b"SIGNAL.GARBAGE", b"\x93\x01\x02"])  # truncated msgpack
                now = metric(scrape(), "hope_decode_errors_total", service="probe-recorder")
                return now is not None and now > before

            wait_for(garbage_counted, timeout=30, interval=0.5, message="decode errors rise")
        finally:
            pub.close(linger=0)
            ctx.term()
        assert (state_dir / "quarantine" / "probe-recorder.bin").exists()
    finally:
        procs.kill_all()


def _port(state_dir) -> int | None:
    import json

    try:
        data = json.loads((state_dir / "run" / "registry.json").read_text())
    except (OSError, ValueError):
        return None
    return data.get("monitor", {}).get("http_port")
