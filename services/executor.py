"""The executor: BUY decisions become ORDER, FILL and CLOSE on the paper exchange."""

from hope.runtime import run_service
from hope.execution.service import setup

if __name__ == "__main__":
    run_service("executor", setup)
