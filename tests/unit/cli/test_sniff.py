"""``hope sniff``: the newest audited events shown before the live stream, and live dedupe."""

from __future__ import annotations

import pytest

from hope import codec
from hope.audit.trace import AmbiguousPrefix, CorrelationFilter
from hope.cli.sniff import _seen, recent_lines, render
from tests.helpers import ev, make_state, writer


def _signal(i: int):
    return ev(i, "SIGNAL", payload={"symbol": "EVXBTC", "strategy": "pump", "price": 1.0,
                                    "market_ts": 1.7e9 + i})


def test_recent_lines_are_the_newest_of_the_prefixes_oldest_first() -> None:
    """Only the asked-for types, the newest N in time order, each marked as from the log."""
    st = make_state()
    signals = [_signal(i) for i in range(1, 6)]
    with writer(st) as w:
        for env in signals:
            w.append(env)
        w.append(ev(6))  # a PRICE: not asked for
    lines, ids = recent_lines(st, ["SIGNAL"], 3, as_json=False, correlation=None)
    assert len(lines) == 3 and all(line.endswith("(audit log)") for line in lines)
    assert all("SIGNAL.EVXBTC" in line for line in lines)
    assert ids == {env.event_id for env in signals[2:]}
    assert recent_lines(st, ["ORDER"], 3, as_json=False, correlation=None) == ([], set())
    shown = signals[3].correlation_id[:12]  # the prefix a line shows selects that trade
    lines, ids = recent_lines(st, ["SIGNAL"], 5, as_json=False,
                              correlation=CorrelationFilter(shown))
    assert ids == {signals[3].event_id}


def _frames(env) -> list[bytes]:
    return [env.topic.encode(), codec.encode(env)]


def test_correlation_prefers_the_exact_id_in_the_log_and_live() -> None:
    """``--correlation c0ffee`` when ids ``c0ffee`` and ``c0ffee99`` both exist: only the exact
    one's events, in the audit log's lines and live, as ``hope trace`` chooses."""
    st = make_state()
    longer = ev(1, "SIGNAL", corr="c0ffee99", payload=_signal(1).payload)
    exact = ev(2, "SIGNAL", corr="c0ffee", payload=_signal(2).payload)
    with writer(st) as w:
        w.append(longer)
        w.append(exact)
    wanted = CorrelationFilter("c0ffee")
    _, ids = recent_lines(st, ["SIGNAL"], 5, as_json=False, correlation=wanted)
    assert ids == {exact.event_id}
    later = ev(3, "SIGNAL", corr="c0ffee99", payload=_signal(3).payload)
    assert render(later.topic.encode(), _frames(later), False, wanted) is None
    mine = ev(4, "SIGNAL", corr="c0ffee", payload=_signal(4).payload)
    assert render(mine.topic.encode(), _frames(mine), False, wanted) is not None


def test_live_the_exact_id_wins_once_it_shows_and_two_others_are_ambiguous() -> None:
    """Live, a longer id is shown until the exact one appears, then only the exact; with no
    exact id, a second id starting with the prefix ends the watch as ``hope trace`` refuses."""
    wanted = CorrelationFilter("abc")
    assert wanted.admits("abcd") and not wanted.admits("xyz")
    assert wanted.admits("abc") and not wanted.admits("abcd") and not wanted.admits("abce")
    other = CorrelationFilter("abc")
    assert other.admits("abcd")
    with pytest.raises(AmbiguousPrefix, match="2 correlation ids start with 'abc'"):
        other.admits("abce")


def test_a_live_event_already_shown_from_the_log_is_skipped_once() -> None:
    """An event printed from the audit log is not printed again when it arrives live."""
    env = _signal(1)
    frames = [env.topic.encode(), codec.encode(env)]
    already = {env.event_id}
    assert _seen(frames, already) is True and already == set()
    assert _seen(frames, already) is False
    assert _seen([b"x"], {"y"}) is False


def test_ctrl_c_while_the_recent_events_are_read_exits_0(tmp_path, monkeypatch) -> None:
    """Ctrl-C once the watcher says it is watching exits 0, even before the live stream starts."""
    import hope.cli.sniff as sniff_cli
    from hope.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sniff_cli, "recent_lines", interrupted)
    assert main(["sniff", "--recent", "5", "--state-dir", str(tmp_path)]) == 0
