"""The health monitor: heartbeats, registry, restarts of hung services, HTTP health."""

from hope.health.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("health-monitor", setup)
