"""The checkpoint half of ``hope audit verify``: both copies, signatures, roots, consistency,
each family's size and head, and the comparison with a witness's latest cosigned checkpoint."""

from __future__ import annotations

from typing import Any

from hope.audit.checkpoints import CHECKPOINTS, SignedCheckpoint, parse_line
from hope.audit.merkle import MerkleTree, verify_consistency
from hope.audit.note import Checkpoint, NoteError, cosigned_by, signed_by, split_note
from hope.paths import StatePaths


def _lines(path: Any) -> list[bytes] | None:
    try:
        return path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return None


class CheckpointChecks:
    def __init__(self, state: StatePaths, keys: dict[str, bytes], report: Any,
                 origin: str = "") -> None:
        self.state, self.keys, self.r, self.origin = state, keys, report, origin
        self.cps: list[tuple[str, SignedCheckpoint]] = []

    def fail(self, where: str, reason: str) -> None:
        self.r.failures.append(f"{where}: {reason}")

    @property
    def sealed(self) -> dict[str, int]:
        if not self.cps:
            return {}
        return {f: n for f, (n, _) in self.cps[-1][1].checkpoint.families.items()}

    def wanted(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for _, sc in self.cps:
            for fam, (n, _) in sc.checkpoint.families.items():
                out.setdefault(fam, set()).add(n)
        return out

    def read(self) -> None:
        """Both copies line for line; parse and check the signature of each checkpoint."""
        mname, cname = f"events/{CHECKPOINTS}", f"checkpoint-copy/{CHECKPOINTS}"
        main = _lines(self.state.events / CHECKPOINTS)
        copy = _lines(self.state.checkpoint_copy / CHECKPOINTS)
        if main is None and copy is None:
            return  # a family with records then fails for having no checkpoint
        if main is None:
            self.fail(mname, "checkpoints missing (the copy still has them)")
        if copy is None:
            self.fail(cname, "copy of the checkpoints is missing")
        main, copy = main or [b""], copy or [b""]
        for lines, name in ((main, mname), (copy, cname)):
            if lines[-1]:
                self.fail(f"{name}:{len(lines)}", "torn last line (no newline)")
        main, copy = main[:-1], copy[:-1]
        for i in range(max(len(main), len(copy))):
            m = main[i] if i < len(main) else None
            c = copy[i] if i < len(copy) else None
            if m is not None and c is not None and m != c:
                self.fail(f"{mname}:{i + 1}", f"differs from the copy {cname}:{i + 1}")
            elif m is None:
                self.fail(f"{mname}:{i + 1}", f"checkpoint missing (the copy {cname}:{i + 1} "
                          "has it: the log was truncated or rewritten)")
            elif c is None:
                self.r.warnings.append(f"{mname}:{i + 1}: checkpoint not yet in the copy")
            line, where = (m, f"{mname}:{i + 1}") if m is not None else (c, f"{cname}:{i + 1}")
            self._one(line, where)

    def _one(self, raw: bytes, where: str) -> None:
        self.r.checkpoints += 1
        try:
            sc = parse_line(raw, self.keys)
        except ValueError as exc:
            self.fail(where, str(exc))
            return
        cp = sc.checkpoint
        want = self.origin or (self.cps[0][1].checkpoint.origin if self.cps else cp.origin)
        if cp.origin != want:
            self.fail(where, f"origin {cp.origin!r} is not the log's {want!r}")
            return
        expected = self.cps[-1][1].checkpoint.size if self.cps else 0
        if cp.previous != expected:
            self.fail(where, f"follows a checkpoint of size {cp.previous}, but the one before "
                      f"it here covers {expected} (a checkpoint is missing)" if self.cps else
                      f"follows a checkpoint of size {cp.previous}: the checkpoints before it "
                      "are missing")
        if self.cps:
            before_where, before = self.cps[-1]
            if cp.size < before.checkpoint.size:
                self.fail(where, f"tree size {cp.size} is smaller than {before.checkpoint.size} "
                          f"at {before_where} (checkpoints reordered or rolled back)")
                return
            if (cp.time or "") < (before.checkpoint.time or ""):
                self.fail(where, f"time {cp.time} is before {before.checkpoint.time} at "
                          f"{before_where} (checkpoints reordered)")
        self.cps.append((where, sc))

    def check(self, tree: MerkleTree, heads: dict[str, dict[int, tuple[str, str]]],
              counts: dict[str, int]) -> None:
        """Roots (every record included), consistency, family sizes and heads."""
        prev: Checkpoint | None = None
        short: set[str] = set()
        for where, sc in self.cps:
            cp = sc.checkpoint
            if cp.size > tree.size:
                self.fail(where, f"covers {cp.size} records, the log has {tree.size}")
            elif tree.root(cp.size) != cp.root:
                self.fail(where, "Merkle root does not match the records (a record it covers "
                          "was changed, added or removed)")
            elif prev is not None and not verify_consistency(
                    prev.size, cp.size, prev.root, cp.root,
                    tree.consistency_proof(prev.size, cp.size)):
                self.fail(where, "not consistent with the checkpoint before")
            prev = cp
            for fam, (n, head) in sorted(cp.families.items()):
                have = counts.get(fam, 0)
                if have < n:
                    short.add(fam)
                    continue
                if n and heads.get(fam, {}).get(n, ("", ""))[0] != head:
                    at = heads.get(fam, {}).get(n, ("", "?"))[1]
                    self.fail(where, f"{fam} head does not match the record at {at}")
        for fam in sorted(short):
            n = max(sc.checkpoint.families[fam][0] for _, sc in self.cps
                    if fam in sc.checkpoint.families)
            have = counts.get(fam, 0)
            self.fail(fam, f"records {have + 1}..{n} missing (the last checkpoint covers {n}, "
                      f"the log has {have})" if have else
                      f"family missing (checkpoints cover {n} of its records)")

    def against_witness(self, client: Any, tree: MerkleTree) -> None:
        """Rollback (the witness holds a larger tree) or fork (another root at a size we have)."""
        origin = self.origin or (self.cps[-1][1].checkpoint.origin if self.cps else "")
        entry: dict[str, Any] = {"url": client.url, "status": "?"}
        self.r.witnesses.append(entry)
        try:
            note = client.latest(origin)
        except OSError as exc:
            entry["status"] = f"unreachable ({exc})"
            self.fail(f"witness {client.url}", f"unreachable ({exc})")
            return
        if note is None:
            entry["status"] = "holds no checkpoint of this log yet"
            self.r.warnings.append(f"witness {client.url}: holds no checkpoint of {origin}")
            return
        try:
            body, _ = split_note(note)
            wcp = Checkpoint.parse(body)
            by_log = any(signed_by(note, origin, pub) for pub in self.keys.values())
        except NoteError as exc:
            entry["status"] = f"bad answer ({exc})"
            self.fail(f"witness {client.url}", f"bad answer ({exc})")
            return
        if not by_log:
            entry["status"] = "its checkpoint is not signed by a pinned log key"
            self.fail(f"witness {client.url}", entry["status"])
            return
        if client.public is not None and cosigned_by(note, client.name, client.public) is None:
            entry["status"] = "no valid cosignature"
            self.fail(f"witness {client.url}", "checkpoint without a valid cosignature")
            return
        ours = self.cps[-1][1].checkpoint.size if self.cps else 0
        entry.update(size=wcp.size, status=f"cosigned size {wcp.size}, log size {ours}")
        if wcp.size > ours or wcp.size > tree.size:
            self.fail(f"witness {client.url}", f"rollback: the witness cosigned a tree of "
                      f"{wcp.size} records, the log's last checkpoint covers {ours}")
        elif tree.root(wcp.size) != wcp.root:
            self.fail(f"witness {client.url}", f"fork: the witness cosigned another root at "
                      f"size {wcp.size} than the log's records give")
