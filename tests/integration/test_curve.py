"""tcp means CurveZMQ: against a real proxy process, enrolled keys get the bus, a rogue key and
no key get nothing (counted on /metrics, ALERTed), a revoked key loses its session, and a proxy
without its CURVE key refuses to start (exit 78) naming the key."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import zmq

from hope import codec
from hope.bus import curve
from hope.bus.sockets import endpoints
from hope.cli import main as cli
from hope.supervisor_conf import checkout, program_command
from hope.testing import Processes, make_config, wait_for
from tests.helpers import metric

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_toml(tmp_path, host: str = "127.0.0.1") -> str:
    path = tmp_path / "hope.toml"
    path.write_text(f"""
[bus]
transport = "tcp"
tcp_host = "{host}"
xsub_port = {free_port()}
xpub_port = {free_port()}
heartbeat_interval_s = 0.3
[health]
port = 0
auth_alert_interval_s = 0.5
required = []
""")
    return str(path)


def sub_socket(ctx, config, keys: curve.CurveKeys | None, topic: bytes = b"") -> zmq.Socket:
    """A SUB on the proxy's XPUB as ``keys`` (None: no CURVE at all)."""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_secretkey, sock.curve_publickey = keys.secret, keys.public
        sock.curve_serverkey = curve.load_public(config.state, "proxy")
    sock.setsockopt(zmq.SUBSCRIBE, topic)
    sock.connect(endpoints(config)[1])
    return sock


def received(sock: zmq.Socket, within_s: float = 0.0) -> list[list[bytes]]:
    out, deadline = [], time.monotonic() + within_s
    while sock.poll(max(0, int((deadline - time.monotonic()) * 1000))):
        out.append(sock.recv_multipart())
    return out


def heartbeat(sock: zmq.Socket) -> dict:
    frames = received(sock, 0.5)
    beats = [codec.decode(f[1]).payload for f in frames if f[0] == b"HEARTBEAT.proxy"]
    return beats[-1] if beats else {}


@pytest.mark.timeout(90)
def test_enrolled_keys_get_the_bus_rogue_and_no_key_get_nothing(state_dir, tmp_path):
    """Only enrolled CURVE keys pass the proxy: a rogue key and a plain peer neither receive nor
    inject; the refusals reach /metrics and an ALERT; a revoked key's session is cut."""
    config_path = tcp_toml(tmp_path)
    config = make_config(state_dir, config_path=config_path)
    for p in ("proxy", "health-monitor", "scanner", "executor", "operator"):
        curve.create_keypair(config.state, p)
    rogue = curve.CurveKeys("rogue", *zmq.curve_keypair())
    procs = Processes(state_dir, env={"HOPE_CONFIG": config_path})
    ctx = zmq.Context()
    try:
        procs.proxy()
        procs.service("health", "health_monitor")
        good = sub_socket(ctx, config, curve.load_keys(config.state, "executor"))
        alert_sub = sub_socket(ctx, config, curve.load_keys(config.state, "operator"), b"ALERT")
        wait_for(lambda: heartbeat(good), timeout=30, message="the proxy's heartbeat via CURVE")
        spies = [sub_socket(ctx, config, rogue), sub_socket(ctx, config, None)]
        pub = ctx.socket(zmq.PUB)
        curve.secure_client(pub, config, "scanner")
        pub.connect(endpoints(config)[0])
        forgers = []
        for keys in (rogue, None):  # publishers the proxy must not forward
            f = ctx.socket(zmq.PUB)
            if keys:
                f.curve_secretkey, f.curve_publickey = keys.secret, keys.public
                f.curve_serverkey = curve.load_public(config.state, "proxy")
            f.connect(endpoints(config)[0])
            forgers.append(f)

        def send_all(n: int) -> None:
            for i in range(n):
                pub.send_multipart([b"SIGNAL.EVXBTC", b"genuine %d" % i])
                for f in forgers:
                    f.send_multipart([b"SIGNAL.EVXBTC", b"forged %d" % i])

        got: list[list[bytes]] = []
        wait_for(lambda: send_all(5) or got.extend(
            f for f in received(good, 0.1) if f[0] == b"SIGNAL.EVXBTC") or len(got) >= 5,
            timeout=20, message="genuine events through the proxy")
        send_all(20)
        got += [f for f in received(good, 0.5) if f[0] == b"SIGNAL.EVXBTC"]
        assert got and all(f[1].startswith(b"genuine") for f in got), "a forged frame passed"
        assert [received(s, 0.2) for s in spies] == [[], []], "an unenrolled peer received"
        beat = wait_for(lambda: (b := heartbeat(good)) and
                        sum(b["handshake_failures"]["xpub"].values()) >= 2 and
                        sum(b["handshake_failures"]["xsub"].values()) >= 2 and b,
                        timeout=20, message="handshake failures counted per socket")
        assert beat["curve"] and beat["zap_denied"] >= 2
        assert beat["zap_last_denied"] == rogue.key_id
        assert beat["handshake_failures"]["xpub"].get("auth", 0) >= 1
        assert "curve_key" not in beat or beat["curve_key"].startswith("curve:")
        alert = wait_for(lambda: next((codec.decode(f[1]).payload for f in received(alert_sub, .3)
                                       if b"health-monitor" in f[0]), None),
                         timeout=30, message="ALERT bus_handshake_failed")
        assert alert["kind"] == "bus_handshake_failed" and alert["new"] >= 1
        port = wait_for(lambda: _monitor_port(state_dir), message="health monitor port")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert (metric(text, "hope_bus_handshake_failures_total", socket="xpub", reason="auth")
                or 0) >= 1
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                                   timeout=5).read())
        assert health["instance"]["mode"] == "single user"  # privilege separation is opt-in

        # Revocation: the executor's key leaves the allow-list; its live session is cut.
        assert cli(["keys", "revoke", "executor", "--state-dir", str(state_dir),
                    "--config", config_path]) == 0
        wait_for(lambda: _proxy_beat(ctx, config).get("rebinds", 0) >= 1, timeout=20,
                 message="proxy rebound after revoke")
        received(good, 0.3)  # whatever was in flight before the cut
        send_all(10)
        assert [f for f in received(good, 1.0) if f[0] == b"SIGNAL.EVXBTC"] == []
        # Enrolment: a new key for the executor is admitted without restarting the proxy, from
        # its next heartbeat on (libzmq does not retry a handshake the ZAP handler refused).
        assert cli(["keys", "enrol", "executor", "--state-dir", str(state_dir),
                    "--config", config_path]) == 0
        wait_for(lambda: "executor" in _proxy_beat(ctx, config).get("enrolled", []), timeout=20,
                 message="the proxy re-read the allow-list")
        fresh = sub_socket(ctx, config, curve.load_keys(config.state, "executor"))
        wait_for(lambda: send_all(1) or any(f[0] == b"SIGNAL.EVXBTC" for f in received(fresh, .1)),
                 timeout=20, message="the newly enrolled key receives")
        # The CLI's own client (operator's key): hope sniff over CURVE.
        sniff = subprocess.run([str(Path(sys.executable).parent / "hope"), "sniff", "HEARTBEAT",
                                "--count", "1", "--json", "--state-dir", str(state_dir),
                                "--config", config_path], capture_output=True, text=True,
                               timeout=30)
        assert sniff.returncode == 0 and '"HEARTBEAT"' in sniff.stdout, sniff.stderr
    finally:
        ctx.destroy(linger=0)
        procs.kill_all()


def _proxy_beat(ctx, config) -> dict:
    """The proxy's latest heartbeat, through a fresh connection as the operator."""
    sock = sub_socket(ctx, config, curve.load_keys(config.state, "operator"), b"HEARTBEAT.proxy")
    try:
        return heartbeat(sock)
    finally:
        sock.close(linger=0)


def _monitor_port(state_dir) -> int | None:
    try:
        data = json.loads((state_dir / "run" / "registry.json").read_text())
    except (OSError, ValueError):
        return None
    return (data.get("services", {}).get("health-monitor") or {}).get("http_port")


@pytest.mark.timeout(60)
def test_tcp_without_curve_keys_refuses_to_start_naming_the_key(state_dir, tmp_path):
    """A proxy asked to bind a non-loopback tcp_host without its CURVE key, and a service
    without its own, exit 78 naming the config key and the key file."""
    config_path = tcp_toml(tmp_path, host="10.255.0.1")
    env = {"HOPE_CONFIG": config_path, "HOPE_STATE_DIR": str(state_dir)}
    run = [sys.executable, *program_command("proxy")]
    out = subprocess.run(run, cwd=checkout(), env={**os.environ, **env},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 78, out.stderr
    assert "tcp_host = '10.255.0.1' is not a loopback address" in out.stderr
    assert "keys/proxy/curve.key_secret: CURVE key missing" in out.stderr
    curve.create_keypair(make_config(state_dir, config_path=config_path).state, "proxy")
    run = [sys.executable, *program_command("scanner")]
    out = subprocess.run(run, cwd=checkout(), env={**os.environ, **env},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 78, out.stderr
    assert "keys/scanner/curve.key_secret: CURVE key missing" in out.stderr
