"""The scanner: replays recorded market data and publishes PRICE and SIGNAL events."""

from hope.scanner.service import ScannerService
from hope.service import run_service

if __name__ == "__main__":
    run_service(ScannerService)
