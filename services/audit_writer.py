"""The audit writer: every event persisted once as hash-chained, signed JSONL."""

from hope.audit.service import AuditWriterService
from hope.service import run_service

if __name__ == "__main__":
    run_service(AuditWriterService)
