"""The audit writer: every event persisted once as hash-chained, signed JSONL."""

from hope.runtime import run_service
from hope.audit.service import setup

if __name__ == "__main__":
    run_service("audit-writer", setup)
