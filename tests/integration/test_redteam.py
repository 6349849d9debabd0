"""Red team: each attack of the money-gate issue against one running system.

One system per module (``redteam_rig.System``: the real processes in a temp state dir); the
attacker is a same-user process (``redteam_rig.Attacker``: raw pyzmq sockets on
``run/bus-in.sock``) plus HTTP calls with the gateway's tokens. Each test asserts the attack was
refused, counted (heartbeats, ``/metrics``), its evidence kept (audit log, quarantine), nothing
traded beyond config; the last ones that genuine signals still trade.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from hope import codec
from hope.testing import REPO, wait_for
from tests.integration.redteam_rig import SIZE_BTC, T0, Attacker, System

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    rig = System()
    try:
        rig.start()
        yield rig
    finally:
        rig.close()


@pytest.fixture
def attacker(system: System) -> Iterator[Attacker]:
    a = Attacker(system.state)
    try:
        yield a
    finally:
        a.close()


def _decision(symbol: str, **over: Any) -> dict[str, Any]:
    payload = {"symbol": symbol, "strategy": "moonbot", "action": "BUY", "confidence": 0.99,
               "reasons": [], "position_size": SIZE_BTC, "quote": "BTC", "price": 1e-5,
               "market_ts": T0, "config_hash": "cfg:forged",
               "targets": {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 900.0}}
    payload.update(over)
    return payload


# --- the attacks ---------------------------------------------------------------------------

@pytest.mark.parametrize("over, limit", [
    ({"position_size": 1000.0}, "max_position_size"),
    ({"targets": {}}, "targets"),
])
def test_forged_decision_is_refused_by_the_executor_limits(system, attacker, over, limit):
    """A forged BUY (valid content id) of 1000 BTC or with targets {}: ORDER REJECTED naming
    the limit, an ALERT, counted; no order at the venue; the executor keeps running."""
    before = system.refused("executor", f"limit_{limit}")
    env, frames = attacker.forge("DECISION", _decision("EVXBTC", **over), "decision-engine")
    attacker.send(frames)
    orders = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ORDER"
                                             and r.get("causation_id") == env.event_id),
                      timeout=30, message="the executor's ORDER for the forged DECISION")
    assert [o["payload"]["status"] for o in orders] == ["REJECTED"]
    assert orders[0]["payload"]["reason"].startswith(f"limit {limit}:")
    wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ALERT"
                                    and r["payload"].get("decision_id") == env.event_id),
             timeout=30, message="the ALERT in the audit log")
    wait_for(lambda: system.refused("executor", f"limit_{limit}") > before, timeout=30,
             message=f"limit_{limit} counted in the executor's heartbeat")
    assert not [o for o in system.book() if o.get("symbol") == "EVXBTC"]
    assert system.alive("executor")


def test_forged_retry_embedding_a_forged_decision_is_refused_by_the_limits(system, attacker):
    """A RETRY (stamped as dlq-retry) embedding a 500 BTC DECISION with a valid content id
    reaches the executor's handler only to be refused by its limits; nothing at the venue."""
    handler = next(h for h in system.progress("executor").get("handlers", {})
                   if "on_decision" in h)
    decision, _ = attacker.forge("DECISION", _decision("EVXBTC", position_size=500.0),
                                 "decision-engine")
    _, frames = attacker.forge("RETRY", {"service": "executor", "dlq_id": "forged",
                                         "handler": handler, "attempt": 2,
                                         "event": decision.to_dict()}, "dlq-retry")
    attacker.send(frames)
    orders = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ORDER"
                                             and r.get("causation_id") == decision.event_id),
                      timeout=30, message="the executor's ORDER for the retried DECISION")
    assert orders[0]["payload"]["status"] == "REJECTED"
    assert orders[0]["payload"]["reason"].startswith("limit max_position_size:")
    assert not [o for o in system.book() if o.get("symbol") == "EVXBTC"]


def test_deep_frame_is_quarantined_and_counted_not_a_crash(system, attacker):
    """A 1.5 KB frame nested 1,500 deep: a DecodeError at each subscriber, counted per reason,
    kept in quarantine; every service survives."""
    mark = "PLACEHOLDER-FOR-DEPTH"
    env, _ = attacker.forge("SIGNAL", {"symbol": "EVXBTC", "strategy": "moonbot",
                                       "price": 1e-5, "market_ts": T0, "x": mark}, "gateway")
    body = codec.encode(env).replace(msgspec.msgpack.encode(mark), b"\x91" * 1500 + b"\xc0")
    assert len(body) < 2000
    before = system.refused("audit-writer", "decode_too_deep")
    attacker.send([env.topic.encode(), body])
    wait_for(lambda: system.refused("audit-writer", "decode_too_deep") > before, timeout=30,
             message="decode_too_deep counted by the audit writer")
    assert any("nested deeper" in q["reason"] for q in system.quarantined("audit-writer"))
    assert system.alive("audit-writer", "decision-engine", "executor", "gateway")


def test_event_without_seq_is_refused_where_delivery_applies(system, attacker):
    """A SIGNAL without publisher/epoch/seq is refused (no_seq) by the engine and the audit
    writer: no DECISION, nothing audited, evidence in quarantine."""
    env, frames = attacker.forge("SIGNAL", {"symbol": "GENABTC", "strategy": "moonbot",
                                            "price": 1e-5, "market_ts": T0}, "gateway",
                                 publisher=None, epoch=None, seq=0, tseq=0)
    before = system.refused("decision-engine", "decode_no_seq")
    attacker.send(frames)
    wait_for(lambda: system.refused("decision-engine", "decode_no_seq") > before, timeout=30,
             message="decode_no_seq counted by the decision engine")
    assert any("without publisher" in q["reason"] for q in system.quarantined("audit-writer"))
    assert not system.audited(lambda r: r.get("event_id") == env.event_id
                              or r.get("causation_id") == env.event_id)


def test_oversized_frame_drops_the_senders_connection_and_is_counted(system, attacker):
    """A frame past ZMQ_MAXMSGSIZE: the proxy drops that connection (counted from its socket
    monitor, on /metrics); nothing of it reaches a service."""
    before = (system.progress("proxy").get("disconnects") or {}).get("xsub", 0)
    errors = system.progress("audit-writer").get("bus", {}).get("decode_errors", 0)
    attacker.send([b"SIGNAL.EVXBTC", b"\x00" * (200 << 10)])
    wait_for(lambda: (system.progress("proxy").get("disconnects") or {}).get("xsub", 0) > before,
             timeout=30, message="the proxy's disconnect count rising")
    assert system.progress("audit-writer").get("bus", {}).get("decode_errors", 0) == errors
    _, text, _ = system.http("health-monitor", "GET", "/metrics")
    assert 'hope_bus_disconnects_total{socket="xsub"}' in text


def _replay_request(attacker: Attacker, epoch: str, reply_to: str, first: int,
                    last: int) -> list[bytes]:
    """A ~200-byte REPLAY asking the feed for ``first..last`` of its epoch, answered to
    ``reply_to``."""
    _, frames = attacker.forge("REPLAY", {"publisher": "scanner", "epoch": epoch,
                                          "from": first, "to": last, "by": "seq",
                                          "reply_to": reply_to, "requester": "attacker"},
                               "attacker", seq=0, tseq=0)
    return frames


def test_replay_requests_are_bounded(system, attacker):
    """REPLAY for an epoch never heard gets nothing; a live requester gets at most
    replay_max_bytes per answer (truncated); a flood is rate-limited; all counted."""
    epoch = system.progress("scanner")["pub"]["epoch"]
    wait_for(lambda: system.progress("scanner").get("pub", {}).get("seq", 0) > 300, timeout=60,
             message="the feed's outbox holding more than 64 KiB")
    stranger = os.urandom(6).hex()
    attacker.sub.setsockopt(zmq.SUBSCRIBE, f"REPLAYED.{stranger}".encode())
    attacker.sub.setsockopt(zmq.SUBSCRIBE, f"REPLAYED.{attacker.epoch}".encode())
    before = system.refused("scanner", "replay_reply_to_unknown")
    attacker.send(_replay_request(attacker, epoch, stranger, 1, 100_000))
    wait_for(lambda: system.refused("scanner", "replay_reply_to_unknown") > before, timeout=30,
             message="the stranger's request refused")
    attacker.send(_replay_request(attacker, epoch, attacker.epoch, 1, 100_000))
    sent, marker, deadline = 0, None, time.monotonic() + 30
    while marker is None and time.monotonic() < deadline:
        if attacker.sub.poll(200):
            frames = attacker.sub.recv_multipart()
            assert frames[0] != f"REPLAYED.{stranger}".encode()
            if frames[0] == f"REPLAYED.{attacker.epoch}".encode():
                if frames[1] == b"":
                    marker = codec.decode_obj(frames[2])
                else:
                    sent += len(frames[1]) + len(frames[2])
    assert marker is not None and marker["truncated"] and 0 < sent <= 65536
    limited = system.refused("scanner", "replay_rate_limited")
    for _ in range(20):
        attacker.send(_replay_request(attacker, epoch, attacker.epoch, 1, 10))
    wait_for(lambda: system.refused("scanner", "replay_rate_limited") >= limited + 10,
             timeout=30, message="the flood rate-limited")


def test_forged_price_cannot_push_the_market_clock(system, attacker):
    """PRICE stamped 4e9 (decades ahead): from a publisher that is not market data it moves
    nothing; stamped as the feed it is a refused jump with an ALERT; the clocks stay put."""
    foreign = system.progress("executor").get("market_clock_foreign", 0)
    _, frames = attacker.forge("PRICE", {"symbol": "GENABTC", "price": 1e-5, "market_ts": 4e9},
                               "attacker")
    attacker.send(frames)
    wait_for(lambda: system.progress("executor").get("market_clock_foreign", 0) > foreign,
             timeout=30, message="the foreign PRICE counted by the executor")
    jump, frames = attacker.forge("PRICE", {"symbol": "GENABTC", "price": 1e-5,
                                            "market_ts": 4e9}, "scanner")
    attacker.send(frames)
    wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ALERT"
                                    and r["payload"].get("kind") == "market_clock_jump"
                                    and r["payload"].get("event_id") == jump.event_id),
             timeout=30, message="the market_clock_jump ALERT")
    for service in ("executor", "decision-engine"):
        wait_for(lambda s=service: system.progress(s).get("market_clock_refused", 0) >= 1,
                 timeout=30, message=f"the jump counted by {service}")
        assert system.progress(service).get("market_ts", 0) < 2e9


def test_forged_signal_stamped_ahead_is_skipped_not_a_clock_push(system, attacker):
    """A SIGNAL on the bus with market_ts 4e9 is SKIPped naming signal_ahead and moves no clock."""
    env, frames = attacker.forge("SIGNAL", {"symbol": "GENABTC", "strategy": "moonbot",
                                            "price": 1e-5, "market_ts": 4e9}, "gateway")
    attacker.send(frames)
    decision = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "DECISION"
                                               and r.get("causation_id") == env.event_id),
                        timeout=30, message="the DECISION on the forged SIGNAL")[0]
    assert decision["payload"]["action"] == "SKIP"
    assert "signal_ahead" in {r["rule"] for r in decision["payload"]["reasons"]}
    assert system.progress("decision-engine").get("market_ts", 0) < 2e9


def test_retry_with_a_tampered_embedded_event_is_refused(system, attacker):
    """A RETRY whose embedded DECISION's id does not match its content never reaches a handler."""
    handler = next(h for h in system.progress("executor").get("handlers", {})
                   if "on_decision" in h)
    decision, _ = attacker.forge("DECISION", _decision("GENCBTC"), "decision-engine")
    event = {**decision.to_dict(), "payload": {**decision.payload, "position_size": 0.0009}}
    bad = system.progress("executor").get("metrics", {}).get("bad_retries", 0)
    _, frames = attacker.forge("RETRY", {"service": "executor", "dlq_id": "forged",
                                         "handler": handler, "attempt": 2, "event": event},
                               "dlq-retry")
    attacker.send(frames)
    wait_for(lambda: system.progress("executor").get("metrics", {}).get("bad_retries", 0) > bad,
             timeout=30, message="the tampered RETRY counted as bad_retries")
    assert not system.audited(lambda r: r.get("causation_id") == decision.event_id)


def test_gateway_scopes_and_cli_only_resume(system):
    """A signals token cannot halt or read, a read token cannot submit; resume over HTTP is
    refused even with the control token."""
    assert system.http("gateway", "POST", "/v1/trading/halt", "signals")[0] == 403
    assert system.http("gateway", "GET", "/v1/report", "signals")[0] == 403
    assert system.http("gateway", "POST", "/v1/signals", "read", {"symbol": "GENABTC"})[0] == 403
    status, body, _ = system.http("gateway", "POST", "/v1/trading/resume", "control")
    assert status == 403 and "CLI-only" in body["error"]
    wait_for(lambda: system.refused("gateway", "wrong_scope") >= 3
             and system.refused("gateway", "http_resume") >= 1, timeout=30,
             message="scope refusals counted by the gateway")


@pytest.mark.parametrize("raw, field", [
    (b'{"symbol": "GENABTC", "market_ts": 4e9}', "market_ts"),
    (b'{"symbol": "GENABTC", "n": 18446744073709551617}', "n"),
    (b'{"symbol": "GENABTC", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}", "body"),
    (b'{"symbol": "GEN\\u001b[2JBTC"}', "symbol"),
])
def test_gateway_refuses_poisoned_signals_with_422(system, raw, field):
    """market_ts decades ahead, an integer over 2^64, 1,500-deep JSON, a terminal escape in the
    symbol: 422 naming the field, nothing published."""
    status, body, _ = system.http("gateway", "POST", "/v1/signals", "signals", raw=raw)
    assert status == 422 and body["field"] == field, body


def test_idempotent_resubmission_is_one_signal(system):
    """The same body twice with one Idempotency-Key: one SIGNAL on record, the same answer."""
    h = {"Idempotency-Key": "redteam-" + os.urandom(4).hex()}
    first = system.http("gateway", "POST", "/v1/signals", "signals", {"symbol": "GENCBTC"}, h)
    again = system.http("gateway", "POST", "/v1/signals", "signals", {"symbol": "GENCBTC"}, h)
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    eid = first[1]["event_id"]
    wait_for(lambda: system.audited(lambda r: r.get("event_type") == "DECISION"
                                    and r.get("causation_id") == eid), timeout=30,
             message="the DECISION of the one SIGNAL")
    assert len(system.audited(lambda r: r.get("event_type") == "SIGNAL"
                              and r.get("event_id") == eid)) == 1


@pytest.mark.parametrize("service", ["gateway", "health-monitor"])
def test_dns_rebinding_host_is_421_with_security_headers(system, service):
    """A Host header of another name gets 421 on both HTTP servers; answers carry CSP etc."""
    path = "/v1/report" if service == "gateway" else "/metrics"
    status, _, h = system.http(service, "GET", path, "read", headers={"Host": "evil.example"})
    assert status == 421 and h["X-Frame-Options"] == "DENY"
    status, _, h = system.http(service, "GET", path, "read")
    assert status == 200 and "default-src 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"


def test_sniff_prints_terminal_escapes_escaped(system, attacker):
    """A field carrying an ANSI escape is shown escaped by `hope sniff`, never raw."""
    env, frames = attacker.forge("SIGNAL", {"symbol": "GENBBTC", "strategy": "x\x1b[2J\x07",
                                            "price": 1e-5, "market_ts": T0}, "gateway")
    hope = Path(sys.executable).parent / "hope"
    sniff = subprocess.Popen([str(hope), "sniff", "SIGNAL.GENBBTC", "--count", "1",
                              "--timeout", "20", "--state-dir", str(system.state)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "HOPE_CONFIG": str(system.config)})
    try:
        deadline = time.monotonic() + 20
        while sniff.poll() is None and time.monotonic() < deadline:
            attacker.send(frames)  # until sniff has subscribed and printed it
            time.sleep(0.2)
        out, _ = sniff.communicate(timeout=10)
    finally:
        if sniff.poll() is None:
            sniff.kill()
    assert b"\x1b" not in out and b"\\x1b[2J\\x07" in out


def test_refusals_per_reason_are_on_metrics(system):
    """/metrics lists hope_refusals_total per service and reason for what was refused above."""
    _, text, _ = system.http("health-monitor", "GET", "/metrics")
    for line in ('reason="limit_max_position_size",service="executor"',
                 'reason="decode_too_deep",service="audit-writer"',
                 'reason="replay_rate_limited",service="scanner"',
                 'reason="market_clock_jump",service="executor"',
                 'reason="bad_retry",service="executor"',
                 'reason="wrong_scope",service="gateway"'):
        assert line in text, line


def test_genuine_signals_still_trade_and_nothing_beyond_config(system):
    """After every attack, genuine signals over the gateway become BUY → ORDER NEW → FILL;
    every order at the venue is within [decision] position_size."""
    ids = []
    for symbol in ("GENABTC", "GENBBTC"):
        status, body, _ = system.http("gateway", "POST", "/v1/signals", "signals",
                                      {"symbol": symbol})
        assert status == 202, body
        ids.append(body["event_id"])
    for eid in ids:
        decision = wait_for(lambda eid=eid: system.audited(
            lambda r: r.get("event_type") == "DECISION" and r.get("causation_id") == eid),
            timeout=30, message="a DECISION for the genuine signal")[0]
        assert decision["payload"]["action"] == "BUY", decision["payload"]["reasons"]
        wait_for(lambda d=decision: system.audited(
            lambda r: r.get("event_type") == "FILL" and r.get("correlation_id")
            == d["correlation_id"]), timeout=30, message="the FILL of the genuine BUY")
    buys = [o for o in system.book() if o.get("side") == "BUY"]
    assert buys and all(o["quantity"] * o["avg_price"] <= SIZE_BTC * 1.01 for o in buys)
    assert not [o for o in buys if o["symbol"] == "EVXBTC"]



def test_proxy_stops_cleanly_with_its_socket_monitors(system):
    """SIGTERM: the proxy (socket monitors included) exits 0 (last: the system is done)."""
    assert (system.progress("proxy").get("disconnects") or {}).get("xsub", 0) >= 1
    assert system.procs.stop("proxy", timeout=15) == 0
