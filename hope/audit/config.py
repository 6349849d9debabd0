"""The ``[audit]`` config section: group commit, checkpoints, segments, trusted keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from hope.config import register_section


@register_section("audit")
@dataclass
class AuditConfig:
    # Key ids ("ed25519:<hex>") `hope audit verify` trusts. Empty: fall back to keys/*.pub with a
    # loud warning (whoever can rewrite the log can then also replace the key).
    trusted_keys: list[str] = field(default_factory=list)
    # Where a service or the CLI reads the log: "local" (this state dir) or "bus" (the audit
    # host's audit-reader answers; hope/audit/remote.py), within reader_timeout_s
    reader: str = "local"
    reader_timeout_s: float = 8.0
    # Origin line of the checkpoints ("" = "hope-audit/<key id prefix>" at the first checkpoint;
    # a log keeps the origin of its checkpoints).
    origin: str = ""
    tail_confirm_s: float = 120.0         # an unsealed tail not sent again by then is reported
    # Witnesses: "http://host:port", optionally followed by a space and the witness's vkey
    # (then `hope audit verify` also checks its cosignature).
    witnesses: list[str] = field(default_factory=list)
    witness_interval_s: float = 5.0       # push the latest checkpoint this often
    fsync_interval_ms: float = 20.0       # group commit: fsync at most this often ...
    # Read the bus at most this often, all that is queued at once (0 = as each frame comes):
    # one wake-up per gap instead of one per event; a fraction of the group commit's wait.
    read_gap_ms: float = 5.0
    fsync_max_records: int = 2000         # ... or after this many buffered records
    checkpoint_every_records: int = 1024  # a signed checkpoint after this many records ...
    checkpoint_interval_ms: float = 50.0  # ... or this long after the first unsealed record
    segment_max_bytes: int = 64 << 20     # rotate a family's segment past this size
    max_pending_bytes: int = 256 << 20    # disk full: unwritten records kept in memory up to this
    watermark_hz: float = 5.0             # WATERMARK publications per second
    heartbeat_summary_s: float = 60.0     # one HEARTBEAT_SUMMARY per service per window
    # Event ids remembered for dedupe (~100 B each). A sequenced event is deduplicated by its
    # (publisher, epoch, seq) at any age; the ids catch an event republished under a new seq
    # (within this many records) and unsequenced ones.
    dedupe_window: int = 100_000
    # Rotated segments fully covered by a durable checkpoint are gzipped after this long
    # (0 = never archive).
    archive_after_s: float = 3600.0
    disk_budget_bytes: int = 0            # events/ budget (0 = none); HOPE never deletes the log
    disk_alert_ratio: float = 0.8         # ALERT audit_disk at this share of the budget

    def validate(self) -> None:
        if self.reader not in ("local", "bus"):
            raise ValueError(f"reader: {self.reader!r} is not \"local\" or \"bus\"")
        if self.reader_timeout_s <= 0:
            raise ValueError("reader_timeout_s: must be > 0")
        for name in ("fsync_interval_ms", "checkpoint_interval_ms", "watermark_hz",
                     "heartbeat_summary_s", "tail_confirm_s", "witness_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        for name in ("fsync_max_records", "checkpoint_every_records", "segment_max_bytes",
                     "max_pending_bytes", "dedupe_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if not 0 <= self.read_gap_ms <= 1000:
            raise ValueError("read_gap_ms: must be 0 (read at once) to 1000")
        if self.archive_after_s < 0:
            raise ValueError("archive_after_s: must be >= 0 (0 disables archiving)")
        if self.disk_budget_bytes < 0:
            raise ValueError("disk_budget_bytes: must be >= 0 (0 = no budget)")
        if not 0 < self.disk_alert_ratio < 1:
            raise ValueError("disk_alert_ratio: must be within (0, 1)")
        for i, key in enumerate(self.trusted_keys):
            if not key.startswith("ed25519:"):
                raise ValueError(f"trusted_keys[{i}]: {key!r} is not an 'ed25519:<hex>' key id")
        for i, entry in enumerate(self.witnesses):
            if not entry.startswith(("http://", "https://")):
                raise ValueError(f"witnesses[{i}]: {entry!r} is not 'http(s)://host:port' "
                                 "optionally followed by a space and the witness's vkey")
