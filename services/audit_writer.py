"""The audit writer: every event persisted once as hash-chained, signed JSONL."""

from hope.audit.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    # The audit log is the writer's journal (see hope.audit.service.seed_cursors).
    run_service("audit-writer", setup, bus_options={"journal": False})
