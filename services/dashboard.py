"""The dashboard: the operator's live view in a browser (127.0.0.1, [dashboard] port)."""

from hope.dashboard.service import DashboardService
from hope.service import run_service

if __name__ == "__main__":
    run_service(DashboardService)
