"""Signed checkpoints of the whole audit log, kept in two append-only copies.

``events/checkpoints.jsonl`` and ``checkpoint-copy/checkpoints.jsonl`` hold the same lines, one
JSON object per checkpoint: ``{"note": <C2SP signed note text>, "key_id": "ed25519:<hex>",
"pub": <base64 raw public key>}``. The note's body is a C2SP ``tlog-checkpoint`` of the global
Merkle tree with HOPE's extension lines (time, each family's size and head); see
``hope.audit.note`` and docs/AUDIT.md. ``pub`` is a convenience: a verifier trusts a key only
when its id is pinned.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hope.audit.keys import Signer, decode_public, key_id
from hope.audit.lines import BadLine, parse_record
from hope.audit.log import CHECKPOINTS, AppendFile, FsyncFn, WriteFn, recover_tail, valid_json_line
from hope.audit.merkle import MerkleTree
from hope.audit.note import (
    Checkpoint,
    NoteError,
    audit_extensions,
    sign_line,
    signed_by,
    split_note,
)
from hope.files import fsync_dir

__all__ = ["CHECKPOINTS", "CheckpointLines", "CheckpointLog", "SignedCheckpoint", "make_checkpoint", "parse_line"]


@dataclass(frozen=True)
class SignedCheckpoint:
    """One checkpoint line, parsed: the note, its body and the key that signed it."""

    checkpoint: Checkpoint
    note: bytes
    key_id: str
    public: bytes

    def to_line(self) -> bytes:
        return (json.dumps({"note": self.note.decode(), "key_id": self.key_id,
                            "pub": base64.b64encode(self.public).decode()},
                           sort_keys=True, separators=(",", ":")) + "\n").encode()


def parse_line(raw: bytes, trusted: dict[str, bytes] | None) -> SignedCheckpoint:
    """Parse one checkpoint line and check its signature; raises ValueError naming why.

    ``trusted``: {key id: raw public key} a signature must come from (None: any key whose id
    matches the line's own ``pub``, for reading one's own log before deciding trust).
    """
    try:
        obj = parse_record(raw)
        if "note" not in obj and {"family", "size", "head"} <= obj.keys():
            raise ValueError("a per-family checkpoint of the format before the Merkle log: "
                             "archive this log with `hope audit accept --reason \"format "
                             "upgrade\"`")
        note, kid, pub_b64 = obj["note"].encode(), obj["key_id"], obj["pub"]
        public = base64.b64decode(pub_b64, validate=True)
        real = key_id(decode_public(pub_b64))
    except (BadLine, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"unreadable checkpoint ({str(exc).strip(chr(39))})") from None
    if real != kid:
        raise ValueError(f"public key does not match key id {kid}")
    if trusted is not None:
        if kid not in trusted:
            raise ValueError(f"checkpoint signed by untrusted key {kid}")
        public = trusted[kid]
    try:
        body, _ = split_note(note)
        cp = Checkpoint.parse(body)
        ok = signed_by(note, cp.origin, public)
    except NoteError as exc:
        raise ValueError(f"malformed checkpoint note ({exc})") from None
    if not ok:
        raise ValueError("bad checkpoint signature")
    return SignedCheckpoint(cp, note, kid, public)


def make_checkpoint(signer: Signer, origin: str, tree: MerkleTree, size: int,
                    families: dict[str, tuple[int, str]], time: str,
                    previous: int) -> SignedCheckpoint:
    cp = Checkpoint(origin, size, tree.root(size), audit_extensions(time, families, previous))
    body = cp.body()
    note = body + b"\n" + sign_line(origin, signer.private, body).encode()
    return SignedCheckpoint(cp, note, signer.key_id, base64.b64decode(signer.public_b64))


@dataclass
class CheckpointLines:
    """Both copies read without touching them (``hope audit status``): the longer one's text."""

    text: bytes
    existed: list[bool]
    paths: tuple[Path, Path]

    @classmethod
    def read(cls, events: Path, copy_dir: Path) -> CheckpointLines:
        paths = (events / CHECKPOINTS, copy_dir / CHECKPOINTS)
        texts = []
        for p in paths:
            try:
                data = p.read_bytes()
            except FileNotFoundError:
                data = b""
            texts.append(data[:data.rfind(b"\n") + 1])  # a torn last line is not a checkpoint
        return cls(max(texts, key=len), [p.exists() for p in paths], paths)

    def lines(self) -> list[bytes]:
        return self.text.splitlines()


class CheckpointLog:
    """Both copies of the checkpoint lines, line for line, and the latest checkpoint."""

    def __init__(self, events: Path, copy_dir: Path, quarantine: Path, log: Any,
                 write: WriteFn = os.write, fsync: FsyncFn = os.fsync) -> None:
        copy_dir.mkdir(parents=True, exist_ok=True)
        paths = (events / CHECKPOINTS, copy_dir / CHECKPOINTS)
        self.existed = [p.exists() for p in paths]
        contents = []
        for p in paths:
            p.touch(exist_ok=True)
            contents.append(recover_tail(p, quarantine, log, valid_json_line))
        fsync_dir(events)
        fsync_dir(copy_dir)
        self.paths = paths
        self.main = AppendFile(paths[0], write, fsync)
        self.copy = AppendFile(paths[1], write, fsync)
        main_text, copy_text = contents
        # A crash between the two writes leaves the copy one note behind: copy it over.
        if len(main_text) > len(copy_text) and main_text.startswith(copy_text):
            self.copy.add(main_text[len(copy_text):])
            log.warning("audit: checkpoint copy was behind; completed", file=str(paths[1]))
        elif main_text != copy_text and not copy_text.startswith(main_text):
            log.error("audit: checkpoints differ from their copy (run `hope audit verify`)")
        self.text = copy_text if len(copy_text) > len(main_text) else main_text
        self.latest: SignedCheckpoint | None = None

    def lines(self) -> list[bytes]:
        return self.text.splitlines()

    def forget_lines(self) -> None:
        """Start-up has read them: keep no copy (a checkpoint every 50 ms adds up over months)."""
        self.text = b""

    @property
    def size(self) -> int:
        return self.latest.checkpoint.size if self.latest else 0

    @property
    def sealed(self) -> dict[str, int]:
        """{family: records covered by the latest checkpoint}."""
        if self.latest is None:
            return {}
        return {n: s for n, (s, _) in self.latest.checkpoint.families.items()}

    def add(self, signed: SignedCheckpoint) -> None:
        line = signed.to_line()
        self.main.add(line)
        self.copy.add(line)
        self.latest = signed

    def flush(self) -> None:
        self.main.flush()
        self.copy.flush()

    @property
    def pending(self) -> int:
        return len(self.main.pending) + len(self.copy.pending)

    def close(self) -> None:
        self.main.close()
        self.copy.close()
