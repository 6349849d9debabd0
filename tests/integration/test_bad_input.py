"""Bad input end to end: on the bus, on disk, at start and over HTTP. Each case gets a clear error
naming what and where, is counted, leaves evidence, and the service keeps working."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import msgpack
import pytest
import zmq

from hope import codec
from hope.audit.keys import init_keys
from hope.audit.writer import AuditWriter
from hope.bus.sockets import endpoints
from hope.bus.zmq import ZmqBus
from hope.cli import main as hope_main
from hope.codec import decode_obj
from hope.envelope import new_event
from hope.eventauth.keys import ENROL_ENV
from hope.market.feeds import open_feed
from hope.testing import REPO, make_config, read_jsonl, wait_for

pytestmark = pytest.mark.integration
SIGNAL = {"symbol": "BADBTC", "strategy": "pump", "price": 1e-5, "market_ts": 1.6e9}


def frame(event_type: str, payload: dict, **fields) -> list[bytes]:
    """A [topic, body] pair built from a valid event with some fields overridden after the id."""
    env = new_event(event_type, payload, source="bad-input-test",
                    timestamp=fields.pop("timestamp", None))
    data = {**env.to_dict(), **fields}
    return [env.topic.encode(), msgpack.packb(data)]


def bad_frames() -> dict[str, list[bytes]]:
    good = codec.encode(new_event("SIGNAL", SIGNAL, source="bad-input-test"))
    d = new_event("SIGNAL", SIGNAL, source="bad-input-test").to_dict()
    nan = {**d, "payload": {**SIGNAL, "price": float("nan")}}
    inf = {**d, "payload": {**SIGNAL, "price": float("inf")}}
    order = {"symbol": "BADBTC", "order_id": "x", "status": "NEW", "quantity": -1.0}
    return {
        "random bytes": [os.urandom(48)],
        "single frame": [b"SIGNAL.BADBTC"],
        "truncated msgpack": [b"SIGNAL.BADBTC", good[:-9]],
        "wrong shape": [b"SIGNAL.BADBTC", msgpack.packb([1, 2, 3])],
        # over [bus] max_message_bytes but under the sockets' ZMQ_MAXMSGSIZE (a bigger frame
        # makes libzmq drop the sender's connection: tests/integration/test_redteam.py)
        "huge payload": [b"SIGNAL.BADBTC", b"\x92" + b"\0" * ((1 << 20) + 1024)],
        "unknown schema version": frame("SIGNAL", SIGNAL, schema_version="9.0"),
        "wrong types": frame("SIGNAL", SIGNAL, source=7),
        "NaN price": [b"SIGNAL.BADBTC", msgpack.packb(nan)],
        "inf price": [b"SIGNAL.BADBTC", msgpack.packb(inf)],
        "negative quantity": [b"ORDER.BADBTC", msgpack.packb(
            {**new_event("ORDER", {**order, "quantity": 1.0}, source="t").to_dict(),
             "payload": order})],
        "far future timestamp": frame("SIGNAL", SIGNAL, timestamp="2099-01-01T00:00:00.000000Z"),
        "far past timestamp": frame("SIGNAL", SIGNAL, timestamp="2001-01-01T00:00:00.000000Z"),
        "event_id mismatch": frame("SIGNAL", SIGNAL, event_id="sha256:0123456789abcdef"),
    }


def bus_stats(state_dir: Path, service: str) -> dict:
    from hope.chaos.faults import read_registry
    entry = (read_registry(state_dir).get("services") or {}).get(service) or {}
    return (entry.get("progress") or {}).get("bus") or {}


def http(port: int, path: str, method: str = "GET", body: bytes | None = None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.timeout(150)
async def test_bad_frames_on_the_bus_are_counted_quarantined_and_survived(state_dir, procs,
                                                                          tmp_path):
    """Every bad frame raises the audit writer's decode_errors, lands in quarantine with its
    reason, a good event is still audited afterwards, and a replay request for a range that
    never existed is answered as missing without harm; the health monitor answers 404/405/413."""
    toml = tmp_path / "hope.toml"
    # this test's bus publishes the good SIGNAL: a market-data publisher (hope/authority.py)
    toml.write_text('[health]\nport = 0\n[market_clock]\npublishers = ["bad-input-test"]\n')
    procs.env["HOPE_CONFIG"] = str(toml)
    procs.proxy()
    procs.service("audit-writer", "audit_writer")
    procs.service("health-monitor", "health_monitor")
    config = make_config(state_dir, config_path=str(toml))
    wait_for(lambda: bus_stats(state_dir, "audit-writer"), timeout=60,
             message="audit writer heartbeats in the registry")
    before = bus_stats(state_dir, "audit-writer").get("decode_errors", 0)
    cases = bad_frames()
    bus = ZmqBus("bad-input-test", config, recover=False, journal=False, outbox=False)
    await bus.start()
    try:
        for frames in cases.values():
            bus.publish_raw(frames)
        await asyncio.sleep(0)
        wait_for(lambda: bus_stats(state_dir, "audit-writer").get("decode_errors", 0)
                 >= before + len(cases), timeout=30,
                 message=f"{len(cases)} decode errors counted by the audit writer")
        # The service keeps running and still audits a good event.
        good = await bus.publish(new_event("SIGNAL", {**SIGNAL, "n": 1}, source="bad-input-test"))
        wait_for(lambda: any(r["event_id"] == good.event_id
                             for r in read_jsonl(state_dir / "events" / "signals.jsonl")),
                 timeout=30, message="the good event audited after the bad ones")
        assert procs.procs["audit-writer"].poll() is None
        assert bus_stats(state_dir, "audit-writer")["decode_errors"] == before + len(cases)

        # A replay request for a range that never existed: answered "missing", nothing else.
        ctx = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"REPLAYED." + bus.epoch.encode())
        sub.connect(endpoints(config)[1])
        marker = None
        # publishers answer only epochs heard lately: announce ours as a starting bus does
        bus.publish_raw([f"HELLO.{bus.epoch}".encode(), b""])
        for _ in range(100):
            await bus.publish(new_event("REPLAY", {
                "publisher": "audit-writer", "epoch": "neverexisted", "from": 1, "to": 10,
                "by": "seq", "reply_to": bus.epoch, "requester": "bad-input-test"},
                source="bad-input-test"))
            if sub.poll(100):
                marker = decode_obj(sub.recv_multipart()[2])  # [topic, b"", marker, auth]
                break
        sub.close(linger=0)
        assert marker and marker["sent"] == [] and [list(m) for m in marker["missing"]] == [[1, 10]]
        assert procs.procs["audit-writer"].poll() is None
    finally:
        await bus.stop()

    # Evidence: every refused frame is in quarantine with a reason naming the field.
    records = []
    data = (state_dir / "quarantine" / "audit-writer.bin").read_bytes()
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        records.append(decode_obj(data[pos + 4:pos + 4 + size]))
        pos += 4 + size
    text = [f"{r['where']}: {r['reason']}" for r in records]
    assert len(records) >= len(cases)
    for needle in ("expected 3 frames", "malformed MessagePack", "not a map", "exceeds",
                   "schema_version", "field source", "payload.price: non-finite",
                   "payload.quantity", "in the future", "in the past", "field event_id"):
        assert any(needle in t for t in text), f"no quarantine record mentions {needle!r}: {text}"
    assert all(len(f) <= 65536 for r in records for f in r["frames"])  # size-bounded evidence

    # HTTP: unknown path 404, wrong method 405, oversized request 413; the monitor keeps serving.
    port = wait_for(lambda: bus_stats(state_dir, "health-monitor") is not None and __import__(
        "json").loads((state_dir / "run" / "registry.json").read_text())["monitor"]["http_port"],
        timeout=30, message="health monitor port")
    assert http(port, "/no/such/path") == 404
    assert http(port, "/health", method="DELETE") == 405
    assert http(port, "/health", method="POST", body=b"x" * (1 << 20)) == 413
    assert http(port, "/metrics") == 200
    assert procs.procs["health-monitor"].poll() is None


def test_corrupted_and_truncated_audit_files_are_named_by_verify(state_dir):
    """A flipped byte and a truncated last line each make `hope audit verify` fail naming
    file:line."""
    signer, _ = init_keys(state_dir / "keys")
    config = make_config(state_dir, {"audit": {"trusted_keys": [signer.key_id]}})
    with AuditWriter(config.state, config.audit) as writer:
        for i in range(5):
            env = new_event("SIGNAL", {**SIGNAL, "n": i}, source="scanner")
            env.publisher, env.epoch, env.seq, env.tseq = "scanner", "e1", i + 1, i + 1
            writer.append(env)
    args = ["audit", "verify", "--state-dir", str(state_dir)]
    assert hope_main(args) == 0
    path = state_dir / "events" / "signals.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":2', b'"n":7')
    path.write_bytes(b"".join(lines))
    out = subprocess.run([sys.executable, "-c", "import sys; from hope.cli import main; "
                          "sys.exit(main(sys.argv[1:]))", *args], capture_output=True, text=True,
                         env={**os.environ, "HOPE_STATE_DIR": str(state_dir)}, cwd=REPO)
    assert out.returncode == 1 and "signals.jsonl:3:" in out.stdout, out.stdout
    path.write_bytes(b"".join(lines[:2]) + lines[2][:40])
    out = subprocess.run(out.args, capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "HOPE_STATE_DIR": str(state_dir)})
    assert out.returncode == 1 and "signals.jsonl:3:" in out.stdout, out.stdout


def test_replay_file_bad_rows_are_counted_skipped_and_named(tmp_path):
    """A replay file with bad rows yields the good trades; each bad row is counted as
    file:line: reason."""
    src = (REPO / "tests" / "fixtures" / "market" / "ccxt_small.csv").read_text().splitlines()
    bad = tmp_path / "ccxt_bad.csv"
    bad.write_text("\n".join([src[0], src[1], "EVX/BTC,notatime,x,buy,1e-5,1,1",
                              "EVX/BTC,1610053205523,x,buy,nan,1,1", "garbage", src[2]]) + "\n")
    feed = open_feed(bad)
    trades = list(feed)
    assert len(trades) == 2
    assert feed.errors.count == 3
    assert [m.split(": ")[0] for m in feed.errors.messages] == [f"{bad}:{n}" for n in (3, 4, 5)]


@pytest.mark.timeout(120)
def test_malformed_config_refuses_to_start_and_supervisord_shows_fatal(state_dir, tmp_path,
                                                                       start_supervisord):
    """Under supervisord a service given a malformed hope.toml exits naming the key, and
    supervisord gives up on it: FATAL."""
    bad = tmp_path / "hope.toml"
    bad.write_text("[decision]\nmax_open_positions = 'lots'\n")
    # The decision engine's program from the template alone: with every program failing and
    # restarting at once, two loaded cores can stretch a failed start past startsecs (5 s), and
    # supervisord then counts it as started and retries for ever instead of giving up.
    sup = start_supervisord(env={"HOPE_CONFIG": str(bad)}, keys=False,
                            programs=["decision-engine"])
    wait_for(lambda: sup.status().get("decision-engine", ("",))[0] == "FATAL", timeout=90,
             interval=0.5, message="decision-engine FATAL under supervisord")
    log = (state_dir / "logs" / "decision-engine.log").read_text()
    assert "refusing to start" in log and "[decision].max_open_positions" in log
    assert str(bad) in log


def test_a_service_without_its_event_key_refuses_to_start_naming_the_file(tmp_path):
    """No `hope keys init` (and no test enrolment): exit 78 naming keys/executor/event.key."""
    env = {k: v for k, v in os.environ.items() if k != ENROL_ENV}
    out = subprocess.run([sys.executable, "services/executor.py", "--state-dir", str(tmp_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 78, out.stderr
    assert f"{tmp_path}/keys/executor/event.key" in out.stderr and "hope keys init" in out.stderr
