"""Crash points: off unless the chaos run's directory is set; armed, they fire once."""

from __future__ import annotations

import signal

import pytest

from hope import crashpoints


@pytest.fixture
def kills(monkeypatch):
    """Record the signals a crash point would send instead of sending them."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(crashpoints.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    return sent


def test_without_the_directory_nothing_happens(monkeypatch, kills, tmp_path):
    """With HOPE_CHAOS_CRASHPOINTS unset, even an armed point does nothing."""
    monkeypatch.setattr(crashpoints, "_DIR", None)
    crashpoints.arm(tmp_path, "buy.after_reply")
    crashpoints.crash_point("buy.after_reply", "hope-1")
    assert kills == [] and (tmp_path / "buy.after_reply").exists()


def test_an_armed_point_fires_once_and_leaves_its_detail(monkeypatch, kills, tmp_path):
    """The first process to reach an armed point SIGKILLs itself and names the order; the
    restarted one goes on."""
    monkeypatch.setattr(crashpoints, "_DIR", str(tmp_path))
    crashpoints.crash_point("buy.after_reply", "hope-0")  # not armed: nothing
    hit = crashpoints.arm(tmp_path, "buy.after_reply")
    crashpoints.crash_point("exit.after_reply", "hope-2-x")  # another point: nothing
    crashpoints.crash_point("buy.after_reply", "hope-1")
    crashpoints.crash_point("buy.after_reply", "hope-3")
    assert [sig for _, sig in kills] == [signal.SIGKILL]
    assert hit.read_text() == "hope-1"
