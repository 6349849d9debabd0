"""The DLQ retry daemon: keeps dead letters durably and retries them with backoff."""

from hope.dlq.service import DlqRetryService
from hope.service import run_service

if __name__ == "__main__":
    run_service(DlqRetryService)
