"""``hope audit verify``: prove the log complete, untampered and signed under a pinned key.

Checks, naming ``file:line: reason`` for every failure: each line parses, its ``hash``
recomputes, ``prev_hash`` links to the line before (across segments, in manifest order), the
``event_id`` recomputes, checkpoints carry a trusted key id and a valid Ed25519 signature and
match the record at their size, the checkpoints match the witness copy, each publisher's ``seq``
is contiguous within an epoch (GAP records excused), no event appears twice. Records after a
family's last checkpoint are *unsealed*: a warning, or a failure with ``strict``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hope.audit.canonical import GENESIS, record_hash
from hope.audit.keys import decode_public, key_id, local_key_ids, verify_signature
from hope.audit.log import CHECKPOINTS, MANIFEST, note_text, parse_segment
from hope.envelope import compute_event_id
from hope.paths import StatePaths

_ENVELOPE_FIELDS = ("event_type", "event_id", "correlation_id", "timestamp", "source", "payload")


@dataclass
class Report:
    files: int = 0
    records: int = 0
    checkpoints: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    unsealed: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not (self.strict and any(self.unsealed.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "strict": self.strict, "files": self.files,
                "records": self.records, "checkpoints": self.checkpoints, "gaps": self.gaps,
                "unsealed": self.unsealed, "failures": self.failures, "warnings": self.warnings}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _read_lines(path: Path) -> list[bytes] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data.split(b"\n")  # last element is b"" when the file ends in a newline


class _Verifier:
    def __init__(self, state: StatePaths, trusted: list[str], strict: bool) -> None:
        self.state = state
        self.r = Report(strict=strict)
        self.trusted = self._trust(trusted)
        self.targets: dict[str, dict[int, tuple[str, str]]] = {}  # family -> size -> (head, where)
        self.sealed: dict[str, int] = {}
        self.seqs: dict[tuple[str, str], dict[int, str]] = {}
        self.ids: dict[str, str] = {}
        self.gap_ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}

    def fail(self, where: str, reason: str) -> None:
        self.r.failures.append(f"{where}: {reason}")

    def _trust(self, pinned: list[str]) -> set[str]:
        if pinned:
            return set(pinned)
        local = local_key_ids(self.state.keys)
        self.r.warnings.append(
            "no trusted_keys pinned in [audit]: trusting the public keys in "
            f"{self.state.keys} ({', '.join(local) or 'none'}); anyone able to rewrite the log "
            "could replace those too. Pin the key id from `hope keys init`.")
        if not local:
            self.fail(str(self.state.keys), "no public key to verify with")
        return set(local)

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoints(self) -> None:
        main_p = self.state.events / CHECKPOINTS
        wit_p = self.state.witness / CHECKPOINTS
        main, wit = _read_lines(main_p), _read_lines(wit_p)
        if main is None and wit is None:
            return  # no log written yet
        main = main or [b""]
        mname, wname = _rel(main_p, self.state.root), _rel(wit_p, self.state.root)
        if wit is None:
            self.fail(wname, "witness copy of the checkpoints is missing")
            wit = [b""]
        for lines, name in ((main, mname), (wit, wname)):
            if lines[-1]:
                self.fail(f"{name}:{len(lines)}", "torn last line (no newline)")
        main, wit = main[:-1], wit[:-1]
        for i in range(max(len(main), len(wit))):
            m = main[i] if i < len(main) else None
            w = wit[i] if i < len(wit) else None
            if m is not None and w is not None and m != w:
                self.fail(f"{mname}:{i + 1}", f"differs from the witness copy {wname}:{i + 1}")
            elif m is None:
                self.fail(f"{mname}:{i + 1}", f"checkpoint missing (the witness {wname}:{i + 1} "
                          "has it: the log was truncated or rewritten)")
            elif w is None:
                self.r.warnings.append(f"{mname}:{i + 1}: checkpoint not yet in the witness copy")
            line, where = (w, f"{wname}:{i + 1}") if w is not None else (m, f"{mname}:{i + 1}")
            self._checkpoint(line, where)
            if m is not None and w is not None and m != w:
                self._checkpoint(m, f"{mname}:{i + 1}")

    def _checkpoint(self, raw: bytes, where: str) -> None:
        try:
            cp = json.loads(raw)
            fam, size, head = cp["family"], cp["size"], cp["head"]
            kid, pub, sig, origin = cp["key_id"], cp["pub"], cp["sig"], cp["origin"]
        except (ValueError, KeyError, TypeError) as exc:
            self.fail(where, f"unreadable checkpoint ({exc})")
            return
        self.r.checkpoints += 1
        if kid not in self.trusted:
            self.fail(where, f"checkpoint signed by untrusted key {kid}")
            return
        try:
            real = key_id(decode_public(pub))
        except ValueError:
            real = "?"
        if real != kid:
            self.fail(where, f"public key does not match key id {kid}")
            return
        prefix = origin.rsplit("/", 1)[0]
        if origin != f"{prefix}/{fam}" or not verify_signature(
                pub, note_text(prefix, fam, size, head), sig):
            self.fail(where, "bad checkpoint signature")
            return
        self.targets.setdefault(fam, {})[size] = (head, where)
        self.sealed[fam] = max(self.sealed.get(fam, 0), size)

    # --- families ----------------------------------------------------------------------------

    def families(self) -> None:
        events = self.state.events
        mpath = events / MANIFEST
        try:
            families = json.loads(mpath.read_text())["families"]
        except FileNotFoundError:
            families = {}
            if any(parse_segment(p.name) for p in events.glob("*.jsonl")):
                self.fail(_rel(mpath, self.state.root), "manifest missing")
        except (ValueError, KeyError, TypeError) as exc:
            self.fail(_rel(mpath, self.state.root), f"unreadable manifest ({exc})")
            families = {}
        listed = {n for segs in families.values() for n in segs}
        for p in sorted(events.glob("*.jsonl")):
            if parse_segment(p.name) and p.name not in listed and p.stat().st_size:
                self.fail(_rel(p, self.state.root), "segment not listed in the manifest")
        for fam in sorted(set(families) | set(self.targets)):
            self._family(fam, families.get(fam, []))

    def _family(self, fam: str, segments: list[str]) -> None:
        prev, count = GENESIS, 0
        targets = self.targets.get(fam, {})
        for seg in segments:
            path = self.state.events / seg
            name = _rel(path, self.state.root)
            lines = _read_lines(path)
            if lines is None:
                self.fail(name, "segment listed in the manifest is missing")
                continue
            self.r.files += 1
            if lines[-1]:
                self.fail(f"{name}:{len(lines)}", "torn last line (no newline)")
            for n, raw in enumerate(lines[:-1], 1):
                count += 1
                where = f"{name}:{n}"
                prev = self._record(raw, where, prev)
                if count in targets:
                    head, cp_where = targets[count]
                    if head != prev:
                        self.fail(cp_where, f"checkpoint head does not match the record at {where}")
        self.r.records += count
        top = max(targets, default=0)
        if top > count:
            self.fail(fam, f"records {count + 1}..{top} missing (checkpoint {targets[top][1]} "
                      f"covers {top} records, the log has {count})")
        unsealed = count - self.sealed.get(fam, 0)
        if unsealed > 0:
            self.r.unsealed[fam] = unsealed
            self.r.warnings.append(f"{fam}: {unsealed} record(s) after the last checkpoint "
                                   "(unsealed)")

    def _record(self, raw: bytes, where: str, prev: str) -> str:
        """Check one line; return the hash the next line must link to."""
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self.fail(where, f"not valid JSON ({exc})")
            return "?"
        stored = rec.get("hash")
        if stored != record_hash(rec):
            self.fail(where, "hash does not match the record's content")
        if rec.get("prev_hash") != prev:
            self.fail(where, "prev_hash does not link to the previous record "
                      "(a record is missing or out of order before this line)")
        missing = [f for f in _ENVELOPE_FIELDS if f not in rec]
        if missing:
            self.fail(where, f"missing field(s) {', '.join(missing)}")
            return stored if isinstance(stored, str) else "?"
        try:
            eid = compute_event_id(rec["event_type"], rec["correlation_id"], rec["timestamp"],
                                   rec["payload"])
        except (TypeError, ValueError):
            eid = "?"
        if eid != rec["event_id"]:
            self.fail(where, f"event_id {rec['event_id']} does not match the content ({eid})")
        first = self.ids.setdefault(rec["event_id"], where)
        if first != where:
            self.fail(where, f"duplicate event {rec['event_id']} (first at {first})")
        pub, epoch, seq = rec.get("publisher"), rec.get("epoch"), rec.get("seq")
        if isinstance(pub, str) and isinstance(epoch, str) and isinstance(seq, int) and seq > 0:
            seen = self.seqs.setdefault((pub, epoch), {})
            if seq in seen and first == where:
                self.fail(where, f"{pub} epoch {epoch} seq {seq} appears twice "
                          f"(first at {seen[seq]})")
            seen.setdefault(seq, where)
        if rec["event_type"] == "DUPLICATE":  # a resent event's seq, accounted for by the writer
            p = rec["payload"]
            if isinstance(p.get("seq"), int):
                self.gap_ranges.setdefault((p.get("publisher"), p.get("epoch")), []).append(
                    (p["seq"], p["seq"]))
        if rec["event_type"] == "GAP":
            p = rec["payload"]
            self.r.gaps.append({"where": where, "publisher": p.get("publisher"),
                                "epoch": p.get("epoch"), "from": p.get("from"),
                                "to": p.get("to")})
            if all(isinstance(p.get(k), int) for k in ("from", "to")):
                self.gap_ranges.setdefault((p.get("publisher"), p.get("epoch")), []).append(
                    (p["from"], p["to"]))
        return stored if isinstance(stored, str) else "?"

    def contiguity(self) -> None:
        for (pub, epoch), seen in sorted(self.seqs.items()):
            excused = self.gap_ranges.get((pub, epoch), [])
            expect = 1
            for s in sorted(seen) + [None]:
                if s is not None and s <= expect:
                    expect = max(expect, s + 1)
                    continue
                if s is None:
                    break
                a, b = expect, s - 1
                if not any(x <= a and b <= y for x, y in excused):
                    self.fail(f"{pub} epoch {epoch}", f"seq {a}..{b} missing (no GAP record; "
                              f"next present at {seen[s]})")
                expect = s + 1


def verify(state: StatePaths, trusted_keys: list[str] | None = None,
           strict: bool = False) -> Report:
    """Verify the whole audit log under ``state``; never raises on bad content."""
    v = _Verifier(state, list(trusted_keys or []), strict)
    v.checkpoints()
    v.families()
    v.contiguity()
    return v.r


def render(report: Report, limit: int = 200) -> str:
    lines = [f"warning: {w}" for w in report.warnings]
    lines += report.failures[:limit]
    if len(report.failures) > limit:
        lines.append(f"... and {len(report.failures) - limit} more failure(s)")
    for g in report.gaps:
        lines.append(f"gap: {g['where']}: {g['publisher']} epoch {g['epoch']} "
                     f"seq {g['from']}..{g['to']} declared lost")
    unsealed = sum(report.unsealed.values())
    status = "OK" if report.ok else "FAILED"
    lines.append(f"audit verify: {status}: files {report.files}, records {report.records}, "
                 f"checkpoints {report.checkpoints}, gaps {len(report.gaps)}, "
                 f"unsealed {unsealed}, failures {len(report.failures)}"
                 + (" (strict: unsealed tail is a failure)" if report.strict and unsealed else ""))
    return "\n".join(lines)
