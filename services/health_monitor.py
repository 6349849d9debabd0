"""The health monitor: heartbeats, registry, restarts of hung services, HTTP health."""

from hope.health.service import HealthService
from hope.service import run_service

if __name__ == "__main__":
    run_service(HealthService)
