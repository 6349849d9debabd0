"""An audit log verifier written from docs/AUDIT.md alone: standard library + `cryptography`.

Usage: python tests/independent_verifier.py STATE_DIR KEY_ID [KEY_ID ...]
Prints one failure per line and exits 1, or prints "OK <records> records, <checkpoints>
checkpoints, tree <size>" and exits 0. It imports nothing from HOPE on purpose.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import sys
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
DASH = "\u2014 "


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def canonical(rec: dict) -> bytes:
    body = {k: v for k, v in rec.items() if k not in ("hash", "sig")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_id(rec: dict) -> str:
    text = (f"{rec['event_type']}:{rec['correlation_id']}:{rec['timestamp']}:"
            f"{json.dumps(rec['payload'], sort_keys=True)}")
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def pinned_keys(state: Path, ids: list[str]) -> dict[str, bytes]:
    keys = {}
    for p in [*state.glob("keys/public/audit*.pub"), *state.glob("keys/audit*.pub")]:
        if not re.fullmatch(r"audit(-[0-9a-f]+)?\.pub", p.name):
            continue  # another principal's key (keys/public/ holds every principal's)
        raw = base64.b64decode(p.read_text().strip())
        kid = "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]
        if kid in ids:
            keys[kid] = raw
    return keys


def read_records(state: Path, failures: list[str]) -> tuple[dict[int, bytes],
                                                              dict[str, list[str]]]:
    """Leaf hashes by index and each family's chain of hashes (GENESIS first)."""
    manifest = json.loads((state / "events" / "manifest.json").read_text())["families"]
    leaves: dict[int, bytes] = {}
    heads: dict[str, list[str]] = {}
    for fam, segments in manifest.items():
        prev, chain = GENESIS, [GENESIS]
        for seg in segments:
            data = (state / "events" / seg).read_bytes()
            if seg.endswith(".gz"):  # an archived segment: one gzip member of the plain bytes
                data = gzip.decompress(data)
            for n, line in enumerate(data.split(b"\n")[:-1], 1):
                where = f"events/{seg}:{n}"
                rec = json.loads(line)
                if hashlib.sha256(canonical(rec)).hexdigest() != rec["hash"]:
                    failures.append(f"{where}: hash")
                if rec["prev_hash"] != prev:
                    failures.append(f"{where}: prev_hash")
                if event_id(rec) != rec["event_id"]:
                    failures.append(f"{where}: event_id")
                if rec["leaf"] in leaves:
                    failures.append(f"{where}: leaf {rec['leaf']} twice")
                leaves[rec["leaf"]] = sha(b"\x00" + bytes.fromhex(rec["hash"]))
                prev = rec["hash"]
                chain.append(prev)
        heads[fam] = chain
    return leaves, heads


def check(state: Path, ids: list[str]) -> tuple[list[str], str]:
    failures: list[str] = []
    leaves, heads = read_records(state, failures)
    n_leaves = len(leaves)
    if sorted(leaves) != list(range(n_leaves)):
        failures.append("leaf indices are not 0..n-1")
        return failures, ""
    ordered = [leaves[i] for i in range(n_leaves)]

    @cache
    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 0:
            return sha(b"")
        if hi - lo == 1:
            return ordered[lo]
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        return sha(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))

    keys = pinned_keys(state, ids)
    cps = (state / "events" / "checkpoints.jsonl").read_bytes().split(b"\n")[:-1]
    if (state / "checkpoint-copy" / "checkpoints.jsonl").read_bytes().split(b"\n")[:-1] != cps:
        failures.append("checkpoint-copy differs")
    origin, size_before, sealed, size_prev_cp = None, 0, {}, 0
    for n, line in enumerate(cps, 1):
        where = f"events/checkpoints.jsonl:{n}"
        entry = json.loads(line)
        note = entry["note"].encode()
        cut = note.rfind(b"\n\n")
        body, sigs = note[:cut + 1], note[cut + 2:].decode().split("\n")[:-1]
        text = body.decode().split("\n")[:-1]
        cp_origin, size, root = text[0], int(text[1]), base64.b64decode(text[2])
        public = keys.get(entry["key_id"])
        if public is None:
            failures.append(f"{where}: key not pinned")
            continue
        if not signed(body, sigs, cp_origin, public):
            failures.append(f"{where}: signature")
        origin = origin or cp_origin
        if cp_origin != origin:
            failures.append(f"{where}: origin")
        if size < size_before:
            failures.append(f"{where}: size shrinks")
        size_before = size
        if size > n_leaves or mth(0, size) != root:
            failures.append(f"{where}: root")
        if f"previous {size_prev_cp}" not in text[3:]:
            failures.append(f"{where}: a checkpoint before it is missing")
        size_prev_cp = size
        fam_total = 0
        for ext in text[3:]:
            if ext.startswith("family "):
                _, fam, count, head = ext.split(" ")
                fam_total += int(count)
                chain = heads.get(fam, [GENESIS])
                if int(count) >= len(chain) or chain[int(count)] != head:
                    failures.append(f"{where}: family {fam} head/size")
                sealed[fam] = int(count)
        if fam_total != size:
            failures.append(f"{where}: family sizes do not add up")
    for fam, chain in heads.items():
        if len(chain) - 1 > sealed.get(fam, 0):
            failures.append(f"{fam}: {len(chain) - 1 - sealed.get(fam, 0)} unsealed record(s)")
    return failures, f"OK {n_leaves} records, {len(cps)} checkpoints, tree {size_before}"


def signed(body: bytes, sig_lines: list[str], name: str, public: bytes) -> bool:
    """Is one of the note's signature lines a valid Ed25519 signature of (name, public)?"""
    khash = sha(name.encode() + b"\n\x01" + public)[:4]
    for line in sig_lines:
        sname, b64 = line[len(DASH):].rsplit(" ", 1)
        blob = base64.b64decode(b64)
        if line.startswith(DASH) and sname == name and blob[:4] == khash:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], body)
                return True
            except InvalidSignature:
                pass
    return False


def main(argv: list[str]) -> int:
    failures, ok = check(Path(argv[1]), argv[2:])
    for f in failures:
        print(f)
    if not failures:
        print(ok)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
