"""The tape: the aggregate-trades format HOPE reads, crash-safe members, torn tails, retention."""

from __future__ import annotations

import gzip
import os
import time

from hope.feed.messages import AggTrade
from hope.feed.retention import prune
from hope.feed.tape import Tape, complete_length, tape_name
from hope.market.feeds import open_feed, symbol_from_name

T0 = 1610226000000  # 2021-01-09T21:00Z


def trades(n: int, start: int = 1, ts0: int = T0) -> list[AggTrade]:
    return [AggTrade("EVXBTC", i, ts0 + i * 10, "0.00001520", "100", i % 2 == 0)
            for i in range(start, start + n)]


def test_tape_is_read_by_hope_feeds_like_data(tmp_path) -> None:
    """Flushed twice (two gzip members), the file reads back as trades with symbol and side."""
    tape = Tape(tmp_path)
    for tr in trades(3):
        tape.append(tr)
    tape.flush()
    for tr in trades(2, start=4):
        tape.append(tr)
    tape.close()
    path = tmp_path / "EVXBTC" / tape_name("EVXBTC", "2021-01-09T21")
    assert symbol_from_name(path) == "EVXBTC"
    feed = open_feed(path)
    rows = list(feed)
    assert feed.format == "binance_aggtrades" and feed.errors.count == 0
    assert [r.ts for r in rows] == [(T0 + i * 10) / 1000 for i in range(1, 6)]
    assert [r.taker_buy for r in rows] == [True, False, True, False, True]
    assert complete_length(path.read_bytes()) == (path.stat().st_size, False)
    assert [t.id for t in tape.read("EVXBTC")] == [1, 2, 3, 4, 5]
    assert tape.last("EVXBTC").id == 5


def test_one_file_per_utc_hour(tmp_path) -> None:
    """Trades either side of an hour boundary land in two files named by their hour."""
    tape = Tape(tmp_path)
    tape.append(AggTrade("EVXBTC", 1, T0 - 1, "1", "1", False))
    tape.append(AggTrade("EVXBTC", 2, T0, "1", "1", False))
    tape.close()
    assert [p.name for p in tape.files("EVXBTC")] == [
        tape_name("EVXBTC", "2021-01-09T20"), tape_name("EVXBTC", "2021-01-09T21")]


def test_torn_tail_is_tolerated_by_readers_and_cut_at_next_start(tmp_path) -> None:
    """A half-written member: readers keep what came before and report it; the writer cuts it."""
    tape = Tape(tmp_path)
    for tr in trades(3):
        tape.append(tr)
    tape.close()
    path = tape.files("EVXBTC")[0]
    good = path.stat().st_size
    member = gzip.compress(b"".join(f"{T0 + 99},{i},buy,1,1,1,false\n".encode()
                                    for i in range(4, 200)))
    with open(path, "ab") as fh:
        fh.write(member[: len(member) // 2])
    feed = open_feed(path)
    rows = list(feed)
    assert len(rows) >= 3 and feed.errors.count >= 1
    assert "unreadable rest of file" in " ".join(feed.errors.messages)
    torn: list[tuple] = []
    tape2 = Tape(tmp_path, quarantine=tmp_path / "q", on_torn=lambda p, n: torn.append((p, n)))
    assert tape2.last("EVXBTC").id == 3
    tape2.append(trades(1, start=4)[0])
    tape2.close()
    assert torn and torn[0][1] == len(member) // 2
    assert list((tmp_path / "q").iterdir())
    assert path.stat().st_size > good
    assert [t.id for t in tape2.read("EVXBTC")] == [1, 2, 3, 4]
    feed = open_feed(path)
    assert len(list(feed)) == 4 and feed.errors.count == 0


def test_retention_deletes_old_then_oldest_over_budget_never_open_files(tmp_path) -> None:
    """Past max age goes, then oldest first until under the budget; files in use stay."""
    d = tmp_path / "EVXBTC"
    d.mkdir()
    now = time.time()
    names = []
    for h in range(5):
        ts = now - (4 - h) * 3600
        name = tape_name("EVXBTC", time.strftime("%Y-%m-%dT%H", time.gmtime(ts)))
        (d / name).write_bytes(b"x" * 100)
        names.append(name)
    old = d / tape_name("EVXBTC", "2020-01-01T00")
    old.write_bytes(b"x" * 100)
    usage = prune(tmp_path, max_age_s=86400 * 30, max_bytes=250, now=now,
                  keep={d / names[0]})
    left = sorted(os.listdir(d))
    assert old.name not in left and names[0] in left
    assert usage.bytes == 200 and usage.deleted == 4
    assert left == sorted([names[0], names[4]])
