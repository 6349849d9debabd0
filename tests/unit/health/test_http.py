"""Tests for hope.health.http: a real aiohttp server on 127.0.0.1, port 0."""

import aiohttp
import pytest

from hope.health.http import HealthHttp


@pytest.fixture
async def server():
    state = {"not_up": {}, "boom": False}

    def page():
        if state["boom"]:
            raise RuntimeError("template bug")
        return "<html>ok</html>"

    http = HealthHttp(host="127.0.0.1", port=0, max_request_bytes=2048,
                      not_up=lambda: state["not_up"], metrics=lambda: b"hope_x 1\n", page=page,
                      warnings=lambda: state.get("warnings", []))
    port = await http.start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield http, session, state
    await http.stop()


async def test_health_warnings_keep_200(server):
    """Warnings (a witness down) are listed while /health stays 200: trading goes on."""
    _, s, state = server
    state["warnings"] = ["audit-writer: witness push failing: http://w: unreachable"]
    async with s.get("/health") as r:
        body = await r.json()
        assert r.status == 200 and body["warnings"] == state["warnings"]


async def test_bound_port_is_reported(server):
    """Port 0 binds a real free port and start() reports it."""
    http, _, _ = server
    assert http.bound_port and http.bound_port > 0


async def test_health_200_then_503_naming_services(server):
    """/health is 200 when all are up and 503 naming the services that are not."""
    _, s, state = server
    async with s.get("/health") as r:
        assert r.status == 200 and (await r.json())["status"] == "UP"
    state["not_up"] = {"scanner": {"status": "HUNG", "detail": "no heartbeat"}}
    async with s.get("/health") as r:
        body = await r.json()
        assert r.status == 503 and body["not_up"]["scanner"]["status"] == "HUNG"


async def test_metrics_is_prometheus_text(server):
    """/metrics serves the collector output with the Prometheus content type."""
    _, s, _ = server
    async with s.get("/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        assert await r.text() == "hope_x 1\n"


async def test_unknown_path_404_json(server):
    """An unknown path answers 404 JSON listing the known paths."""
    _, s, _ = server
    async with s.get("/nope") as r:
        assert r.status == 404 and "/health" in (await r.json())["paths"]


async def test_wrong_method_405_json(server):
    """POST on /health answers 405 JSON with an Allow header."""
    _, s, _ = server
    async with s.post("/health", data=b"x") as r:
        assert r.status == 405 and "GET" in r.headers["Allow"]
        assert (await r.json())["error"] == "method not allowed"


async def test_oversized_request_413(server):
    """A request body over max_request_bytes answers 413 JSON."""
    _, s, _ = server
    async with s.post("/health", data=b"x" * 10_000) as r:
        assert r.status == 413 and (await r.json())["limit_bytes"] == 2048


async def test_handler_bug_is_500_and_server_survives(server):
    """An exception in a view is a 500 JSON; the next request is served normally."""
    http, s, state = server
    state["boom"] = True
    async with s.get("/") as r:
        assert r.status == 500
    state["boom"] = False
    async with s.get("/") as r:
        assert r.status == 200 and "ok" in await r.text()
    assert http.errors == 1


@pytest.mark.parametrize("path", ["/", "/metrics", "/health"])
async def test_foreign_host_header_gets_421_and_is_counted(server, path):
    """DNS rebinding: a request for another host name is refused 421 and counted."""
    http, s, _ = server
    async with s.get(path, headers={"Host": "evil.example:8470"}) as r:
        assert r.status == 421 and (await r.json())["error"] == "host not allowed"
        assert r.headers["X-Frame-Options"] == "DENY"
    assert http.refused_hosts == 1


@pytest.mark.parametrize("path, status", [("/", 200), ("/metrics", 200), ("/nope", 404)])
async def test_every_answer_carries_the_security_headers(server, path, status):
    """CSP, X-Frame-Options and X-Content-Type-Options on pages, metrics and errors."""
    _, s, _ = server
    async with s.get(path, headers={"Host": "localhost:1234"}) as r:
        assert r.status == status
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
