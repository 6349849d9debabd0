"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against a real run.

proxy, audit-writer, scanner (replaying two recorded pumps), decision-engine, executor and
gateway run as real processes in a temp state dir; the dashboard starts once the run has
already decided something, so its history comes from the audit log and the rest live from the
bus. Checked: no console errors; every chart has as many markers of each kind as the audit log
has events of that kind for that symbol; a pushed event shows within a second; a reconnect
catches up what it missed without a new snapshot; the kill switch refuses without the control
token; the trace link and ``hope report --html`` (same counts, offline). Screenshots of both
pages are written to the test's tmp dir (and to ``$HOPE_DASHBOARD_SHOTS`` when set).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hope.audit.reader import open_reader
from hope.paths import StatePaths
from hope.testing import REPO, Processes, short_tmpdir, wait_for
from hope.trading.state import TradingStateStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

HOPE = Path(sys.executable).parent / "hope"
FILES = [REPO / "data" / "binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz",
         REPO / "data" / "binance_pump_trades_EVXBTC_2021-01-09T2100Z.csv.gz"]
CONFIG = """\
[audit]
trusted_keys = [{keys}]

[bus]
heartbeat_interval_s = 0.5

[scanner]
strategies = ["pump"]
price_interval_s = 0.25

[scanner.replay]
files = [{files}]
speed = 10.0
start_before_pump_s = 15.0
episode_s = 45.0
warmup_s = 600.0

[decision]
strategies_allowed = ["pump"]
min_buys_per_sec = 1.0
min_delta_pct = 2.0
cooldown_s = 0.0
max_open_positions = 4
take_profit_pct = 5.0
stop_loss_pct = 3.0
timeout_s = 4.0

[gateway]
port = 0
notify = false

[dashboard]
port = 0
"""
KINDS = ("SIGNAL", "BUY", "SKIP", "ORDER", "FILL", "CLOSE")
CHART_COUNTS = """() => Object.fromEntries([...document.querySelectorAll('.price-chart')].map(
  d => [d.dataset.symbol, Object.fromEntries((d.data || []).filter(t => t.name !== 'price')
         .map(t => [t.name, t.x.length]))]))"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: ./scripts/test installs it (apt-get install chromium)"
    return path


class Run:
    """The real system in a temp state dir; the dashboard started on demand."""

    def __init__(self) -> None:
        self.state = short_tmpdir("hope-db-")
        self.config = self.state / "hope.toml"
        from hope.cli import main as hope_main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = hope_main(["keys", "init", "--state-dir", str(self.state)])
        m = re.search(r"key id: (ed25519:[0-9a-f]+)", out.getvalue())
        assert rc == 0 and m, f"hope keys init failed:\n{out.getvalue()}"
        self.config.write_text(CONFIG.format(keys=f'"{m.group(1)}"',
                                             files=", ".join(f'"{f}"' for f in FILES)))
        self.procs = Processes(self.state, env={"HOPE_CONFIG": str(self.config)})

    def start(self, key: str, program: str) -> None:
        self.procs.service(key, program)
        wait_for(lambda: '"started"' in self.procs.log_text(key), timeout=40,
                 message=f"{key} to start")

    def logged_port(self, key: str, event: str) -> int:
        def port() -> int | None:
            for line in self.procs.log_text(key).splitlines():
                if event in line:
                    with contextlib.suppress(ValueError):
                        return int(json.loads(line)["port"])
            return None
        return wait_for(port, timeout=30, message=f"{key}'s port")

    def token(self, scope: str) -> str:
        return (self.state / "keys" / f"gateway-{scope}.token").read_text().strip()

    def audit(self, family: str) -> list[dict[str, Any]]:
        return list(open_reader(StatePaths.at(self.state)).records(family))

    def audit_counts(self) -> dict[str, dict[str, int]]:
        """symbol -> marker kind -> events of that kind in the audit log."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for family, kind in (("signals", "SIGNAL"), ("orders", "ORDER"), ("fills", "FILL"),
                             ("closes", "CLOSE"), ("decisions", None)):
            for rec in self.audit(family):
                p = rec["payload"]
                counts[p["symbol"]][kind or ("BUY" if p["action"] == "BUY" else "SKIP")] += 1
        return {s: {k: c.get(k, 0) for k in KINDS} for s, c in counts.items()}

    def gateway(self, path: str, token: str, body: dict[str, Any] | None = None
                ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.gateway_port}{path}",
                                     data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def latest_symbol(self) -> str:
        """The symbol whose PRICE is newest on the market clock (the gateway accepts a
        signal's market_ts only near the market clock)."""
        prices = self.audit("prices")
        return max(prices, key=lambda r: r["payload"]["market_ts"])["payload"]["symbol"]

    def post_signal(self, symbol: str) -> str:
        """A MoonBot signal through the gateway (SKIP: moonbot is not an allowed strategy)."""
        status, body = self.gateway("/v1/signals", self.token("signals"),
                                    {"symbol": symbol, "buys_per_sec": 2, "delta_pct": 3})
        assert status == 202, body
        return body["event_id"]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    rig = Run()
    try:
        rig.procs.proxy()
        for key in ("audit-writer", "executor", "decision-engine", "gateway", "scanner"):
            rig.start(key, key)
        rig.gateway_port = rig.logged_port("gateway", "gateway listening")
        # history before the dashboard: it must come from the audit log
        wait_for(lambda: rig.audit("decisions"), timeout=60, message="a first DECISION")
        rig.start("dashboard", "dashboard")
        rig.port = rig.logged_port("dashboard", "dashboard listening")
        yield rig
    finally:
        rig.procs.kill_all()
        if not os.environ.get("HOPE_TEST_KEEP_STATE"):
            shutil.rmtree(rig.state, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(),
                               args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                                     "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


class Page:
    def __init__(self, page: Any) -> None:
        self.page, self.errors = page, []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"{r.status} {r.url}"))
        page.on("dialog", lambda d: d.accept())  # the kill switch's confirmation

    def js(self, expr: str) -> Any:
        return self.page.evaluate(expr)


@pytest.fixture(scope="module")
def page(run: Run, browser: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = Page(ctx.new_page())
    p.page.goto(f"http://127.0.0.1:{run.port}/?token={run.token('read')}")
    yield p
    ctx.close()


def shot(page: Any, tmp: Path, name: str) -> Path:
    path = tmp / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000
    if os.environ.get("HOPE_DASHBOARD_SHOTS"):
        shutil.copy(path, Path(os.environ["HOPE_DASHBOARD_SHOTS"]) / name)
    return path


def settled(run: Run) -> dict[str, dict[str, int]]:
    """Audit counts once the replay is over and two reads a second apart agree."""
    wait_for(lambda: "replay_finished" in run.procs.log_text("scanner"), timeout=90,
             interval=0.5, message="the replay to finish")

    def stable() -> dict[str, dict[str, int]] | None:
        first = run.audit_counts()
        time.sleep(1.0)  # not synchronisation: a second read tells a quiet log from a busy one
        return first if first == run.audit_counts() else None
    return wait_for(stable, timeout=30, message="the audit log to settle")


def test_page_loads_and_each_chart_has_the_audit_logs_markers(run, page, tmp_path):
    """No console errors; per symbol and kind, the chart's markers equal the audit log's events."""
    page.page.wait_for_function("() => window.hopeDashboard && hopeDashboard.rendered > 0",
                                timeout=15000)
    expected = settled(run)
    assert any(c["BUY"] for c in expected.values()), f"the replay made no BUY: {expected}"
    assert any(c["CLOSE"] for c in expected.values()), f"no position closed: {expected}"
    wait_for(lambda: page.js(CHART_COUNTS) == expected, timeout=10, interval=0.2,
             message=f"chart markers {page.js(CHART_COUNTS)} == audit {expected}")
    assert page.js("() => hopeDashboard.snapshots") >= 1
    rows = page.js("() => document.querySelectorAll('#trades tbody tr').length")
    assert rows == sum(c["CLOSE"] for c in expected.values())
    assert page.js("() => document.querySelector('#health').textContent").count("UP") >= 5
    shot(page.page, tmp_path, "dashboard.png")
    assert page.errors == []


def test_a_pushed_event_appears_within_a_second(run, page):
    """A SIGNAL published through the gateway is on the chart within a second."""
    symbol = run.latest_symbol()
    count = f"() => document.getElementById('chart-{symbol}').data[1].x.length"
    before = page.js(count)
    t0 = time.monotonic()
    run.post_signal(symbol)
    page.page.wait_for_function(f"() => ({count[6:]}) > {before}", timeout=1000)
    assert time.monotonic() - t0 < 1.0
    assert page.errors == []


def test_a_reconnect_catches_up_what_it_missed(run, page):
    """Events published while the page was disconnected arrive after it reconnects, resumed
    after its last update id (no new snapshot)."""
    symbol = run.latest_symbol()
    count = f"() => document.getElementById('chart-{symbol}').data[1].x.length"
    snapshots = page.js("() => hopeDashboard.snapshots")
    page.js("() => hopeDashboard.disconnect()")
    before = page.js(count)
    ids = [run.post_signal(symbol) for _ in range(3)]
    wait_for(lambda: {r["event_id"] for r in run.audit("signals")} >= set(ids), timeout=10,
             message="the signals in the audit log")
    assert page.js(count) == before  # really disconnected
    page.js("() => hopeDashboard.connect()")
    page.page.wait_for_function(f"() => ({count[6:]}) >= {before + 3}", timeout=5000)
    assert page.js("() => hopeDashboard.resumed") == 1
    assert page.js("() => hopeDashboard.snapshots") == snapshots
    # and, once their decisions are audited, every chart again equals the audit log
    wait_for(lambda: len([r for r in run.audit("decisions")
                          if r["causation_id"] in ids]) == 3, timeout=10,
             message="the three decisions in the audit log")
    wait_for(lambda: page.js(CHART_COUNTS) == run.audit_counts(), timeout=5, interval=0.2,
             message="chart markers == audit log after the reconnect")
    assert page.errors == []


def test_skip_markers_carry_their_reasons(run, page):
    """Hovering a SKIP shows every rule the decision engine named."""
    skips = [r for r in run.audit("decisions") if r["payload"]["action"] == "SKIP"]
    assert skips, "the gateway's moonbot signals were not refused"
    last = skips[-1]["payload"]
    texts = page.js(f"() => document.getElementById('chart-{last['symbol']}').data"
                    ".find(t => t.name === 'SKIP').text")
    rules = [r["rule"] for r in last["reasons"]]
    assert rules and any(all(rule in t for rule in rules) for t in texts), (rules, texts[-1:])


def test_trade_links_to_its_trace(run, page):
    """A trade's link opens its full trace, one row per audited hop."""
    link = page.page.locator("#trades a").first
    href = link.get_attribute("href")
    cid = href.rsplit("/", 1)[1]
    hops = [r for f in ("signals", "decisions", "orders", "fills", "closes")
            for r in run.audit(f) if r["correlation_id"] == cid]
    trace = page.page.context.new_page()
    trace.goto(f"http://127.0.0.1:{run.port}{href}")
    assert trace.locator("h1").inner_text() == f"trace {cid}"
    assert trace.locator("tbody tr").count() == len(hops) >= 5
    trace.close()


def test_kill_switch_refuses_without_the_control_token(run, page):
    """Halt with no token or the read token is refused and trading stays ACTIVE; the control
    token halts (forwarded to the gateway) and the page shows HALTED."""
    store = TradingStateStore(run.state / "trading_state")
    state_before = store.load()
    p = page.page
    for token, status in (("", "401"), (run.token("read"), "403")):
        p.fill("#control-token", token)
        p.click("#controls button[data-action=halt]")
        p.wait_for_function(f"() => document.getElementById('control-result').textContent"
                            f".includes('refused ({status})')", timeout=5000)
        assert store.load() == state_before
    assert p.locator("#resume-button").is_disabled()  # CLI-only by default
    p.fill("#control-token", run.token("control"))
    p.click("#controls button[data-action=halt]")
    p.wait_for_function("() => document.getElementById('control-result').textContent"
                        ".includes('done')", timeout=5000)
    assert store.load() == "HALTED"
    p.wait_for_function("() => document.getElementById('trading').textContent"
                        ".includes('HALTED')", timeout=5000)
    # the browser logs each refused request (401, 403) as a console error: only those
    assert all("/api/control/halt" in e or "status of 40" in e for e in page.errors), page.errors
    assert len(page.errors) == 4


def test_static_report_has_the_same_charts_offline(run, browser, tmp_path):
    """hope report --html writes one file that draws the same markers with no server."""
    out = tmp_path / "report.html"
    res = subprocess.run([str(HOPE), "report", "--html", str(out), "--state-dir", str(run.state),
                          "--config", str(run.config)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    expected = run.audit_counts()
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    p = Page(ctx.new_page())
    p.page.goto(out.as_uri())
    p.page.wait_for_function("() => window.hopeDashboard && hopeDashboard.rendered > 0",
                             timeout=15000)
    assert p.js(CHART_COUNTS) == expected
    shot(p.page, tmp_path, "report.png")
    assert p.errors == []
    ctx.close()
