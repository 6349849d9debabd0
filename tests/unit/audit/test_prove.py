"""``prove``: proofs read from the node files when they verify, rebuilt from the log if not."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from hope.audit.merkle import record_leaf, verify_inclusion
from hope.audit.prove import prove
from hope.paths import StatePaths
from tests.helpers import ev, writer


def sealed(root: Path, n: int = 37) -> tuple[StatePaths, list[dict]]:
    st = StatePaths.at(root).ensure()
    with writer(st) as w:
        for i in range(1, n + 1):
            w.append(ev(i))
    return st, [json.loads(x) for x in (st.events / "prices.jsonl").read_text().splitlines()]


def checks(p: dict, rec: dict) -> bool:
    proof = [base64.b64decode(h) for h in p["proof"]]
    return verify_inclusion(record_leaf(rec["hash"]), rec["leaf"], p["tree_size"], proof,
                            base64.b64decode(p["root"]))


def test_proof_nodes_come_from_the_files_and_verify(tmp_path: Path) -> None:
    """With the writer's node files in place the proof is read from them and verifies."""
    st, recs = sealed(tmp_path / "s")
    p = prove(st, recs[20]["event_id"])
    assert p["nodes_from"] == "events/merkle" and p["tree_size"] == 37 and checks(p, recs[20])


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_missing_or_corrupt_files_fall_back_to_the_log(tmp_path: Path, damage: str) -> None:
    """Node files gone or wrong never give a bad proof: it is rebuilt from the records."""
    st, recs = sealed(tmp_path / "s")
    merkle = st.events / "merkle"
    if damage == "missing":
        shutil.rmtree(merkle)
    else:
        level1 = merkle / "level-01.bin"
        level1.write_bytes(b"\x00" * level1.stat().st_size)
    p = prove(st, recs[5]["event_id"])
    assert p["nodes_from"] == "log" and checks(p, recs[5])
