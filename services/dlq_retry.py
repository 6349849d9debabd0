"""The DLQ retry daemon: keeps dead letters durably and retries them with backoff."""

from hope.runtime import run_service
from hope.dlq.service import setup

if __name__ == "__main__":
    run_service("dlq-retry", setup)
