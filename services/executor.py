"""The executor: BUY decisions become ORDER, FILL and CLOSE on the paper exchange."""

from hope.execution.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("executor", setup)
