"""The WebSocket API user data stream: signed subscription, docs-shaped frames, gaps, reconnects."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections import deque

import aiohttp
import pytest

from hope.clock import ManualClock
from hope.feed.pacing import Backoff
from hope.venue.userstream import (
    Response,
    StreamError,
    StreamEvent,
    UserStream,
    parse_frame,
    ws_signed_params,
)
from tests.unit.venue.frames import (
    ACCOUNT_POSITION,
    FAILED_RESPONSE,
    SERVER_SHUTDOWN,
    STREAM_TERMINATED,
    SUBSCRIBE_OK,
    execution_report_trade,
)

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


class Hmac:
    """HMAC-SHA256 hex, as the venue's HMAC keys sign."""

    def sign(self, payload: str) -> str:
        return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


def text(obj) -> aiohttp.WSMessage:
    return aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, json.dumps(obj), None)


CLOSE = aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, 1000, "bye")


class FakeWs:
    """A scripted server side: answers requests by method, then plays ``after`` frames; an
    empty queue is a receive timeout that moves the manual clock."""

    def __init__(self, clock, answers, after=()):
        self.clock, self.answers = clock, answers
        self.after = list(after)
        self.queue: deque = deque()
        self.sent: list[dict] = []
        self.pongs: list[bytes] = []
        self.closed = False

    async def send_str(self, data):
        req = json.loads(data)
        self.sent.append(req)
        status, body = self.answers[req["method"]]
        key = "result" if status == 200 else "error"
        self.queue.append(text({"id": req["id"], "status": status, key: body}))
        if req["method"] in ("userDataStream.subscribe.signature", "userDataStream.subscribe"):
            self.queue.extend(self.after)

    async def receive(self, timeout=None):
        if self.queue:
            return self.queue.popleft()
        self.clock.advance(timeout or 0)
        raise TimeoutError

    async def pong(self, message=b""):
        self.pongs.append(message)

    async def close(self):
        self.closed = True
        return True


OK_SIG = {"userDataStream.subscribe.signature": (200, {"subscriptionId": 0})}
OK_LOGON = {"session.logon": (200, {"apiKey": API_KEY, "userDataStream": False}),
            "userDataStream.subscribe": (200, {"subscriptionId": 3})}


def harness(connections, **kw):
    """A UserStream over scripted connections; records events, gaps and backoff delays."""
    clock = kw.pop("clock", None) or ManualClock(1_700_000_000.0)
    conns = deque(connections)
    log = {"events": [], "gaps": [], "sleeps": [], "errors": []}
    stream: UserStream

    class Log:
        def warning(self, msg, **kw):
            log["errors"].append(kw.get("error", msg))

    @contextlib.asynccontextmanager
    async def connect(url):
        if not conns:
            stream.stop()
            raise aiohttp.ClientConnectionError("no more scripted connections")
        yield conns.popleft()

    async def sleep(delay):
        log["sleeps"].append(delay)

    stream = UserStream("ws://127.0.0.1:1/ws-api/v3", api_key=API_KEY, signer=Hmac(),
                        timestamp_ms=lambda: 1747385641636, on_event=log["events"].append,
                        on_gap=log["gaps"].append, connect=connect, monotonic=clock.monotonic,
                        sleep=sleep, backoff=Backoff(0.5, 30.0), log=Log(), **kw)
    return stream, log, clock


def test_ws_signature_is_over_the_params_sorted_by_name_as_the_docs_vector():
    """The documented order.place example signs to the documented HMAC signature."""
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00"}
    out = ws_signed_params(params, Hmac(), api_key=API_KEY, timestamp_ms=1645423376532,
                           recv_window_ms=100)
    assert out["signature"] == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    assert out["apiKey"] == API_KEY and out["timestamp"] == 1645423376532


def test_frames_parse_as_answers_and_events():
    """Answers (ok and failed), account events and serverShutdown parse; junk is refused."""
    ok = parse_frame(json.dumps(SUBSCRIBE_OK))
    assert isinstance(ok, Response) and ok.result == {"subscriptionId": 0}
    bad = parse_frame(json.dumps(FAILED_RESPONSE))
    assert isinstance(bad, Response) and bad.error["code"] == -2010
    assert "-2010" in bad.describe()
    ev = parse_frame(json.dumps(ACCOUNT_POSITION))
    assert isinstance(ev, StreamEvent) and ev.subscription_id == 0
    assert ev.type == "outboundAccountPosition"
    shut = parse_frame(json.dumps(SERVER_SHUTDOWN))
    assert isinstance(shut, StreamEvent) and shut.subscription_id is None
    for junk in ("not json", "[1]", '{"foo": 1}'):
        with pytest.raises(StreamError):
            parse_frame(junk)


async def test_signature_subscription_then_gap_then_events():
    """One signed subscribe request; the gap is reported before the first event is handed on."""
    clock = ManualClock(0)
    trade = execution_report_trade(trade_id=9, last_qty="1", cum_qty="1", price="0.1")
    ws = FakeWs(clock, OK_SIG, [text(trade), text(ACCOUNT_POSITION), CLOSE])
    stream, log, _ = harness([ws], clock=clock)
    order = []
    stream.on_gap = lambda r: order.append(("gap", r))
    stream.on_event = lambda e: order.append(("event", e["e"]))
    await stream.run()
    [req] = ws.sent
    assert req["method"] == "userDataStream.subscribe.signature"
    p = req["params"]
    assert set(p) == {"apiKey", "timestamp", "recvWindow", "signature"}
    payload = f"apiKey={API_KEY}&recvWindow=5000&timestamp=1747385641636"
    assert p["signature"] == Hmac().sign(payload)
    assert order == [("gap", "subscribed"), ("event", "executionReport"),
                     ("event", "outboundAccountPosition")]
    assert ws.closed and stream.events == 2


async def test_logon_mode_logs_on_then_subscribes():
    """With an Ed25519 key: session.logon (signed), then userDataStream.subscribe (no params)."""
    clock = ManualClock(0)
    ws = FakeWs(clock, OK_LOGON, [text({**ACCOUNT_POSITION, "subscriptionId": 3}), CLOSE])
    stream, log, _ = harness([ws], clock=clock, mode="logon")
    await stream.run()
    assert [r["method"] for r in ws.sent] == ["session.logon", "userDataStream.subscribe"]
    assert "signature" in ws.sent[0]["params"] and "params" not in ws.sent[1]
    assert len(log["events"]) == 1


async def test_every_reconnect_reports_a_gap_and_backs_off_with_jitter():
    """A dropped connection is followed by a reconnect, a new subscription and a second gap."""
    clock = ManualClock(0)
    first = FakeWs(clock, OK_SIG, [CLOSE])
    second = FakeWs(clock, OK_SIG, [text(ACCOUNT_POSITION), CLOSE])
    stream, log, _ = harness([first, second], clock=clock)
    await stream.run()
    assert log["gaps"] == ["subscribed", "resubscribed after a reconnect"]
    assert stream.connects == 2 and len(log["events"]) == 1
    assert all(0 <= d <= 0.5 for d in log["sleeps"])


async def test_stream_terminated_and_server_shutdown_end_the_connection():
    """eventStreamTerminated and serverShutdown each lead to a new connection and a new gap."""
    clock = ManualClock(0)
    conns = [FakeWs(clock, OK_SIG, [text(STREAM_TERMINATED)]),
             FakeWs(clock, OK_SIG, [text(SERVER_SHUTDOWN)]), FakeWs(clock, OK_SIG, [CLOSE])]
    stream, log, _ = harness(conns, clock=clock)
    await stream.run()
    assert len(log["gaps"]) == 3 and log["events"] == []


async def test_a_refused_subscription_backs_off_longer_each_time():
    """-2015 on subscribe is a failure: no gap reported, the backoff cap doubles per attempt."""
    clock = ManualClock(0)
    refused = {"userDataStream.subscribe.signature": (
        401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})}
    stream, log, _ = harness([FakeWs(clock, refused) for _ in range(3)], clock=clock)
    await stream.run()
    assert log["gaps"] == []
    assert ["-2015" in e for e in log["errors"]] == [True, True, True, False]
    assert stream.backoff.failures == 3 and len(log["sleeps"]) == 3   # never reset


async def test_silence_without_server_pings_reconnects_and_pings_are_answered():
    """A ping is ponged with its payload; stale_s without one is a dead path: reconnect."""
    clock = ManualClock(0)
    ping = aiohttp.WSMessage(aiohttp.WSMsgType.PING, b"abc", None)
    ws = FakeWs(clock, OK_SIG, [ping])
    stream, log, _ = harness([ws], clock=clock, stale_s=60)
    await stream.run()
    assert ws.pongs == [b"abc"]
    assert "no ping from the server for 60 s" in log["errors"][0]
    assert clock.monotonic() >= 60


async def test_an_error_answer_on_an_open_stream_drops_the_connection():
    """A late ``{"id": null, "status": 401}`` (key revoked) ends the connection, named."""
    clock = ManualClock(0)
    revoked = {"id": None, "status": 401,
               "error": {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}}
    stream, log, _ = harness([FakeWs(clock, OK_SIG, [text(revoked)])], clock=clock)
    await stream.run()
    assert "venue: HTTP 401 -2015" in log["errors"][0]
