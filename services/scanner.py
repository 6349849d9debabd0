"""The scanner: replays recorded market data and publishes PRICE and SIGNAL events."""

from hope.market.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("scanner", setup)
