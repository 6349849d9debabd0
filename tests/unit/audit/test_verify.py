"""`hope audit verify` logic: a clean log passes; every kind of tampering fails naming the place."""

from __future__ import annotations

import json
import shutil

from hope.audit.keys import init_keys
from hope.audit.verify import render, verify
from tests.helpers import ev, make_state, writer


def build(n: int = 6, **cfg):
    """A sealed log of n PRICE events plus its pinned key id."""
    st = make_state()
    signer, _ = init_keys(st.keys)
    with writer(st, **cfg) as w:
        for i in range(1, n + 1):
            w.append(ev(i))
            w.sync()
    return st, signer.key_id


def failures(st, key) -> list[str]:
    r = verify(st, [key])
    assert not r.ok
    return r.failures


def test_clean_log_verifies_under_the_pinned_key():
    """A log the writer closed verifies with no failures and no unsealed tail."""
    st, key = build()
    r = verify(st, [key], strict=True)
    assert r.ok and r.records == 6 and r.files == 1 and r.unsealed == {}
    assert r.checkpoints >= 1 and not r.warnings
    assert "audit verify: OK" in render(r)


def test_flipped_byte_in_a_payload_names_file_and_line():
    """Changing one payload byte fails the hash (and event_id) at that line."""
    st, key = build()
    p = st.events / "prices.jsonl"
    rows = p.read_text().splitlines()
    rows[2] = rows[2].replace('"symbol":"EVXBTC"', '"symbol":"EVXBTD"')
    p.write_text("\n".join(rows) + "\n")
    f = failures(st, key)
    assert any(x.startswith("events/prices.jsonl:3: hash does not match") for x in f)
    assert any("Merkle root does not match the records" in x for x in f)


def test_deleted_line_breaks_the_link_and_the_sequence():
    """Deleting a line fails the next line's link and reports the missing seq."""
    st, key = build()
    p = st.events / "prices.jsonl"
    rows = p.read_text().splitlines()
    del rows[3]
    p.write_text("\n".join(rows) + "\n")
    f = failures(st, key)
    assert any(x.startswith("events/prices.jsonl:4: prev_hash does not link") for x in f)
    assert any(x.startswith("scanner epoch e1: seq 4..4 missing") for x in f)
    assert any(x.startswith("leaf 3: no record has this leaf index") for x in f)


def test_swapped_lines_fail_the_chain():
    """Swapping two lines fails the chain at the first of them."""
    st, key = build()
    p = st.events / "prices.jsonl"
    rows = p.read_text().splitlines()
    rows[1], rows[2] = rows[2], rows[1]
    p.write_text("\n".join(rows) + "\n")
    f = failures(st, key)
    assert any(x.startswith("events/prices.jsonl:2: prev_hash does not link") for x in f)


def test_truncation_mid_line_is_reported_with_the_missing_range():
    """A file cut mid-line reports the torn line and the records the checkpoint covered."""
    st, key = build()
    p = st.events / "prices.jsonl"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 40])
    f = failures(st, key)
    assert any(x.startswith("events/prices.jsonl:6: torn last line") for x in f)
    assert any(x.startswith("prices: records 6..6 missing") for x in f)
    assert any("covers 6 records, the log has 5" in x for x in f)


def test_dropped_last_segment_is_detected_with_or_without_the_manifest():
    """Deleting the last segment fails; also when the manifest is edited to hide it (witness)."""
    st, key = build(20, segment_max_bytes=600, checkpoint_every_records=1)
    mpath = st.events / "manifest.json"
    manifest = json.loads(mpath.read_text())
    segs = manifest["families"]["prices"]
    if not (st.events / segs[-1]).stat().st_size:  # rotation left a fresh empty segment
        (st.events / segs.pop()).unlink()
    last = segs[-1]
    (st.events / last).unlink()
    f = failures(st, key)
    assert f"events/{last}: segment listed in the manifest is missing" in f
    manifest["families"]["prices"].pop()
    mpath.write_text(json.dumps(manifest))
    f = failures(st, key)
    assert any(x.startswith("prices: records ") and "missing" in x for x in f)


def test_truncating_log_and_checkpoints_is_caught_by_the_copy():
    """Cutting records and their checkpoints from events/ still fails against the local copy."""
    st, key = build(6, checkpoint_every_records=2)
    p = st.events / "prices.jsonl"
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:2]))
    cps = st.events / "checkpoints.jsonl"
    cps.write_text(cps.read_text().splitlines(keepends=True)[0])
    f = failures(st, key)
    assert any("checkpoint missing (the copy" in x for x in f)
    assert any(x.startswith("prices: records 3..6 missing") for x in f)


def test_replaced_key_fails():
    """A log re-signed or checked with another key fails under the pinned fingerprint."""
    st, key = build()
    shutil.rmtree(st.keys)
    other, _ = init_keys(st.keys)
    f = failures(st, other.key_id)
    assert any(x.startswith("events/checkpoints.jsonl:1: checkpoint signed by untrusted key")
               for x in f)
    # An attacker who replaces the key and rewrites the whole log is caught by the pin.
    st2, key2 = build()
    shutil.rmtree(st2.keys)
    shutil.rmtree(st2.events)
    shutil.rmtree(st2.checkpoint_copy)
    with writer(st2) as w:
        w.append(ev(7))
    assert not verify(st2, [key2]).ok
    # Fallback without a pin trusts keys/*.pub, loudly.
    r = verify(st2, [])
    assert any("no audit key pinned" in w for w in r.warnings)


def test_forged_signature_fails():
    """A checkpoint whose family head was changed no longer matches its signature."""
    st, key = build()
    for p in (st.events / "checkpoints.jsonl", st.checkpoint_copy / "checkpoints.jsonl"):
        cp = json.loads(p.read_text().splitlines()[0])
        body, sigs = cp["note"].split("\n\n")
        head = body.split("family prices ")[1].split(" ")[1][:64]
        cp["note"] = body.replace(head, "0" * 64) + "\n\n" + sigs
        p.write_text(json.dumps(cp) + "\n")
    f = failures(st, key)
    assert any("bad checkpoint signature" in x for x in f)


def test_seq_hole_without_gap_record_fails_and_with_gap_passes():
    """A missing seq fails naming the range unless a GAP record declares it."""
    st = make_state()
    signer, _ = init_keys(st.keys)
    with writer(st) as w:
        w.append(ev(1))
        w.append(ev(4))
    f = failures(st, signer.key_id)
    assert any(x.startswith("scanner epoch e1: seq 2..3 missing") for x in f)
    with writer(st) as w:
        w.record_gap("scanner", "e1", 2, 3)
    r = verify(st, [signer.key_id])
    assert r.ok and r.gaps[0]["from"] == 2 and r.gaps[0]["to"] == 3


def test_unsealed_tail_warns_and_fails_only_when_strict():
    """Records after the last checkpoint are a warning, a failure with strict."""
    st, key = build()
    with writer(st) as w:
        w.append(ev(7))
        w.sync()
        r = verify(st, [key])
        assert r.ok and r.unsealed == {"prices": 1}
        assert any("unsealed" in x for x in r.warnings)
        assert not verify(st, [key], strict=True).ok


def test_witness_mismatch_and_garbage_are_reported():
    """An edited witness line and a non-JSON record are named by file and line."""
    st, key = build()
    w = st.checkpoint_copy / "checkpoints.jsonl"
    w.write_text(w.read_text().replace('"key_id"', '"key_id" ', 1))
    p = st.events / "prices.jsonl"
    rows = p.read_text().splitlines()
    rows[0] = "not json"
    p.write_text("\n".join(rows) + "\n")
    f = failures(st, key)
    assert any("differs from the copy checkpoint-copy/checkpoints.jsonl:1" in x for x in f)
    assert any(x.startswith("events/prices.jsonl:1: not valid JSON") for x in f)
