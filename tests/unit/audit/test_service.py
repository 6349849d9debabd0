"""The audit-writer service on the in-process bus: persists, publishes watermarks, seals on stop."""

from __future__ import annotations

import asyncio
import time

from hope.audit.keys import init_keys
from hope.audit.service import AuditWriterService
from hope.audit.verify import verify
from hope.bus.memory import LocalBroker
from hope.config import load
from hope.runtime import Runtime
from hope.service import build
from tests.helpers import make_state


async def until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_service_writes_events_publishes_watermark_and_seals_on_stop():
    """Events from another publisher are audited, a durable WATERMARK follows, stop seals the log."""
    st = make_state()
    signer, _ = init_keys(st.keys)
    cfg_path = st.root / "hope.toml"
    cfg_path.write_text(f'[audit]\ntrusted_keys = ["{signer.key_id}"]\nwatermark_hz = 50.0\n')
    config = load(cfg_path, st.root)
    broker = LocalBroker()
    svc = await build(AuditWriterService, Runtime("audit-writer", config,
                                                  broker.bus("audit-writer")))
    writer = svc.writer
    task = asyncio.create_task(svc.runtime.run())
    scanner = broker.bus("scanner")
    await scanner.start()
    await until(lambda: svc.runtime.bus in broker.buses)
    for i in range(5):
        await Runtime("scanner", config, scanner).publish(
            "PRICE", {"symbol": "EVXBTC", "price": 1.0 + i, "market_ts": 1.7e9 + i})

    def acked() -> bool:
        return any(e.event_type == "WATERMARK" and e.payload["durable"]
                   and e.payload["watermarks"].get("scanner", {}).get(scanner.epoch) == 5
                   for e in broker.published)

    await until(acked)
    assert writer.stats["records"] == 5
    svc.runtime.request_stop()
    await asyncio.wait_for(task, 30)
    report = verify(st, [signer.key_id], strict=True)
    assert report.ok and report.records == 6  # 5 PRICEs + the closing HEARTBEAT_SUMMARY
    assert (st.events / "system.jsonl").read_text().count("HEARTBEAT_SUMMARY") == 1
