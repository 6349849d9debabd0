"""Red team: each attack of the money-gate and signed-events work against one running system.

One system per module (``redteam_rig.System``: the real processes in a temp state dir); the
attacker is a same-user process (``redteam_rig.Attacker``: raw pyzmq sockets on
``run/bus-in.sock``) plus HTTP calls with the gateway's tokens. The money-gate attacks seal with
the key of the service they impersonate (a same-user process reads ``state/keys`` unless
privilege separation is on): the limits behind authentication still hold. The signed-events
attacks come without a key, with another principal's key, or replay genuine frames. Each test asserts the attack was
refused, counted (heartbeats, ``/metrics``), its evidence kept (audit log, quarantine), nothing
traded beyond config; the last ones that genuine signals still trade.
"""

from __future__ import annotations

import os
import signal
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
from hope.eventauth.keys import public_names
from hope.eventauth.seal import tag_of
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
    """A SIGNAL without publisher/epoch/seq (sealed with the gateway's key) is refused by the
    engine and the audit writer: it cannot name its signer as its publisher. No DECISION,
    nothing audited, evidence in quarantine."""
    env, frames = attacker.forge("SIGNAL", {"symbol": "GENABTC", "strategy": "moonbot",
                                            "price": 1e-5, "market_ts": T0}, "gateway",
                                 publisher=None, epoch=None, seq=0, tseq=0)
    before = system.refused("decision-engine", "auth_impostor")
    attacker.send(frames)
    wait_for(lambda: system.refused("decision-engine", "auth_impostor") > before, timeout=30,
             message="auth_impostor counted by the decision engine")
    assert any("names publisher 'None'" in q["reason"] for q in system.quarantined("audit-writer"))
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


def _decision_on_forged_signal(system, attacker, market_ts: float) -> dict:
    """A GENABTC SIGNAL forged with the gateway's key at ``market_ts``: its audited DECISION."""
    env, frames = attacker.forge("SIGNAL", {"symbol": "GENABTC", "strategy": "moonbot",
                                            "price": 1e-5, "market_ts": market_ts}, "gateway")
    attacker.send(frames)
    return wait_for(lambda: system.audited(lambda r: r.get("event_type") == "DECISION"
                                           and r.get("causation_id") == env.event_id),
                    timeout=30, message="the DECISION on the forged SIGNAL")[0]


def test_forged_price_cannot_push_the_market_clock(system, attacker):
    """PRICE stamped 4e9 (decades ahead): from a principal that is not market data it is
    refused by the authority table; sealed with the feed's own key it is a refused jump with an
    ALERT (the executor on arrival; the decision engine, which keeps PRICE last-value, when a
    SIGNAL on that symbol reads it: that SIGNAL is SKIPped); the clocks stay put."""
    foreign = system.refused("executor", "auth_no_authority")
    _, frames = attacker.forge("PRICE", {"symbol": "GENABTC", "price": 1e-5, "market_ts": 4e9},
                               "attacker")
    attacker.send(frames)
    wait_for(lambda: system.refused("executor", "auth_no_authority") > foreign,
             timeout=30, message="the foreign PRICE refused by the executor")
    jump, frames = attacker.forge("PRICE", {"symbol": "GENABTC", "price": 1e-5,
                                            "market_ts": 4e9}, "scanner")
    attacker.send(frames)
    wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ALERT"
                                    and r["payload"].get("kind") == "market_clock_jump"
                                    and r["payload"].get("event_id") == jump.event_id),
             timeout=30, message="the market_clock_jump ALERT")
    decision = _decision_on_forged_signal(system, attacker, 1.6e9)
    assert decision["payload"]["action"] == "SKIP"
    for service in ("executor", "decision-engine"):
        wait_for(lambda s=service: system.progress(s).get("market_clock_refused", 0) >= 1,
                 timeout=30, message=f"the jump counted by {service}")
        assert system.progress(service).get("market_ts", 0) < 2e9


def test_forged_signal_stamped_ahead_is_skipped_not_a_clock_push(system, attacker):
    """A SIGNAL on the bus with market_ts 4e9 is SKIPped naming signal_ahead and moves no clock."""
    decision = _decision_on_forged_signal(system, attacker, 4e9)
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


# --- signed events: who sent it, proven ---------------------------------------------------

def _flatten() -> dict[str, Any]:
    return {"service": "*", "command": "flatten"}


def _counted(system: System, service: str, reasons: dict[str, float], at_least: int = 1):
    """Wait until each of ``reasons`` (before-values) rose by ``at_least`` at ``service``."""
    wait_for(lambda: all(system.refused(service, r) >= n + at_least
                         for r, n in reasons.items()), timeout=30,
             message=f"{sorted(reasons)} counted by {service}")


def test_a_process_without_keys_is_refused_whatever_it_sends(system, attacker):
    """A same-user process on the bus socket without any key: CONTROL halt, DECISION, PRICE,
    WATERMARK, HEARTBEAT without an auth frame, and a CONTROL with a made-up one claiming the
    executor: refused by every consumer, counted, quarantined, ALERTed, nothing done."""
    sent, frames_list = [], []
    for etype, payload, source in (
            ("CONTROL", {"service": "*", "command": "halt"}, "operator"),
            ("DECISION", _decision("GENDBTC"), "decision-engine"),
            ("PRICE", {"symbol": "GENDBTC", "price": 1e-7, "market_ts": T0}, "scanner"),
            ("WATERMARK", {"watermarks": {}}, "audit-writer"),
            ("HEARTBEAT", {"service": "executor", "pid": 1}, "executor")):
        ephemeral = {"seq": 0, "tseq": 0} if etype in ("WATERMARK", "HEARTBEAT") else {}
        env, frames = attacker.forge(etype, payload, source, key=None, **ephemeral)
        sent.append(env)
        frames_list.append(frames)
    env, frames = attacker.forge("CONTROL", _flatten(), "operator", key=None)
    made_up = bytes((1, len("operator"))) + b"operator" + b"".join(
        tag_of(n) + os.urandom(16) for n in public_names(system.state / "keys"))
    sent.append(env)
    frames_list.append([*frames, made_up])
    before = {s: {r: system.refused(s, r) for r in ("auth_missing", "auth_bad_mac")}
              for s in ("audit-writer", "executor", "decision-engine")}
    for frames in frames_list:
        attacker.send(frames)
    for service, reasons in before.items():
        wait_for(lambda s=service, b=reasons: system.refused(s, "auth_missing")
                 >= b["auth_missing"] + 3 and system.refused(s, "auth_bad_mac")
                 > b["auth_bad_mac"], timeout=30, message=f"auth refusals counted by {service}")
    kept = [q["reason"] for q in system.quarantined("audit-writer")]
    assert "event without an auth frame" in kept
    assert any("does not match the body" in r for r in kept)
    wait_for(lambda: system.audited(lambda r: r.get("event_type") == "ALERT"
                                    and r["payload"].get("kind") == "auth_refused"),
             timeout=30, message="an auth_refused ALERT in the audit log")
    ids = {e.event_id for e in sent}
    assert not system.audited(lambda r: r.get("event_id") in ids or r.get("causation_id") in ids)
    assert system.trading_state() == "ACTIVE"
    assert not system.audited(lambda r: r.get("event_type") == "CLOSE"
                              and r["payload"].get("reason") == "flatten")


def test_forged_flatten_and_stop_loss_price_leave_an_open_position_alone(system, attacker):
    """With a genuine position open: CONTROL flatten without a key and with the executor's own
    key (no authority for flatten), and a PRICE 99 % below entry without a key and with the
    gateway's key (not market data): all refused and counted; the position ends on its timeout,
    not flattened, not stopped out."""
    status, body, _ = system.http("gateway", "POST", "/v1/signals", "signals",
                                  {"symbol": "GENDBTC"})
    assert status == 202, body
    fill = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "FILL" and
                                           r.get("correlation_id") == body["correlation_id"]),
                    timeout=30, message="the genuine BUY's FILL")[0]
    before = {r: system.refused("executor", r) for r in ("auth_missing", "auth_no_authority")}
    market = system.progress("executor").get("market_ts") or T0
    crash = {"symbol": "GENDBTC", "price": fill["payload"]["avg_price"] * 0.01,
             "market_ts": market + 0.1}
    for etype, payload, source, key in (("CONTROL", _flatten(), "operator", None),
                                        ("CONTROL", _flatten(), "executor", ""),
                                        ("PRICE", crash, "scanner", None),
                                        ("PRICE", crash, "gateway", "")):
        attacker.send(attacker.forge(etype, payload, source, key=key)[1])
    _counted(system, "executor", before, at_least=2)
    order_id = fill["payload"]["order_id"]
    close = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "CLOSE"
                                            and r["payload"].get("order_id") == order_id),
                     timeout=30, message="the position's CLOSE")[0]
    assert close["payload"]["reason"] == "timeout", close["payload"]
    assert close["payload"]["exit_price"] > fill["payload"]["avg_price"] * 0.5


def test_forged_and_replayed_resume_leave_trading_halted(system, attacker):
    """After an operator's halt: resume without a key and with the executor's key (no
    authority) are refused; the operator's genuine resume captured and sent again after the
    next halt is a duplicate. The state file stays HALTED, and so does the engine restarted."""
    try:
        assert system.cli("trading", "halt").returncode == 0
        wait_for(lambda: system.progress("decision-engine").get("trading_state") == "HALTED",
                 timeout=30, message="the engine HALTED by the operator")
        before = {r: system.refused("decision-engine", r)
                  for r in ("auth_missing", "auth_no_authority")}
        resume = {"service": "*", "command": "resume"}
        attacker.send(attacker.forge("CONTROL", resume, "operator", key=None)[1])
        attacker.send(attacker.forge("CONTROL", resume, "executor")[1])
        _counted(system, "decision-engine", before)
        attacker.listen(b"CONTROL")
        assert system.cli("trading", "resume").returncode == 0
        genuine = attacker.capture(b"CONTROL")
        assert system.cli("trading", "halt").returncode == 0
        wait_for(lambda: system.progress("decision-engine").get("trading_state") == "HALTED",
                 timeout=30, message="the engine HALTED again")
        dups = system.progress("decision-engine")["bus"]["duplicates"]
        attacker.send(genuine)
        wait_for(lambda: system.progress("decision-engine")["bus"]["duplicates"] > dups,
                 timeout=30, message="the replayed resume dropped as a duplicate")
        assert system.trading_state() == "HALTED"
        assert system.progress("decision-engine").get("trading_state") == "HALTED"
        control = system.audited(lambda r: r.get("event_type") == "CONTROL"
                                 and r["payload"].get("command") == "resume")
        assert control and all(r["principal"] == "operator" and r["payload"].get("os_user")
                               for r in control)
        old = system.entry("decision-engine").get("epoch")
        assert system.procs.stop("decision-engine") == 0
        system.procs.service("decision-engine", "decision_engine")
        wait_for(lambda: system.entry("decision-engine").get("epoch") not in (None, old)
                 and system.progress("decision-engine").get("trading_state") == "HALTED",
                 timeout=60, message="the restarted engine still HALTED")
    finally:
        assert system.cli("trading", "resume").returncode == 0
    wait_for(lambda: system.progress("decision-engine").get("trading_state") == "ACTIVE",
             timeout=30, message="trading resumed by the operator")


def _acked(system: System, epoch: str) -> int:
    path = system.state / "outbox" / "scanner" / f"{epoch}.acked"
    return codec.decode_obj(path.read_bytes())["seq"] if path.exists() else 0


def _acked_once_settled(system: System, epoch: str, quiet_s: float = 2.0) -> int:
    """The scanner's acknowledged seq once it has not moved for ``quiet_s``: a genuine
    WATERMARK the audit writer sent just before it was stopped may still be in flight."""
    last = [_acked(system, epoch), time.monotonic()]

    def settled() -> bool:
        now = _acked(system, epoch)
        if now != last[0]:
            last[:] = [now, time.monotonic()]
        return time.monotonic() - last[1] >= quiet_s

    wait_for(settled, timeout=20, interval=0.2, message="the scanner's acknowledgements settled")
    return last[0]


def test_forged_and_replayed_watermarks_neither_ack_nor_keep_trading_open(system, attacker):
    """With the audit writer stopped: a WATERMARK acknowledging 10**9 of the feed's events
    (no key; sealed by the executor, which has no authority for it) and a captured genuine one sent again are refused and counted;
    the feed's outbox is not acknowledged; a genuine signal is SKIPped (no audit, no trade)."""
    genuine = attacker.capture(b"WATERMARK")
    epoch = system.progress("scanner")["pub"]["epoch"]
    marks = {"watermarks": {"scanner": {epoch: 10**9}}}
    reasons = ("auth_missing", "auth_no_authority", "auth_replayed", "auth_stale")
    before = {r: system.refused("decision-engine", r) for r in reasons}
    system.procs.signal("audit-writer", signal.SIGSTOP)
    try:
        acked = _acked_once_settled(system, epoch)
        end = time.monotonic() + 7.0  # past [decision] audit_max_lag_s, forging all along
        while time.monotonic() < end:
            attacker.send(attacker.forge("WATERMARK", marks, "audit-writer", key=None,
                                         seq=0, tseq=0)[1])
            attacker.send(attacker.forge("WATERMARK", marks, "executor", seq=0, tseq=0)[1])
            attacker.send(genuine)
            time.sleep(0.5)  # the attack's pace, not a synchronisation
        assert (system.progress("decision-engine").get("audit_lag_s") or 0) > 5.0
        status, body, _ = system.http("gateway", "POST", "/v1/signals", "signals",
                                      {"symbol": "GENDBTC"})
        assert status == 202, body
        assert _acked(system, epoch) == acked
        wait_for(lambda: all(system.refused("decision-engine", r) > before[r]
                             for r in reasons[:2])
                 and system.refused("decision-engine", "auth_replayed")
                 + system.refused("decision-engine", "auth_stale")
                 > before["auth_replayed"] + before["auth_stale"], timeout=30,
                 message="the forged and replayed WATERMARKs counted by the engine")
    finally:
        system.procs.signal("audit-writer", signal.SIGCONT)
    decision = wait_for(lambda: system.audited(lambda r: r.get("event_type") == "DECISION"
                                               and r.get("causation_id") == body["event_id"]),
                        timeout=30, message="the DECISION, audited once the writer is back")[0]
    assert decision["payload"]["action"] == "SKIP"
    assert "audit_watermark" in {r["rule"] for r in decision["payload"]["reasons"]}
    assert decision["principal"] == "decision-engine"


def test_refusals_per_reason_are_on_metrics(system):
    """/metrics lists hope_refusals_total per service and reason for what was refused above."""
    _, text, _ = system.http("health-monitor", "GET", "/metrics")
    for line in ('reason="limit_max_position_size",service="executor"',
                 'reason="decode_too_deep",service="audit-writer"',
                 'reason="replay_rate_limited",service="scanner"',
                 'reason="market_clock_jump",service="executor"',
                 'reason="bad_retry",service="executor"',
                 'reason="wrong_scope",service="gateway"',
                 'reason="auth_missing",service="executor"',
                 'reason="auth_no_authority",service="decision-engine"',
                 'reason="auth_bad_mac",service="audit-writer"'):
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
