"""Key pins, `hope audit status|accept`, and the service refusing to start on a log it cannot
trust (exit 65)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hope.audit.service import open_writer
from hope.audit.startup import EX_AUDIT
from hope.cli import main
from hope.paths import StatePaths
from hope.testing import runtime_for_tests
from tests.helpers import ev, writer


def key_ids(out: str) -> list[str]:
    return re.findall(r"key id: (ed25519:[0-9a-f]+)", out)


def sealed_log(root: Path) -> StatePaths:
    st = StatePaths.at(root).ensure()
    with writer(st) as w:
        for i in range(1, 6):
            w.append(ev(i))
    return st


def test_keys_init_is_idempotent_and_pins_locally(tmp_path: Path, capsys, monkeypatch) -> None:
    """init creates and pins once; again it only says so; rotate pins the new id beside the old."""
    pins = tmp_path / "pins.toml"
    monkeypatch.setenv("HOPE_PINS_FILE", str(pins))
    args = ["--state-dir", str(tmp_path / "s")]
    assert main(["keys", "init", *args]) == 0
    out = capsys.readouterr().out
    assert f"pinned in {pins}" in out
    assert main(["keys", "init", *args]) == 0
    assert "pinned already in" in capsys.readouterr().out
    assert main(["keys", "rotate", *args]) == 0
    new = key_ids(capsys.readouterr().out)[0]
    text = pins.read_text()
    assert key_ids(out)[0] in text and new in text and str(tmp_path / "s") in text
    assert main(["keys", "vkey", *args]) == 0
    assert re.fullmatch(r"hope-audit/[0-9a-f]{16}\+[0-9a-f]{8}\+\S+\n", capsys.readouterr().out)


def test_status_refuses_and_accept_begins_a_new_audited_log(tmp_path: Path, capsys) -> None:
    """Without its checkpoints the log is refused (status exit 1); accept archives it and the
    new log starts with an AUDIT_ACCEPT record naming the failure and the reason."""
    st = sealed_log(tmp_path / "s")
    args = ["--state-dir", str(st.root)]
    assert main(["audit", "status", *args]) == 0
    assert "audit status: OK: sealed 5 records" in capsys.readouterr().out
    for p in (st.events / "checkpoints.jsonl", st.checkpoint_copy / "checkpoints.jsonl"):
        p.unlink()
    assert main(["audit", "status", "--json", *args]) == 1
    refused = json.loads(capsys.readouterr().out)["refuses"]
    assert refused.startswith("events/checkpoints.jsonl: checkpoint file(s) missing")
    assert main(["audit", "accept", "--reason", "restored from backup", *args]) == 0
    assert "archived in" in capsys.readouterr().out
    (archive,) = st.quarantine.glob("accepted-*")
    assert (archive / "events" / "prices.jsonl").exists()
    (rec,) = [json.loads(x) for x in (st.events / "system.jsonl").read_text().splitlines()]
    assert rec["event_type"] == "AUDIT_ACCEPT" and rec["payload"]["failure"] == refused
    assert rec["payload"]["reason"] == "restored from backup"
    assert main(["audit", "verify", "--strict", *args]) == 0
    assert main(["audit", "status", *args]) == 0


def test_the_service_exits_65_on_a_log_it_cannot_trust(tmp_path: Path, capsys) -> None:
    """The audit-writer service refuses to start (EX_AUDIT) naming file:line."""
    st = sealed_log(tmp_path / "s")
    lines = (st.events / "prices.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"EVXBTC"', '"EVXBTD"')
    (st.events / "prices.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exc:
        open_writer(runtime_for_tests("audit-writer", st.root))
    assert exc.value.code == EX_AUDIT
    assert "events/prices.jsonl:2: hash does not match the record's content" in \
        capsys.readouterr().err


def test_prove_prints_a_checked_inclusion_proof(tmp_path: Path, capsys) -> None:
    """`hope audit prove` gives a proof that verifies under the latest checkpoint's root."""
    import base64

    from hope.audit.merkle import record_leaf, verify_inclusion

    st = sealed_log(tmp_path / "s")
    rec = json.loads((st.events / "prices.jsonl").read_text().splitlines()[2])
    capsys.readouterr()  # the writer's "created a key" line
    assert main(["audit", "prove", rec["event_id"], "--json", "--state-dir", str(st.root)]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["leaf"] == 2 and p["tree_size"] == 5 and p["where"] == "events/prices.jsonl:3"
    assert verify_inclusion(record_leaf(rec["hash"]), 2, 5,
                            [base64.b64decode(h) for h in p["proof"]], base64.b64decode(p["root"]))
    assert main(["audit", "prove", "sha256:nope", "--state-dir", str(st.root)]) == 1
    assert "no audited event sha256:nope" in capsys.readouterr().out
