"""The scanner: replays recorded market data and publishes PRICE and SIGNAL events."""

from hope.runtime import run_service
from hope.scanner.service import setup

if __name__ == "__main__":
    run_service("scanner", setup)
