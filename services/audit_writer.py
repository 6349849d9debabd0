"""The audit writer: every event persisted once as hash-chained, signed JSONL."""

from hope.audit.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("audit-writer", setup)
