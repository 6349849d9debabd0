"""Tests for hope.cli.dlq: list, show, retry and purge on the store."""

from hope.cli import main
from hope.dlq.store import DlqStore, Letter


def _seed(state):
    with DlqStore(state / "dlq" / "dlq.sqlite3") as s:
        for lid, status in (("dl-park1", "parked"), ("dl-pend2", "pending"), ("dl-done3", "done")):
            s.put(Letter(id=lid, service="executor", handler="on_order",
                         event={"event_id": f"sha256:{lid}", "event_type": "ORDER",
                                "payload": {"symbol": "EVXBTC"}},
                         status=status, attempts=2,
                         errors=[{"error": "first", "at": 1.0}, {"error": "second", "at": 2.0}],
                         next_attempt_at=None, created_at=1.0, updated_at=1.0))


def _run(state, *argv):
    return main(["dlq", *argv, "--state-dir", str(state), "--config", "/dev/null"])


def test_list_prints_a_table_with_counts(tmp_path, capsys):
    """`hope dlq list` prints every letter and the per-status counts."""
    _seed(tmp_path)
    assert _run(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert "dl-park1" in out and "dl-done3" in out and "parked: 1" in out


def test_show_prints_every_error(tmp_path, capsys):
    """`hope dlq show` with an id prefix prints each collected error."""
    _seed(tmp_path)
    assert _run(tmp_path, "show", "dl-park") == 0
    out = capsys.readouterr().out
    assert "1." in out and "first" in out and "second" in out


def test_retry_all_schedules_parked_and_pending(tmp_path, capsys):
    """`hope dlq retry --all` makes parked and pending letters due, leaving done ones."""
    _seed(tmp_path)
    assert _run(tmp_path, "retry", "--all") == 0
    with DlqStore(tmp_path / "dlq" / "dlq.sqlite3") as s:
        assert s.counts()["pending"] == 2 and s.counts()["done"] == 1


def test_retry_done_letter_is_refused(tmp_path, capsys):
    """Retrying a done letter exits 1 and says why."""
    _seed(tmp_path)
    assert _run(tmp_path, "retry", "dl-done3") == 1
    assert "done" in capsys.readouterr().err


def test_purge_and_unknown_id(tmp_path, capsys):
    """`purge ID` deletes the letter; an unknown id exits 1 with a message."""
    _seed(tmp_path)
    assert _run(tmp_path, "purge", "dl-park1") == 0
    assert _run(tmp_path, "show", "dl-park1") == 1
    assert "no letter" in capsys.readouterr().err


def test_list_without_store_is_not_an_error(tmp_path, capsys):
    """With no store yet, list says there are no dead letters and exits 0."""
    assert _run(tmp_path, "list") == 0
    assert "no dead letters" in capsys.readouterr().out
