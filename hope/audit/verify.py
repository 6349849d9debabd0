"""``hope audit verify``: prove the log complete, untampered, signed and witnessed.

Checks, naming ``file:line: reason`` (or the family) for every failure: each line parses within
the size and depth bounds, its ``hash`` recomputes, ``prev_hash`` links to the line before
(across segments, in manifest order), the ``event_id`` recomputes, leaf indices cover 0..n-1
exactly once; every checkpoint (both copies, line for line) is signed by a pinned key, has the
log's origin, the Merkle root of the records at its size (so every record is included), each
family's head at its size, and is consistent with the one before (RFC 6962 proof, never
smaller); every family a checkpoint names still exists at that size; a family with records
and no checkpoint fails; each publisher's ``seq`` is contiguous within an epoch (GAP records
excused) and no event appears twice. Records after the last checkpoint are *unsealed*: a
warning while the family's last write is younger than ``[audit] checkpoint_interval_ms`` (plus
slack for the writer's cycle), a failure when older (the writer is down or did not seal) or with
``strict``. A witness (``--witness URL``) that holds a
larger tree (rollback) or another root at a size the log has (fork) fails the verification.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, record_hash
from hope.audit.checkpoint_check import CheckpointChecks
from hope.audit.lines import BadLine, parse_record
from hope.audit.log import ARCHIVED, MANIFEST, read_segment, segment_files
from hope.audit.merkle import MerkleTree, record_leaf
from hope.audit.startup import chain_error, trusted_keys
from hope.paths import StatePaths

UNSEALED_SLACK_S = 5.0  # the writer seals within its interval; allow for a busy machine


@dataclass
class Report:
    files: int = 0
    records: int = 0
    checkpoints: int = 0
    tree_size: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    unsealed: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    witnesses: list[dict[str, Any]] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not (self.strict and any(self.unsealed.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "strict": self.strict, "files": self.files,
                "records": self.records, "checkpoints": self.checkpoints,
                "tree_size": self.tree_size, "gaps": self.gaps, "unsealed": self.unsealed,
                "witnesses": self.witnesses, "failures": self.failures,
                "warnings": self.warnings}


def _archiving(name: str, listed: set[str]) -> bool:
    """An unlisted ``X.jsonl.gz`` next to a listed ``X.jsonl``: an archiving in progress (or
    interrupted; the writer's start-up removes it). Never read, so never trusted."""
    return name.endswith(ARCHIVED) and name[:-len(ARCHIVED)] in listed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # archived while being verified
        return Path(str(path) + ARCHIVED).stat().st_mtime


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class _Verifier:
    def __init__(self, state: StatePaths, trusted: list[str], strict: bool) -> None:
        self.state = state
        self.r = Report(strict=strict)
        self.keys = self._trust(trusted)
        self.leaves: dict[int, tuple[bytes, str]] = {}
        self.heads: dict[str, dict[int, tuple[str, str]]] = {}  # family -> count -> (hash, where)
        self.counts: dict[str, int] = {}
        self.last_write: dict[str, float] = {}  # family -> mtime of its last segment
        self.seqs: dict[tuple[str, str], dict[int, str]] = {}
        self.ids: dict[str, str] = {}
        self.gap_ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}

    def fail(self, where: str, reason: str) -> None:
        self.r.failures.append(f"{where}: {reason}")

    def _trust(self, pinned: list[str]) -> dict[str, bytes]:
        keys = trusted_keys(self.state.keys, pinned)
        if not pinned:
            self.r.warnings.append(
                "no audit key pinned ([audit] trusted_keys or the local pin file of `hope keys "
                f"init`): trusting the public keys in {self.state.keys} "
                f"({', '.join(keys) or 'none'}); anyone able to rewrite the log could replace "
                "those too")
        for kid in pinned:
            if kid not in keys:
                self.r.warnings.append(f"pinned key {kid}: no public key file in "
                                       f"{self.state.keys} (checkpoints it signed cannot verify)")
        if not keys:
            self.fail(str(self.state.keys), "no trusted public key to verify with")
        return keys

    # --- families --------------------------------------------------------------------------

    def families(self, wanted: dict[str, set[int]]) -> None:
        """Check every family's chain; remember heads at the sizes ``wanted`` by checkpoints."""
        events = self.state.events
        mpath = events / MANIFEST
        try:
            families = parse_record(mpath.read_bytes())["families"]
            if not isinstance(families, dict):
                raise TypeError("families is not a map")
        except FileNotFoundError:
            families = {}
            if segment_files(events):
                self.fail(_rel(mpath, self.state.root), "manifest missing")
        except (BadLine, KeyError, TypeError) as exc:
            self.fail(_rel(mpath, self.state.root), f"unreadable manifest ({exc})")
            families = {}
        listed = {n for segs in families.values() for n in segs}
        for p in sorted(segment_files(events)):
            if p.name not in listed and p.stat().st_size and not _archiving(p.name, listed):
                self.fail(_rel(p, self.state.root), "segment not listed in the manifest")
        for fam in sorted(families):
            self._family(fam, list(families[fam]), wanted.get(fam, set()))

    def _family(self, fam: str, segments: list[str], wanted: set[int]) -> None:
        prev, count = GENESIS, 0
        heads = self.heads.setdefault(fam, {})
        for seg in segments:
            path = self.state.events / seg
            name = _rel(path, self.state.root)
            try:
                lines = read_segment(self.state.events, seg).split(b"\n")
            except FileNotFoundError:
                self.fail(name, "segment listed in the manifest is missing")
                continue
            except OSError as exc:
                self.fail(name, f"segment unreadable ({exc})")
                continue
            self.r.files += 1
            self.last_write[fam] = _mtime(path)
            if lines[-1]:
                self.fail(f"{name}:{len(lines)}", "torn last line (no newline)")
            for n, raw in enumerate(lines[:-1], 1):
                count += 1
                prev = self._record(raw, f"{name}:{n}", prev, fam)
                if count in wanted:
                    heads[count] = (prev, f"{name}:{n}")
        self.counts[fam] = count
        self.r.records += count

    def _record(self, raw: bytes, where: str, prev: str, fam: str) -> str:
        """Check one line; return the hash the next line must link to."""
        try:
            rec = parse_record(raw)
        except BadLine as exc:
            self.fail(where, str(exc))
            return "?"
        reason = chain_error(rec, prev)
        if reason:
            self.fail(where, reason)
        stored = rec.get("hash") if isinstance(rec.get("hash"), str) else "?"
        leaf = rec.get("leaf")
        if isinstance(leaf, int) and not isinstance(leaf, bool):
            # the leaf of the record as it is (not of its stored hash): an edit moves the root
            first = self.leaves.setdefault(leaf, (record_leaf(record_hash(rec)), where))
            if first[1] != where:
                self.fail(where, f"leaf index {leaf} used twice (first at {first[1]})")
        self._account(rec, where)
        return stored

    def _account(self, rec: dict[str, Any], where: str) -> None:
        eid = rec.get("event_id")
        if not isinstance(eid, str):
            return
        first = self.ids.setdefault(eid, where)
        if first != where:
            self.fail(where, f"duplicate event {eid} (first at {first})")
        pub, epoch, seq = rec.get("publisher"), rec.get("epoch"), rec.get("seq")
        if isinstance(pub, str) and isinstance(epoch, str) and isinstance(seq, int) and seq > 0:
            seen = self.seqs.setdefault((pub, epoch), {})
            if seq in seen and first == where:
                self.fail(where, f"{pub} epoch {epoch} seq {seq} appears twice "
                          f"(first at {seen[seq]})")
            seen.setdefault(seq, where)
        p = rec.get("payload") if isinstance(rec.get("payload"), dict) else {}
        if rec.get("event_type") == "DUPLICATE" and isinstance(p.get("seq"), int):
            self.gap_ranges.setdefault((p.get("publisher"), p.get("epoch")), []).append(
                (p["seq"], p["seq"]))
        if rec.get("event_type") == "GAP":
            self.r.gaps.append({"where": where, "publisher": p.get("publisher"),
                                "epoch": p.get("epoch"), "from": p.get("from"),
                                "to": p.get("to")})
            if all(isinstance(p.get(k), int) for k in ("from", "to")):
                self.gap_ranges.setdefault((p.get("publisher"), p.get("epoch")), []).append(
                    (p["from"], p["to"]))

    def tree(self) -> MerkleTree:
        """The global tree of every record in leaf order; a leaf index missing fails."""
        tree = MerkleTree()
        for index in range(len(self.leaves)):
            entry = self.leaves.get(index)
            if entry is None:
                self.fail(f"leaf {index}", "no record has this leaf index (a record is "
                          "missing from the log)")
                break
            tree.append(entry[0])
        self.r.tree_size = tree.size
        return tree

    def contiguity(self) -> None:
        for (pub, epoch), seen in sorted(self.seqs.items()):
            excused = self.gap_ranges.get((pub, epoch), [])
            expect = 1
            for s in sorted(seen):
                if s > expect and not any(x <= expect and s - 1 <= y for x, y in excused):
                    self.fail(f"{pub} epoch {epoch}", f"seq {expect}..{s - 1} missing (no GAP "
                              f"record; next present at {seen[s]})")
                expect = max(expect, s + 1)

    def unsealed(self, sealed: dict[str, int], now: float, interval_s: float) -> None:
        for fam, count in sorted(self.counts.items()):
            n = count - sealed.get(fam, 0)
            if n <= 0:
                continue
            self.r.unsealed[fam] = n
            if fam not in sealed:
                self.fail(fam, f"{n} record(s) and no checkpoint covering any of them")
                continue
            age = now - self.last_write.get(fam, now)
            if age > interval_s + UNSEALED_SLACK_S:
                self.fail(fam, f"{n} record(s) after the last checkpoint, unsealed for "
                          f"{age:.0f} s (the writer seals within {interval_s:g} s)")
            else:
                self.r.warnings.append(f"{fam}: {n} record(s) after the last checkpoint "
                                       "(unsealed, younger than the checkpoint interval)")


def verify(state: StatePaths, trusted_keys: list[str] | None = None, strict: bool = False, *,
           witnesses: list[Any] | None = None, origin: str = "",
           interval_s: float = 0.05, now: float | None = None) -> Report:
    """Verify the whole audit log under ``state``; never raises on bad content.

    ``witnesses``: objects with ``url`` and ``latest(origin) -> (note bytes | None)``
    (``hope.audit.witness_client.WitnessClient``)."""
    v = _Verifier(state, list(trusted_keys or []), strict)
    cps = CheckpointChecks(state, v.keys, v.r, origin)
    cps.read()
    v.families(cps.wanted())
    tree = v.tree()
    cps.check(tree, v.heads, v.counts)
    v.contiguity()
    v.unsealed(cps.sealed, time.time() if now is None else now, interval_s)
    for w in witnesses or []:
        cps.against_witness(w, tree)
    return v.r


def render(report: Report, limit: int = 200) -> str:
    lines = [f"warning: {w}" for w in report.warnings]
    lines += report.failures[:limit]
    if len(report.failures) > limit:
        lines.append(f"... and {len(report.failures) - limit} more failure(s)")
    for g in report.gaps:
        lines.append(f"gap: {g['where']}: {g['publisher']} epoch {g['epoch']} "
                     f"seq {g['from']}..{g['to']} declared lost")
    for w in report.witnesses:
        lines.append(f"witness {w['url']}: {w['status']}")
    unsealed = sum(report.unsealed.values())
    status = "OK" if report.ok else "FAILED"
    lines.append(f"audit verify: {status}: files {report.files}, records {report.records}, "
                 f"tree {report.tree_size}, checkpoints {report.checkpoints}, "
                 f"gaps {len(report.gaps)}, unsealed {unsealed}, "
                 f"witnesses {len(report.witnesses)}, failures {len(report.failures)}"
                 + (" (strict: unsealed tail is a failure)" if report.strict and unsealed else ""))
    return "\n".join(lines)
