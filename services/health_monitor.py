"""The health monitor: heartbeats, registry, restarts of hung services, HTTP health."""

from hope.runtime import run_service
from hope.health.service import setup

if __name__ == "__main__":
    run_service("health-monitor", setup)
