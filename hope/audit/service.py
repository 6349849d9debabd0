"""The audit-writer service: subscribe to everything, persist, publish the durable watermark.

Wiring (``services/audit_writer.py`` runs ``run_service("audit-writer", setup)``):
- every event → :meth:`AuditWriter.append` (duplicates dropped; heartbeats summarised);
- every ``fsync_interval_ms`` → :meth:`AuditWriter.tick` (group commit, checkpoints, retries);
- ``watermark_hz`` times a second → ephemeral ``WATERMARK`` with payload
  ``{"watermarks": {publisher: {epoch: seq}}, "durable": bool}``: only seqs covered by a durable
  signed checkpoint (``durable`` is False while writes fail, e.g. disk full: the numbers then
  stop moving);
- start-up verifies the log up to its last checkpoint; one it cannot trust exits ``EX_AUDIT``
  (65) naming ``file:line`` (:func:`open_writer`);
- ``[audit] witnesses`` get the latest durable checkpoint every ``witness_interval_s``
  (:func:`start_witness_push`);
- unrecoverable gaps: the bus calls ``on_gap(publisher, epoch, first, last)``; we point it at
  :meth:`AuditWriter.record_gap`, which writes an explicit GAP record;
- on stop (SIGTERM): heartbeat summaries, fsync, final checkpoint, one last WATERMARK.
"""

from __future__ import annotations

import sys
from typing import Any

from hope.audit.keys import AuditKeyError
from hope.audit.pins import read_pins
from hope.audit.startup import EX_AUDIT, AuditStartError
from hope.audit.witness_push import WitnessPusher
from hope.audit.writer import AuditWriter
from hope.envelope import Envelope
from hope.runtime import Service


async def setup(svc: Service) -> AuditWriter:
    cfg = svc.config.audit
    writer = open_writer(svc)
    if hasattr(svc.bus, "on_gap"):
        svc.bus.on_gap = writer.record_gap
    if hasattr(svc.bus, "seed_cursors"):
        svc.bus.seed_cursors = lambda cursors: seed_cursors(writer, cursors)

    def on_event(env: Envelope) -> None:
        if writer.append(env):
            svc.metrics["audit_records"] += 1
        else:
            svc.metrics["audit_skipped"] += 1

    async def publish_watermark() -> None:
        await svc.publish("WATERMARK", watermark_payload(writer))

    async def stop() -> None:
        writer.close()
        try:
            await publish_watermark()
        except Exception as exc:  # the bus may already be closing; the next start re-announces
            svc.log.info("final watermark not published", error=str(exc))

    svc.subscribe("", on_event, name="audit", verify_id=True)
    writer.background_sync = True  # fsync in a worker thread; the loop keeps taking events
    svc.every(cfg.fsync_interval_ms / 1000, writer.tick_off_loop)
    svc.every(1 / cfg.watermark_hz, publish_watermark)
    svc.on_stop(stop)
    svc.heartbeat_extras.append(lambda: {"audit": writer.snapshot()})
    start_witness_push(svc, writer)
    alert_on_tail(svc, writer)
    return writer


def open_writer(svc: Service) -> AuditWriter:
    """The writer, or exit ``EX_AUDIT`` (supervisord: FATAL) when the log needs an operator:
    it never builds on, nor seals, what it could not verify."""
    try:
        pinned = read_pins(svc.config)
        return AuditWriter(svc.state, svc.config.audit, svc.clock, log=svc.log,
                           source=svc.name, pinned=pinned)
    except (AuditStartError, AuditKeyError, ValueError) as exc:
        svc.log.critical("audit: refusing to start", error=str(exc))
        print(f"hope {svc.name}: refusing to start: audit log: {exc} (inspect with `hope audit "
              "status`, then `hope audit accept --reason TEXT`)", file=sys.stderr, flush=True)
        sys.exit(EX_AUDIT)


def alert_on_tail(svc: Service, writer: AuditWriter) -> None:
    """ALERT when a re-sent event differs from its quarantined copy, or tail records never come
    back (the quarantined unsealed tail of a restart)."""
    seen = {"tail_mismatch": 0, "tail_unconfirmed": 0}

    async def check() -> None:
        for kind, before in seen.items():
            now = writer.stats[kind]
            if now > before:
                seen[kind] = now
                await svc.publish("ALERT", {"kind": f"audit_{kind}", "count": now,
                                            "evidence": "quarantine/audit-tail-*.bin"})

    if writer.tail.pending:
        svc.every(1.0, check)


def start_witness_push(svc: Service, writer: AuditWriter) -> WitnessPusher | None:
    """Push durable checkpoints to ``[audit] witnesses`` every ``witness_interval_s``."""
    cfg = svc.config.audit
    if not cfg.witnesses:
        return None

    async def alert(payload: dict[str, Any]) -> None:
        await svc.publish("ALERT", payload)

    pusher = WitnessPusher(writer, cfg.witnesses, svc.log, alert)
    svc.every(cfg.witness_interval_s, pusher.push)
    svc.heartbeat_extras.append(pusher.snapshot)
    return pusher


def seed_cursors(writer: AuditWriter, cursors: Any) -> None:
    """Start the bus's seq tracking from what the log's last checkpoint covers, so a restarted
    writer asks for exactly what it lost or set aside and nothing it has. The writer runs with
    no consumer journal: the generic journal marks an event consumed when the handler returns,
    while its record may still sit in the group-commit buffer."""
    for (publisher, epoch), track in writer.seqs.items():
        key = cursors.key(publisher, epoch, "")
        cursors.seed(key, track.low)
        for seq in track.above:
            cursors.get(key).add(seq)


def watermark_payload(writer: AuditWriter) -> dict[str, Any]:
    return {"watermarks": writer.watermarks(), "durable": not writer.disk_full}
