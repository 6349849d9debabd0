"""``hope trading`` and ``hope flatten``: file first, then a CONTROL event."""

from __future__ import annotations

import json

import hope.cli.trading as trading_cli
from hope.cli import main
from hope.trading.state import TradingStateStore


def _capture(monkeypatch, error=None):
    sent = []

    async def fake(cfg, payload):
        assert payload["service"] == "*"
        sent.append(payload["command"])
        if error:
            raise ConnectionError(error)
        return payload

    monkeypatch.setattr(trading_cli, "publish_control", fake)
    import hope.cli.flatten as flatten_cli
    monkeypatch.setattr(flatten_cli, "publish_control", fake)
    return sent


def test_halt_writes_file_and_publishes(tmp_path, monkeypatch, capsys):
    """``hope trading halt`` persists HALTED and publishes CONTROL halt."""
    sent = _capture(monkeypatch)
    assert main(["trading", "halt", "--state-dir", str(tmp_path)]) == 0
    assert TradingStateStore(tmp_path / "trading_state").load() == "HALTED"
    assert sent == ["halt"]
    assert "-> HALTED" in capsys.readouterr().out


def test_reduce_and_resume(tmp_path, monkeypatch):
    """reduce → REDUCING, resume → ACTIVE, each published."""
    sent = _capture(monkeypatch)
    main(["trading", "reduce", "--state-dir", str(tmp_path)])
    assert TradingStateStore(tmp_path / "trading_state").load() == "REDUCING"
    main(["trading", "resume", "--state-dir", str(tmp_path)])
    assert TradingStateStore(tmp_path / "trading_state").load() == "ACTIVE"
    assert sent == ["reduce", "resume"]


def test_bus_down_keeps_file_and_exits_3(tmp_path, monkeypatch, capsys):
    """When the CONTROL cannot be published the file still holds and the exit code says so."""
    _capture(monkeypatch, error="bus unreachable")
    assert main(["trading", "halt", "--state-dir", str(tmp_path)]) == 3
    assert TradingStateStore(tmp_path / "trading_state").load() == "HALTED"
    assert "bus unreachable" in capsys.readouterr().err


def test_status_reports_unknown_as_halted(tmp_path, capsys):
    """``status`` on a corrupt file says HALTED and why."""
    (tmp_path / "trading_state").write_text("garbage")
    assert main(["trading", "status", "--json", "--state-dir", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["state"] == "HALTED" and "unreadable" in info["error"]


def test_flatten_publishes_control(tmp_path, monkeypatch):
    """``hope flatten`` publishes CONTROL flatten."""
    sent = _capture(monkeypatch)
    assert main(["flatten", "--state-dir", str(tmp_path)]) == 0
    assert sent == ["flatten"]


def test_flatten_bus_down_exits_3(tmp_path, monkeypatch, capsys):
    """``hope flatten`` with the bus unreachable names the error and exits 3."""
    _capture(monkeypatch, error="no proxy")
    assert main(["flatten", "--state-dir", str(tmp_path)]) == 3
    assert "no proxy" in capsys.readouterr().err


def test_trading_uses_oneshot_publish(tmp_path, monkeypatch, capsys):
    """``hope trading halt`` sends the CONTROL through the one-shot publisher; its failure exits 3."""
    from hope.bus import oneshot

    seen = []

    async def boom(cfg, event_type, payload, *, source):
        seen.append((event_type, source, payload.pop("os_user")))
        seen.append((event_type, payload))
        raise ConnectionError("no proxy")

    monkeypatch.setattr(oneshot, "publish_once", boom)
    assert main(["trading", "halt", "--state-dir", str(tmp_path)]) == 3
    assert seen == [("CONTROL", "operator", trading_cli.os_user()),
                    ("CONTROL", {"service": "*", "command": "halt"})]
    assert "no proxy" in capsys.readouterr().err
