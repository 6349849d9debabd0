"""The DLQ retry daemon: keeps dead letters durably and retries them with backoff."""

from hope.dlq.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("dlq-retry", setup)
