"""The executor: BUY decisions become ORDER, FILL and CLOSE on the paper exchange."""

from hope.execution.service import ExecutorService
from hope.service import run_service

if __name__ == "__main__":
    run_service(ExecutorService)
