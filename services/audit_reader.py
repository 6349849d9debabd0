"""The audit log's reader for other hosts: answers audit-log queries over the bus."""

from hope.audit.reader_service import AuditReaderService
from hope.service import run_service

if __name__ == "__main__":
    run_service(AuditReaderService)
