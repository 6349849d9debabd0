"""The health monitor's status page, rendered by a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from hope.testing import Processes, wait_for

pytestmark = pytest.mark.integration

TOML = """
[bus]
heartbeat_interval_s = 0.5
[health]
port = 0
required = ["health-monitor"]
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: ./scripts/test installs it (apt-get install chromium)"
    return path


def monitor_port(state_dir) -> int | None:
    try:
        data = json.loads((state_dir / "run" / "registry.json").read_text())
    except (OSError, ValueError):
        return None
    entry = data.get("services", {}).get("health-monitor", {})
    return entry.get("http_port") or data.get("monitor", {}).get("http_port")


@pytest.mark.timeout(120)
def test_status_page_renders_services_in_a_real_browser(state_dir, tmp_path):
    """Chromium loads / and sees the services table with the monitor itself UP."""
    browser = chromium()
    config = tmp_path / "hope.toml"
    config.write_text(TOML)
    procs = Processes(state_dir, env={"HOPE_CONFIG": str(config)})
    try:
        procs.proxy()
        procs.service("health", "health_monitor")
        port = wait_for(lambda: monitor_port(state_dir), timeout=30, message="monitor port")
        profile = tmp_path / "chromium-profile"
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}"]

        def rendered() -> str | None:
            out = subprocess.run([*args, "--dump-dom", f"http://127.0.0.1:{port}/"],
                                 capture_output=True, text=True, timeout=60)
            dom = out.stdout
            return dom if 'id="services"' in dom and "health-monitor" in dom else None

        dom = wait_for(rendered, timeout=60, interval=1, message="status page with services")
        assert "<title>HOPE status" in dom
        assert 'class="UP"' in dom or ">UP<" in dom
        shot = state_dir / "status.png"
        subprocess.run([*args, "--window-size=1200,900", f"--screenshot={shot}",
                        f"http://127.0.0.1:{port}/"], capture_output=True, timeout=60)
        assert shot.exists() and shot.stat().st_size > 5000
    finally:
        procs.kill_all()
