"""What the audit writer may build on at start: only what its last signed checkpoint covers.

:func:`plan_start` reads the log read-only and returns a :class:`StartPlan`: the verified
prefix of every family (hashes, links, event ids, leaf indices, the Merkle root and each
family's head equal to the latest checkpoint's), and the unsealed tail after it, which the
writer moves to ``quarantine/`` and asks the publishers for again. It raises
:class:`AuditStartError` naming ``file:line`` when the log cannot be trusted without an
operator: a broken record before the last checkpoint, a family or records the checkpoint
covers but the log lacks, checkpoints gone while the log holds records, a checkpoint with a
bad signature. ``hope audit status`` prints the same plan; ``hope audit accept`` is the
operator's way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, record_hash
from hope.audit.checkpoints import (
    CHECKPOINTS,
    CheckpointLines,
    CheckpointLog,
    SignedCheckpoint,
    parse_line,
)
from hope.audit.keys import decode_public, key_id, public_files
from hope.audit.lines import BadLine, parse_record
from hope.audit.log import Manifest, read_segment
from hope.audit.merkle import MerkleTree, record_leaf
from hope.audit.note import raw_public
from hope.envelope import compute_event_id

Checkpoints = CheckpointLog | CheckpointLines
EX_AUDIT = 65  # sysexits EX_DATAERR: supervisord shows the writer FATAL after its retries


def default_origin(kid: str) -> str:
    """The log's origin line when ``[audit] origin`` is empty: unique per signing key."""
    return f"hope-audit/{kid.split(':', 1)[-1][:16]}"


class AuditStartError(RuntimeError):
    """The log cannot be continued without an operator; the message names file:line."""


@dataclass
class Cut:
    """Where a family's unsealed tail starts: a segment and a byte offset in it."""

    segment: str
    offset: int
    where: str  # events/<segment>:<line> of the first tail line


@dataclass
class StartPlan:
    latest: SignedCheckpoint | None
    counts: dict[str, tuple[int, str]] = field(default_factory=dict)  # family -> (records, head)
    tree: MerkleTree = field(default_factory=MerkleTree)
    cuts: dict[str, Cut] = field(default_factory=dict)
    tail: list[tuple[str, bytes]] = field(default_factory=list)  # (where, line) to quarantine

    @property
    def tail_records(self) -> int:
        return len(self.tail)


class Leaves:
    """The leaves the records claim, placed into the tree as they are found (in any order),
    with one bit per index so each index is claimed exactly once."""

    def __init__(self, tree: MerkleTree, size: int) -> None:
        self.tree, self.size = tree, size
        self.claimed = bytearray((size + 7) // 8)

    def place(self, index: int, leaf: bytes) -> str | None:
        """Why ``index`` cannot take ``leaf`` (None: placed)."""
        if not 0 <= index < self.size:
            return f"leaf index {index} outside the checkpoint's tree of {self.size}"
        byte, bit = index >> 3, 1 << (index & 7)
        if self.claimed[byte] & bit:
            return f"leaf index {index} used twice"
        self.claimed[byte] |= bit
        self.tree.put(index, leaf)
        return None

    def first_missing(self) -> int | None:
        full = self.size // 8
        start = (full - len(self.claimed[:full].lstrip(b"\xff"))) * 8  # the first byte not full
        for index in range(start, self.size):
            if not self.claimed[index >> 3] >> (index & 7) & 1:
                return index
        return None


def trusted_keys(keys_dir: Path, pinned: list[str]) -> dict[str, bytes]:
    """{key id: raw public key} to trust: the pinned ids found under ``keys_dir`` (the state
    dir's ``keys/``; all when none are pinned: the fallback ``hope audit verify`` warns about)."""
    local: dict[str, bytes] = {}
    for path in public_files(keys_dir):
        try:
            pub = decode_public(path.read_text())
        except (OSError, ValueError):
            continue
        local[key_id(pub)] = raw_public(pub)
    if not pinned:
        return local
    return {k: local[k] for k in pinned if k in local}


def chain_error(rec: dict[str, Any], prev: str) -> str | None:
    """Why one record does not continue a chain whose head is ``prev`` (None: it does)."""
    if rec.get("hash") != record_hash(rec):
        return "hash does not match the record's content"
    if rec.get("prev_hash") != prev:
        return "prev_hash does not link to the previous record"
    try:
        eid = compute_event_id(rec["event_type"], rec["correlation_id"], rec["timestamp"],
                               rec["payload"])
    except (KeyError, TypeError, ValueError):
        return "missing or malformed envelope fields"
    if eid != rec.get("event_id"):
        return f"event_id {rec.get('event_id')} does not match the content ({eid})"
    if not isinstance(rec.get("leaf"), int) or isinstance(rec.get("leaf"), bool):
        return "no leaf index"
    return None


def latest_checkpoint(cps: Checkpoints,
                      trusted: dict[str, bytes]) -> SignedCheckpoint | None:
    lines = cps.lines()
    if not lines:
        return None
    try:
        latest = parse_line(lines[-1], trusted)
    except ValueError as exc:
        raise AuditStartError(f"events/{CHECKPOINTS}:{len(lines)}: {exc}") from None
    _check_order(lines)
    return latest


def _check_order(lines: list[bytes]) -> None:
    """Tree sizes never shrink from one checkpoint to the next (cheap: no signatures here;
    ``hope audit verify`` checks each one)."""
    before = 0
    for n, raw in enumerate(lines, 1):
        try:
            size = int(parse_record(raw)["note"].split("\n", 2)[1])
        except (BadLine, KeyError, AttributeError, IndexError, ValueError):
            raise AuditStartError(f"events/{CHECKPOINTS}:{n}: unreadable checkpoint") from None
        if size < before:
            raise AuditStartError(f"events/{CHECKPOINTS}:{n}: tree size {size} is smaller than "
                                  f"{before} before it (checkpoints reordered or rolled back)")
        before = size


def plan_start(events: Path, manifest: Manifest, cps: Checkpoints, trusted: dict[str, bytes],
               on_record: Callable[[dict[str, Any]], None] = lambda rec: None,
               tree: MerkleTree | None = None) -> StartPlan:
    """Verify the sealed prefix (feeding each record to ``on_record``) and find the tail;
    the verified leaves go into ``tree`` (default: an in-memory one)."""
    plan = StartPlan(latest_checkpoint(cps, trusted))
    sealed = plan.latest.checkpoint.families if plan.latest else {}
    size = plan.latest.checkpoint.size if plan.latest else 0
    if plan.latest is None:
        _no_checkpoint(events, manifest, cps)
    for fam, (n, _) in sorted(sealed.items()):
        if n and not manifest.families.get(fam):
            raise AuditStartError(f"{fam}: family missing (the last checkpoint covers {n} "
                                  "of its records)")
    if sum(n for n, _ in sealed.values()) != size:
        raise AuditStartError(f"events/{CHECKPOINTS}:{len(cps.lines())}: family sizes do not "
                              f"add up to the tree size {size}")
    if tree is not None:
        plan.tree = tree
    plan.tree.reserve(size)
    leaves = Leaves(plan.tree, size)
    for fam, segs in sorted(manifest.families.items()):
        n, head = sealed.get(fam, (0, GENESIS))
        plan.counts[fam] = _scan_family(events, fam, segs, n, head, leaves, plan, on_record)
    if (index := leaves.first_missing()) is not None:
        raise AuditStartError(f"leaf {index} of {size} is in no family (records missing "
                              "or renumbered)")
    plan.tree.finish()
    if size and plan.tree.root(size) != plan.latest.checkpoint.root:
        raise AuditStartError(f"events/{CHECKPOINTS}:{len(cps.lines())}: the Merkle root of "
                              "the records does not match the last checkpoint")
    return plan


def _no_checkpoint(events: Path, manifest: Manifest, cps: Checkpoints) -> None:
    for fam, segs in sorted(manifest.families.items()):
        if len(segs) > 1:
            raise AuditStartError(f"events/{segs[0]}: {len(segs)} segments of {fam} but no "
                                  "checkpoint (a segment is only closed once sealed)")
    has_records = any((events / s).exists() and (events / s).stat().st_size
                      for segs in manifest.families.values() for s in segs)
    if has_records and not all(cps.existed):
        names = (f"events/{CHECKPOINTS}", f"checkpoint-copy/{CHECKPOINTS}")
        missing = [n for n, existed in zip(names, cps.existed, strict=True) if not existed]
        raise AuditStartError(f"events/{CHECKPOINTS}: checkpoint file(s) missing "
                              f"({', '.join(missing)}) while the log holds records")


def _scan_family(events: Path, fam: str, segs: list[str], sealed: int, head: str,
                 leaves: Leaves, plan: StartPlan,
                 on_record: Callable[[dict[str, Any]], None]) -> tuple[int, str]:
    """Check the first ``sealed`` records of one family; note where its tail starts."""
    count, prev = 0, GENESIS
    for seg in segs:
        try:
            data = read_segment(events, seg)
        except FileNotFoundError:
            if count < sealed:
                raise AuditStartError(f"events/{seg}: segment listed in the manifest is "
                                      "missing") from None
            continue
        except OSError as exc:
            raise AuditStartError(str(exc)) from None
        pos = 0
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            end = pos + len(raw) + 1
            if not raw and end > len(data):
                break  # the file ends with a newline: nothing after it
            where = f"events/{seg}:{lineno}"
            if count >= sealed:
                if fam not in plan.cuts:
                    plan.cuts[fam] = Cut(seg, pos, where)
                if raw:
                    plan.tail.append((where, raw))
                pos = end
                continue
            if end > len(data):
                raise AuditStartError(f"{where}: torn line before the last checkpoint's "
                                      f"{sealed} {fam} records")
            try:
                rec = parse_record(raw)
            except BadLine as exc:
                raise AuditStartError(f"{where}: {exc}") from None
            reason = chain_error(rec, prev)
            if reason is None:
                reason = leaves.place(rec["leaf"], record_leaf(rec["hash"]))
            if reason:
                raise AuditStartError(f"{where}: {reason}")
            prev = rec["hash"]
            count += 1
            on_record(rec)
            pos = end
    if count < sealed:
        raise AuditStartError(f"{fam}: records {count + 1}..{sealed} missing (the last "
                              f"checkpoint covers {sealed}, the log has {count})")
    if prev != head:
        raise AuditStartError(f"{fam}: head after {sealed} records does not match the last "
                              "checkpoint")
    return count, prev
