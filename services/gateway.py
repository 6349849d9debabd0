"""The gateway: HTTP API for external signals and operators, plus Telegram notices."""

from hope.gateway.service import GatewayService
from hope.service import run_service

if __name__ == "__main__":
    run_service(GatewayService)
