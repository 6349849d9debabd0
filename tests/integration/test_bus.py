"""The ZeroMQ bus through the real proxy process: delivery, filtering, recovery, stop."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from hope import codec
from hope.bus.reader import READ_BATCH
from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.tails import read_frames
from hope.testing import async_wait_for, make_config, read_jsonl, wait_for

pytestmark = pytest.mark.integration


def signal_event(i: int, symbol: str = "EVXBTC", source: str = "scanner"):
    return new_event("SIGNAL", {"symbol": symbol, "strategy": "pump", "price": 1.0 + i,
                                "market_ts": 1_600_000_000.0 + i}, source=source)


def ledger_ids(path: Path) -> list[str]:
    return [r["event_id"] for r in read_jsonl(path) if "event_id" in r]


def ledger_done(path: Path, count: int) -> bool:
    return any(r.get("done") == count for r in read_jsonl(path))


def journal_items(path: Path) -> list[tuple[int, list]]:
    frames, _ = read_frames(path.read_bytes())
    return [(pos, codec.decode_obj(chunk)) for pos, chunk in frames]


async def test_first_events_after_start_are_not_lost_and_prefixes_filter(state_dir, procs):
    """Events published right after start arrive, in order, only at matching subscribers."""
    procs.proxy()
    config = make_config(state_dir)
    evx, everything = ZmqBus("sub-evx", config), ZmqBus("sub-all", config)
    evx.subscribe("SIGNAL.EVX")
    everything.subscribe("SIGNAL")
    pub = ZmqBus("scanner", config)
    await evx.start()
    await everything.start()
    await pub.start()
    try:
        for i in range(200):
            await pub.publish(signal_event(i, "EVXBTC" if i % 2 else "GVTBTC"))
        await async_wait_for(lambda: everything.inbox.qsize() == 200, message="200 events")
        await async_wait_for(lambda: evx.inbox.qsize() == 100, message="100 EVX events")
        got = [everything.inbox.get_nowait() for _ in range(200)]
        assert [e.seq for e in got] == list(range(1, 201))
        assert all(evx.inbox.get_nowait().payload["symbol"] == "EVXBTC" for _ in range(100))
    finally:
        for bus in (pub, evx, everything):
            await bus.stop()


async def test_only_subscriptions_marked_verify_id_reject_a_forged_event_id(state_dir, procs):
    """A SIGNAL with a wrong event id is quarantined by a subscriber that verifies SIGNAL ids
    and delivered to one that does not; both deliver the honest event."""
    procs.proxy()
    config = make_config(state_dir)
    strict, trusting = ZmqBus("strict", config), ZmqBus("trusting", config)
    strict.subscribe("SIGNAL")
    strict.verify_ids("SIGNAL")
    trusting.subscribe("SIGNAL")
    pub = ZmqBus("scanner", config, recover=False, journal=False, outbox=False)
    for bus in (strict, trusting, pub):
        await bus.start()
    try:
        honest = signal_event(1, "EVXBTC")
        forged = msgspec.structs.replace(signal_event(2, "EVXBTC"),
                                         event_id="sha256:0123456789abcdef",
                                         publisher="scanner", epoch="f0f0f0f0f0f0", seq=1,
                                         tseq=1)
        pub.publish_raw(pub.sealed([forged.topic.encode(), codec.encode(forged)]))
        await pub.publish(honest)
        await async_wait_for(lambda: trusting.inbox.qsize() == 2, message="both at trusting")
        await async_wait_for(lambda: strict.inbox.qsize() == 1, message="honest at strict")
        assert strict.inbox.get_nowait().event_id == honest.event_id
        assert strict.counters["decode_errors"] == 1 and trusting.counters["decode_errors"] == 0
    finally:
        for bus in (pub, strict, trusting):
            await bus.stop()


async def test_unacknowledged_events_of_a_dead_epoch_are_resent_until_acknowledged(
        state_dir, procs):
    """A restarted publisher's resend at start reaches nobody when the audit writer restarts
    later (killed together); the periodic resend delivers the dead epoch's events anyway."""
    procs.proxy()
    config = make_config(state_dir)
    first = ZmqBus("scanner", config)
    await first.start()
    sent = [await first.publish(signal_event(i)) for i in range(3)]
    first.kill()  # a crash: its outbox keeps the unacknowledged events
    second = ZmqBus("scanner", config)
    await second.start()  # resends at once, to nobody
    late = ZmqBus("late-audit", config)
    late.subscribe("SIGNAL")
    await late.start()
    try:
        await async_wait_for(lambda: late.inbox.qsize() >= 3, timeout=15,
                             message="the dead epoch's events resent")
        got = {late.inbox.get_nowait().event_id for _ in range(late.inbox.qsize())}
        assert {e.event_id for e in sent} <= got
        assert second.stats()["resent"] >= 3
    finally:
        await second.stop()
        await late.stop()


async def test_lost_frames_are_recovered_through_replay(state_dir, procs):
    """A frame the subscriber never saw is fetched from the publisher's outbox on the gap."""
    procs.proxy()
    config = make_config(state_dir)
    sub, pub = ZmqBus("sub", config), ZmqBus("scanner", config)
    sub.subscribe("SIGNAL")
    await sub.start()
    await pub.start()
    try:
        sent = [await pub.publish(signal_event(i)) for i in range(3)]
        await async_wait_for(lambda: sub.inbox.qsize() == 3)
        # Publish seq 4 to the outbox only (as if the proxy dropped it), then seq 5 normally.
        real_send = pub.links.send
        pub.links.send = lambda *frame: None
        sent.append(await pub.publish(signal_event(3)))
        pub.links.send = real_send
        sent.append(await pub.publish(signal_event(4)))
        await async_wait_for(lambda: sub.inbox.qsize() == 5, message="gap filled")
        got = {sub.inbox.get_nowait().event_id for _ in range(5)}
        assert got == {e.event_id for e in sent}
        assert sub.stats()["replayed_in"] == 1
    finally:
        await pub.stop()
        await sub.stop()


def test_subscriber_killed_and_restarted_recovers_every_missed_event(state_dir, procs):
    """SIGKILL a subscriber mid-stream; after restart it has every event the publisher sent."""
    procs.proxy()
    out, ledger = state_dir / "recorded.jsonl", state_dir / "ledger.jsonl"
    procs.probe("recorder", "record", "--name", "decision-engine", "--out", str(out))
    wait_for(lambda: (state_dir / "outbox" / "decision-engine" / "consumed.log").exists())
    procs.probe("emitter", "emit", "--name", "scanner", "--count", "600", "--rate", "300",
                "--ledger", str(ledger))
    wait_for(lambda: len(read_jsonl(out)) > 100, message="recorder got events")
    procs.kill("recorder")
    wait_for(lambda: len(ledger_ids(ledger)) > 350, message="emitter went on publishing")
    procs.probe("recorder", "record", "--name", "decision-engine", "--out", str(out))
    wait_for(lambda: ledger_done(ledger, 600), message="emitter finished")
    wait_for(lambda: {r["event_id"] for r in read_jsonl(out)} >= set(ledger_ids(ledger)),
             timeout=30, message="every event recorded")
    assert len(ledger_ids(ledger)) == 600


def test_idempotent_subscriber_killed_redoes_at_most_one_read_batch(state_dir, procs):
    """SIGKILL a subscriber whose handler is idempotent (coverage journaled once per read
    batch): after restart it has every event, and handled again at most the last batch's."""
    procs.proxy()
    out, ledger = state_dir / "recorded.jsonl", state_dir / "ledger.jsonl"
    recorder = ("recorder", "record", "--idempotent", "--name", "decision-engine", "--out",
                str(out))
    procs.probe(*recorder)
    journal = state_dir / "outbox" / "decision-engine" / "consumed.log"
    wait_for(lambda: journal.exists())
    procs.probe("emitter", "emit", "--name", "scanner", "--count", "600", "--rate", "300",
                "--ledger", str(ledger))
    wait_for(lambda: len(read_jsonl(out)) > 100, message="recorder got events")
    procs.kill("recorder")
    before_kill = len(read_jsonl(out))
    wait_for(lambda: len(ledger_ids(ledger)) > 350, message="emitter went on publishing")
    procs.probe(*recorder)
    wait_for(lambda: ledger_done(ledger, 600), message="emitter finished")
    wait_for(lambda: {r["event_id"] for r in read_jsonl(out)} >= set(ledger_ids(ledger)),
             timeout=30, message="every event recorded")
    recorded = [r["event_id"] for r in read_jsonl(out)]
    assert len(ledger_ids(ledger)) == 600
    # the cursor came back from the coverage: not everything before the kill again
    assert len(recorded) - len(set(recorded)) <= min(READ_BATCH, before_kill // 2)
    assert {item[0] for _, item in journal_items(journal)} <= {"c", "h"}  # no per-event record


def test_publisher_killed_mid_stream_still_delivers_everything(state_dir, procs):
    """SIGKILL a publisher mid-stream; restarted, it resends what no one acknowledged."""
    procs.proxy()
    out, ledger = state_dir / "recorded.jsonl", state_dir / "ledger.jsonl"
    procs.probe("recorder", "record", "--name", "decision-engine", "--out", str(out))
    wait_for(lambda: (state_dir / "outbox" / "decision-engine" / "consumed.log").exists())
    procs.probe("emitter", "emit", "--name", "scanner", "--count", "100000", "--rate", "2000",
                "--ledger", str(ledger))
    wait_for(lambda: len(ledger_ids(ledger)) > 500, message="emitter publishing")
    procs.kill("emitter")
    sent = set(ledger_ids(ledger))
    # The outbox holds at least what the ledger saw (outbox is written before the send).
    procs.probe("emitter2", "emit", "--name", "scanner", "--count", "10",
                "--ledger", str(state_dir / "ledger2.jsonl"))
    wait_for(lambda: {r["event_id"] for r in read_jsonl(out)} >= sent, timeout=30,
             message="every event of the killed publisher recorded")


def test_sigterm_stops_a_service_cleanly(state_dir, procs):
    """SIGTERM: the service finishes, flushes and exits 0."""
    procs.proxy()
    out = state_dir / "recorded.jsonl"
    procs.probe("recorder", "record", "--name", "decision-engine", "--out", str(out))
    wait_for(lambda: (state_dir / "outbox" / "decision-engine" / "consumed.log").exists())
    assert procs.stop("recorder") == 0
    assert procs.stop("proxy") == 0
    assert '"stopped"' in procs.log_text("recorder")
